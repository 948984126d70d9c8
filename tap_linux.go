package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"syscall"
	"unsafe"
)

// Linux TUN/TAP interface (include/uapi/linux/if_tun.h).
const (
	tunSetIff      = 0x400454ca
	tunGetFeatures = 0x800454cf
	iffTap         = 0x0002
	iffNoPI        = 0x1000
	iffVnetHdr     = 0x4000
)

// openTap creates a tap device (the kernel picks the name, tap0, tap1...)
// and returns its name and file; the device lives as long as a process
// holds the file.
func openTap(vnetHdr bool) (string, *os.File, error) {
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return "", nil, fmt.Errorf("Failed to open /dev/net/tun")
	}
	flags := uint16(iffTap | iffNoPI)
	if vnetHdr {
		var features uint32
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), tunGetFeatures, uintptr(unsafe.Pointer(&features))); errno == 0 && features&iffVnetHdr != 0 {
			flags |= iffVnetHdr
		}
	}
	var ifr [40]byte // struct ifreq: 16-byte name, then the flags
	binary.NativeEndian.PutUint16(ifr[16:], flags)
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), tunSetIff, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
		f.Close()
		return "", nil, fmt.Errorf("Failed to allocate a new TAP device: %v", errno)
	}
	return strings.TrimRight(string(ifr[:16]), "\x00"), f, nil
}
