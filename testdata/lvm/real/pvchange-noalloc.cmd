pvchange
--allocatable
n
/dev/loop2
