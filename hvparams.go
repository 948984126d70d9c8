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

// hvParamCheck is one entry of a hypervisor's parameter table (Ganeti's
// PARAMETERS): whether the parameter needs a value, the syntax check the
// master runs with the reason it gives, and the check against this node
// with its reason. A nil check passes everything.
type hvParamCheck struct {
	name      string
	required  bool
	syntax    func(v any) bool
	syntaxWhy string
	node      func(v any) bool
	nodeWhy   string
}

// hvParamTables are the hypervisors whose checks are their table alone;
// KVM adds its own (validateKVMParams).
var hvParamTables = map[string][]hvParamCheck{
	"fake": fakeParamChecks, "xen-pvm": xenPVMParamChecks, "xen-hvm": xenHVMParamChecks,
	"lxc": lxcParamChecks, "chroot": chrootParamChecks,
}

const (
	hvAbsPathWhy = "must be an absolute normalized path"
	hvNonNegWhy  = "cannot be negative"
	// hvMaxInt bounds Ganeti's int parameters: a JSON number is exact as a
	// float64 up to 2^53, and hvNumber, hvInt and the syntax checks read
	// the same range, so a value the checks pass is the value used.
	hvMaxInt = 1 << 53
)

// hvNoCheck is a parameter that only has to be present.
func hvNoCheck(name string) hvParamCheck { return hvParamCheck{name: name} }

// hvSyntax is a parameter with a syntax check only.
func hvSyntax(name string, required bool, ok func(any) bool, why string) hvParamCheck {
	return hvParamCheck{name: name, required: required, syntax: ok, syntaxWhy: why}
}

// hvInSet is a parameter whose value must be one of values (listed in
// the message in the order given).
func hvInSet(name string, required bool, values ...string) hvParamCheck {
	return hvSyntax(name, required, func(v any) bool { s, ok := v.(string); return ok && contains(values, s) },
		"The value must be one of: "+strings.Join(values, ", "))
}

// hvFileCheck is a path that must name a regular file on the node.
func hvFileCheck(name string, required bool) hvParamCheck {
	return hvParamCheck{name, required, hvNormAbsPath, hvAbsPathWhy,
		func(v any) bool { s, ok := v.(string); return ok && fileIsRegular(s) }, "not found or not a file"}
}

// hvDirCheck is a path that must name a directory on the node.
func hvDirCheck(name string, required bool) hvParamCheck {
	return hvParamCheck{name, required, hvNormAbsPath, hvAbsPathWhy,
		func(v any) bool { s, ok := v.(string); return ok && isDir(s) }, "not found or not a directory"}
}

// hvFileOrURLCheck is a regular file on the node or an HTTP(S)/FTP(S) URL.
func hvFileOrURLCheck(name string, required bool) hvParamCheck {
	return hvParamCheck{name, required, func(v any) bool { return hvNormAbsPath(v) || hvIsURL(v) },
		"must be an absolute normalized path or a URL",
		func(v any) bool { s, ok := v.(string); return ok && (fileIsRegular(s) || urlPattern.MatchString(s)) },
		"not found or not a file or URL"}
}

// hvPortCheck is a required TCP port number.
func hvPortCheck(name string) hvParamCheck {
	return hvSyntax(name, true, hvIntIn(1, 65534), "invalid port number")
}

// hvNonNegCheck is a whole number that is not negative.
func hvNonNegCheck(name string, required bool) hvParamCheck {
	return hvSyntax(name, required, hvIntIn(0, hvMaxInt), hvNonNegWhy)
}

// hvMigrationModeCheck is the required migration_mode of the hypervisors
// that have one.
var hvMigrationModeCheck = hvSyntax("migration_mode", true, func(v any) bool { return v == "live" || v == "non-live" },
	"invalid migration mode")

// hvMultiCPUMaskCheck is an optional cpu_mask with one CPU list per vCPU.
var hvMultiCPUMaskCheck = hvSyntax("cpu_mask", false,
	func(v any) bool { s, ok := v.(string); _, good := parseMultiCPUMask(s); return ok && good },
	"Multiple CPU mask definition is not well-formed")

