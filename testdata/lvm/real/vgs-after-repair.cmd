vgs
--noheadings
--nosuffix
recvg
