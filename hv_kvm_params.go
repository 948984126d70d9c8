package main

import (
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
)

// kvmParameters are the KVM parameters Ganeti 3.0 declares; every one must
// be present in a full parameter set.
var kvmParameters = []string{
	"acpi", "boot_order", "cdrom2_image_path", "cdrom_disk_type", "cdrom_image_path", "cpu_cores",
	"cpu_mask", "cpu_sockets", "cpu_threads", "cpu_type", "disk_aio", "disk_cache", "disk_discard",
	"disk_type", "floppy_image_path", "initrd_path", "kernel_args", "kernel_path", "keymap",
	"kvm_extra", "kvm_flag", "kvm_path", "kvm_pci_reservations", "machine_version", "mem_path",
	"migration_bandwidth", "migration_caps", "migration_downtime", "migration_mode", "migration_port",
	"nic_type", "reboot_behavior", "root_path", "scsi_controller_type", "security_domain",
	"security_model", "serial_console", "serial_speed", "soundhw", "spice_bind",
	"spice_image_compression", "spice_ip_version", "spice_jpeg_wan_compression",
	"spice_password_file", "spice_playback_compression", "spice_streaming_video",
	"spice_tls_ciphers", "spice_use_tls", "spice_use_vdagent", "spice_zlib_glz_wan_compression",
	"usb_devices", "usb_mouse", "use_chroot", "use_guest_agent", "use_localtime", "user_shutdown",
	"vga", "vhost_net", "virtio_net_queues", "vnc_bind_address", "vnc_password_file", "vnc_tls",
	"vnc_x509_path", "vnc_x509_verify", "vnet_hdr",
}

// ValidateParams checks a full KVM parameter set: all present, the
// syntax (checkKVMParameterSyntax), then this node's files, users and
// interfaces and what its qemu supports.
func (h *kvmHypervisor) ValidateParams(p map[string]any) error {
	for _, name := range kvmParameters {
		if _, ok := p[name]; !ok {
			return missingHVParam(name)
		}
	}
	if err := checkKVMParameterSyntax(p); err != nil {
		return err
	}
	if err := checkHVParamNode(kvmParamChecks, p); err != nil {
		return err
	}
	if p["security_model"] == "user" {
		dom, _ := p["security_domain"].(string)
		if _, err := user.Lookup(dom); err != nil {
			return hvParamFail("Unknown security domain user %s", dom)
		}
	}
	if vnc, _ := p["vnc_bind_address"].(string); vnc != "" {
		if net.ParseIP(vnc) == nil && !h.n.isNetInterface(vnc) && !(filepath.IsAbs(vnc) && filepath.Clean(vnc) == vnc) {
			return hvParamFail("VNC: The vnc_bind_address parameter must be either a valid IP address, an interface name, or an absolute path")
		}
	}
	kvm, _ := p["kvm_path"].(string)
	help, err := h.n.runCommand(command{Args: []string{kvm, "--help"}, Timeout: kvmQueryTimeout})
	if err != nil {
		return hvParamFail("Unable to get KVM --help output")
	}
	if spice, _ := p["spice_bind"].(string); spice != "" {
		if vnc, _ := p["vnc_bind_address"].(string); vnc != "" {
			return hvParamFail("Both SPICE and VNC are configured, but only one of them can be used at a given time")
		}
		if !regexp.MustCompile(`(?m)^-spice\s`).MatchString(help.Output) {
			return hvParamFail("SPICE is configured, but it is not supported according to 'kvm --help'")
		}
		if net.ParseIP(spice) == nil && !h.n.isNetInterface(spice) {
			return hvParamFail("SPICE: The spice_bind parameter must be either a valid IP address or interface name")
		}
	}
	machines, err := h.n.runCommand(command{Args: []string{kvm, "-machine", "?"}, Timeout: kvmQueryTimeout})
	if err != nil {
		return hvParamFail("Unable to get KVM -machine ? output")
	}
	if mv, _ := p["machine_version"].(string); mv != "" {
		re, err := regexp.Compile(`(?m)^(` + regexp.QuoteMeta(mv) + `)[ ]+.*PC`)
		if err != nil || !re.MatchString(machines.Output) {
			return hvParamFail("Unsupported machine version: %s", mv)
		}
	}
	return nil
}

func (n *node) isNetInterface(name string) bool {
	if name == "" || strings.ContainsAny(name, "/") || name == "." || name == ".." {
		return false
	}
	_, err := os.Stat(filepath.Join(n.paths.SysClassNet, name))
	return err == nil
}
