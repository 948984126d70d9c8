package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// lvDevice is a logical volume /dev/<vg>/<lv>: Ganeti's plain disk type
// (storage.bdev.LogicalVolume). Every LVM command is the argv Ganeti 3.0
// runs for the same disk object, so that the master and an operator
// reading the logs see the same thing on either daemon.
type lvDevice struct {
	n      *node
	vg, lv string
	d      *disk // the master's object: size, spindles and stripes for Create
	// attached tells that info is what lvs last reported of the volume.
	attached bool
	info     lvInfo
}

// lvInfo is what lvs reports of one volume.
type lvInfo struct {
	attr         string // lv_attr, at least 6 characters
	major, minor int    // -1 while the volume is inactive
	extentKiB    int64  // the volume group's extent size
	stripes      int
	pvs          []string // the physical volumes it lives on, in lvs order
}

// newLVDevice is the plain kind's constructor: the logical id is
// [vg, lv], both LVM names.
func newLVDevice(n *node, d *disk) (blockDevice, error) {
	var id []string
	if err := json.Unmarshal(d.LogicalID, &id); err != nil || len(id) != 2 {
		return nil, fmt.Errorf("Invalid configuration data %s", d.LogicalID)
	}
	if !isVGName(id[0]) {
		return nil, fmt.Errorf("Invalid LVM name '%s'", id[0])
	}
	if !isLVMName(id[1]) {
		return nil, fmt.Errorf("Invalid LVM name '%s'", id[1])
	}
	if len(d.Children) > 0 {
		return nil, errors.New("Invalid setup for a logical volume: it has children")
	}
	return &lvDevice{n: n, vg: id[0], lv: id[1], d: d}, nil
}

func (v *lvDevice) Path() string            { return "/dev/" + v.vg + "/" + v.lv }
func (v *lvDevice) UniqueID() any           { return []string{v.vg, v.lv} }
func (v *lvDevice) Children() []blockDevice { return nil }

// lvsFields are the columns Attach reads, in Ganeti's order.
const lvsFields = "vg_name,lv_name,lv_attr,lv_kernel_major,lv_kernel_minor,vg_extent_size,stripes,devices"

// lvsDevice is one entry of lvs's devices column: "/dev/sdb1(0)".
var lvsDevice = regexp.MustCompile(`^([^ ()]+)\([0-9]+\)$`)

// logicalVolumeInfo lists every logical volume on the node by path. A
// volume with several segments has one line per segment; its physical
// volumes are those of all of them (Ganeti keeps only the last line's).
func (n *node) logicalVolumeInfo() (map[string]lvInfo, error) {
	res, err := n.runCommand(command{Args: []string{"lvs", "--noheadings", "--separator=|", "--units=k",
		"--nosuffix", "-o" + lvsFields}, Timeout: lvmTimeout})
	if err != nil {
		return nil, fmt.Errorf("Can't list logical volumes: %v", err)
	}
	listing, err := listingOf("lvs", res)
	if err != nil {
		return nil, fmt.Errorf("Can't list logical volumes: %v", err)
	}
	out := map[string]lvInfo{}
	for _, line := range strings.Split(listing, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) == 9 && f[8] == "" {
			f = f[:8]
		}
		if len(f) != 8 {
			return nil, fmt.Errorf("Can't parse LVS output, len(%s) != 8", pyList(f))
		}
		info, err := parseLVInfo(f)
		if err != nil {
			return nil, err
		}
		path := "/dev/" + f[0] + "/" + f[1]
		if prev, ok := out[path]; ok {
			for _, pv := range info.pvs {
				if !slices.Contains(prev.pvs, pv) {
					prev.pvs = append(prev.pvs, pv)
				}
			}
			info.pvs = prev.pvs
		}
		out[path] = info
	}
	return out, nil
}

