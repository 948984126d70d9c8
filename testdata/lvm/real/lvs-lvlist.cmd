lvs
--noheadings
--units=m
--nosuffix
--separator=|
-ovg_name,lv_name,lv_size,lv_attr
recvg
