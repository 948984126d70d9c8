lvchange
-ay
/dev/recvg/nosuch
