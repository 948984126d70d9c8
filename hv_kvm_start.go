package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// kvmStartTimeout bounds qemu's start (it daemonizes once running).
const kvmStartTimeout = 5 * time.Minute

// StartInstance generates the runtime, saves it and runs qemu.
func (h *kvmHypervisor) StartInstance(inst *instance, links []string, paused bool) error {
	if h.instanceAlive(inst.Name) {
		return hvErrorf("Failed to start instance %s: already running", inst.Name)
	}
	help, machines, err := h.probe(kvmPath(inst.HVParams))
	if err != nil {
		return err
	}
	rt, err := h.generateKVMRuntime(inst, links, paused, help, machines)
	if err != nil {
		return err
	}
	if err := h.saveRuntime(inst.Name, rt); err != nil {
		return err
	}
	return h.executeKVMRuntime(inst, rt, help, "")
}

// probe reads qemu's --help and -machine ? outputs.
func (h *kvmHypervisor) probe(kvm string) (help, machines string, err error) {
	if help, err = h.kvmHelp(kvm); err != nil {
		return "", "", err
	}
	res, err := h.n.runCommand(command{Args: []string{kvm, "-machine", "?"}, Timeout: kvmQueryTimeout})
	if err != nil {
		return "", "", hvErrorf("Unable to get KVM -machine ? output")
	}
	return help, res.Output, nil
}

// kvmHelp is qemu's --help text, which tells its options.
func (h *kvmHypervisor) kvmHelp(kvm string) (string, error) {
	res, err := h.n.runCommand(command{Args: []string{kvm, "--help"}, Timeout: kvmQueryTimeout})
	if err != nil {
		return "", hvErrorf("Unable to get KVM --help output")
	}
	return res.Output, nil
}

// executeKVMRuntime adds this node's arguments (taps, QMP sockets, disks,
// the user to run as), configures the NICs and starts qemu, paused until
// passwords, CPU pinning and memory are set.
func (h *kvmHypervisor) executeKVMRuntime(inst *instance, rt *kvmRuntime, help, incoming string) error {
	name := inst.Name
	confHVP := inst.HVParams
	upHVP := kvmUpHVParams(confHVP, rt)
	if len(rt.Cmd) == 0 {
		return hvErrorf("Failed to load KVM runtime file: no qemu command")
	}
	// Ganeti's _CheckDown: an incoming migration or a reboot whose old
	// qemu lingers must not plug new taps next to the running one.
	if h.instanceAlive(name) {
		return hvErrorf("Failed to start instance %s: already running", name)
	}
	os.Remove(h.shutdownFile(name))
	if err := h.startKvmd(confHVP); err != nil {
		return err
	}
	argv := kvmStoredArgv(rt, confHVP)
	var files kvmInheritedFiles
	defer files.close()
	devlist := h.deviceList(pyStr(rt.Cmd[0]))
	nicArgs, tapNames, err := kvmNICArgs(rt, upHVP, devlist, help, h.n.paths.VhostNetDevice, &files)
	if err != nil {
		return err
	}
	argv = append(argv, nicArgs...)
	if incoming != "" {
		argv = append(argv, "-incoming", "tcp:"+incoming)
	}
	vncPassword, spicePassword, err := readKVMPasswords(confHVP)
	if err != nil {
		return err
	}
	if isTrue(confHVP["use_chroot"]) {
		if err := h.prepareChroot(name); err != nil {
			return err
		}
	}
	ctrl := filepath.Join(h.rootDir, "ctrl", name)
	argv = append(argv, "-qmp", "unix:"+ctrl+".qmp,server,nowait", "-qmp", "unix:"+ctrl+".kvmd,server,nowait")
	if err := h.ifupNICs(inst, rt, tapNames, incoming); err != nil {
		return err
	}
	argv = append(argv, kvmDiskArgs(upHVP, rt.Disks, help, devlist)...)
	addedPause := false
	if !slices.Contains(argv, "-S") && incoming == "" {
		argv = append(argv, "-S")
		addedPause = true
	}
	cpuMasks, err := kvmCPUMasks(hvStr(upHVP, "cpu_mask"), -1)
	if err != nil {
		return err
	}
	if err := h.launchKVM(name, hvStr(confHVP, "security_model"), argv, files); err != nil {
		return err
	}
	for i, t := range tapNames {
		h.saveNICTap(name, i, t)
	}
	return h.setUpStartedKVM(inst, vncPassword, spicePassword, cpuMasks, addedPause)
}

