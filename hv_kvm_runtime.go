package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// kvmRuntime is the instance's conf/<name>.runtime: the stored qemu
// arguments, the NICs and disks with their device info (hvinfo), and the
// hypervisor parameters at start. The JSON layout is Ganeti's, so a daemon
// restart, or a switch to or from the Python daemon, finds it.
type kvmRuntime struct {
	Cmd      []any            // strings, except the value after -m (an integer)
	NICs     []map[string]any // NIC objects with "hvinfo"
	HVParams map[string]any
	Disks    [][3]any // [disk object with "hvinfo", link, uri]
}

func (r *kvmRuntime) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{r.Cmd, r.NICs, r.HVParams, r.Disks})
}

func (r *kvmRuntime) UnmarshalJSON(b []byte) error {
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil || len(parts) < 3 || len(parts) > 4 {
		return fmt.Errorf("KVM runtime file is not a list of 3 or 4 elements")
	}
	if err := json.Unmarshal(parts[0], &r.Cmd); err != nil {
		return err
	}
	if err := json.Unmarshal(parts[1], &r.NICs); err != nil {
		return err
	}
	if err := json.Unmarshal(parts[2], &r.HVParams); err != nil {
		return err
	}
	if len(parts) == 4 {
		return json.Unmarshal(parts[3], &r.Disks)
	}
	return nil
}

func (h *kvmHypervisor) runtimePath(name string) string {
	return filepath.Join(h.rootDir, "conf", name+".runtime")
}

func (h *kvmHypervisor) saveRuntime(name string, rt *kvmRuntime) error {
	data, err := json.Marshal(rt)
	if err != nil {
		return err
	}
	if err := writeFile(h.runtimePath(name), append(data, '\n'), 0o600); err != nil {
		return hvErrorf("Failed to save KVM runtime file: %v", err)
	}
	return nil
}

func (h *kvmHypervisor) loadRuntime(name string) (*kvmRuntime, error) {
	data, err := readFileLimited(h.runtimePath(name), 16<<20)
	if err != nil {
		return nil, hvErrorf("Failed to load KVM runtime file: %v", err)
	}
	var rt kvmRuntime
	if err := json.Unmarshal(data, &rt); err != nil {
		return nil, hvErrorf("Failed to load KVM runtime file: %v", err)
	}
	return &rt, nil
}

func isTrue(v any) bool { b, _ := v.(bool); return b }

func hvStr(p map[string]any, k string) string {
	s, _ := p[k].(string)
	return s
}

// hvInt reads an integer hypervisor parameter; one that is absent or not a
// whole number within ±hvMaxInt (the range the syntax checks pass) reads
// as 0 (unset). A caller that multiplies it checks the product.
func hvInt(p map[string]any, k string) int {
	n, _ := hvNumber(p[k])
	return n
}

var defaultMachinePattern = regexp.MustCompile(`(?m)^(\S+).*\(default\)`)

// kvmDeviceID is Ganeti's device id: kind plus the uuid without its last
// two groups.
func kvmDeviceID(kind, uuid string) string {
	parts := strings.Split(uuid, "-")
	if len(parts) > 2 {
		parts = parts[:len(parts)-2]
	}
	return kind + "-" + strings.Join(parts, "-")
}

func checkKVMDeviceUUID(kind, uuid string) error {
	if !kvmUUIDPattern.MatchString(uuid) {
		return hvErrorf("Invalid %s UUID '%s'", kind, uuid)
	}
	return nil
}

func checkKVMNICMAC(mac any) error {
	if s, _ := mac.(string); !kvmMACPattern.MatchString(s) {
		return hvErrorf("Invalid NIC MAC address '%s'", pyStr(mac))
	}
	return nil
}

// kvmSCSIDeviceTypes are the disk models that sit on the SCSI controller's
// bus (scsi.0) rather than on the PCI bus.
var kvmSCSIDeviceTypes = []string{"scsi-block", "scsi-cd", "scsi-generic", "scsi-hd"}

var kvmSoundhwOption = regexp.MustCompile(`(?m)^-soundhw\s`)

// kvmHelpOptionMentions tells whether the help text of one option (from
// its line to the next line starting with '-') contains text; Ganeti asks
// this for ",boot=on|off" of -drive and ",auto-read-only=on|off" of -blockdev.
func kvmHelpOptionMentions(help, option, text string) bool {
	for rest := help; ; {
		i := strings.Index(rest, option)
		if i < 0 {
			return false
		}
		atLineStart := i == 0 || rest[i-1] == '\n'
		after := rest[i+len(option):]
		if atLineStart && after != "" && (after[0] == ' ' || after[0] == '\t' || after[0] == '\n') {
			block := after
			if end := strings.Index(block, "\n-"); end >= 0 {
				block = block[:end]
			}
			if strings.Contains(block, text) {
				return true
			}
		}
		rest = after
	}
}

