lvchange
--deltag
second-tag
/dev/recvg/linear