// kvmUpHVParams are the parameters a start uses: those the guest sees
// keep their values from the start (the runtime's); newer keys come from
// the configuration.
func kvmUpHVParams(confHVP map[string]any, rt *kvmRuntime) map[string]any {
	upHVP := map[string]any{}
	for k, v := range confHVP {
		upHVP[k] = v
	}
	for k, v := range rt.HVParams {
		upHVP[k] = v
	}
	return upHVP
}

// kvmStoredArgv is the runtime's command with the user qemu runs as and
// the keyboard layout.
func kvmStoredArgv(rt *kvmRuntime, confHVP map[string]any) []string {
	var argv []string
	for _, a := range rt.Cmd {
		argv = append(argv, pyStr(a))
	}
	if hvStr(confHVP, "security_model") == "user" {
		argv = append(argv, "-runas", hvStr(confHVP, "security_domain"))
	}
	if km := hvStr(confHVP, "keymap"); km != "" {
		argv = append(argv, "-k", km)
	}
	return argv
}

// kvmInheritedFiles are the files qemu inherits (taps, vhost-net), fds 3,
// 4, ... in order.
type kvmInheritedFiles []*os.File

// pass adds f and returns the descriptor qemu sees it as.
func (files *kvmInheritedFiles) pass(f *os.File) string {
	*files = append(*files, f)
	return strconv.Itoa(2 + len(*files))
}

func (files *kvmInheritedFiles) close() {
	for _, f := range *files {
		f.Close()
	}
}

// kvmNICArgs opens a tap for each NIC of the runtime and returns their
// -netdev and -device arguments (or -net none) and the taps' names.
func kvmNICArgs(rt *kvmRuntime, upHVP map[string]any, devlist, help, vhostDevice string, files *kvmInheritedFiles) (argv, tapNames []string, err error) {
	if len(rt.NICs) == 0 {
		return []string{"-net", "none"}, nil, nil
	}
	feat, err := kvmNICFeatures(upHVP, devlist, help, vhostDevice)
	if err != nil {
		return nil, nil, err
	}
	for i, nic := range rt.NICs {
		tap, err := openTap(feat.tap)
		if err != nil {
			return nil, nil, hvErrorf("%v", err)
		}
		tapNames = append(tapNames, tap.name)
		var tapFDs, vhostFDs []string
		for _, f := range tap.queues {
			tapFDs = append(tapFDs, files.pass(f))
		}
		for _, f := range tap.vhost {
			vhostFDs = append(vhostFDs, files.pass(f))
		}
		_, id, device := deviceString(nic["hvinfo"])
		if id == "" {
			id, device = fmt.Sprintf("netdev%d", i), feat.model
		}
		mac, _ := nic["mac"].(string)
		argv = append(argv, "-netdev", "type=tap,id="+id+","+fdList("fd", tapFDs)+vhostFDList(vhostFDs)+feat.netdevExtra,
			"-device", device+",netdev="+id+",mac="+mac+feat.deviceExtra)
	}
	return argv, tapNames, nil
}

// readKVMPasswords reads the VNC and SPICE password files.
func readKVMPasswords(confHVP map[string]any) (vnc, spice string, err error) {
	if f := hvStr(confHVP, "vnc_password_file"); f != "" {
		if vnc, err = readPasswordFile("VNC", f); err != nil {
			return "", "", err
		}
	}
	if f := hvStr(confHVP, "spice_password_file"); f != "" {
		// Read before qemu starts (Ganeti reads it after), so that a bad
		// file does not leave a paused qemu behind.
		if spice, err = readPasswordFile("SPICE", f); err != nil {
			return "", "", err
		}
	}
	return vnc, spice, nil
}

