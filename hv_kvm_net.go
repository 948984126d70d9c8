package main

import (
	"fmt"
	"regexp"
)

// Help-text probes for the tap features of virtio NICs.
var (
	kvmVhostOption     = regexp.MustCompile(`(?ms)^-netdev\stap.*,vhost=on\|off`)
	kvmNetQueuesOption = regexp.MustCompile(`(?m)^-netdev\stap.*,fds=x:y:\.\.\.:z`)
)

// kvmNetFeatures is what the NICs of an instance use: the model, the tap
// options, and what the -netdev and -device arguments get added.
type kvmNetFeatures struct {
	model       string
	tap         tapOptions
	netdevExtra string
	deviceExtra string
}

// kvmNICFeatures decides them from the parameters the instance started
// with and what qemu offers. Multiqueue only comes with vhost_net, as in
// Ganeti.
func kvmNICFeatures(hvp map[string]any, devlist, help, vhostDevice string) (*kvmNetFeatures, error) {
	nicType := hvStr(hvp, "nic_type")
	if nicType != "paravirtual" {
		return &kvmNetFeatures{model: nicType, tap: tapOptions{queues: 1}}, nil
	}
	f := &kvmNetFeatures{model: "virtio", tap: tapOptions{queues: 1}}
	if deviceListHas(devlist, "virtio-net-pci") {
		f.model = "virtio-net-pci"
		f.tap.vnetHdr = isTrue(hvp["vnet_hdr"])
	}
	if !isTrue(hvp["vhost_net"]) {
		return f, nil
	}
	if !kvmVhostOption.MatchString(help) {
		return nil, hvErrorf("vhost_net is configured but it is not available")
	}
	if !fileExists(vhostDevice) {
		// Ganeti finds out only when opening it, after the first tap.
		return nil, hvErrorf("Failed to open %s", vhostDevice)
	}
	f.tap.vhost, f.tap.vhostDevice = true, vhostDevice
	f.netdevExtra = ",vhost=on"
	queues := 1
	if _, ok := hvp["virtio_net_queues"]; ok {
		queues = hvInt(hvp, "virtio_net_queues")
	}
	if queues > 1 {
		if !kvmNetQueuesOption.MatchString(help) {
			return nil, hvErrorf("virtio_net_queues is configured but it is not available")
		}
		// vectors = 2N+2, as advised for multiqueue virtio-net.
		f.deviceExtra = fmt.Sprintf(",mq=on,vectors=%d", 2*queues+2)
		f.tap.queues = queues
	}
	return f, nil
}
