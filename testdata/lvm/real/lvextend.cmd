lvextend
-L
+12288k
--alloc
contiguous
/dev/recvg/linear