// ifupNICs configures the NICs' taps; a routed NIC of an incoming
// migration is configured when the migration is finalized.
func (h *kvmHypervisor) ifupNICs(inst *instance, rt *kvmRuntime, tapNames []string, incoming string) error {
	for i, nic := range rt.NICs {
		if incoming != "" && nicMode(nic) == "routed" {
			continue // configured when the migration is finalized
		}
		if err := h.runIfup(inst, i, nic, tapNames[i]); err != nil {
			return err
		}
	}
	return nil
}

// launchKVM runs qemu, as a uid from the pool when the security model
// says so (recorded in uid/<name> for the stop to give back).
func (h *kvmHypervisor) launchKVM(name, securityModel string, argv []string, files []*os.File) error {
	if securityModel != "pool" {
		return h.runKVM(name, argv, files)
	}
	uid, err := h.n.requestUnusedUID()
	if err != nil {
		return err
	}
	username, err := uid.userName()
	if err == nil {
		argv = append(argv, "-runas", username)
		err = h.runKVM(name, argv, files)
	}
	uid.unlock()
	if err != nil {
		h.n.releaseUID(uid.uid)
		return err
	}
	if err := writeFile(filepath.Join(h.rootDir, "uid", name), []byte(strconv.Itoa(uid.uid)), 0o600); err != nil {
		return hvErrorf("Failed to start instance %s: %v", name, err)
	}
	return nil
}

// setUpStartedKVM sets, over QMP, what the paused qemu needs before it
// runs: the display passwords, the vCPU pinning and the startup memory,
// then lets it run if the start paused it.
func (h *kvmHypervisor) setUpStartedKVM(inst *instance, vncPassword, spicePassword string, cpuMasks [][]int, addedPause bool) error {
	name := inst.Name
	c, err := dialQMP(h.qmpSocket(name), qmpTimeout)
	if err != nil {
		return hvErrorf("Failed to start instance %s: %v", name, err)
	}
	defer c.Close()
	for _, p := range [][2]string{{"vnc", vncPassword}, {"spice", spicePassword}} {
		if p[1] == "" {
			continue
		}
		if _, err := c.Execute("set_password", map[string]any{"protocol": p[0], "password": p[1]}); err != nil {
			return hvErrorf("Failed to set the %s password of instance %s: %v", strings.ToUpper(p[0]), name, err)
		}
	}
	if len(cpuMasks) > 0 {
		if err := h.pinCPUs(c, name, cpuMasks); err != nil {
			return err
		}
	}
	if mem, err := h.startupMemory(inst); err == nil {
		if maxMem, _ := inst.beInt("maxmem"); mem < maxMem {
			if _, err := c.Execute("balloon", map[string]any{"value": int64(mem) << 20}); err != nil {
				h.n.log.Warningf("balloon %s to %d MiB: %v", name, mem, err)
			}
		}
	}
	if addedPause {
		if _, err := c.Execute("cont", nil); err != nil {
			return hvErrorf("Failed to start instance %s: %v", name, err)
		}
	}
	return nil
}

// runKVM starts qemu (it daemonizes) and checks that it lives.
func (h *kvmHypervisor) runKVM(name string, argv []string, files []*os.File) error {
	os.MkdirAll(h.n.paths.KVMLogDir, 0o750)
	res, err := h.n.runCommand(command{Args: argv, Dir: "/", Timeout: kvmStartTimeout, ExtraFiles: files})
	if err != nil {
		return hvErrorf("Failed to start instance %s: %s (%s)", name, exitReason(res, err), strings.TrimSpace(outputOf(res, err)))
	}
	if !h.instanceAlive(name) {
		return hvErrorf("Failed to start instance %s", name)
	}
	return nil
}

