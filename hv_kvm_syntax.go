package main

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
)

// kvmSyntaxCheck is one entry of Ganeti's KVM parameter table: whether
// the parameter is required, and the check of its value with the reason
// given when it fails.
type kvmSyntaxCheck struct {
	name     string
	required bool
	ok       func(v any) bool
	why      string
}

func kvmInSet(name string, required bool, values ...string) kvmSyntaxCheck {
	return kvmSyntaxCheck{name, required, func(v any) bool { s, ok := v.(string); return ok && contains(values, s) },
		"The value must be one of: " + strings.Join(values, ", ")}
}

func kvmNormAbsPath(v any) bool {
	s, ok := v.(string)
	return ok && filepath.IsAbs(s) && filepath.Clean(s) == s
}

// kvmNumber is a JSON number that is whole (Ganeti's ints).
func kvmNumber(v any) (int, bool) {
	f, ok := v.(float64)
	return int(f), ok && f == float64(int(f))
}

func kvmIntIn(lo, hi int) func(any) bool {
	return func(v any) bool { n, ok := kvmNumber(v); return ok && n >= lo && n <= hi }
}

const (
	kvmAbsPathWhy  = "must be an absolute normalized path"
	kvmNonNegWhy   = "cannot be negative"
	kvmMaxUint     = 1<<63 - 1
	kvmPCISlotsWhy = "The number of PCI slots managed by QEMU (max: 32)"
)

var kvmDiskTypes = []string{"ide", "mtd", "paravirtual", "pflash", "scsi", "scsi-block", "scsi-cd", "scsi-generic", "scsi-hd", "sd"}

// kvmSyntaxChecks are Ganeti 3.0's KVM PARAMETERS table, in its order
// (the first failure is the one reported).
var kvmSyntaxChecks = []kvmSyntaxCheck{
	{"kvm_path", true, kvmNormAbsPath, kvmAbsPathWhy},
	{"kernel_path", false, kvmNormAbsPath, kvmAbsPathWhy},
	{"initrd_path", false, kvmNormAbsPath, kvmAbsPathWhy},
	{"vnc_x509_path", false, kvmNormAbsPath, kvmAbsPathWhy},
	{"vnc_password_file", false, kvmNormAbsPath, kvmAbsPathWhy},
	{"spice_ip_version", false, func(v any) bool { n, ok := kvmNumber(v); return ok && (n == 0 || n == 4 || n == 6) },
		"The SPICE IP version should be 4 or 6"},
	{"spice_password_file", false, kvmNormAbsPath, kvmAbsPathWhy},
	kvmInSet("spice_image_compression", false, "auto_glz", "auto_lz", "glz", "lz", "off", "quic"),
	kvmInSet("spice_jpeg_wan_compression", false, "always", "auto", "never"),
	kvmInSet("spice_zlib_glz_wan_compression", false, "always", "auto", "never"),
	kvmInSet("spice_streaming_video", false, "all", "filter", "off"),
	{"floppy_image_path", false, kvmNormAbsPath, kvmAbsPathWhy},
	{"cdrom_image_path", false, func(v any) bool { return kvmNormAbsPath(v) || urlPattern.MatchString(pyStr(v)) },
		"must be an absolute normalized path or a URL"},
	{"cdrom2_image_path", false, func(v any) bool { return kvmNormAbsPath(v) || urlPattern.MatchString(pyStr(v)) },
		"must be an absolute normalized path or a URL"},
	kvmInSet("boot_order", true, "cdrom", "disk", "floppy", "network"),
	kvmInSet("nic_type", true, "e1000", "i82551", "i82557b", "i82559er", "ne2k_isa", "ne2k_pci", "paravirtual", "pcnet", "rtl8139"),
	kvmInSet("disk_type", true, kvmDiskTypes...),
	kvmInSet("scsi_controller_type", true, "lsi", "megasas", "virtio-scsi-pci"),
	kvmInSet("disk_discard", false, "default", "ignore", "unmap"),
	kvmInSet("cdrom_disk_type", false, kvmDiskTypes...),
	kvmInSet("usb_mouse", false, "mouse", "tablet"),
	{"migration_port", true, kvmIntIn(1, 65534), "invalid port number"},
	{"migration_bandwidth", true, kvmIntIn(0, kvmMaxUint), kvmNonNegWhy},
	{"migration_downtime", true, kvmIntIn(0, kvmMaxUint), kvmNonNegWhy},
	{"migration_mode", true, func(v any) bool { return v == "live" || v == "non-live" }, "invalid migration mode"},
	kvmInSet("disk_cache", true, "default", "none", "writeback", "writethrough"),
	kvmInSet("disk_aio", false, "native", "threads"),
	kvmInSet("security_model", true, "none", "pool", "user"),
	kvmInSet("kvm_flag", false, "disabled", "enabled"),
	{"virtio_net_queues", false, kvmIntIn(1, 8), "invalid number of queues"},
	{"mem_path", false, kvmNormAbsPath, kvmAbsPathWhy},
	kvmInSet("reboot_behavior", true, "reboot", "exit"),
	{"cpu_mask", false, func(v any) bool { s, ok := v.(string); _, good := parseMultiCPUMask(s); return ok && good },
		"Multiple CPU mask definition is not well-formed"},
	{"cpu_cores", false, kvmIntIn(0, kvmMaxUint), kvmNonNegWhy},
	{"cpu_threads", false, kvmIntIn(0, kvmMaxUint), kvmNonNegWhy},
	{"cpu_sockets", false, kvmIntIn(0, kvmMaxUint), kvmNonNegWhy},
	{"kvm_pci_reservations", false, kvmIntIn(0, 32), kvmPCISlotsWhy},
}