// generateKVMRuntime builds the stored qemu arguments and assigns bus
// slots to disks, then NICs, after the reserved ones. Only parameters
// that are the same on every node go in here; the rest is added at start
// (executeKVMRuntime).
func (h *kvmHypervisor) generateKVMRuntime(inst *instance, links []string, paused bool, help, machines string) (*kvmRuntime, error) {
	hvp := inst.HVParams
	maxMem, err := inst.beInt("maxmem")
	if err != nil {
		return nil, err
	}
	vcpus, err := inst.beInt("vcpus")
	if err != nil {
		return nil, err
	}
	if _, err := kvmCPUMasks(hvStr(hvp, "cpu_mask"), vcpus); err != nil {
		return nil, err
	}
	cmd, err := h.kvmMachineArgs(inst, maxMem, vcpus, help, machines)
	if err != nil {
		return nil, err
	}
	boot, err := kvmBootArgs(hvp, paused, help)
	if err != nil {
		return nil, err
	}
	cmd = append(cmd, boot...)
	if mp := hvStr(hvp, "mem_path"); mp != "" {
		cmd = append(cmd, "-mem-path", mp, "-mem-prealloc")
	}
	io, err := h.kvmConsoleArgs(inst, help)
	if err != nil {
		return nil, err
	}
	cmd = append(cmd, io...)
	cmd = append(cmd, h.kvmGuestArgs(inst, help)...)

	// Bus slots: disks first, then NICs, each on the lowest free slot.
	slots := newKVMBusSlots(hvp)
	disks, err := kvmRuntimeDisks(inst, links, slots)
	if err != nil {
		return nil, err
	}
	nics, err := kvmRuntimeNICs(inst, slots)
	if err != nil {
		return nil, err
	}
	return &kvmRuntime{Cmd: cmd, NICs: nics, HVParams: hvp, Disks: disks}, nil
}

// kvmMachineArgs are the arguments that start the stored command: the
// binary, name, memory and CPUs, the pid file, sound, the SCSI
// controller, the balloon, the log, ACPI, reboot and the machine type.
func (h *kvmHypervisor) kvmMachineArgs(inst *instance, maxMem, vcpus int, help, machines string) ([]any, error) {
	hvp := inst.HVParams
	name := inst.Name
	cmd := []any{kvmPath(hvp), "-name", name, "-m", maxMem}
	smp := strconv.Itoa(vcpus)
	for _, k := range []string{"cores", "threads", "sockets"} {
		if v := hvInt(hvp, "cpu_"+k); v != 0 {
			smp += fmt.Sprintf(",%s=%d", k, v)
		}
	}
	cmd = append(cmd, "-smp", smp, "-pidfile", filepath.Join(h.rootDir, "pid", name))
	if snd := hvStr(hvp, "soundhw"); snd != "" {
		// QEMU 7.1 dropped -soundhw; passing it would only make qemu exit.
		if !kvmSoundhwOption.MatchString(help) {
			return nil, hvErrorf("soundhw is configured but this qemu has no -soundhw option (removed in QEMU 7.1); use kvm_extra with -audio or -device instead")
		}
		cmd = append(cmd, "-soundhw", snd)
	}
	if slices.Contains(kvmSCSIDeviceTypes, hvStr(hvp, "disk_type")) {
		// Name the controller, so that disks can be put on its bus.
		cmd = append(cmd, "-device", hvStr(hvp, "scsi_controller_type")+",id=scsi")
	}
	cmd = append(cmd, "-device", "virtio-balloon", "-daemonize", "-D", filepath.Join(h.n.paths.KVMLogDir, name+".log"))
	if acpi, ok := hvp["acpi"].(bool); ok && !acpi {
		cmd = append(cmd, "-no-acpi")
	}
	if hvStr(hvp, "reboot_behavior") == "exit" {
		cmd = append(cmd, "-no-reboot")
	}
	machine := hvStr(hvp, "machine_version")
	if machine == "" {
		machine = "pc"
		if m := defaultMachinePattern.FindStringSubmatch(machines); m != nil {
			machine = m[1]
		}
	}
	switch hvStr(hvp, "kvm_flag") {
	case "enabled":
		cmd = append(cmd, "-machine", machine+",accel=kvm")
	default:
		cmd = append(cmd, "-machine", machine)
	}
	return cmd, nil
}

