vgreduce
--removemissing
--force
recvg
