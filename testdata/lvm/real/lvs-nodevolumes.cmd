lvs
--noheadings
--units=m
--nosuffix
--separator=|
--options=lv_name,lv_size,devices,vg_name
