module ganeti-noded

go 1.26
