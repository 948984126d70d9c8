vgs
--noheadings
--units
m
--nosuffix
-o
name,size
