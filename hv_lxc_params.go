package main

// lxcParamChecks are the PARAMETERS of Ganeti 3.0's LXCHypervisor, in its
// order. This node runs no LXC instances (its hvModules entry is this
// table alone, which hypervisorFor refuses); it checks their parameters as
// Ganeti does on a node.
var lxcParamChecks = []hvParamCheck{
	hvSyntax("cpu_mask", false, lxcCPUMaskOK, "CPU mask definition is not well-formed"),
	hvNoCheck("devices"),
	hvNoCheck("drop_capabilities"),
	hvNoCheck("extra_cgroups"),
	hvNoCheck("extra_config"),
	hvNonNegCheck("num_ttys", true),
	hvNonNegCheck("startup_timeout", false),
}

// lxcCPUMaskOK: one CPU list such as "0-2,5" naming at least one CPU
// (LXC has no per-vCPU masks and no "all").
func lxcCPUMaskOK(v any) bool {
	s, ok := v.(string)
	cpus, good := parseCPUList(s)
	return ok && good && len(cpus) > 0
}
