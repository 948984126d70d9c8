lvrename
recvg
striped
renamed