// kvmBootArgs are the start paused (-S), the boot device, the CD-ROM and
// floppy images and the kernel with its initrd and command line.
func kvmBootArgs(hvp map[string]any, paused bool, help string) ([]any, error) {
	var cmd []any
	if paused {
		cmd = append(cmd, "-S")
	}
	kernel := hvStr(hvp, "kernel_path")
	boot := hvStr(hvp, "boot_order")
	if kernel == "" && boot == "network" {
		cmd = append(cmd, "-boot", "n")
	}
	cdromType := hvStr(hvp, "cdrom_disk_type")
	if cdromType == "" {
		cdromType = hvStr(hvp, "disk_type")
	}
	if img := hvStr(hvp, "cdrom_image_path"); img != "" {
		opts, err := kvmCdromOption(img, cdromType, kernel == "" && boot == "cdrom", kvmHelpOptionMentions(help, "-drive", ",boot=on|off"))
		if err != nil {
			return nil, err
		}
		cmd = append(cmd, opts...)
	}
	if img := hvStr(hvp, "cdrom2_image_path"); img != "" {
		opts, err := kvmCdromOption(img, cdromType, false, false)
		if err != nil {
			return nil, err
		}
		cmd = append(cmd, opts...)
	}
	if img := hvStr(hvp, "floppy_image_path"); img != "" {
		opt := ""
		if kernel == "" && boot == "floppy" {
			cmd = append(cmd, "-boot", "a")
			opt = ",boot=on"
		}
		cmd = append(cmd, "-drive", "file="+img+",format=raw,media=disk"+opt+",if=floppy")
	}
	if kernel != "" {
		cmd = append(cmd, "-kernel", kernel)
		if initrd := hvStr(hvp, "initrd_path"); initrd != "" {
			cmd = append(cmd, "-initrd", initrd)
		}
		appendArg := "root=" + hvStr(hvp, "root_path") + " " + hvStr(hvp, "kernel_args")
		if isTrue(hvp["serial_console"]) {
			appendArg += fmt.Sprintf(" console=ttyS0,%d", hvInt(hvp, "serial_speed"))
		}
		cmd = append(cmd, "-append", appendArg)
	}
	return cmd, nil
}

// kvmConsoleArgs are the ways in: the monitor and serial sockets, the USB
// pointer and the display (VNC, SPICE or none).
func (h *kvmHypervisor) kvmConsoleArgs(inst *instance, help string) ([]any, error) {
	hvp := inst.HVParams
	ctrl := filepath.Join(h.rootDir, "ctrl", inst.Name)
	cmd := []any{"-monitor", "unix:" + ctrl + ".monitor,server,nowait"}
	if isTrue(hvp["serial_console"]) {
		cmd = append(cmd, "-serial", "unix:"+ctrl+".serial,server,nowait")
	} else {
		cmd = append(cmd, "-serial", "none")
	}
	cmd = append(cmd, "-usb")
	vnc := hvStr(hvp, "vnc_bind_address")
	spice := hvStr(hvp, "spice_bind")
	if m := hvStr(hvp, "usb_mouse"); m != "" {
		cmd = append(cmd, "-usbdevice", m)
	} else if vnc != "" {
		cmd = append(cmd, "-usbdevice", "tablet")
	}
	switch {
	case vnc != "":
		cmd = append(cmd, h.kvmVNCArgs(vnc, inst)...)
	case spice != "":
		args, err := h.kvmSpiceArgs(spice, inst)
		if err != nil {
			return nil, err
		}
		cmd = append(cmd, args...)
	case strings.Contains(help, "-display"):
		cmd = append(cmd, "-display", "none")
	default:
		cmd = append(cmd, "-nographic")
	}
	return cmd, nil
}

