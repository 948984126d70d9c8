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
	iffOneQueue    = 0x2000
	iffVnetHdr     = 0x4000
	iffMultiQueue  = 0x0100
)

// tapOptions are the tap features a NIC model wants.
type tapOptions struct {
	vnetHdr bool
	vhost   bool
	queues  int // more than one: a multiqueue tap
	// vhostDevice is the kernel's virtio-net accelerator (the layout's
	// VhostNetDevice); qemu gets one open descriptor of it per queue.
	vhostDevice string
}

// tapDevice is an open tap: one file per queue (all for the same
// interface) and the vhost-net files that go with them. The device lives
// as long as a process holds one of the files.
type tapDevice struct {
	name   string
	queues []*os.File
	vhost  []*os.File
}

func (t *tapDevice) close() {
	for _, f := range append(t.queues, t.vhost...) {
		f.Close()
	}
}

// openTap creates a tap device (the kernel picks the name, tap0, tap1...)
// with opt.queues queues.
func openTap(opt tapOptions) (*tapDevice, error) {
	t := &tapDevice{}
	for q := 0; q < max(opt.queues, 1); q++ {
		f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
		if err != nil {
			t.close()
			return nil, fmt.Errorf("Failed to open /dev/net/tun")
		}
		t.queues = append(t.queues, f)
		var features uint32
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), tunGetFeatures, uintptr(unsafe.Pointer(&features)))
		known := errno == 0
		flags := uint16(iffTap | iffNoPI)
		if opt.vnetHdr && known && features&iffVnetHdr != 0 {
			flags |= iffVnetHdr
		}
		if opt.queues > 1 && known && features&iffMultiQueue != 0 {
			flags |= iffMultiQueue
		} else {
			flags |= iffOneQueue
		}
		var ifr [40]byte       // struct ifreq: 16-byte name, then the flags
		copy(ifr[:15], t.name) // after the first queue: attach to the same device
		binary.NativeEndian.PutUint16(ifr[16:], flags)
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), tunSetIff, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
			t.close()
			return nil, fmt.Errorf("Failed to allocate a new TAP device: %v", errno)
		}
		t.name = strings.TrimRight(string(ifr[:16]), "\x00")
		if opt.vhost {
			v, err := os.OpenFile(opt.vhostDevice, os.O_RDWR, 0)
			if err != nil {
				t.close()
				return nil, fmt.Errorf("Failed to open %s", opt.vhostDevice)
			}
			t.vhost = append(t.vhost, v)
		}
	}
	return t, nil
}
