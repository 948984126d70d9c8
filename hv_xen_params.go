package main

import (
	"net/netip"
	"strings"
)

// Ganeti 3.0's Xen parameter tables. This node runs no Xen instances
// (their hvModules entries are these tables alone, which hypervisorFor
// refuses); it checks their parameters as Ganeti does on a node, so that a
// cluster can enable Xen and keep OS parameters for it.

// xenCommands are the Xen toolstacks Ganeti knows, sorted (Ganeti lists
// its set in no fixed order).
var xenCommands = []string{"xl", "xm"}

// xenPVMParamChecks are the PARAMETERS of Ganeti's XenPvmHypervisor, in
// its order.
var xenPVMParamChecks = []hvParamCheck{
	hvNoCheck("use_bootloader"),
	hvFileCheck("bootloader_path", false),
	hvNoCheck("bootloader_args"),
	hvFileCheck("kernel_path", true),
	hvFileCheck("initrd_path", false),
	hvNoCheck("root_path"),
	hvNoCheck("kernel_args"),
	hvPortCheck("migration_port"),
	hvMigrationModeCheck,
	hvNoCheck("blockdev_prefix"),
	hvInSet("reboot_behavior", true, "reboot", "exit"),
	hvMultiCPUMaskCheck,
	hvNonNegCheck("cpu_cap", false),
	hvSyntax("cpu_weight", false, hvIntIn(1, 65535), "invalid weight"),
	hvFileCheck("vif_script", false),
	hvInSet("xen_cmd", true, xenCommands...),
	hvNoCheck("cpuid"),
	hvNoCheck("soundhw"),
}

// xenHVMParamChecks are the PARAMETERS of Ganeti's XenHvmHypervisor, in
// its order.
var xenHVMParamChecks = []hvParamCheck{
	hvNoCheck("acpi"),
	hvSyntax("boot_order", true, xenBootOrderOK, "Invalid boot order specified, must be one or more of [acdn]"),
	hvFileCheck("cdrom_image_path", false),
	hvInSet("disk_type", true, "ioemu", "paravirtual"),
	hvInSet("nic_type", true, "e1000", "ne2k_isa", "ne2k_pci", "paravirtual", "rtl8139"),
	hvNoCheck("pae"),
	hvSyntax("vnc_bind_address", false, isIPv4Address, "VNC bind address is not a valid IP address"),
	hvFileCheck("kernel_path", true),
	hvFileCheck("device_model", true),
	hvFileCheck("vnc_password_file", true),
	hvPortCheck("migration_port"),
	hvMigrationModeCheck,
	hvNoCheck("use_localtime"),
	hvNoCheck("blockdev_prefix"),
	hvNoCheck("pci_pass"),
	hvInSet("reboot_behavior", true, "reboot", "exit"),
	hvMultiCPUMaskCheck,
	hvNoCheck("cpu_cap"),
	hvSyntax("cpu_weight", false, hvIntIn(1, 65534), "invalid weight"),
	hvInSet("vif_type", false, "ioemu", "vif"),
	hvFileCheck("vif_script", false),
	hvNoCheck("viridian"),
	hvInSet("xen_cmd", true, xenCommands...),
	hvNoCheck("cpuid"),
	hvNoCheck("soundhw"),
}

// xenBootOrderOK: one or more of the devices a (floppy), c (disk),
// d (cdrom) and n (network).
func xenBootOrderOK(v any) bool {
	s, ok := v.(string)
	return ok && s != "" && strings.Trim(s, "acdn") == ""
}

// isIPv4Address is a dotted-quad IPv4 address, as inet_pton(AF_INET)
// takes it.
func isIPv4Address(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}
