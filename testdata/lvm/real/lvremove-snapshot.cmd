lvremove
-f
recvg/linear.snap
