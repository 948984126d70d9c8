package main

// Every pattern that a value from the network must match before the daemon
// uses it lives here, so that one file holds what a reviewer audits.

import (
	"path/filepath"
	"regexp"
	"strings"
)

// isPlainName accepts a name that is one entry of a directory: not empty,
// not "." or "..", without a slash or NUL.
func isPlainName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// hostnamePattern admits DNS names (and the odd underscore); anything with
// spaces, newlines or '#' would corrupt /etc/hosts.
var hostnamePattern = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$`)

// x509NamePattern is what x509_cert_create names its directories.
var x509NamePattern = regexp.MustCompile(`^x509-[0-9_-]+-[A-Za-z0-9_]+$`)

// pluginName is what a hook (or any run-parts style plugin) may be called.
var pluginName = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// optionName is what an iallocator option may be called: it becomes a
// --name argument of the iallocator script.
var optionName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`)

// componentPattern is an import/export component or key name: it becomes
// part of a file name below the transfer directory.
var componentPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// osScriptPathPattern is an OS script path that may be spliced into the
// shell command of a transfer without quoting surprises.
var osScriptPathPattern = regexp.MustCompile(`^[-a-zA-Z0-9._+/:%@]+$`)

// transferMagicPattern is the import/export magic: Ganeti's own limits.
var transferMagicPattern = regexp.MustCompile(`^[-_.a-zA-Z0-9]{5,100}$`)

// compressToolPattern is a compression tool name: it is run as a command.
var compressToolPattern = regexp.MustCompile(`^[-_a-zA-Z0-9]+$`)

// urlPattern marks a hypervisor parameter or disk image given as a URL
// (qemu fetches it) rather than a path on this node.
var urlPattern = regexp.MustCompile(`^(https?|ftps?)://`)

// lvmNamePattern is what LVM accepts as a volume group or volume name,
// less a leading '-' (the LVM tools would read an option).
var lvmNamePattern = regexp.MustCompile(`^[a-zA-Z0-9+_.][a-zA-Z0-9+_.-]*$`)

// isLVMName accepts a volume group or logical volume name: what Ganeti
// accepts (not "snapshot" or "pvmove", no "_mlog" or "_mimage", LVM's
// internal volumes), not empty, without a leading '-', at most 127 bytes.
func isLVMName(name string) bool {
	return len(name) <= 127 && name != "." && name != ".." && name != "snapshot" && name != "pvmove" &&
		!strings.Contains(name, "_mlog") && !strings.Contains(name, "_mimage") && lvmNamePattern.MatchString(name)
}

// isVGName accepts a volume group name: LVM reserves fewer names for
// groups than for volumes, so only lvmNamePattern, not "." or "..", at
// most 127 bytes.
func isVGName(name string) bool {
	return len(name) <= 127 && name != "." && name != ".." && lvmNamePattern.MatchString(name)
}

// isSnapshotName accepts the name of a snapshot the master asks for: an
// LVM volume name (the strictest of the kinds that snapshot: LVM, RBD,
// ExtStorage).
func isSnapshotName(name string) bool { return isLVMName(name) }

// pvNamePattern is a physical volume: a device path, where LVM names it
// (storage_list and storage_modify of lvm-pv).
var pvNamePattern = regexp.MustCompile(`^/dev/[a-zA-Z0-9+_.:-]+(/[a-zA-Z0-9+_.:-]+)*$`)

// isPVName accepts a physical volume's device path, clean (no "." or
// ".." components).
func isPVName(name string) bool {
	return pvNamePattern.MatchString(name) && filepath.Clean(name) == name
}

// Device objects come from the master. What they put into qemu's
// comma-separated options (-netdev, -device, -drive) and into the human
// monitor's drive_add line must not carry separators: a uuid becomes the
// device id, a MAC the NIC's mac option.
var (
	kvmUUIDPattern = regexp.MustCompile(`^[0-9A-Za-z-]*$`)
	kvmMACPattern  = regexp.MustCompile(`^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$`)
)
