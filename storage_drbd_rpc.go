package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The procedures only DRBD disks have: network changes for failover and
// live migration, waiting for a resync, and replacing a disk's volumes.

// drbdDevices finds every disk, each a DRBD one, or fails naming the
// first it cannot.
func (n *node) drbdDevices(disks []disk) ([]*drbdDevice, error) {
	if len(disks) > maxInstanceDisks {
		return nil, fmt.Errorf("Too many disks in one call: %d (an instance has at most %d)", len(disks), maxInstanceDisks)
	}
	devs, err := n.findAll(disks)
	if err != nil {
		return nil, err
	}
	out := make([]*drbdDevice, len(devs))
	for i, dev := range devs {
		v, ok := dev.(*drbdDevice)
		if !ok {
			return nil, fmt.Errorf("%s is not a DRBD disk", &disks[i])
		}
		out[i] = v
	}
	return out, nil
}

// drbdDisksArg decodes [[disk, ...]] and finds their DRBD devices.
func (n *node) drbdDisksArg(args []json.RawMessage) ([]*drbdDevice, error) {
	var disks []disk
	if err := decodeArgs(args, &disks); err != nil {
		return nil, err
	}
	return n.drbdDevices(disks)
}

// maxInstanceDisks is Ganeti's limit of disks per instance (MAX_DISKS).
const maxInstanceDisks = 16

// rpcDRBDDisconnectNet: [[disk, ...]]: each goes standalone.
func rpcDRBDDisconnectNet(n *node, args []json.RawMessage) (any, error) {
	devs, err := n.drbdDisksArg(args)
	if err != nil {
		return nil, err
	}
	for _, v := range devs {
		if err := v.disconnectNet(); err != nil {
			return nil, fmt.Errorf("Can't change network configuration to standalone mode: %v", err)
		}
	}
	return nil, nil
}

// drbdReconnectWithin bounds drbd_attach_net's wait for the connections.
var drbdReconnectWithin = 120 * time.Second

// rpcDRBDAttachNet: [[disk, ...], multimaster]: each connects to its peer
// again (both primary when multimaster, for a live migration), and the
// call waits until all are connected (and, multimaster, up to date on
// both sides).
func rpcDRBDAttachNet(n *node, args []json.RawMessage) (any, error) {
	var disks []disk
	var multimaster bool
	if err := decodeArgs(args, &disks, &multimaster); err != nil {
		return nil, err
	}
	devs, err := n.drbdDevices(disks)
	if err != nil {
		return nil, err
	}
	for _, v := range devs {
		if err := v.attachNet(multimaster); err != nil {
			return nil, fmt.Errorf("Can't change network configuration: %v", err)
		}
	}
	delay := 100 * time.Millisecond
	for deadline := time.Now().Add(drbdReconnectWithin); ; {
		all := true
		for _, v := range devs {
			st, err := v.minorStatus()
			if err != nil {
				return nil, err
			}
			if multimaster {
				all = all && st.isConnected() && st.diskUpToDate() && st.rdisk == "UpToDate"
			} else {
				all = all && (st.isConnected() || st.inResync())
			}
			if st.isStandalone() {
				// The peer refused us (it was not listening yet): again.
				if err := v.attachNet(multimaster); err != nil {
					return nil, fmt.Errorf("Can't change network configuration: %v", err)
				}
			}
		}
		if all {
			return nil, nil
		}
		if time.Now().Add(delay).After(deadline) {
			return nil, fmt.Errorf("Timeout in disk reconnecting")
		}
		time.Sleep(delay)
		delay = min(delay*3/2, 5*time.Second)
	}
}

// drbdSyncStartWithin bounds the wait for a device to connect or resync.
var drbdSyncStartWithin = 15 * time.Second

// rpcDRBDWaitSync: [[disk, ...]] → [all in sync, lowest sync percentage].
func rpcDRBDWaitSync(n *node, args []json.RawMessage) (any, error) {
	devs, err := n.drbdDisksArg(args)
	if err != nil {
		return nil, err
	}
	alldone, lowest := true, any(100)
	low := 100.0
	for _, v := range devs {
		var st drbdMinorStatus
		for deadline := time.Now().Add(drbdSyncStartWithin); ; {
			if st, err = v.minorStatus(); err != nil {
				return nil, err
			}
			if st.isConnected() || st.inResync() {
				break
			}
			if time.Now().Add(drbdPoll).After(deadline) {
				return nil, fmt.Errorf("DRBD device %s is not in sync: stats=%s", v, st)
			}
			time.Sleep(drbdPoll)
		}
		alldone = alldone && !st.inResync()
		if st.syncPercent != nil && *st.syncPercent < low {
			low = *st.syncPercent
			lowest = low
		}
	}
	return []any{alldone, lowest}, nil
}

// String is a minor's status as Ganeti's repr shows it in messages.
func (s drbdMinorStatus) String() string {
	return fmt.Sprintf("<DRBD8Status: cstatus=%s, lrole=%s, rrole=%s, ldisk=%s, rdisk=%s>", s.cstatus, s.lrole, s.rrole, s.ldisk, s.rdisk)
}