// parseLVInfo reads one line of lvsFields, split.
func parseLVInfo(f []string) (lvInfo, error) {
	var info lvInfo
	info.attr = f[2]
	if len(info.attr) < 6 {
		return info, fmt.Errorf("lvs lv_attr is not at least 6 characters (%s)", info.attr)
	}
	var err1, err2 error
	info.major, err1 = strconv.Atoi(f[3])
	info.minor, err2 = strconv.Atoi(f[4])
	if err := errors.Join(err1, err2); err != nil || info.major < -1 || info.minor < -1 {
		return info, fmt.Errorf("lvs major/minor cannot be parsed: %s|%s", f[3], f[4])
	}
	extent, err := strconv.ParseFloat(f[5], 64)
	if err != nil || !(extent >= 1 && extent <= 1<<40) { // NaN fails both
		return info, fmt.Errorf("Can't parse vg extent size: %s", f[5])
	}
	info.extentKiB = int64(extent)
	// A virtual volume (thin, or what vgreduce --removemissing leaves of
	// one that lost its disks) has no stripes.
	info.stripes, err = strconv.Atoi(f[6])
	if err != nil || info.stripes < 0 || info.stripes > maxStripes {
		return info, fmt.Errorf("Can't parse the number of stripes: %s", f[6])
	}
	info.pvs = []string{}
	if f[7] != "" {
		for _, dev := range strings.Split(f[7], ",") {
			m := lvsDevice.FindStringSubmatch(dev)
			if m == nil {
				return info, fmt.Errorf("Can't parse this device list: %s", f[7])
			}
			if !slices.Contains(info.pvs, m[1]) {
				info.pvs = append(info.pvs, m[1])
			}
		}
	}
	return info, nil
}

// maxStripes is LVM's own limit.
const maxStripes = 128

func (v *lvDevice) Attach() (bool, error) {
	if l := v.d.lvs; l != nil {
		if l.err != nil {
			return false, l.err
		}
		if v.info, v.attached = l.volumes[v.Path()]; v.attached {
			return true, nil
		}
		// Not listed: it may have appeared since; Ganeti lists again too.
	}
	all, err := v.n.logicalVolumeInfo()
	if err != nil {
		return false, err
	}
	v.info, v.attached = all[v.Path()]
	return v.attached, nil
}

// appendPlain appends the plain volumes of d's tree to out.
func (d *disk) appendPlain(out []*disk) []*disk {
	if d == nil {
		return out
	}
	if d.DevType == "plain" {
		out = append(out, d)
	}
	for _, c := range d.Children {
		out = c.appendPlain(out)
	}
	return out
}

// lvListing is one lvs listing (or its failure).
type lvListing struct {
	volumes map[string]lvInfo
	err     error
}

// shareLVListing lists the node's volumes once for every plain volume
// in the disks' trees, as Ganeti's lvs cache does for the procedures that
// ask about many disks: one lvs, not one per volume (two per DRBD disk).
func (n *node) shareLVListing(disks []disk) {
	var plain []*disk
	for i := range disks {
		plain = disks[i].appendPlain(plain)
	}
	if len(plain) == 0 {
		return
	}
	l := &lvListing{}
	l.volumes, l.err = n.logicalVolumeInfo()
	for _, d := range plain {
		d.lvs = l
	}
}

// degraded is Ganeti's test, a virtual volume (what vgreduce
// --removemissing leaves of one that lost its disks), and also a partial
// one (a physical volume is missing), which Ganeti 3.0 reports as healthy.
func (i lvInfo) degraded() bool {
	return i.attr[0] == 'v' || len(i.attr) > 8 && i.attr[8] == 'p'
}

// stripesParam is the disk's "stripes" parameter, which the master always
// fills in.
func (v *lvDevice) stripesParam() (int, error) {
	raw, ok := v.d.Params["stripes"]
	if !ok {
		return 0, &programmerError{"Error while executing backend function: Block device is missing disk parameters: {'stripes'}"}
	}
	// Ganeti uses as many as there are physical volumes, at most: a
	// larger number is no error.
	n, err := wholeParam(raw, "stripes", 1, math.MaxInt32)
	return int(min(n, maxStripes)), err
}

