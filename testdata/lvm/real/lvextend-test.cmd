lvextend
-L
+12288k
--test
--alloc
contiguous
/dev/recvg/linear
