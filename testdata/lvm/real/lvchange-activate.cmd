lvchange
-ay
/dev/recvg/linear