// Create makes the volume with lvcreate on the group's allocatable
// physical volumes, emptiest first, as Ganeti does: with as many stripes
// as asked for (fewer when lvcreate refuses), or, under exclusive
// storage, on as many empty physical volumes as the disk has spindles.
func (v *lvDevice) Create(size mebibytes, exclStor bool) error {
	stripes, err := v.stripesParam()
	if err != nil {
		return err
	}
	pvs, err := v.n.physicalVolumes([]string{v.vg}, true, false)
	if err != nil || len(pvs) == 0 {
		if exclStor {
			return errors.New("No (empty) PVs found")
		}
		return fmt.Errorf("Can't compute PV info for vg %s", v.vg)
	}
	slices.SortStableFunc(pvs, func(a, b pvInfo) int { return -cmpFloat(a.free, b.free) })
	var names []string
	for _, pv := range pvs {
		if strings.Contains(pv.name, ":") {
			return errors.New("Some of your PVs have the invalid character ':' in their name, this is not supported - please filter them out in lvm.conf using either 'filter' or 'preferred_names'")
		}
		if !isPVName(pv.name) { // it becomes an argument of lvcreate
			return fmt.Errorf("Physical volume '%s' of %s has a name this node does not pass to lvcreate", pv.name, v.vg)
		}
		names = append(names, pv.name)
	}
	stripes = min(stripes, len(names))
	if exclStor {
		names, err = v.exclusivePVs(size, pvs)
		if err != nil {
			return err
		}
		stripes = len(names)
	} else {
		free := 0.0
		for _, pv := range pvs {
			free += pv.free
		}
		if free < float64(size) {
			return fmt.Errorf("Not enough free space: required %d, available %s", size, pyFloat(free))
		}
	}
	if stripes < 1 || size < 1 {
		return fmt.Errorf("Can't create a volume of %d MiB on %d physical volumes", size, stripes)
	}
	var last error
	for s := stripes; s >= 1; s-- {
		argv := append([]string{"lvcreate", "-Wn", fmt.Sprintf("-L%dm", size), "-n" + v.lv, fmt.Sprintf("-i%d", s), v.vg}, names...)
		res, err := v.n.runCommand(command{Args: argv, Timeout: lvmChangeTimeout})
		if err == nil {
			if ok, err := v.Attach(); err != nil || !ok {
				// The master never learns of a volume it was told failed:
				// it must not stay behind.
				rm := &lvDevice{n: v.n, vg: v.vg, lv: v.lv, d: v.d}
				if _, rerr := v.n.runChecked(lvmChangeTimeout, "lvremove", "-f", v.vg+"/"+v.lv); rerr != nil {
					v.n.log.Warningf("cannot remove %s after a failed create: %v", rm.Path(), rerr)
				}
				return fmt.Errorf("LV %s was created but cannot be found: %v", v.Path(), cmp.Or(err, errors.New("not listed by lvs")))
			}
			return nil
		}
		last = fmt.Errorf("LV create failed (%s): %s", exitReason(res, err), outputOf(res, err))
		if res == nil || res.TimedOut {
			// A hung LVM is not a matter of stripes; trying on could
			// make a volume after the master gave up on this one. What a
			// killed lvcreate left, verify lists as an orphan volume.
			break
		}
	}
	return last
}

// lvmChangeTimeout bounds a command that changes LVM metadata; Ganeti has
// none, but a hung lvcreate must not hold a handler for ever.
const lvmChangeTimeout = 5 * lvmTimeout