// rpcDRBDNeedsActivation: [[disk, ...]] → the uuids of the disks that
// are not assembled, or standalone, or without their local disk.
func rpcDRBDNeedsActivation(n *node, args []json.RawMessage) (any, error) {
	var disks []disk
	if err := decodeArgs(args, &disks); err != nil {
		return nil, err
	}
	n.shareLVListing(disks)
	faulty := []string{}
	for i := range disks {
		dev, err := n.findDevice(&disks[i])
		if err != nil {
			return nil, err
		}
		if v, ok := dev.(*drbdDevice); ok {
			st, err := v.minorStatus()
			if err != nil {
				return nil, err
			}
			if !st.isStandalone() && !st.isDiskless() {
				continue
			}
		} else if dev != nil {
			continue
		}
		faulty = append(faulty, disks[i].UUID)
	}
	return faulty, nil
}

// childrenArgs decodes [disk, [child disk, ...]] and finds the disk's
// DRBD device.
func (n *node) childrenArgs(args []json.RawMessage, verb string) (*drbdDevice, []disk, error) {
	var d disk
	var kids []disk
	if err := decodeArgs(args, &d, &kids); err != nil {
		return nil, nil, err
	}
	parent, err := n.findDevice(&d)
	if err != nil {
		return nil, nil, backendError(err)
	}
	v, ok := parent.(*drbdDevice)
	if !ok {
		return nil, nil, fmt.Errorf("Can't find parent device '%s' in %s children", &d, verb)
	}
	return v, kids, nil
}

// backendError is an error Ganeti's backend does not catch, with the
// prefix noded gives those.
func backendError(err error) error {
	if pe := (*programmerError)(nil); errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("Error while executing backend function: %v", err)
}

// rpcBlockdevAddchildren: [disk, [child disk, ...]]: a diskless DRBD
// device gets new volumes (replace-disks on this node).
func rpcBlockdevAddchildren(n *node, args []json.RawMessage) (any, error) {
	v, kids, err := n.childrenArgs(args, "add")
	if err != nil {
		return nil, err
	}
	var devs []blockDevice
	missing := false
	for i := range kids {
		dev, err := n.findDevice(&kids[i])
		if err != nil {
			return nil, backendError(err)
		}
		missing = missing || dev == nil
		devs = append(devs, dev)
	}
	if missing {
		return nil, fmt.Errorf("Can't find new device(s) to add: %v:%v", devs, kids)
	}
	if err := v.addChildren(devs); err != nil {
		return nil, backendError(err)
	}
	return nil, nil
}

// rpcBlockdevRemovechildren: [disk, [child disk, ...]]: the DRBD device
// lets go of its volumes (they are named by their paths).
func rpcBlockdevRemovechildren(n *node, args []json.RawMessage) (any, error) {
	v, kids, err := n.childrenArgs(args, "remove")
	if err != nil {
		return nil, err
	}
	var paths []string
	for i := range kids {
		dev, err := n.deviceFor(&kids[i])
		if err != nil {
			return nil, fmt.Errorf("Can't find device %s while removing children", &kids[i])
		}
		paths = append(paths, dev.Path())
	}
	if err := v.removeChildren(paths); err != nil {
		return nil, backendError(err)
	}
	return nil, nil
}

// addChildren attaches new volumes to a diskless minor, with metadata
// written through a free minor (the device's own is configured, which
// drbdmeta refuses).
func (v *drbdDevice) addChildren(devs []blockDevice) error {
	if !v.attached {
		return fmt.Errorf("drbd%d: can't attach to dbrd8 during AddChildren", v.minor)
	}
	if len(devs) != 2 {
		return fmt.Errorf("drbd%d: need two devices for AddChildren", v.minor)
	}
	info, err := v.show()
	if err != nil {
		return err
	}
	if info.hasLocalDev {
		return fmt.Errorf("drbd%d: already attached to a local disk", v.minor)
	}
	data, meta := devs[0], devs[1]
	if err := checkVolumesFree(v.minor, data, meta); err != nil {
		return err
	}
	if err := v.n.checkDRBDMeta(meta.Path()); err != nil {
		return err
	}
	p, err := v.proc()
	if err != nil {
		return err
	}
	free, err := p.unusedMinor()
	if err != nil {
		return err
	}
	tmp := &drbdDevice{n: v.n, minor: free, meta: meta}
	if err := tmp.initMeta(); err != nil {
		return err
	}
	v.data, v.meta = data, meta
	if err := v.assembleLocal(); err != nil {
		v.data, v.meta = nil, nil
		return err
	}
	return nil
}

// removeChildren detaches the minor's volumes, which must be the ones
// named; a minor without a local disk has nothing to do.
func (v *drbdDevice) removeChildren(paths []string) error {
	if !v.attached {
		return fmt.Errorf("drbd%d: can't attach to drbd8 during RemoveChildren", v.minor)
	}
	info, err := v.show()
	if err != nil {
		return err
	}
	if !info.hasLocalDev {
		return nil
	}
	if v.data == nil {
		return fmt.Errorf("drbd%d: we don't have two children: []", v.minor)
	}
	if len(paths) != 2 {
		return fmt.Errorf("drbd%d: we need two children in RemoveChildren", v.minor)
	}
	for i, child := range v.Children() {
		if paths[i] != child.Path() {
			return fmt.Errorf("drbd%d: mismatch in local storage (%s != %s) in RemoveChildren", v.minor, paths[i], child.Path())
		}
	}
	// The kernel's view too: the minor must hold these volumes.
	if info.localDev != paths[0] || info.metaDev != paths[1] {
		return fmt.Errorf("drbd%d: mismatch in local storage (%s, %s attached) in RemoveChildren", v.minor, info.localDev, info.metaDev)
	}
	if err := v.drbd(drbdMinorCmd("detach", v.minor), "drbd%d: can't detach local disk: %s"); err != nil {
		return err
	}
	v.data, v.meta = nil, nil
	return nil
}