// deviceList is `qemu -device ?`; a failure still gives usable output.
func (h *kvmHypervisor) deviceList(kvm string) string {
	res, err := h.n.runCommand(command{Args: []string{kvm, "-device", "?"}, Timeout: kvmQueryTimeout})
	if res == nil {
		h.n.log.Warningf("%v", err)
		return ""
	}
	return res.Output
}

func deviceListHas(devlist, driver string) bool {
	return strings.Contains("\n"+devlist, "\nname \""+driver+"\"")
}

func nicMode(nic map[string]any) string {
	np, _ := nic["nicparams"].(map[string]any)
	mode, _ := np["mode"].(string)
	return mode
}

// fdList is "fd=N" for one descriptor, "fds=A:B:..." for several.
func fdList(key string, fds []string) string {
	if len(fds) > 1 {
		key += "s"
	}
	return key + "=" + strings.Join(fds, ":")
}

func vhostFDList(fds []string) string {
	if len(fds) == 0 {
		return ""
	}
	return "," + fdList("vhostfd", fds)
}

// kvmDiskArgs are the -drive (and -device) options of the disks: models
// qemu knows as a device get if=none and a -device on their bus, others
// (ide, scsi, sd...) an if=<model> drive.
func kvmDiskArgs(hvp map[string]any, disks [][3]any, help, devlist string) []string {
	diskType := hvStr(hvp, "disk_type")
	driver, iface := diskType, diskType
	if diskType == "paravirtual" {
		driver, iface = "virtio-blk-pci", "virtio"
	}
	withDevice := deviceListHas(devlist, driver)
	ifVal := ",if=" + iface
	if withDevice {
		ifVal = ",if=none"
	}
	discard := ""
	if d := hvStr(hvp, "disk_discard"); d != "" && d != "default" {
		discard = ",discard=" + d
	}
	bootDisk := hvStr(hvp, "kernel_path") == "" && hvStr(hvp, "boot_order") == "disk"
	bootFlag := kvmHelpOptionMentions(help, "-drive", ",boot=on|off") && diskType != "ide"
	autoReadOnly := kvmHelpOptionMentions(help, "-blockdev", ",auto-read-only=on|off")
	var args []string
	for _, d := range disks {
		obj, _ := d[0].(map[string]any)
		link, _ := d[1].(string)
		boot := ""
		if bootDisk {
			args = append(args, "-boot", "c")
			bootDisk = false
			if bootFlag {
				boot = ",boot=on"
			}
		}
		drive := "file=" + kvmDriveURI(obj, link, d[2]) + ",format=raw" + ifVal + boot + kvmAIOCache(hvp, obj) + discard
		if withDevice {
			_, id, device := deviceString(obj["hvinfo"])
			drive += ",id=" + id
			args = append(args, "-device", device+",drive="+id)
		}
		if autoReadOnly {
			drive += ",auto-read-only=off"
		}
		args = append(args, "-drive", drive)
	}
	return args
}

// kvmDriveURI is the disk's userspace URI when it is accessed that way,
// else its instance-disks link.
func kvmDriveURI(disk map[string]any, link string, uri any) string {
	params, _ := disk["params"].(map[string]any)
	if u, _ := uri.(string); u != "" && params["access"] == "userspace" {
		return u
	}
	return link
}

// kvmAIOCache is the drive's aio and cache options; shared storage gets
// cache=none so that migration cannot corrupt it.
func kvmAIOCache(hvp map[string]any, disk map[string]any) string {
	cache := hvStr(hvp, "disk_cache")
	switch disk["dev_type"] {
	case "blockdev", "diskless", "ext", "gluster", "sharedfile":
		cache = "none"
	}
	aio := hvStr(hvp, "disk_aio")
	if aio == "native" {
		return ",aio=native,cache=none"
	}
	if cache == "" || cache == "default" {
		return ",aio=threads"
	}
	return ",aio=threads,cache=" + cache
}