// exclusivePVs picks the empty physical volumes of an exclusive-storage
// disk: one per spindle, at least as many as its size needs.
func (v *lvDevice) exclusivePVs(size mebibytes, pvs []pvInfo) ([]string, error) {
	if v.d.Spindles == nil {
		return nil, errors.New("Unspecified number of spindles: this is requiredwhen exclusive storage is enabled, try running gnt-cluster repair-disk-sizes")
	}
	spindles := int64(*v.d.Spindles)
	std := standardPVSize(pvs)
	if std <= 0 {
		return nil, fmt.Errorf("Physical volumes of %s are too small for exclusive storage", v.vg)
	}
	needed := int64(math.Ceil(float64(size) / std))
	if spindles < needed {
		return nil, fmt.Errorf("Requested number of spindles (%d) is not enough for a disk of %d MB (at least %d spindles needed)", spindles, size, needed)
	}
	var empty []string
	for _, pv := range pvs {
		if pv.isEmpty() && int64(len(empty)) < spindles {
			empty = append(empty, pv.name)
		}
	}
	if int64(len(empty)) < spindles {
		return nil, fmt.Errorf("Not enough empty PVs (spindles) to create a disk of %d MB: %d available, %d needed", size, len(empty), spindles)
	}
	return empty, nil
}

