package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// drbdDevice is a disk of Ganeti's drbd template on this node: a DRBD 8.4
// minor over two logical volumes (data, and metadata with flexible
// external meta-data), connected to the same minor's peer on the other
// node (Ganeti 3.0's DRBD8Dev).
type drbdDevice struct {
	n *node
	d *disk
	// id is the master's logical_id: [node_a, node_b, port, minor_a,
	// minor_b, secret]; only the port and secret matter on a node.
	id     [6]any
	port   int
	secret string
	// minor, lhost and rhost come from the disk's dynamic parameters, the
	// master's view of this node's end.
	minor        int
	lhost, rhost string
	params       drbdParams
	// data and meta are the volumes; both nil for a diskless device (one
	// missing, or metadata that cannot be read).
	data, meta blockDevice
	attached   bool
}

func init() { deviceKinds["drbd"] = newDRBDDevice }

// drbdMajor is DRBD's block major.
const drbdMajor = 147

// Ganeti's DRBD port range (constants.FIRST_DRBD_PORT, LAST_DRBD_PORT):
// nothing is configured on another port.
const firstDRBDPort, lastDRBDPort = 11000, 14999

// drbdMaxSecret is DRBD's limit on a shared secret (SHARED_SECRET_MAX).
const drbdMaxSecret = 64

func newDRBDDevice(n *node, d *disk) (blockDevice, error) {
	v, err := parseDRBDDisk(n, d)
	if err != nil {
		return nil, err
	}
	if len(d.Children) == 2 { // or none (checkDiskTree)
		// Children the node cannot find make a diskless device, as in
		// Ganeti: the network end may still be assembled.
		var kids [2]blockDevice
		for i, c := range d.Children { // plain volumes (checkDiskTree)
			dev, err := n.findDevice(c)
			if err != nil {
				return nil, err
			}
			kids[i] = dev
		}
		if kids[0] != nil && kids[1] != nil {
			if drbdMetaReadable(kids[1].Path()) {
				v.data, v.meta = kids[0], kids[1]
			} else {
				n.log.Warningf("drbd%d: ignoring unreadable meta device %s", v.minor, kids[1].Path())
			}
		}
	}
	if _, err := v.Attach(); err != nil {
		return nil, err
	}
	return v, nil
}

// parseDRBDDisk checks a DRBD disk object and reads what this node's end
// needs of it, touching nothing (checkDiskTree calls it before a disk's
// children are assembled).
func parseDRBDDisk(n *node, d *disk) (*drbdDevice, error) {
	v := &drbdDevice{n: n, d: d}
	// Ganeti raises these as ValueError: no handler adds its prefix.
	invalid := func(format string, a ...any) error {
		return &programmerError{fmt.Sprintf("Error while executing backend function: "+format, a...)}
	}
	var id []json.RawMessage
	if err := json.Unmarshal(d.LogicalID, &id); err != nil || len(id) != 6 {
		return nil, invalid("Invalid configuration data %s", drbdIDText(d.LogicalID))
	}
	var nodeA, nodeB string
	var port, minorA, minorB int64
	var err error
	for i, dst := range []*string{&nodeA, &nodeB} {
		if json.Unmarshal(id[i], dst) != nil {
			return nil, invalid("Invalid configuration data %s: node %d is not a name", drbdIDText(d.LogicalID), i)
		}
	}
	// No port: a device Ganeti assembles without its network, as on a new
	// secondary in replace-disks -n until drbd_attach_net.
	if string(id[2]) != "null" {
		if port, err = wholeNumber(id[2], "DRBD port", firstDRBDPort, lastDRBDPort); err != nil {
			return nil, invalid("Invalid configuration data: %v", err)
		}
	}
	for i, dst := range []*int64{&minorA, &minorB} {
		if *dst, err = wholeNumber(id[3+i], "DRBD minor", 0, maxDRBDNumber-1); err != nil {
			return nil, invalid("Invalid configuration data: %v", err)
		}
	}
	if string(id[5]) != "null" {
		if json.Unmarshal(id[5], &v.secret) != nil || len(v.secret) > drbdMaxSecret || !isDRBDSecret(v.secret) {
			return nil, invalid("Invalid configuration data: the DRBD secret must be up to %d printable characters", drbdMaxSecret)
		}
	}
	v.id = [6]any{nodeA, nodeB, port, minorA, minorB, nil}
	if port == 0 {
		v.id[2] = nil
	}
	v.port = int(port)

	dyn := d.DynamicParams
	dynText, _ := json.Marshal(dyn)
	for _, k := range []string{"local-ip", "remote-ip", "local-minor", "remote-minor"} {
		if _, ok := dyn[k]; !ok {
			return nil, invalid("Invalid dynamic parameters %s", dynText)
		}
	}
	minor, err := wholeParam(dyn["local-minor"], "local-minor", 0, maxDRBDNumber-1)
	if err != nil {
		return nil, invalid("Invalid dynamic parameters: %v", err)
	}
	if minor != minorA && minor != minorB {
		return nil, invalid("Invalid dynamic parameters: local minor %d is neither of the disk's (%d, %d)", minor, minorA, minorB)
	}
	v.minor = int(minor)
	lhost, lok := dyn["local-ip"].(string)
	rhost, rok := dyn["remote-ip"].(string)
	if !lok || !rok {
		return nil, invalid("Invalid dynamic parameters: local-ip and remote-ip must be addresses")
	}
	if lhost == rhost {
		return nil, invalid("Invalid configuration data, same local/remote %s, %s", drbdIDText(d.LogicalID), dynText)
	}
	v.lhost, v.rhost = lhost, rhost
	if v.params, err = decodeDRBDParams(d.Params); err != nil {
		return nil, err
	}
	return v, nil
}