// kvmSerialSpeeds are the speeds a serial console may have.
var kvmSerialSpeeds = []int{75, 110, 300, 600, 1200, 1800, 2400, 4800, 9600, 14400, 19200, 28800, 38400, 57600, 115200, 230400, 345600, 460800}

// kvmSpiceDependent are the SPICE parameters that need spice_bind.
var kvmSpiceDependent = []string{"spice_ip_version", "spice_password_file", "spice_image_compression", "spice_jpeg_wan_compression",
	"spice_zlib_glz_wan_compression", "spice_streaming_video", "spice_use_tls"}

// isUnspecified is Ganeti's "no value": None or the empty string.
func isUnspecified(v any) bool { return v == nil || v == "" }

// checkKVMParameterSyntax is Ganeti's KVM CheckParameterSyntax without the
// test for unknown keys: the master runs it before it asks a node to
// validate, so a node that runs it too reports the same first problem.
func checkKVMParameterSyntax(p map[string]any) error {
	for _, c := range kvmSyntaxChecks {
		v := p[c.name]
		if isUnspecified(v) {
			if c.required {
				return hvParamFail("Parameter '%s' is required but is currently not defined", c.name)
			}
			continue
		}
		if !c.ok(v) {
			return hvParamFail("Parameter '%s' fails syntax check: %s (current value: '%s')", c.name, c.why, pyStr(v))
		}
	}
	if p["boot_order"] == "cdrom" && isEmptyParam(p["cdrom_image_path"]) {
		return hvParamFail("Cannot boot from cdrom without an ISO path")
	}
	if !isEmptyParam(p["kernel_path"]) && isEmptyParam(p["root_path"]) {
		return hvParamFail("Need a root partition for the instance, if a kernel is defined")
	}
	switch p["security_model"] {
	case "user":
		if isEmptyParam(p["security_domain"]) {
			return hvParamFail("A security domain (user to run kvm as) must be specified")
		}
	case "none", "pool":
		if !isEmptyParam(p["security_domain"]) {
			return hvParamFail("Cannot have a security domain when the security model is 'none' or 'pool'")
		}
	}
	if !isEmptyParam(p["serial_console"]) {
		speed, ok := kvmNumber(p["serial_speed"])
		valid := false
		for _, s := range kvmSerialSpeeds {
			valid = valid || (ok && speed == s)
		}
		if !valid {
			speeds := make([]string, len(kvmSerialSpeeds))
			for i, s := range kvmSerialSpeeds {
				speeds[i] = fmt.Sprint(s)
			}
			return hvParamFail("Invalid serial console speed, must be one of: %s", strings.Join(speeds, ", "))
		}
	}
	if !isEmptyParam(p["vnc_x509_verify"]) && isEmptyParam(p["vnc_x509_path"]) {
		return hvParamFail("vnc_x509_path must be defined, if vnc_x509_verify is")
	}
	if bind, _ := p["spice_bind"].(string); bind != "" {
		version, _ := kvmNumber(p["spice_ip_version"])
		if ip := net.ParseIP(bind); ip != nil && version != 0 {
			if is4 := ip.To4() != nil && !strings.Contains(bind, ":"); is4 && version != 4 {
				return hvParamFail("SPICE: Got an IPv4 address (%s), but the specified IP version is %d", bind, version)
			} else if !is4 && version != 6 {
				return hvParamFail("SPICE: Got an IPv6 address (%s), but the specified IP version is %d", bind, version)
			}
		}
	} else {
		for _, name := range kvmSpiceDependent {
			if !isEmptyParam(p[name]) {
				return hvParamFail("SPICE: %s requires spice_bind to be set", name)
			}
		}
	}
	if p["disk_aio"] == "native" && p["disk_cache"] != "none" {
		return hvParamFail("When 'disk_aio' is set to 'native', the only supported value for 'disk_cache' is 'none'.")
	}
	return nil
}