// hvNormAbsPath is Ganeti's IsNormAbsPath: absolute, and unchanged by
// Python's normpath (which keeps exactly two leading slashes).
func hvNormAbsPath(v any) bool {
	s, ok := v.(string)
	if !ok || !filepath.IsAbs(s) {
		return false
	}
	if strings.HasPrefix(s, "//") && !strings.HasPrefix(s, "///") {
		s = s[1:]
	}
	return filepath.Clean(s) == s
}

func hvIsURL(v any) bool { s, ok := v.(string); return ok && urlPattern.MatchString(s) }

// hvNumber is a JSON number that is whole (Ganeti's ints), within
// ±hvMaxInt so that its conversion to int is exact on every platform.
func hvNumber(v any) (int, bool) {
	n, err := wholeParam(v, "", -hvMaxInt, hvMaxInt)
	return int(n), err == nil
}

// hvIntIn accepts whole numbers from lo to hi, both included.
func hvIntIn(lo, hi int) func(any) bool {
	return func(v any) bool { n, ok := hvNumber(v); return ok && n >= lo && n <= hi }
}

// isUnspecified is Ganeti's "no value": None or the empty string.
func isUnspecified(v any) bool { return v == nil || v == "" }

// missingHVParam is the failure of Ganeti's node on a parameter set that
// lacks a parameter (a KeyError, reported with the generic prefix).
func missingHVParam(name string) error {
	return fmt.Errorf("Error while executing backend function: '%s'", name)
}

// checkHVParamsPresent fails on the first parameter of table that params
// lacks.
func checkHVParamsPresent(table []hvParamCheck, params map[string]any) error {
	for _, c := range table {
		if _, ok := params[c.name]; !ok {
			return missingHVParam(c.name)
		}
	}
	return nil
}

// checkHVParamSyntax is the table part of Ganeti's CheckParameterSyntax,
// without its test for unknown keys: the master runs it before it asks a
// node to validate, so a node that runs it too reports the same first
// problem, and a newer master may send more parameters.
func checkHVParamSyntax(table []hvParamCheck, params map[string]any) error {
	for _, c := range table {
		v := params[c.name]
		if isUnspecified(v) {
			if c.required {
				return hvParamFail("Parameter '%s' is required but is currently not defined", c.name)
			}
			continue
		}
		if c.syntax != nil && !c.syntax(v) {
			return hvParamFail("Parameter '%s' fails syntax check: %s (current value: '%s')", c.name, c.syntaxWhy, pyStr(v))
		}
	}
	return nil
}

// checkHVParamNode is the table part of Ganeti's ValidateParameters: the
// checks against this node's files, in table order.
func checkHVParamNode(table []hvParamCheck, params map[string]any) error {
	for _, c := range table {
		v := params[c.name]
		if !c.required && isUnspecified(v) {
			continue
		}
		if c.node != nil && !c.node(v) {
			return hvParamFail("Parameter '%s' fails validation: %s (current value: '%s')", c.name, c.nodeWhy, pyStr(v))
		}
	}
	return nil
}

// validateHVParams checks a full hypervisor parameter set on this node,
// as Ganeti's master (CheckParameterSyntax) and node (ValidateParameters)
// do one after the other.
func (n *node) validateHVParams(hvName string, params map[string]any) error {
	if hvName == "kvm" {
		return n.validateKVMParams(params)
	}
	table, ok := hvParamTables[hvName]
	if !ok {
		return hvParamFail("Unknown hypervisor type '%s'", hvName)
	}
	if err := checkHVParamsPresent(table, params); err != nil {
		return err
	}
	if err := checkHVParamSyntax(table, params); err != nil {
		return err
	}
	return checkHVParamNode(table, params)
}

func (n *node) validateKVMParams(p map[string]any) error {
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
