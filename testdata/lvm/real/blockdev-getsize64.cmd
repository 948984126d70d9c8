blockdev
--getsize64
/dev/recvg/linear
