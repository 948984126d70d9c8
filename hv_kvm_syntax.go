package main

import (
	"fmt"
	"net"
	"strings"
)

const kvmPCISlotsWhy = "The number of PCI slots managed by QEMU (max: 32)"

var kvmDiskTypes = []string{"ide", "mtd", "paravirtual", "pflash", "scsi", "scsi-block", "scsi-cd", "scsi-generic", "scsi-hd", "sd"}

// kvmParamChecks are the checking entries of Ganeti 3.0's KVM PARAMETERS
// table, in its order (the first failure is the one reported); the other
// parameters (kvmParameters) only have to be present.
var kvmParamChecks = []hvParamCheck{
	hvFileCheck("kvm_path", true),
	hvFileCheck("kernel_path", false),
	hvFileCheck("initrd_path", false),
	hvDirCheck("vnc_x509_path", false),
	hvFileCheck("vnc_password_file", false),
	hvSyntax("spice_ip_version", false, func(v any) bool { n, ok := hvNumber(v); return ok && (n == 0 || n == 4 || n == 6) },
		"The SPICE IP version should be 4 or 6"),
	hvFileCheck("spice_password_file", false),
	hvInSet("spice_image_compression", false, "auto_glz", "auto_lz", "glz", "lz", "off", "quic"),
	hvInSet("spice_jpeg_wan_compression", false, "always", "auto", "never"),
	hvInSet("spice_zlib_glz_wan_compression", false, "always", "auto", "never"),
	hvInSet("spice_streaming_video", false, "all", "filter", "off"),
	hvFileCheck("floppy_image_path", false),
	hvFileOrURLCheck("cdrom_image_path", false),
	hvFileOrURLCheck("cdrom2_image_path", false),
	hvInSet("boot_order", true, "cdrom", "disk", "floppy", "network"),
	hvInSet("nic_type", true, "e1000", "i82551", "i82557b", "i82559er", "ne2k_isa", "ne2k_pci", "paravirtual", "pcnet", "rtl8139"),
	hvInSet("disk_type", true, kvmDiskTypes...),
	hvInSet("scsi_controller_type", true, "lsi", "megasas", "virtio-scsi-pci"),
	hvInSet("disk_discard", false, "default", "ignore", "unmap"),
	hvInSet("cdrom_disk_type", false, kvmDiskTypes...),
	hvInSet("usb_mouse", false, "mouse", "tablet"),
	hvPortCheck("migration_port"),
	hvNonNegCheck("migration_bandwidth", true),
	hvNonNegCheck("migration_downtime", true),
	hvMigrationModeCheck,
	hvInSet("disk_cache", true, "default", "none", "writeback", "writethrough"),
	hvInSet("disk_aio", false, "native", "threads"),
	hvInSet("security_model", true, "none", "pool", "user"),
	hvInSet("kvm_flag", false, "disabled", "enabled"),
	hvSyntax("virtio_net_queues", false, hvIntIn(1, 8), "invalid number of queues"),
	hvDirCheck("mem_path", false),
	hvInSet("reboot_behavior", true, "reboot", "exit"),
	hvMultiCPUMaskCheck,
	hvNonNegCheck("cpu_cores", false),
	hvNonNegCheck("cpu_threads", false),
	hvNonNegCheck("cpu_sockets", false),
	hvSyntax("kvm_pci_reservations", false, hvIntIn(0, 32), kvmPCISlotsWhy),
}

// kvmSerialSpeeds are the speeds a serial console may have.
var kvmSerialSpeeds = []int{75, 110, 300, 600, 1200, 1800, 2400, 4800, 9600, 14400, 19200, 28800, 38400, 57600, 115200, 230400, 345600, 460800}

// kvmSpiceDependent are the SPICE parameters that need spice_bind.
var kvmSpiceDependent = []string{"spice_ip_version", "spice_password_file", "spice_image_compression", "spice_jpeg_wan_compression",
	"spice_zlib_glz_wan_compression", "spice_streaming_video", "spice_use_tls"}

// checkKVMParameterSyntax is Ganeti's KVM CheckParameterSyntax without the
// test for unknown keys: the master runs it before it asks a node to
// validate, so a node that runs it too reports the same first problem.
func checkKVMParameterSyntax(p map[string]any) error {
	if err := checkHVParamSyntax(kvmParamChecks, p); err != nil {
		return err
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
		speed, ok := hvNumber(p["serial_speed"])
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
		version, _ := hvNumber(p["spice_ip_version"])
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
