lvremove
-f
recvg/nosuch
