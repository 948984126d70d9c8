vgs
--noheadings
--nosuffix
--units=m
--unbuffered
--separator=|
-ovg_name,vg_free,vg_attr,vg_size
