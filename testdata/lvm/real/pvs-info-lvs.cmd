pvs
--noheadings
--nosuffix
--units=m
--unbuffered
--separator=|
-opv_name,vg_name,pv_free,pv_attr,pv_size,lv_name
