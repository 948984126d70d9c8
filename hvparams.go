package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
)

// hvParamError is a parameter the hypervisor refuses; Ganeti reports these
// as plain messages (HypervisorError), other failures with its prefix.
type hvParamError struct{ msg string }

func (e *hvParamError) Error() string { return e.msg }

func hvParamFail(format string, args ...any) error {
	return &hvParamError{fmt.Sprintf(format, args...)}
}

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

// kvmNodeChecks are the node-side checks of path parameters, in Ganeti's
// declaration order (the first failure is reported).
var kvmNodeChecks = []struct {
	name, kind string // kind: file, dir, file-or-url
}{
	{"kvm_path", "file"}, {"kernel_path", "file"}, {"initrd_path", "file"},
	{"vnc_x509_path", "dir"}, {"vnc_password_file", "file"}, {"spice_password_file", "file"},
	{"floppy_image_path", "file"}, {"cdrom_image_path", "file-or-url"},
	{"cdrom2_image_path", "file-or-url"}, {"mem_path", "dir"},
}

var urlPattern = regexp.MustCompile(`^(https?|ftps?)://`)

// pyStr formats a parameter value as Python's "%s" would.
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("%d", int64(x))
		}
	}
	return fmt.Sprint(v)
}

// isEmptyParam is Python's falsiness for an optional parameter.
func isEmptyParam(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case float64:
		return x == 0
	}
	return false
}

// validateHVParams checks a full hypervisor parameter set on this node.
func (n *node) validateHVParams(hvName string, params map[string]any) error {
	switch hvName {
	case "fake":
		if _, ok := params["migration_mode"]; !ok {
			return fmt.Errorf("Error while executing backend function: 'migration_mode'")
		}
		return nil
	case "kvm":
		return n.validateKVMParams(params)
	}
	_, err := n.hypervisorFor(hvName)
	if err != nil {
		return &hvParamError{err.Error()}
	}
	return nil
}

func (n *node) validateKVMParams(p map[string]any) error {
	for _, name := range kvmParameters {
		if _, ok := p[name]; !ok {
			return fmt.Errorf("Error while executing backend function: '%s'", name)
		}
	}
	if err := checkKVMParameterSyntax(p); err != nil {
		return err
	}
	for _, c := range kvmNodeChecks {
		v := p[c.name]
		if c.name != "kvm_path" && isEmptyParam(v) {
			continue
		}
		s, _ := v.(string)
		var ok bool
		var what string
		switch c.kind {
		case "file":
			ok, what = fileIsRegular(s), "not found or not a file"
		case "dir":
			ok, what = isDir(s), "not found or not a directory"
		default:
			ok, what = fileIsRegular(s) || urlPattern.MatchString(s), "not found or not a file or URL"
		}
		if !ok {
			return hvParamFail("Parameter '%s' fails validation: %s (current value: '%s')", c.name, what, pyStr(v))
		}
	}
	if p["security_model"] == "user" {
		dom, _ := p["security_domain"].(string)
		if _, err := user.Lookup(dom); err != nil {
			return hvParamFail("Unknown security domain user %s", dom)
		}
	}
	if vnc, _ := p["vnc_bind_address"].(string); vnc != "" {
		if net.ParseIP(vnc) == nil && !isNetInterface(vnc) && !(filepath.IsAbs(vnc) && filepath.Clean(vnc) == vnc) {
			return hvParamFail("VNC: The vnc_bind_address parameter must be either a valid IP address, an interface name, or an absolute path")
		}
	}
	kvm, _ := p["kvm_path"].(string)
	help, err := n.runCommand(command{Args: []string{kvm, "--help"}, Timeout: kvmQueryTimeout})
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
		if net.ParseIP(spice) == nil && !isNetInterface(spice) {
			return hvParamFail("SPICE: The spice_bind parameter must be either a valid IP address or interface name")
		}
	}
	machines, err := n.runCommand(command{Args: []string{kvm, "-machine", "?"}, Timeout: kvmQueryTimeout})
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

func isNetInterface(name string) bool {
	if name == "" || strings.ContainsAny(name, "/") || name == "." || name == ".." {
		return false
	}
	_, err := os.Stat(filepath.Join(sysClassNet, name))
	return err == nil
}

// rpcHypervisorValidateParams: [hvname, hvparams] → null, or why not.
func rpcHypervisorValidateParams(n *node, args []json.RawMessage) (any, error) {
	var name string
	var params map[string]any
	if err := decodeArgs(args, &name, &params); err != nil {
		return nil, err
	}
	return nil, n.validateHVParams(name, params)
}
