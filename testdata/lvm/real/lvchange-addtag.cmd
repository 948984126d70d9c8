lvchange
--addtag
originstname+inst1.example.com
/dev/recvg/linear
