lvs
--noheadings
--separator=|
--units=k
--nosuffix
-ovg_name,lv_name,lv_attr,lv_kernel_major,lv_kernel_minor,vg_extent_size,stripes,devices
