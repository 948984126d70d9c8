package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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

// Parameters this node does not implement yet are refused rather than
// ignored, so an instance never runs with less than it was configured for.
var kvmUnsupported = []struct {
	param string
	set   func(v any) bool
}{
	{"spice_bind", nonEmpty}, {"soundhw", nonEmpty}, {"usb_devices", nonEmpty},
	{"vhost_net", isTrue}, {"use_chroot", isTrue}, {"user_shutdown", isTrue},
	{"security_model", func(v any) bool { return v != nil && v != "" && v != "none" && v != "user" }},
	{"cpu_mask", func(v any) bool { return v != nil && v != "" && v != "all" }},
	{"vnc_tls", isTrue}, {"vnc_password_file", nonEmpty},
	{"disk_type", func(v any) bool { return v != "paravirtual" && v != "ide" }},
	{"cdrom_image_path", func(v any) bool { s, _ := v.(string); return urlPattern.MatchString(s) }},
}

func nonEmpty(v any) bool { s, _ := v.(string); return s != "" }
func isTrue(v any) bool   { b, _ := v.(bool); return b }

func hvStr(p map[string]any, k string) string {
	s, _ := p[k].(string)
	return s
}

func hvInt(p map[string]any, k string) int {
	f, _ := p[k].(float64)
	return int(f)
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

// generateKVMRuntime builds the stored qemu arguments and assigns PCI
// slots to disks, then NICs, after the reserved ones.
func (h *kvmHypervisor) generateKVMRuntime(inst *instance, links []string, paused bool, help, machines string) (*kvmRuntime, error) {
	hvp := inst.HVParams
	for _, u := range kvmUnsupported {
		if v, ok := hvp[u.param]; ok && u.set(v) {
			return nil, hvErrorf("KVM parameter %s=%v is not supported on this node yet", u.param, v)
		}
	}
	maxMem, err := inst.beInt("maxmem")
	if err != nil {
		return nil, err
	}
	vcpus, err := inst.beInt("vcpus")
	if err != nil {
		return nil, err
	}
	name := inst.Name
	ctrl := filepath.Join(h.rootDir, "ctrl", name)
	cmd := []any{kvmPath(hvp), "-name", name, "-m", maxMem}
	smp := strconv.Itoa(vcpus)
	for _, k := range []string{"cores", "threads", "sockets"} {
		if v := hvInt(hvp, "cpu_"+k); v != 0 {
			smp += fmt.Sprintf(",%s=%d", k, v)
		}
	}
	cmd = append(cmd, "-smp", smp, "-pidfile", filepath.Join(h.rootDir, "pid", name),
		"-device", "virtio-balloon", "-daemonize", "-D", filepath.Join(h.n.paths.LogDir, "kvm", name+".log"))
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
	if paused {
		cmd = append(cmd, "-S")
	}
	kernel := hvStr(hvp, "kernel_path")
	boot := hvStr(hvp, "boot_order")
	if kernel == "" && boot == "network" {
		cmd = append(cmd, "-boot", "n")
	}
	if img := hvStr(hvp, "cdrom_image_path"); img != "" {
		bootCD := kernel == "" && boot == "cdrom"
		iface := ",if=virtio"
		if bootCD {
			iface = ",if=ide"
			cmd = append(cmd, "-boot", "d")
		}
		cmd = append(cmd, "-drive", "file="+img+",media=cdrom,format=raw"+iface)
	}
	if img := hvStr(hvp, "floppy_image_path"); img != "" {
		bootFloppy := kernel == "" && boot == "floppy"
		opt := ""
		if bootFloppy {
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
	if mp := hvStr(hvp, "mem_path"); mp != "" {
		cmd = append(cmd, "-mem-path", mp, "-mem-prealloc")
	}
	cmd = append(cmd, "-monitor", "unix:"+ctrl+".monitor,server,nowait")
	if isTrue(hvp["serial_console"]) {
		cmd = append(cmd, "-serial", "unix:"+ctrl+".serial,server,nowait")
	} else {
		cmd = append(cmd, "-serial", "none")
	}
	cmd = append(cmd, "-usb")
	vnc := hvStr(hvp, "vnc_bind_address")
	if m := hvStr(hvp, "usb_mouse"); m != "" {
		cmd = append(cmd, "-usbdevice", m)
	} else if vnc != "" {
		cmd = append(cmd, "-usbdevice", "tablet")
	}
	switch {
	case vnc != "":
		arg, err := kvmVNCArg(vnc, inst)
		if err != nil {
			return nil, err
		}
		cmd = append(cmd, "-vnc", arg)
	case strings.Contains(help, "-display"):
		cmd = append(cmd, "-display", "none")
	default:
		cmd = append(cmd, "-nographic")
	}
	if isTrue(hvp["use_localtime"]) {
		cmd = append(cmd, "-rtc", "base=localtime")
	}
	if c := hvStr(hvp, "cpu_type"); c != "" {
		cmd = append(cmd, "-cpu", c)
	}
	if v := hvStr(hvp, "vga"); v != "" {
		cmd = append(cmd, "-vga", v)
	}
	if strings.Contains(help, "-uuid") && inst.UUID != "" {
		cmd = append(cmd, "-uuid", inst.UUID)
	}
	if isTrue(hvp["use_guest_agent"]) {
		cmd = append(cmd, "-chardev", "socket,path="+ctrl+".qga,server,nowait,id=qga0",
			"-device", "virtio-serial,id=qga0", "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0")
	}
	if extra := hvStr(hvp, "kvm_extra"); extra != "" {
		for _, a := range strings.Split(extra, " ") {
			cmd = append(cmd, a)
		}
	}

	// PCI slots: the first kvm_pci_reservations are taken; disks, then NICs.
	reserved := hvInt(hvp, "kvm_pci_reservations")
	if _, ok := hvp["kvm_pci_reservations"]; !ok {
		reserved = 12
	}
	next := reserved
	slot := func() (string, error) {
		if next >= 32 {
			return "", hvErrorf("All slots occupied")
		}
		next++
		return fmt.Sprintf("0x%x", next-1), nil
	}
	rt := &kvmRuntime{Cmd: cmd, NICs: []map[string]any{}, HVParams: hvp, Disks: [][3]any{}}
	for i, d := range inst.DisksInfo {
		if d.Mode != "" && d.Mode != "rw" {
			return nil, hvErrorf("Instance has read-only disks which are not supported by KVM")
		}
		addr, err := slot()
		if err != nil {
			return nil, err
		}
		raw, _ := json.Marshal(d)
		var obj map[string]any
		json.Unmarshal(raw, &obj)
		obj["hvinfo"] = orderedHVInfo{{"driver", kvmDiskDriver(hvp)}, {"id", kvmDeviceID("disk", d.UUID)}, {"bus", "pci.0"}, {"addr", addr}}
		link := ""
		if i < len(links) {
			link = links[i]
		}
		rt.Disks = append(rt.Disks, [3]any{obj, link, nil})
	}
	for _, nic := range inst.NICs {
		addr, err := slot()
		if err != nil {
			return nil, err
		}
		obj := map[string]any{}
		for k, v := range nic {
			obj[k] = v
		}
		uuid, _ := nic["uuid"].(string)
		obj["hvinfo"] = orderedHVInfo{{"driver", kvmNICDriver(hvp)}, {"id", kvmDeviceID("nic", uuid)}, {"bus", "pci.0"}, {"addr", addr}}
		rt.NICs = append(rt.NICs, obj)
	}
	return rt, nil
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

// orderedHVInfo keeps Ganeti's key order, which the -device strings use.
type orderedHVInfo [][2]string

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
		pairs = h
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

// kvmVNCArg is -vnc's argument for an IP address bind (interfaces and
// TLS are refused above or resolved here).
func kvmVNCArg(addr string, inst *instance) (string, error) {
	if isNetInterface(addr) {
		ifi, err := netInterfaceIPv4(addr)
		if err == nil {
			addr = ifi
		}
	}
	port := 0
	if inst.NetworkPort != nil {
		port = *inst.NetworkPort
	}
	if port <= 5900 {
		return "none", nil
	}
	display := port - 5900
	switch {
	case addr == "0.0.0.0":
		return fmt.Sprintf(":%d", display), nil
	case strings.Contains(addr, ":"):
		return fmt.Sprintf("[%s]:%d", addr, display), nil
	}
	return fmt.Sprintf("%s:%d", addr, display), nil
}

func netInterfaceIPv4(name string) (string, error) {
	o := &options{iface: name}
	return bindAddress(o, 4)
}
