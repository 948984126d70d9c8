lvcreate
-L8m
-s
-nlinear.snap
/dev/recvg/linear
