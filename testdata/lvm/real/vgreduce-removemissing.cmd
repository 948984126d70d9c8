vgreduce
--removemissing
recvg