// runIfup runs Ganeti's kvm-ifup for one NIC's tap.
func (h *kvmHypervisor) runIfup(inst *instance, idx int, nic map[string]any, tap string) error {
	str := func(k string) string { s, _ := nic[k].(string); return s }
	np, _ := nic["nicparams"].(map[string]any)
	mode, _ := np["mode"].(string)
	link, _ := np["link"].(string)
	env := []string{"PATH=" + os.Getenv("PATH") + ":/sbin:/usr/sbin", "INSTANCE=" + inst.Name, "MAC=" + str("mac"),
		"MODE=" + mode, "INTERFACE=" + tap, "INTERFACE_INDEX=" + strconv.Itoa(idx), "INTERFACE_UUID=" + str("uuid"),
		"TAGS=" + strings.Join(inst.Tags, " ")}
	if ip := str("ip"); ip != "" {
		env = append(env, "IP="+ip)
	}
	if nm := str("name"); nm != "" {
		env = append(env, "INTERFACE_NAME="+nm)
	}
	if link != "" {
		env = append(env, "LINK="+link)
	}
	if vlan, ok := np["vlan"]; ok {
		env = append(env, "VLAN="+pyStr(vlan))
	}
	if netinfo, ok := nic["netinfo"].(map[string]any); ok && str("network") != "" {
		env = append(env, networkEnv("", netinfo)...)
	}
	if mode == "bridged" {
		env = append(env, "BRIDGE="+link)
	}
	res, err := h.n.runCommand(command{Args: []string{h.n.paths.KVMIfup, tap}, Env: env, Timeout: time.Minute})
	if err != nil {
		return hvErrorf("Failed to configure interface %s: %s; network configuration script output: %s", tap, exitReason(res, err), outputOf(res, err))
	}
	return nil
}

// nicFile is nic/<name>/<seq>: the host tap of the instance's NIC seq.
func (h *kvmHypervisor) nicFile(name string, seq int) string {
	return filepath.Join(h.rootDir, "nic", name, strconv.Itoa(seq))
}

// saveNICTap records a NIC's tap. qemu already runs with it, so a failure
// is only logged.
func (h *kvmHypervisor) saveNICTap(name string, seq int, tap string) {
	path := h.nicFile(name, seq)
	err := ensureDir(filepath.Dir(path), runDirsMode)
	if err == nil {
		err = writeFile(path, []byte(tap), 0o600)
	}
	if err != nil {
		h.n.log.Warningf("Cannot record tap %s of NIC %d of instance %s: %v", tap, seq, name, err)
	}
}

// startupMemory uses the node's free memory.
func (h *kvmHypervisor) startupMemory(inst *instance) (int, error) {
	info, err := h.n.linuxNodeInfo()
	if err != nil {
		return 0, err
	}
	return inst.startupMemory(info["memory_free"].(int))
}

// startKvmd makes sure ganeti-kvmd, which watches the .kvmd QMP sockets
// for guest shutdowns, runs when user shutdowns are tracked.
func (h *kvmHypervisor) startKvmd(hvp map[string]any) error {
	if !isTrue(hvp["user_shutdown"]) || daemonAlive(h.n.paths.KvmdPidFile) {
		return nil
	}
	if _, err := h.n.runCommand(command{Args: []string{h.n.paths.DaemonUtil, "start", "ganeti-kvmd"}, Timeout: daemonUtilTimeout}); err != nil {
		return hvErrorf("Failed to start KVM daemon")
	}
	return nil
}

// prepareChroot makes the empty directory qemu chroots into (-chroot).
func (h *kvmHypervisor) prepareChroot(name string) error {
	dir := h.chrootDir(name)
	if err := ensureDir(dir, 0o700); err != nil {
		return hvErrorf("Cannot create needed directory '%s': %v", dir, err)
	}
	return nil
}