// drbdIDText is a DRBD logical id for a message, its secret left out
// (as Ganeti's Private values print).
func drbdIDText(raw json.RawMessage) string {
	var id []json.RawMessage
	if json.Unmarshal(raw, &id) == nil && len(id) == 6 {
		id[5] = json.RawMessage("null")
		raw, _ = json.Marshal(id)
	}
	return pyLogicalID(raw)
}

// isDRBDSecret: a secret drbdsetup takes as one argument (Ganeti's are
// hex).
func isDRBDSecret(s string) bool {
	for _, c := range s {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// drbdFamily is the address family of a connection, both ends of which
// must be addresses of the same family in their canonical form (drbdsetup
// show prints them so, and assembling compares).
func drbdFamily(minor int, lhost, rhost string) (string, error) {
	l, err1 := netip.ParseAddr(lhost)
	r, err2 := netip.ParseAddr(rhost)
	switch {
	case err1 != nil || l.Zone() != "" || l.String() != lhost || l.Is4In6():
		return "", fmt.Errorf("drbd%d: Invalid ip %s", minor, lhost)
	case err2 != nil || r.Zone() != "" || r.String() != rhost || r.Is4In6():
		return "", fmt.Errorf("drbd%d: Invalid ip %s", minor, rhost)
	case l.Is4() != r.Is4():
		return "", fmt.Errorf("drbd%d: can't connect ip %s to ip %s", minor, lhost, rhost)
	case l.Is4():
		return "ipv4", nil
	}
	return "ipv6", nil
}

// drbdMetaReadable tells whether a metadata volume can be read (tests
// replace it: their volumes do not exist).
var drbdMetaReadable = readable

// readable tells whether the first 128 KiB of a device can be read.
func readable(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 128<<10)
	_, err = f.ReadAt(buf, 0)
	return err == nil
}

func (v *drbdDevice) Path() string  { return drbdDevPath(v.minor) }
func (v *drbdDevice) UniqueID() any { return v.id[:] } // the secret is private: null, as Ganeti sends it
func (v *drbdDevice) Children() []blockDevice {
	if v.data == nil {
		return nil
	}
	return []blockDevice{v.data, v.meta}
}

// proc reads /proc/drbd and refuses a kernel module this daemon cannot
// drive: DRBD 9 (as Ganeti 3.0 does) and 8.3 or older (which 3.0 drives
// with other commands).
func (v *drbdDevice) proc() (*drbdProcInfo, error) {
	p, err := v.n.drbdProc()
	if err != nil {
		return nil, err
	}
	if p.version.major != 8 {
		return nil, fmt.Errorf("Mismatch in DRBD kernel version and requested ganeti usage: kernel is %d.%d, ganeti wants 8.x", p.version.major, p.version.minor)
	}
	if p.version.minor < 4 {
		return nil, fmt.Errorf("DRBD %s is not supported by this node daemon, which drives DRBD 8.4", p.version)
	}
	return p, nil
}

// Attach tells whether the minor is configured in the kernel.
func (v *drbdDevice) Attach() (bool, error) {
	p, err := v.proc()
	if err != nil {
		return false, err
	}
	used, err := p.usedMinors()
	if err != nil {
		return false, err
	}
	v.attached = slices.Contains(used, v.minor)
	return v.attached, nil
}

// minorStatus is the minor's line of /proc/drbd.
func (v *drbdDevice) minorStatus() (drbdMinorStatus, error) {
	if !v.attached {
		return drbdMinorStatus{}, fmt.Errorf("drbd%d: GetStats() called while not attached", v.minor)
	}
	p, err := v.proc()
	if err != nil {
		return drbdMinorStatus{}, err
	}
	if !p.hasMinor(v.minor) {
		return drbdMinorStatus{}, fmt.Errorf("drbd%d: can't find myself in /proc", v.minor)
	}
	return p.status(v.minor)
}

// drbd runs a DRBD command; failure is format's message with the
// command's output.
func (v *drbdDevice) drbd(argv []string, format string) error {
	res, err := v.n.runCommand(command{Args: argv, Timeout: drbdTimeout})
	if err != nil {
		return fmt.Errorf(format, v.minor, outputOf(res, err))
	}
	return nil
}

// drbdTimeout bounds one drbdsetup or drbdmeta command (Ganeti has none;
// DRBD's own network timeouts are far shorter).
const drbdTimeout = 2 * time.Minute

// drbdMetaSize is the metadata volume Ganeti makes (DRBD_META_SIZE MiB);
// DRBD takes up to 1 GiB.
const drbdMetaSize mebibytes = 128

// Create initialises the metadata on the (assembled) metadata volume;
// the minor itself is set up by Assemble.
func (v *drbdDevice) Create(size mebibytes, exclStor bool) error {
	if len(v.d.Children) != 2 {
		return &programmerError{"Error while executing backend function: Invalid setup for the drbd device"}
	}
	if exclStor {
		return &programmerError{"Error while executing backend function: DRBD device requested with exclusive_storage"}
	}
	if v.attached {
		return fmt.Errorf("drbd%d: minor is already in use at Create() time", v.minor)
	}
	if v.meta == nil {
		return fmt.Errorf("drbd%d: can't attach to meta device '%s'", v.minor, v.d.Children[1])
	}
	if err := checkVolumesFree(v.minor, v.data, v.meta); err != nil {
		return err
	}
	if err := v.n.checkDRBDMeta(v.meta.Path()); err != nil {
		return err
	}
	return v.initMeta()
}

// checkVolumesFree: a new minor's volumes are plain volumes nobody holds
// open; the metadata one is about to be wiped (an open one may be another
// minor's metadata, or an instance's disk).
func checkVolumesFree(minor int, devs ...blockDevice) error {
	for _, dev := range devs {
		lv, ok := dev.(*lvDevice)
		if !ok {
			return fmt.Errorf("drbd%d: %s is not a logical volume", minor, dev.Path())
		}
		if len(lv.info.attr) > 5 && lv.info.attr[5] == 'o' {
			return fmt.Errorf("drbd%d: %s is in use (open)", minor, lv.Path())
		}
	}
	return nil
}

// checkDRBDMeta: a metadata volume is between Ganeti's size and DRBD's
// limit of 1 GiB.
func (n *node) checkDRBDMeta(path string) error {
	res, err := n.runCommand(command{Args: []string{"blockdev", "--getsize", path}, Timeout: lvmTimeout})
	if err != nil {
		return fmt.Errorf("Failed to get device size: %s", outputOf(res, err))
	}
	sectors, err := strconv.ParseInt(strings.TrimSpace(res.Stdout), 10, 64)
	if err != nil || sectors < 0 || sectors > maxBytes/512 {
		return fmt.Errorf("Invalid output from blockdev: '%s'", res.Stdout)
	}
	bytes := sectors * 512
	mib := float64(bytes) / (1 << 20)
	if bytes < int64(drbdMetaSize)<<20 {
		return fmt.Errorf("Meta device too small (%.2fMib)", mib)
	}
	if bytes > 1<<30 {
		return fmt.Errorf("Meta device too big (%.2fMiB)", mib)
	}
	return nil
}

// initMeta wipes the metadata volume and writes DRBD's metadata on it.
func (v *drbdDevice) initMeta() error {
	res, err := v.n.runCommand(command{Args: []string{"dd", "if=/dev/zero", "of=" + v.meta.Path(),
		"bs=1048576", fmt.Sprintf("count=%d", drbdMetaSize), "oflag=direct"}, Timeout: drbdTimeout})
	if err != nil {
		return fmt.Errorf("Can't wipe the meta device: %s", outputOf(res, err))
	}
	res, err = v.n.runCommand(command{Args: drbdInitMetaCmd(v.minor, v.meta.Path()), Timeout: drbdTimeout})
	if err != nil {
		return fmt.Errorf("Can't initialize meta device: %s", outputOf(res, err))
	}
	return nil
}

// Assemble configures the minor: a new one from scratch (the fast path),
// a configured one by completing what is missing (the slow path), so
// assembling it again changes nothing.
func (v *drbdDevice) Assemble() error {
	if _, err := v.Attach(); err != nil {
		return err
	}
	if !v.attached {
		if v.data != nil {
			if err := v.assembleLocal(); err != nil {
				return err
			}
		}
		if v.port != 0 {
			if err := v.assembleNet(false); err != nil {
				return err
			}
		}
		_, err := v.Attach()
		return err
	}
	return v.slowAssemble()
}

// assembleLocal attaches the volumes, then sets the resync speed (which
// DRBD may refuse for a moment after the attach).
func (v *drbdDevice) assembleLocal() error {
	cmds, err := drbdLocalInitCmds(v.minor, v.data.Path(), v.meta.Path(), v.d.Size, v.params)
	if err != nil {
		return err
	}
	for _, c := range cmds {
		if err := v.drbd(c, "drbd%d: can't attach local disk: %s"); err != nil {
			return err
		}
	}
	sync, err := drbdSyncParamsCmd(v.minor, v.params)
	if err != nil {
		return fmt.Errorf("drbd%d: can't set the synchronization parameters: %v", v.minor, err)
	}
	var last error
	for deadline := time.Now().Add(drbdSyncParamsWithin); ; {
		if last = v.drbd(sync, "drbd%d: can't set the synchronization parameters: Can't change syncer rate: %s"); last == nil {
			return nil
		}
		if time.Now().Add(drbdPoll).After(deadline) {
			return last
		}
		time.Sleep(drbdPoll)
	}
}

// How often, and for how long, DRBD is asked again (Ganeti's values).
var (
	drbdPoll             = time.Second
	drbdSyncParamsWithin = 5 * time.Second
	drbdNetConfigWithin  = 10 * time.Second
)

// assembleNet connects the minor to its peer and waits until drbdsetup
// shows the connection's two ends.
func (v *drbdDevice) assembleNet(dualPrimary bool) error {
	if v.port == 0 {
		// Without a port the device must stay off the network (slowAssemble
		// then finds it does not match, as Ganeti does).
		return v.shutdownNet()
	}
	protocol := v.params.protocol
	if dualPrimary {
		protocol = "C" // Ganeti's migration protocol
	}
	family, err := drbdFamily(v.minor, v.lhost, v.rhost)
	if err != nil {
		return err
	}
	cmds, err := drbdNetInitCmds(v.minor, family, v.lhost, v.port, v.rhost, v.port, protocol, dualPrimary, v.secret, v.params)
	if err != nil {
		return err
	}
	for _, c := range cmds {
		if err := v.drbd(c, "drbd%d: can't setup network: %s"); err != nil {
			return err
		}
	}
	for deadline := time.Now().Add(drbdNetConfigWithin); ; {
		if info, err := v.show(); err == nil && v.matchesNet(info) {
			return nil
		}
		if time.Now().Add(drbdPoll).After(deadline) {
			return fmt.Errorf("drbd%d: timeout while configuring network", v.minor)
		}
		time.Sleep(drbdPoll)
	}
}

// show is drbdsetup show's view of the minor; a failing drbdsetup shows
// nothing configured, as in Ganeti.
func (v *drbdDevice) show() (drbdShowInfo, error) {
	res, err := v.n.runCommand(command{Args: drbdShowCmd(v.minor), Timeout: drbdTimeout})
	if err != nil {
		v.n.log.Warningf("Can't display the drbd config: %s", outputOf(res, err))
		return drbdShowInfo{}, nil
	}
	if res.Truncated {
		return drbdShowInfo{}, fmt.Errorf("drbd%d: drbdsetup show printed more than %d bytes", v.minor, maxCommandOutput)
	}
	return parseDRBDShow(res.Stdout)
}

// matchesLocal: the minor is attached to this disk's volumes (or, for a
// diskless device, to none).
func (v *drbdDevice) matchesLocal(info drbdShowInfo) bool {
	if v.data == nil {
		return !info.hasLocalDev && !info.hasMetaDev && !info.hasMetaIndex
	}
	return info.hasLocalDev && info.localDev == v.data.Path() && info.hasMetaDev && info.metaDev == v.meta.Path() &&
		(!info.hasMetaIndex || info.metaIndex == 0)
}

// matchesNet: the minor is connected to this disk's peer.
func (v *drbdDevice) matchesNet(info drbdShowInfo) bool {
	return info.hasLocal && info.hasRemote &&
		info.localAddr == drbdAddr{v.lhost, v.port} && info.remoteAddr == drbdAddr{v.rhost, v.port}
}

// slowAssemble completes a configured minor: the network end, the local
// disks, or a connection to the wrong peer replaced.
func (v *drbdDevice) slowAssemble() error {
	info, err := v.show()
	if err != nil {
		return err
	}
	local, net := v.matchesLocal(info), v.matchesNet(info)
	recheck := func(ok func(drbdShowInfo) bool, msg string) error {
		info, err := v.show()
		if err != nil {
			return err
		}
		if !ok(info) {
			return fmt.Errorf(msg, v.minor)
		}
		return nil
	}
	switch {
	case local && net:
		return nil
	case local && !info.hasLocal:
		if err := v.assembleNet(false); err != nil {
			return err
		}
		return recheck(v.matchesNet, "drbd%d: network attach successful, but 'drbdsetup show' disagrees")
	case net && !info.hasLocalDev && v.data != nil:
		if err := v.assembleLocal(); err != nil {
			return err
		}
		return recheck(v.matchesLocal, "drbd%d: disk attach successful, but 'drbdsetup show' disagrees")
	case local && info.hasLocalDev && info.hasLocal:
		if v.port == 0 {
			// Ganeti's disconnect would name the port "None" and fail:
			// the connection stays, whichever peer it has.
			return fmt.Errorf("drbd%d: device has correct local storage, wrong remote peer and is unable to disconnect in order to attach to the correct peer: the disk has no port", v.minor)
		}
		if err := v.shutdownNet(); err != nil {
			return fmt.Errorf("drbd%d: device has correct local storage, wrong remote peer and is unable to disconnect in order to attach to the correct peer: %v", v.minor, err)
		}
		if err := v.assembleNet(false); err != nil {
			return err
		}
		return recheck(v.matchesNet, "drbd%d: network attach successful, but 'drbdsetup show' disagrees")
	}
	return fmt.Errorf("drbd%d: cannot activate, unknown or unhandled reason", v.minor)
}

// shutdownNet disconnects the minor from the peer drbdsetup shows it
// connected to (which may not be this disk's: the wrong peer of a slow
// assemble); a disconnect names the connection by its two ends, and
// those of another minor must not be given.
func (v *drbdDevice) shutdownNet() error {
	info, err := v.show()
	if err != nil {
		return err
	}
	if !info.hasLocal || !info.hasRemote {
		return nil // no network configured
	}
	family, err := drbdFamily(v.minor, info.localAddr.host, info.remoteAddr.host)
	if err != nil {
		return err
	}
	return v.drbd(drbdDisconnectCmd(family, info.localAddr.host, info.localAddr.port, info.remoteAddr.host, info.remoteAddr.port),
		"drbd%d: can't shutdown network: %s")
}

// Shutdown takes the minor down (network, then disks); the volumes stay.
func (v *drbdDevice) Shutdown() error {
	if !v.attached {
		v.n.log.Infof("drbd%d: not attached during Shutdown()", v.minor)
		return nil
	}
	if err := v.drbd(drbdDownCmd(v.minor), "drbd%d: can't shutdown drbd device: %s"); err != nil {
		return err
	}
	v.attached = false
	return nil
}

// Remove is Shutdown: the volumes are removed as the disk's children.
func (v *drbdDevice) Remove() error { return v.Shutdown() }

// Open makes this node the primary; exclusive does not matter (only
// drbd_attach_net lets both nodes be primary).
func (v *drbdDevice) Open(bool) error { return v.primary(false) }

// OpenForced makes this node the primary over a peer that is not up to
// date, as right after creation.
func (v *drbdDevice) OpenForced() error { return v.primary(true) }

func (v *drbdDevice) primary(force bool) error {
	if !v.attached {
		v.n.log.Warningf("DRBD cannot attach to a device during open")
		return nil
	}
	return v.drbd(drbdPrimaryCmd(v.minor, force), "drbd%d: can't make drbd device primary: %s")
}

// Close makes this node secondary.
func (v *drbdDevice) Close() error {
	if !v.attached {
		return fmt.Errorf("drbd%d: can't Attach() in Close()", v.minor)
	}
	return v.drbd(drbdMinorCmd("secondary", v.minor), "drbd%d: can't switch drbd device to secondary: %s")
}

// syncStatus is the minor's own status (blockdev_find's): degraded unless
// connected and up to date; the local disk's state from the kernel's.
func (v *drbdDevice) syncStatus() (blockDevStatus, error) {
	if !v.attached {
		return blockDevStatus{}, fmt.Errorf("drbd%d: can't Attach() in GetSyncStatus", v.minor)
	}
	st, err := v.minorStatus()
	if err != nil {
		return blockDevStatus{}, err
	}
	major, minor := drbdMajor, v.minor
	s := blockDevStatus{DevPath: v.Path(), Major: &major, Minor: &minor, SyncPercent: st.syncPercent,
		EstimatedTime: st.estTime, IsDegraded: !st.isConnected() || !st.diskUpToDate()}
	switch {
	case st.diskUpToDate():
		s.LDiskStatus = ldiskOkay
	case st.isDiskless():
		s.LDiskStatus = ldiskFaulty
	case st.inResync():
		s.LDiskStatus = ldiskSync
	default:
		s.LDiskStatus = ldiskUnknown
	}
	return s, nil
}

// Status is the minor's status combined with its volumes': the least
// synced, the longest to go, degraded if any is, the worst disk state.
func (v *drbdDevice) Status() (blockDevStatus, error) {
	s, err := v.syncStatus()
	if err != nil {
		return s, err
	}
	for _, c := range v.Children() {
		cs, err := c.Status()
		if err != nil {
			return s, err
		}
		if cs.SyncPercent != nil && (s.SyncPercent == nil || *cs.SyncPercent < *s.SyncPercent) {
			s.SyncPercent = cs.SyncPercent
		}
		if cs.EstimatedTime != nil && (s.EstimatedTime == nil || *cs.EstimatedTime > *s.EstimatedTime) {
			s.EstimatedTime = cs.EstimatedTime
		}
		s.IsDegraded = s.IsDegraded || cs.IsDegraded
		s.LDiskStatus = max(s.LDiskStatus, cs.LDiskStatus)
	}
	return s, nil
}

// SetInfo tags the volumes.
func (v *drbdDevice) SetInfo(text string) error {
	for _, c := range v.Children() {
		if err := c.SetInfo(text); err != nil {
			return err
		}
	}
	return nil
}

func (v *drbdDevice) SizeBytes() (int64, error) { return v.n.blockDeviceBytes(v.Path()) }

// Grow grows the data volume, then (unless only the backing store is
// asked for) the minor over it.
func (v *drbdDevice) Grow(amount mebibytes, dryrun, backingstore, exclStor bool) error {
	if !v.attached {
		return fmt.Errorf("drbd%d: Grow called while not attached", v.minor)
	}
	if v.data == nil {
		return fmt.Errorf("drbd%d: cannot grow diskless device", v.minor)
	}
	if err := v.data.Grow(amount, dryrun, backingstore, exclStor); err != nil {
		return err
	}
	if dryrun || backingstore {
		return nil
	}
	if v.d.Size > maxMiB-amount {
		return fmt.Errorf("drbd%d: cannot grow by %d MiB: too large", v.minor, amount)
	}
	return v.drbd(drbdResizeCmd(v.minor, v.d.Size+amount), "drbd%d: resize failed: %s")
}

// Rename is refused, as in Ganeti: a DRBD disk keeps its minors and port.
func (v *drbdDevice) Rename(json.RawMessage) error {
	return &programmerError{"Error while executing backend function: Can't rename a drbd device"}
}

// PauseResumeSync pauses or resumes the resync of the minor.
func (v *drbdDevice) PauseResumeSync(pause bool) error {
	if !v.attached {
		return errors.New("not attached")
	}
	verb := "resume-sync"
	if pause {
		verb = "pause-sync"
	}
	return v.drbd(drbdMinorCmd(verb, v.minor), "drbd%d: can't "+verb+": %s")
}

// disconnectNet drops the connection to the peer (standalone), waiting
// until the kernel says so.
func (v *drbdDevice) disconnectNet() error {
	if !v.attached {
		return fmt.Errorf("drbd%d: disk not attached in re-attach net", v.minor)
	}
	if v.port == 0 {
		return fmt.Errorf("drbd%d: DRBD disk missing network info in DisconnectNet()", v.minor)
	}
	// Only this disk's own connection is dropped: Ganeti names its ends,
	// which fails for another (after a minute of retries).
	info, err := v.show()
	if err != nil {
		return err
	}
	if info.hasLocal && info.hasRemote && !v.matchesNet(info) {
		return fmt.Errorf("drbd%d: can't shutdown network: the minor is connected %s:%d - %s:%d, not as this disk (%s:%d - %s:%d)", v.minor,
			info.localAddr.host, info.localAddr.port, info.remoteAddr.host, info.remoteAddr.port, v.lhost, v.port, v.rhost, v.port)
	}
	disconnected := v.shutdownNet() == nil
	delay := 100 * time.Millisecond
	for deadline := time.Now().Add(drbdDisconnectWithin); ; {
		st, err := v.minorStatus()
		if err != nil {
			return err
		}
		if st.isStandalone() {
			return nil
		}
		if time.Now().Add(delay).After(deadline) {
			if disconnected {
				return fmt.Errorf("drbd%d: device did not react to the 'disconnect' command in a timely manner", v.minor)
			}
			return fmt.Errorf("drbd%d: can't shutdown network, even after multiple retries", v.minor)
		}
		time.Sleep(delay)
		delay = min(delay*3/2, 2*time.Second)
		disconnected = v.shutdownNet() == nil || disconnected
	}
}

var drbdDisconnectWithin = 60 * time.Second

// attachNet connects a standalone minor to its peer again, both primary
// when multimaster (live migration).
func (v *drbdDevice) attachNet(multimaster bool) error {
	if !v.attached {
		return fmt.Errorf("drbd%d: device not attached in AttachNet", v.minor)
	}
	if v.port == 0 {
		return fmt.Errorf("drbd%d: missing network info in AttachNet()", v.minor)
	}
	st, err := v.minorStatus()
	if err != nil {
		return err
	}
	if !st.isStandalone() {
		return fmt.Errorf("drbd%d: device is not standalone in AttachNet", v.minor)
	}
	return v.assembleNet(multimaster)
}

// String is the device as Ganeti's repr shows it in messages.
func (v *drbdDevice) String() string {
	return "<DRBD8Dev: drbd" + strconv.Itoa(v.minor) + " " + strings.Join([]string{v.lhost, v.rhost}, "/") + ">"
}
