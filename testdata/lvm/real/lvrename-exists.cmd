lvrename
recvg
renamed
linear