// kvmGuestArgs are the rest of what the guest sees: clock, chroot, CPU
// model, graphics card, USB devices, UUID, the guest agent's channel and
// the administrator's kvm_extra.
func (h *kvmHypervisor) kvmGuestArgs(inst *instance, help string) []any {
	hvp := inst.HVParams
	var cmd []any
	if isTrue(hvp["use_localtime"]) {
		cmd = append(cmd, "-rtc", "base=localtime")
	}
	if isTrue(hvp["use_chroot"]) {
		cmd = append(cmd, "-chroot", h.chrootDir(inst.Name))
	}
	if c := hvStr(hvp, "cpu_type"); c != "" {
		cmd = append(cmd, "-cpu", c)
	}
	if v := hvStr(hvp, "vga"); v != "" {
		cmd = append(cmd, "-vga", v)
	} else if hvStr(hvp, "spice_bind") != "" {
		cmd = append(cmd, "-vga", "qxl")
	}
	if devs := hvStr(hvp, "usb_devices"); devs != "" {
		for _, d := range strings.Split(devs, ",") {
			cmd = append(cmd, "-usbdevice", d)
		}
	}
	if strings.Contains(help, "-uuid") && inst.UUID != "" {
		cmd = append(cmd, "-uuid", inst.UUID)
	}
	if isTrue(hvp["use_guest_agent"]) {
		ctrl := filepath.Join(h.rootDir, "ctrl", inst.Name)
		cmd = append(cmd, "-chardev", "socket,path="+ctrl+".qga,server,nowait,id=qga0",
			"-device", "virtio-serial,id=qga0", "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0")
	}
	if extra := hvStr(hvp, "kvm_extra"); extra != "" {
		for _, a := range strings.Split(extra, " ") {
			cmd = append(cmd, a)
		}
	}
	return cmd
}

// kvmRuntimeDisks are the runtime's disks: each disk object with its
// hvinfo (bus slot), its instance-disks link and no URI.
func kvmRuntimeDisks(inst *instance, links []string, slots kvmBusSlots) ([][3]any, error) {
	hvp := inst.HVParams
	disks := [][3]any{}
	for i, d := range inst.DisksInfo {
		if d.Mode != "" && d.Mode != "rw" {
			return nil, hvErrorf("Instance has read-only disks which are not supported by KVM")
		}
		if err := checkKVMDeviceUUID("disk", d.UUID); err != nil {
			return nil, err
		}
		hvinfo, err := slots.hvinfo(kvmDiskDriver(hvp), kvmDeviceID("disk", d.UUID), kvmDiskBus(hvStr(hvp, "disk_type")))
		if err != nil {
			return nil, err
		}
		raw, _ := json.Marshal(d)
		var obj map[string]any
		json.Unmarshal(raw, &obj)
		obj["hvinfo"] = hvinfo
		link := ""
		if i < len(links) {
			link = links[i]
		}
		disks = append(disks, [3]any{obj, link, nil})
	}
	return disks, nil
}

// kvmRuntimeNICs are the runtime's NICs: copies of the NIC objects with
// their hvinfo (bus slot).
func kvmRuntimeNICs(inst *instance, slots kvmBusSlots) ([]map[string]any, error) {
	hvp := inst.HVParams
	nics := []map[string]any{}
	for _, nic := range inst.NICs {
		uuid, _ := nic["uuid"].(string)
		if err := checkKVMDeviceUUID("nic", uuid); err != nil {
			return nil, err
		}
		if err := checkKVMNICMAC(nic["mac"]); err != nil {
			return nil, err
		}
		hvinfo, err := slots.hvinfo(kvmNICDriver(hvp), kvmDeviceID("nic", uuid), kvmPCIBus)
		if err != nil {
			return nil, err
		}
		obj := map[string]any{}
		for k, v := range nic {
			obj[k] = v
		}
		obj["hvinfo"] = hvinfo
		nics = append(nics, obj)
	}
	return nics, nil
}

const (
	kvmPCIBus  = "pci.0"
	kvmSCSIBus = "scsi.0"
)

// kvmDiskBus is where a disk model attaches. Models without a -device
// (ide, scsi, sd...) still get a PCI slot, as in Ganeti.
func kvmDiskBus(diskType string) string {
	if slices.Contains(kvmSCSIDeviceTypes, diskType) {
		return kvmSCSIBus
	}
	return kvmPCIBus
}

// kvmBusSlots are the used slots of the first PCI bus (32) and of the
// SCSI bus (16 targets).
type kvmBusSlots map[string][]bool

func newKVMBusSlots(hvp map[string]any) kvmBusSlots {
	reserved := 12
	if _, ok := hvp["kvm_pci_reservations"]; ok {
		reserved = hvInt(hvp, "kvm_pci_reservations")
	}
	s := kvmBusSlots{kvmPCIBus: make([]bool, 32), kvmSCSIBus: make([]bool, 16)}
	for i := 0; i < reserved && i < 32; i++ {
		s[kvmPCIBus][i] = true
	}
	return s
}

