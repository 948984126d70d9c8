lvs
-o
tags
--noheadings
--nosuffix
/dev/recvg/linear
