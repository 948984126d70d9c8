pvs
--noheadings
--units=m
--nosuffix
--separator
|
--options
pv_name,pv_size,pv_used,pv_free,pv_attr