// markUsed records the slot an existing device (its hvinfo) occupies.
func (s kvmBusSlots) markUsed(hvinfo any) {
	m, ok := hvinfo.(map[string]any)
	if !ok {
		return
	}
	switch m["bus"] {
	case kvmPCIBus:
		if a, _ := m["addr"].(string); pciAddr.MatchString(a) {
			if n, err := strconv.ParseInt(a[2:], 16, 32); err == nil && n < 32 {
				s[kvmPCIBus][n] = true
			}
		}
	case kvmSCSIBus:
		if n, ok := m["scsi-id"].(float64); ok && n >= 0 && n < 16 {
			s[kvmSCSIBus][int(n)] = true
		}
	}
}

// hvinfo takes the lowest free slot of bus for a new device.
func (s kvmBusSlots) hvinfo(driver, id, bus string) (orderedHVInfo, error) {
	slot := -1
	for i, used := range s[bus] {
		if !used {
			slot = i
			break
		}
	}
	if slot < 0 {
		return nil, hvErrorf("All slots occupied")
	}
	s[bus][slot] = true
	info := orderedHVInfo{{"driver", driver}, {"id", id}, {"bus", bus}}
	if bus == kvmSCSIBus {
		return append(info, [2]any{"channel", 0}, [2]any{"scsi-id", slot}, [2]any{"lun", 0}), nil
	}
	return append(info, [2]any{"addr", fmt.Sprintf("0x%x", slot)}), nil
}

// kvmCdromOption is the -drive (and -boot d) of a CD-ROM image; an image
// given as a URL must answer a HEAD request (qemu fails obscurely
// otherwise).
func kvmCdromOption(img, diskType string, boot, bootFlag bool) ([]any, error) {
	opts := ",media=cdrom,format=raw"
	if urlPattern.MatchString(img) {
		if !urlReachable(img) {
			return nil, hvErrorf("Cdrom ISO image '%s' is not accessible", img)
		}
		opts = ",media=cdrom"
	}
	var args []any
	switch {
	case boot:
		opts += ",if=ide"
		args = append(args, "-boot", "d")
		if bootFlag {
			opts += ",boot=on"
		}
	case diskType == "paravirtual":
		opts += ",if=virtio"
	default:
		opts += ",if=" + diskType
	}
	return append(args, "-drive", "file="+img+opts), nil
}

// urlTimeout bounds the HEAD request for a CD-ROM URL (Ganeti has none).
var urlTimeout = 30 * time.Second

func urlReachable(url string) bool {
	client := &http.Client{Timeout: urlTimeout}
	resp, err := client.Head(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	// urllib raises for HTTP error statuses too.
	return resp.StatusCode < 400
}
func kvmDiskDriver(hvp map[string]any) string {
	if t := hvStr(hvp, "disk_type"); t != "" && t != "paravirtual" {
		return t
	}
	return "virtio-blk-pci"
}

func kvmNICDriver(hvp map[string]any) string {
	if t := hvStr(hvp, "nic_type"); t != "" && t != "paravirtual" {
		return t
	}
	return "virtio-net-pci"
}

// orderedHVInfo keeps Ganeti's key order, which the -device strings use;
// values are strings, except the SCSI numbers.
type orderedHVInfo [][2]any

func (o orderedHVInfo) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, kv := range o {
		if i > 0 {
			b.WriteString(", ")
		}
		k, _ := json.Marshal(kv[0])
		v, _ := json.Marshal(kv[1])
		b.Write(k)
		b.WriteString(": ")
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// deviceString is "driver,key=value,..." from hvinfo (as stored, in order).
func deviceString(hvinfo any) (driver, id, device string) {
	var pairs [][2]string
	switch h := hvinfo.(type) {
	case orderedHVInfo:
		for _, kv := range h {
			pairs = append(pairs, [2]string{pyStr(kv[0]), pyStr(kv[1])})
		}
	case map[string]any:
		for _, k := range []string{"driver", "id", "bus", "addr", "channel", "scsi-id", "lun"} {
			if v, ok := h[k]; ok {
				pairs = append(pairs, [2]string{k, pyStr(v)})
			}
		}
	}
	var parts []string
	for _, kv := range pairs {
		switch kv[0] {
		case "driver":
			driver = kv[1]
		default:
			if kv[0] == "id" {
				id = kv[1]
			}
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return driver, id, strings.Join(append([]string{driver}, parts...), ",")
}

func (h *kvmHypervisor) chrootDir(name string) string {
	return filepath.Join(h.rootDir, "chroot", name)
}
