lvextend
-L
+2048000k
--alloc
normal
/dev/recvg/linear
