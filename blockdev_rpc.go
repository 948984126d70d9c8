package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// findDevice returns the device of a disk if it exists on this node, nil
// if not (Ganeti's _RecursiveFindBD).
func (n *node) findDevice(d *disk) (blockDevice, error) {
	dev, err := n.deviceFor(d)
	if err != nil {
		return nil, err
	}
	if ok, err := dev.Attach(); err != nil || !ok {
		return nil, err
	}
	return dev, nil
}

// requireDevice is findDevice where a missing device is an error with
// the given message (a format taking the disk).
func (n *node) requireDevice(d *disk, missing string) (blockDevice, error) {
	dev, err := n.findDevice(d)
	if err == nil && dev == nil {
		err = fmt.Errorf(missing, d)
	}
	return dev, err
}

// rpcBlockdevCreate: [disk, size, owner, on_primary, info, excl_stor] →
// the device's unique id.
func rpcBlockdevCreate(n *node, args []json.RawMessage) (any, error) {
	var d disk
	var size mebibytes
	var owner string
	var onPrimary bool
	var info *string
	var exclStor bool
	if err := decodeArgs(args, &d, &size, &owner, &onPrimary, &info, &exclStor); err != nil {
		return nil, err
	}
	// A device built on others (DRBD on its volumes) needs them usable.
	if err := checkDiskTree(&d, 0); err != nil {
		return nil, err
	}
	for _, c := range d.Children {
		child, err := n.assembleTree(c, owner, onPrimary)
		if err != nil {
			return nil, fmt.Errorf("Can't assemble device %s: %v", c, err)
		}
		if child != nil && (onPrimary || d.assembleOnSecondary()) {
			if err := child.Open(false); err != nil {
				return nil, fmt.Errorf("Can't make child '%s' read-write: %v", c, err)
			}
		}
	}
	dev, err := n.deviceFor(&d)
	if err != nil {
		return nil, fmt.Errorf("Can't create block device: %v", err)
	}
	// Ganeti sizes the device from the disk object, not the size argument.
	if err := dev.Create(d.Size, exclStor); err != nil {
		var pe *programmerError
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, fmt.Errorf("Can't create block device: %v", err)
	}
	if onPrimary || d.assembleOnSecondary() {
		if err := dev.Assemble(); err != nil {
			return nil, fmt.Errorf("Can't assemble device after creation, unusual event: %v", err)
		}
		if onPrimary || d.openOnSecondary() {
			open := func() error { return dev.Open(true) }
			if f, ok := dev.(forceOpener); ok {
				open = f.OpenForced
			}
			if err := open(); err != nil {
				return nil, fmt.Errorf("Can't make device r/w after creation, unusual event: %v", err)
			}
		}
		n.updateBdevCache(dev.Path(), owner, onPrimary, d.IVName)
	}
	if err := dev.SetInfo(orEmpty(info)); err != nil {
		return nil, fmt.Errorf("Error while executing backend function: %v", err)
	}
	n.log.Infof("created %s disk %s (%d MiB) for %s", d.DevType, dev.Path(), d.Size, owner)
	return dev.UniqueID(), nil
}

// rpcBlockdevRemove: [disk]. A device that is already gone is fine;
// the children (DRBD's volumes) go after their parent.
func rpcBlockdevRemove(n *node, args []json.RawMessage) (any, error) {
	return nil, n.releaseArgs(args, removeRetrying, true)
}

// removeRetry is how often, and for how long, a device that refuses to
// go is tried again, as Ganeti does: a volume can stay open for a moment
// after the instance that used it ended.
var removeRetry = struct{ every, within time.Duration }{3 * time.Second, 30 * time.Second}

func removeRetrying(dev blockDevice) error {
	deadline := time.Now().Add(removeRetry.within)
	for {
		err := dev.Remove()
		if err == nil || time.Now().Add(removeRetry.every).After(deadline) {
			return err
		}
		time.Sleep(removeRetry.every)
	}
}