// standardPVSize is the size exclusive storage counts a physical volume
// as: the smallest's, less a 3% margin, in whole MiB.
func standardPVSize(pvs []pvInfo) float64 {
	smallest := math.Inf(1)
	for _, pv := range pvs {
		smallest = min(smallest, pv.size)
	}
	if len(pvs) == 0 {
		return 0
	}
	return pyFloorDiv(smallest, 1+0.01+0.02) // Ganeti's margin and reserve
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Assemble activates the volume, which lvs must know by this path (LVM
// would take other names for it too, such as /dev/mapper's).
func (v *lvDevice) Assemble() error {
	if ok, err := v.Attach(); err != nil || !ok {
		return fmt.Errorf("Can't activate lv %s: %v", v.Path(), cmp.Or(err, errors.New("no such logical volume")))
	}
	res, err := v.n.runCommand(command{Args: []string{"lvchange", "-ay", v.Path()}, Timeout: lvmChangeTimeout})
	if err != nil {
		return fmt.Errorf("Can't activate lv %s: %s", v.Path(), outputOf(res, err))
	}
	return nil
}

// Shutdown, Open and Close do nothing: Ganeti never deactivates a volume.
func (v *lvDevice) Shutdown() error { return nil }
func (v *lvDevice) Open(bool) error { return nil }
func (v *lvDevice) Close() error    { return nil }
func (v *lvDevice) Spindles() int   { return len(v.info.pvs) }
func (v *lvDevice) needsAttach() error {
	if v.attached {
		return nil
	}
	ok, err := v.Attach()
	if err == nil && !ok {
		err = fmt.Errorf("Can't find logical volume %s", v.Path())
	}
	return err
}

func (v *lvDevice) Status() (blockDevStatus, error) {
	if err := v.needsAttach(); err != nil {
		return blockDevStatus{}, err
	}
	major, minor := v.info.major, v.info.minor
	s := blockDevStatus{DevPath: v.Path(), Major: &major, Minor: &minor, LDiskStatus: ldiskOkay}
	if v.info.degraded() {
		s.IsDegraded, s.LDiskStatus = true, ldiskFaulty
	}
	return s, nil
}

// SizeBytes is the size of the active volume.
func (v *lvDevice) SizeBytes() (int64, error) {
	return v.n.blockDeviceBytes(v.Path())
}

// SetInfo replaces the volume's tags with the master's text, made fit
// for an LVM tag as Ganeti makes it.
func (v *lvDevice) SetInfo(text string) error {
	res, err := v.n.runChecked(lvmTimeout, "lvs", "-o", "tags", "--noheadings", "--nosuffix", v.Path())
	if err != nil {
		return err
	}
	if old := strings.TrimSpace(res.Stdout); old != "" {
		for _, tag := range strings.Split(old, ",") {
			if _, err := v.n.runChecked(lvmChangeTimeout, "lvchange", "--deltag", strings.TrimSpace(tag), v.Path()); err != nil {
				return err
			}
		}
	}
	tag := lvmTag(text)
	if tag == "" {
		return nil // LVM refuses empty tags; Ganeti would fail here
	}
	_, err = v.n.runChecked(lvmChangeTimeout, "lvchange", "--addtag", tag, v.Path())
	return err
}

// lvmTag is text as an LVM tag: characters LVM refuses (a leading '-'
// too) become '_', at most 128 of them.
func lvmTag(text string) string {
	var b strings.Builder
	for i, r := range []rune(text) {
		if i == 128 {
			break
		}
		ok := r < 128 && (r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("_+.-", r))
		if !ok || i == 0 && r == '-' {
			r = '_'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// runChecked runs an LVM command; a failure is Ganeti's _CheckResult
// message.
func (n *node) runChecked(timeout time.Duration, argv ...string) (*cmdResult, error) {
	res, err := n.runCommand(command{Args: argv, Timeout: timeout})
	if err != nil {
		return res, fmt.Errorf("Command: %s error: %s - %s", shellQuoteArgs(argv), exitReason(res, err), outputOf(res, err))
	}
	return res, nil
}

// Grow extends the volume by amount MiB, rounded up to whole stripes of
// extents, trying LVM's allocation policies from the strictest. Under
// exclusive storage it stays on its own physical volumes.
func (v *lvDevice) Grow(amount mebibytes, dryrun, backingstore, exclStor bool) error {
	if !backingstore {
		return nil
	}
	if err := v.needsAttach(); err != nil {
		return errors.New("Can't attach to LV during Grow()")
	}
	full := v.info.extentKiB * int64(v.info.stripes) // both bounded by parseLVInfo
	if full == 0 {
		return fmt.Errorf("Can't grow LV %s: it is a virtual volume, with no stripes", v.Path())
	}
	kib := int64(amount) * 1024 // amount ≤ maxMiB
	if rem := kib % full; rem != 0 {
		kib += full - rem
	}
	argv := []string{"lvextend", "-L", fmt.Sprintf("+%dk", kib)}
	if dryrun {
		argv = append(argv, "--test")
	}
	var pvs []string
	if exclStor {
		for _, pv := range v.info.pvs { // they become arguments of lvextend
			if !isPVName(pv) || strings.Contains(pv, ":") {
				return fmt.Errorf("Can't grow %s: it lives on physical volume '%s', which this node does not pass to lvextend", v.Path(), pv)
			}
		}
		all, err := v.n.physicalVolumes([]string{v.vg}, true, false)
		if err != nil || len(all) == 0 {
			return fmt.Errorf("Cannot get information about PVs for %s", v.Path())
		}
		std, free := standardPVSize(all), 0.0
		for _, pv := range all {
			if slices.Contains(v.info.pvs, pv.name) {
				free += pv.free - (pv.size - std)
			}
		}
		if float64(kib) > free*1024 {
			return fmt.Errorf("Not enough free space to grow %s: %d MiB required, %d available", v.Path(), kib/1024, int64(free))
		}
		pvs = v.info.pvs
	}
	var last string
	for _, policy := range []string{"contiguous", "cling", "normal"} {
		cmd := append(append(slices.Clone(argv), "--alloc", policy, v.Path()), pvs...)
		res, err := v.n.runCommand(command{Args: cmd, Timeout: lvmChangeTimeout})
		if err == nil {
			return nil
		}
		last = outputOf(res, err)
		if res == nil || res.TimedOut {
			break
		}
	}
	return fmt.Errorf("Can't grow LV %s: %s", v.Path(), last)
}

// Rename renames the volume within its group.
func (v *lvDevice) Rename(newID json.RawMessage) error {
	var id []string
	if err := json.Unmarshal(newID, &id); err != nil || len(id) != 2 {
		return &programmerError{fmt.Sprintf("Error while executing backend function: Invalid new logical id '%s'", newID)}
	}
	if id[0] != v.vg {
		return &programmerError{fmt.Sprintf("Error while executing backend function: Can't move a logical volume across volume groups (from %s to to %s)", v.vg, id[0])}
	}
	if !isLVMName(id[1]) {
		return fmt.Errorf("Invalid LVM name '%s'", id[1])
	}
	res, err := v.n.runCommand(command{Args: []string{"lvrename", v.vg, v.lv, id[1]}, Timeout: lvmChangeTimeout})
	if err != nil {
		return fmt.Errorf("Failed to rename the logical volume: %s", outputOf(res, err))
	}
	v.lv, v.attached = id[1], false
	return nil
}

// Remove deletes the volume; one that is gone already is fine.
func (v *lvDevice) Remove() error {
	if !v.attached {
		if ok, err := v.Attach(); err != nil || !ok {
			return err
		}
	}
	res, err := v.n.runCommand(command{Args: []string{"lvremove", "-f", v.vg + "/" + v.lv}, Timeout: lvmChangeTimeout})
	if err != nil {
		return fmt.Errorf("Can't lvremove: %s - %s", exitReason(res, err), outputOf(res, err))
	}
	v.attached = false
	return nil
}

// Snapshot makes a copy-on-write snapshot <lv>.snap (or the name given)
// of size MiB (the disk's when nil or 0) in the same group, replacing an
// older one of that name, for an export.
func (v *lvDevice) Snapshot(name string, size *mebibytes) (any, error) {
	if name == "" {
		name = v.lv + ".snap"
	}
	if !isLVMName(name) {
		return nil, fmt.Errorf("Error while executing backend function: Invalid LVM name '%s'", name)
	}
	snapSize := v.d.Size
	if size != nil && *size != 0 {
		snapSize = *size
	}
	if name == v.lv {
		return nil, fmt.Errorf("Error while executing backend function: A snapshot of %s can't be called %s", v.Path(), name)
	}
	// Only an older snapshot of that name goes (Ganeti removes whatever
	// volume has the name, another instance's disk too).
	old := &lvDevice{n: v.n, vg: v.vg, lv: name, d: v.d}
	ok, err := old.Attach()
	switch {
	case err != nil:
		return nil, fmt.Errorf("Error while executing backend function: %v", err)
	case ok && old.info.attr[0] != 's':
		return nil, fmt.Errorf("Error while executing backend function: %s exists and is not a snapshot", old.Path())
	case ok:
		// Only a snapshot of this volume: another's may be in the middle
		// of that instance's export.
		res, err := v.n.runChecked(lvmTimeout, "lvs", "--noheadings", "-o", "origin", old.vg+"/"+old.lv)
		if err != nil {
			return nil, fmt.Errorf("Error while executing backend function: %v", err)
		}
		if origin := strings.TrimSpace(res.Stdout); origin != v.lv {
			return nil, fmt.Errorf("Error while executing backend function: %s is a snapshot of %s, not of %s", old.Path(), pyRepr(origin), v.Path())
		}
		if err := old.Remove(); err != nil {
			v.n.log.Warningf("Can't remove the old snapshot %s: %v", old.Path(), err)
		}
	}
	vgs, err := v.n.volumeGroups([]string{v.vg}, false)
	if err != nil || len(vgs) == 0 {
		return nil, fmt.Errorf("Error while executing backend function: Can't compute VG info for vg %s", v.vg)
	}
	if vgs[0].free < float64(snapSize) {
		return nil, fmt.Errorf("Error while executing backend function: Not enough free space: required %d, available %s", snapSize, pyFloat(vgs[0].free))
	}
	if _, err := v.n.runChecked(lvmChangeTimeout, "lvcreate", fmt.Sprintf("-L%dm", snapSize), "-s", "-n"+name, v.Path()); err != nil {
		return nil, fmt.Errorf("Error while executing backend function: %v", err)
	}
	return []string{v.vg, name}, nil
}