// releaseArgs decodes [disk] and releases its tree (releaseTree).
func (n *node) releaseArgs(args []json.RawMessage, op func(blockDevice) error, removing bool) error {
	var d disk
	if err := decodeArgs(args, &d); err != nil {
		return err
	}
	if msgs := n.releaseTree(&d, op, removing); len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// releaseTree runs op (remove, shutdown) on a disk's device where it is
// present, forgetting its owner, then on its children's: what failed, in
// messages. A device that cannot even be looked for stops a shutdown
// there; a removal goes on with the children.
func (n *node) releaseTree(d *disk, op func(blockDevice) error, removing bool) []string {
	var msgs []string
	dev, err := n.findDevice(d)
	if pe := (*programmerError)(nil); errors.As(err, &pe) {
		return []string{err.Error()} // a disk no node could hold: touch nothing
	}
	switch {
	case err != nil && removing:
		// The children still go; the call fails (Ganeti logs and
		// succeeds, though the device may still be there).
		msgs = append(msgs, err.Error())
	case err != nil:
		return []string{err.Error()}
	case dev == nil && removing:
		n.log.Infof("Can't attach to device %s in remove", d)
	case dev != nil:
		if err := op(dev); err != nil {
			msgs = append(msgs, err.Error())
		} else {
			n.removeBdevCache(dev.Path())
		}
	}
	for _, c := range d.Children {
		msgs = append(msgs, n.releaseTree(c, op, removing)...)
	}
	return msgs
}

// rpcBlockdevRename: [[[disk, new_unique_id], ...]].
func rpcBlockdevRename(n *node, args []json.RawMessage) (any, error) {
	var pairs [][2]json.RawMessage
	if err := decodeArgs(args, &pairs); err != nil {
		return nil, err
	}
	var msgs []string
	for _, p := range pairs {
		var d disk
		if err := json.Unmarshal(p[0], &d); err != nil {
			return nil, fmt.Errorf("blockdev_rename: bad disk: %v", err)
		}
		dev, err := n.findDevice(&d)
		if err != nil {
			msgs = append(msgs, err.Error())
			continue
		}
		if dev == nil {
			msgs = append(msgs, fmt.Sprintf("Can't find device %s in rename", &d))
			continue
		}
		old := dev.Path()
		if err := dev.Rename(p[1]); err != nil {
			var pe *programmerError
			if errors.As(err, &pe) {
				return nil, err // a request no device could honour
			}
			msgs = append(msgs, fmt.Sprintf("Can't rename device '%s' to '%s': %v", old, pyLogicalID(p[1]), err))
			continue
		}
		if old != dev.Path() {
			n.removeBdevCache(old)
		}
	}
	if len(msgs) > 0 {
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	return nil, nil
}

// instanceRef is the part of an Instance object the storage layer needs.
type instanceRef struct {
	Name string `json:"name"`
}

// rpcBlockdevAssemble activates a disk: [disk, instance, as_primary, idx]
// → [device path, instance-disks link or null, uri or null].
func rpcBlockdevAssemble(n *node, args []json.RawMessage) (any, error) {
	var d disk
	var inst instanceRef
	var primary bool
	var idx index
	if err := decodeArgs(args, &d, &inst, &primary, &idx); err != nil {
		return nil, err
	}
	if !hostnamePattern.MatchString(inst.Name) || idx < 0 {
		return nil, fmt.Errorf("Invalid instance name '%s' or disk index %d", inst.Name, idx)
	}
	if _, err := n.deviceFor(&d); err != nil {
		return nil, fmt.Errorf("Error while assembling disk: %v", err)
	}
	dev, err := n.assembleTree(&d, inst.Name, primary)
	if err != nil {
		return nil, fmt.Errorf("Error while assembling disk: %v", err)
	}
	if dev == nil {
		return []any{true, true}, nil // nothing to do on a secondary
	}
	var link any
	if primary {
		l, err := n.symlinkDisk(inst.Name, int(idx), dev.Path())
		if err != nil {
			return nil, fmt.Errorf("Error while symlinking disk: %v", err)
		}
		link = l
	}
	return []any{dev.Path(), link, nil}, nil
}

// assembleTree assembles a disk's children, then the disk where it is
// assembled (on the primary, or on both nodes for DRBD and plain), and
// opens it on the primary: Ganeti's _RecursiveAssembleBD. A nil device
// means nothing was to be done. DRBD does without the volumes it cannot
// assemble (it runs diskless); other kinds need all their children.
func (n *node) assembleTree(d *disk, owner string, primary bool) (blockDevice, error) {
	if err := checkDiskTree(d, 0); err != nil {
		return nil, err // before any child is touched
	}
	for _, c := range d.Children {
		if _, err := n.assembleTree(c, owner, primary); err != nil {
			if d.DevType != "drbd" {
				return nil, err
			}
			n.log.Errorf("Error in child activation (but continuing): %v", err)
		}
	}
	if !primary && !d.assembleOnSecondary() {
		return nil, nil
	}
	dev, err := n.deviceFor(d)
	if err != nil {
		return nil, err
	}
	if err := dev.Assemble(); err != nil {
		return nil, err
	}
	if primary || d.openOnSecondary() {
		if err := dev.Open(false); err != nil {
			return nil, err
		}
	}
	n.updateBdevCache(dev.Path(), owner, primary, d.IVName)
	return dev, nil
}

// rpcBlockdevShutdown deactivates a disk and its children and forgets
// their owner: [disk].
func rpcBlockdevShutdown(n *node, args []json.RawMessage) (any, error) {
	return nil, n.releaseArgs(args, blockDevice.Shutdown, false)
}

// rpcBlockdevFind: [disk] → its status, or null when absent.
func rpcBlockdevFind(n *node, args []json.RawMessage) (any, error) {
	var d disk
	if err := decodeArgs(args, &d); err != nil {
		return nil, err
	}
	dev, err := n.findDevice(&d)
	if pe := (*programmerError)(nil); errors.As(err, &pe) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("Failed to find device: %v", err)
	}
	if dev == nil {
		return nil, nil
	}
	if v, ok := dev.(*drbdDevice); ok {
		return v.syncStatus() // the minor alone, not with its volumes
	}
	return dev.Status()
}

// rpcBlockdevGetmirrorstatus: [[disk, ...]] → [status, ...]; a missing
// disk fails the call.
func rpcBlockdevGetmirrorstatus(n *node, args []json.RawMessage) (any, error) {
	var disks []disk
	if err := decodeArgs(args, &disks); err != nil {
		return nil, err
	}
	out := []any{}
	for i := range disks {
		status, err := n.findStatus(&disks[i])
		if err != nil {
			return nil, err
		}
		out = append(out, status)
	}
	return out, nil
}

// rpcBlockdevGetmirrorstatusMulti: [[disk, ...]] → [[true, status] or
// [false, error], ...].
func rpcBlockdevGetmirrorstatusMulti(n *node, args []json.RawMessage) (any, error) {
	var disks []disk
	if err := decodeArgs(args, &disks); err != nil {
		return nil, err
	}
	n.shareLVListing(disks)
	out := []any{}
	for i := range disks {
		status, err := n.findStatus(&disks[i])
		if err != nil {
			out = append(out, []any{false, err.Error()})
		} else {
			out = append(out, []any{true, status})
		}
	}
	return out, nil
}

// findStatus is the status of a disk's device, or why there is none.
func (n *node) findStatus(d *disk) (blockDevStatus, error) {
	dev, err := n.requireDevice(d, "Can't find device %s")
	if err != nil {
		return blockDevStatus{}, err
	}
	return dev.Status()
}

// rpcBlockdevGrow: [disk, amount MiB, dryrun, backingstore, excl_stor].
func rpcBlockdevGrow(n *node, args []json.RawMessage) (any, error) {
	var d disk
	var amount mebibytes
	var dryrun, backingstore, exclStor bool
	if err := decodeArgs(args, &d, &amount, &dryrun, &backingstore, &exclStor); err != nil {
		return nil, err
	}
	dev, err := n.requireDevice(&d, "Cannot find block device %s")
	if err != nil {
		return nil, err
	}
	if err := dev.Grow(amount, dryrun, backingstore, exclStor); err != nil {
		return nil, fmt.Errorf("Failed to grow block device: %v", err)
	}
	return nil, nil
}

// rpcBlockdevSnapshot: [disk, snap_name, snap_size MiB or null] → the
// snapshot's logical id. As in Ganeti, a kind that cannot snapshot is
// refused whatever the disk, before its device is looked for.
func rpcBlockdevSnapshot(n *node, args []json.RawMessage) (any, error) {
	var d disk
	var snapName *string
	var snapSize json.RawMessage
	if err := decodeArgs(args, &d, &snapName, &snapSize); err != nil {
		return nil, err
	}
	for d.DevType == "drbd" {
		// A DRBD disk is snapshotted through its data volume.
		if err := checkDiskTree(&d, 0); err != nil {
			return nil, err
		}
		if len(d.Children) == 0 {
			// Named without its secret (Ganeti fails here on a typo).
			return nil, fmt.Errorf("DRBD device '%s' without backing storage cannot be snapshotted", drbdIDText(d.LogicalID))
		}
		d = *d.Children[0]
	}
	dev, err := n.deviceFor(&d)
	snap, ok := dev.(snapshotter)
	if err != nil || !ok {
		return nil, fmt.Errorf("Cannot snapshot block device '%s' of type '%s'", pyLogicalID(d.LogicalID), d.DevType)
	}
	var size *mebibytes
	if err := json.Unmarshal(snapSize, &size); err != nil {
		return nil, &argError{fmt.Sprintf("argument 3: %v", err), err}
	}
	if snapName != nil && !isSnapshotName(*snapName) {
		return nil, fmt.Errorf("Invalid snapshot name %q", *snapName)
	}
	if ok, err := dev.Attach(); err != nil || !ok {
		return nil, cmp.Or(err, fmt.Errorf("Cannot find block device %s", &d))
	}
	return snap.Snapshot(orEmpty(snapName), size)
}

// orEmpty is an optional text argument, "" when null.
func orEmpty(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// rpcBlockdevGetdimensions: [[disk, ...]] → [[size bytes, spindles] or
// null, ...].
func rpcBlockdevGetdimensions(n *node, args []json.RawMessage) (any, error) {
	var disks []disk
	if err := decodeArgs(args, &disks); err != nil {
		return nil, err
	}
	out := []any{}
	for i := range disks {
		dev, err := n.findDevice(&disks[i])
		if err != nil || dev == nil {
			out = append(out, nil)
			continue
		}
		size, err := dev.SizeBytes()
		if err != nil {
			out = append(out, nil)
			continue
		}
		var spindles any
		if sc, ok := dev.(spindleCounter); ok {
			spindles = sc.Spindles()
		}
		out = append(out, []any{size, spindles})
	}
	return out, nil
}

// rpcBlockdevSetinfo: [disk, info].
func rpcBlockdevSetinfo(n *node, args []json.RawMessage) (any, error) {
	var d disk
	var info *string
	if err := decodeArgs(args, &d, &info); err != nil {
		return nil, err
	}
	dev, err := n.requireDevice(&d, "Cannot find block device %s")
	if err != nil {
		return nil, err
	}
	if err := dev.SetInfo(orEmpty(info)); err != nil {
		return nil, fmt.Errorf("Failed to set information on device: %v", err)
	}
	return nil, nil
}

// findAll finds every disk or fails naming the first missing one.
func (n *node) findAll(disks []disk) ([]blockDevice, error) {
	var devs []blockDevice
	for i := range disks {
		dev, err := n.requireDevice(&disks[i], "Can't find device %s")
		if err != nil {
			return nil, err
		}
		devs = append(devs, dev)
	}
	return devs, nil
}

// rpcBlockdevClose: [instance name or null, [disk, ...]]; closes the
// devices and drops the instance's disk links.
func rpcBlockdevClose(n *node, args []json.RawMessage) (any, error) {
	var inst *string
	var disks []disk
	if err := decodeArgs(args, &inst, &disks); err != nil {
		return nil, err
	}
	devs, err := n.findAll(disks)
	if err != nil {
		return nil, err
	}
	var msgs []string
	for _, dev := range devs {
		if err := dev.Close(); err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	if len(msgs) > 0 {
		return nil, fmt.Errorf("Can't close devices: %s", strings.Join(msgs, ","))
	}
	if inst != nil && *inst != "" {
		if !hostnamePattern.MatchString(*inst) {
			return nil, fmt.Errorf("Invalid instance name '%s'", *inst)
		}
		n.removeDiskLinks(*inst, len(disks))
	}
	return nil, nil
}

// rpcBlockdevOpen: [instance name, [disk, ...], exclusive]; links the
// instance's disks.
func rpcBlockdevOpen(n *node, args []json.RawMessage) (any, error) {
	var inst string
	var disks []disk
	var exclusive bool
	if err := decodeArgs(args, &inst, &disks, &exclusive); err != nil {
		return nil, err
	}
	if !hostnamePattern.MatchString(inst) {
		return nil, fmt.Errorf("Invalid instance name '%s'", inst)
	}
	devs, err := n.findAll(disks)
	if err != nil {
		return nil, err
	}
	var msgs []string
	for i, dev := range devs {
		err := dev.Open(exclusive)
		if err == nil {
			_, err = n.symlinkDisk(inst, i, dev.Path())
		}
		if err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	if len(msgs) > 0 {
		return nil, fmt.Errorf("Can't open devices: %s", strings.Join(msgs, ","))
	}
	return nil, nil
}

// dumpTimeout bounds a wipe, image or conversion of one disk.
const dumpTimeout = 4 * time.Hour

// rpcBlockdevWipe zeroes part of a disk: [disk, offset MiB, size MiB].
// Unlike Ganeti 3.0's dd, ours does not truncate a file disk at the
// offset (conv=notrunc); after the master's chunked wipe both end the same.
func rpcBlockdevWipe(n *node, args []json.RawMessage) (any, error) {
	var d disk
	var offset, size mebibytes
	if err := decodeArgs(args, &d, &offset, &size); err != nil {
		return nil, err
	}
	dev, err := n.findDevice(&d)
	if err != nil {
		return nil, err
	}
	if dev == nil {
		return nil, fmt.Errorf("Cannot wipe device %s: device not found", d.IVName)
	}
	switch { // offset and size are mebibytes: never negative
	case offset > d.Size:
		return nil, errors.New("Wipe offset is bigger than device size")
	case offset+size > d.Size: // each at most maxMiB: no overflow
		return nil, errors.New("Wipe offset and size are bigger than device size")
	}
	if err := checkFits(dev, offset+size, "Wipe offset and size are bigger than the device"); err != nil {
		return nil, err
	}
	return nil, n.dump("/dev/zero", dev.Path(), offset, size)
}

// checkFits refuses writing up to end MiB into dev when the device is
// smaller: the disk object's size comes from the request, and dd would
// extend a file disk past it (until the file system is full).
func checkFits(dev blockDevice, end mebibytes, msg string) error {
	have, err := dev.SizeBytes()
	if err != nil {
		return err
	}
	if end.bytes() > have {
		return fmt.Errorf("%s (%d MiB past its %d bytes)", msg, end, have)
	}
	return nil
}

// dump copies size MiB from source into target at offset MiB with dd.
func (n *node) dump(source, target string, offset, size mebibytes) error {
	argv := []string{"dd", "if=" + source, fmt.Sprintf("seek=%d", offset), "bs=1048576", "oflag=direct",
		"of=" + target, fmt.Sprintf("count=%d", size), "conv=notrunc"}
	res, err := n.runCommand(command{Args: argv, Dir: "/", Timeout: dumpTimeout})
	if err != nil {
		return fmt.Errorf("Dump command '%s' exited with error: %s; output: %s", strings.Join(argv, " "), exitReason(res, err), outputOf(res, err))
	}
	return nil
}

// rpcBlockdevImage writes an image (a local file or an http(s)/ftp URL)
// to the start of a disk: [disk, image, size MiB].
func rpcBlockdevImage(n *node, args []json.RawMessage) (any, error) {
	var d disk
	var image string
	var size mebibytes
	if err := decodeArgs(args, &d, &image, &size); err != nil {
		return nil, err
	}
	isURL := urlPattern.MatchString(image)
	if !isURL && !fileExists(image) {
		return nil, fmt.Errorf("Image '%s' not found", image)
	}
	dev, err := n.findDevice(&d)
	if err != nil {
		return nil, err
	}
	if dev == nil {
		return nil, fmt.Errorf("Cannot image device %s: device not found", d.IVName)
	}
	if size > d.Size { // a mebibytes size: never negative
		return nil, errors.New("Image size is bigger than device size")
	}
	if err := checkFits(dev, size, "Image size is bigger than the device"); err != nil {
		return nil, err
	}
	if !isURL {
		return nil, n.dump(image, dev.Path(), 0, size)
	}
	return nil, downloadImage(image, dev.Path(), size.bytes())
}

// downloadImage writes a downloaded image over the start of target,
// refusing one larger than limit bytes.
func downloadImage(url, target string, limit int64) error {
	client := &http.Client{Timeout: dumpTimeout}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "Ganeti "+releaseVersion)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("Error while executing backend function: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("Cannot download image '%s': %s", url, resp.Status)
	}
	out, err := os.OpenFile(target, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	written, err := io.Copy(out, io.LimitReader(resp.Body, limit+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("Error while executing backend function: %v", err)
	}
	if written > limit {
		return errors.New("Disk image larger than the disk")
	}
	return nil
}

// rpcBlockdevConvert copies one disk into another: [source, destination].
func rpcBlockdevConvert(n *node, args []json.RawMessage) (any, error) {
	var src, dst disk
	if err := decodeArgs(args, &src, &dst); err != nil {
		return nil, err
	}
	sdev, err := n.findDevice(&src)
	if err != nil {
		return nil, err
	}
	if sdev == nil {
		return nil, fmt.Errorf("Cannot copy from device '%s': device not found", src.UUID)
	}
	ddev, err := n.findDevice(&dst)
	if err != nil {
		return nil, err
	}
	if ddev == nil {
		return nil, fmt.Errorf("Cannot copy to device '%s': device not found", dst.UUID)
	}
	if err := checkFits(ddev, src.Size, "Source disk is bigger than the destination device"); err != nil {
		return nil, err
	}
	argv := []string{"dd", "if=" + sdev.Path(), "of=" + ddev.Path(), "bs=1048576", fmt.Sprintf("count=%d", src.Size),
		"iflag=direct", "oflag=direct", "conv=notrunc"}
	res, err := n.runCommand(command{Args: argv, Dir: "/", Timeout: dumpTimeout})
	if err != nil {
		return nil, fmt.Errorf("Disk conversion command '%s' exited with error: %s; output: %s", strings.Join(argv, " "), exitReason(res, err), outputOf(res, err))
	}
	return nil, nil
}

// rpcBlockdevPauseResumeSync: [[disk, ...], pause] → [[ok, error], ...];
// a present device that does not mirror has no sync and succeeds.
func rpcBlockdevPauseResumeSync(n *node, args []json.RawMessage) (any, error) {
	var disks []disk
	var pause bool
	if err := decodeArgs(args, &disks, &pause); err != nil {
		return nil, err
	}
	out := []any{}
	for i := range disks {
		dev, err := n.findDevice(&disks[i])
		switch {
		case err != nil:
			return nil, err
		case dev == nil:
			out = append(out, []any{false, fmt.Sprintf("Cannot change sync for device %s: device not found", disks[i].IVName)})
		default:
			out = append(out, pauseResumeSync(dev, pause))
		}
	}
	return out, nil
}

// pauseResumeSync is one device's [ok, error] for
// blockdev_pause_resume_sync. A device that does not mirror passes the
// request to its children, as Ganeti's BlockDev does: all must succeed.
func pauseResumeSync(dev blockDevice, pause bool) []any {
	p, ok := dev.(syncPauser)
	if !ok {
		for _, child := range dev.Children() {
			if r := pauseResumeSync(child, pause); r[0] != true {
				return r
			}
		}
		return []any{true, nil}
	}
	if err := p.PauseResumeSync(pause); err != nil {
		return []any{false, err.Error()}
	}
	return []any{true, nil}
}
