package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// hypervisor is what every hypervisor module offers the node procedures,
// as Ganeti's hypervisor/ classes do. Xen, LXC and chroot slot in by
// implementing it (their modules in hvModules only check parameters).
type hypervisor interface {
	// NodeInfo reports memory (MiB) and CPU facts for node_info.
	NodeInfo(hvparams map[string]any) (map[string]any, error)
	// Verify returns a problem description, or "" when all is well.
	Verify(hvparams map[string]any) string
	// ListInstances names the running instances.
	ListInstances(hvparams map[string]any) ([]string, error)
	// AllInstancesInfo reports memory (MiB), vcpus, state and time of
	// every instance the hypervisor knows.
	AllInstancesInfo(hvparams map[string]any) (map[string]instanceInfo, error)
}

// paramValidator is a module that checks a full hypervisor parameter set
// on this node, as Ganeti's master (CheckParameterSyntax) and node
// (ValidateParameters) do one after the other. A parameter it refuses is
// an *hvParamError; other errors are failures of the check itself. Every
// module must have one (validateHVParams refuses a module without).
type paramValidator interface {
	ValidateParams(params map[string]any) error
}

// hvOpener is a module that needs its run-time directories before it
// serves a node procedure, as Ganeti's hypervisor constructors make them.
type hvOpener interface {
	open() error
}

// instanceInfo is a hypervisor's view of one instance; state 0 is
// running, 1 shut down (by the user, inside the guest).
type instanceInfo struct {
	Memory int `json:"memory"`
	VCPUs  int `json:"vcpus"`
	State  int `json:"state"`
	Time   int `json:"time"`
}

// hvModules is the one registry of Ganeti 3.0's hypervisor types: name →
// the type's module bound to a node. Making a module touches nothing on
// the node. What a module can do it shows by the interfaces it implements,
// as an http.ResponseWriter shows http.Flusher: hypervisor (node
// procedures), instanceHypervisor (running instances), paramValidator
// (hypervisor_validate_params, node_verify) and hvOpener.
var hvModules = map[string]func(n *node) any{
	"chroot":  func(*node) any { return hvParamTable(chrootParamChecks) },
	"fake":    func(n *node) any { return &fakeHypervisor{n: n, dir: n.paths.FakeHVDir} },
	"kvm":     func(n *node) any { return &kvmHypervisor{n: n, rootDir: n.paths.KVMRunDir} },
	"lxc":     func(*node) any { return hvParamTable(lxcParamChecks) },
	"xen-hvm": func(*node) any { return hvParamTable(xenHVMParamChecks) },
	"xen-pvm": func(*node) any { return hvParamTable(xenPVMParamChecks) },
}

// hypervisorFor returns the module for name, creating its run-time
// directories as Ganeti's constructors do. Types whose module only checks
// parameters are known but not supported.
func (n *node) hypervisorFor(name string) (hypervisor, error) {
	module, ok := hvModules[name]
	if !ok {
		return nil, fmt.Errorf("Unknown hypervisor type '%s'", name)
	}
	hv, ok := module(n).(hypervisor)
	if !ok {
		return nil, fmt.Errorf("Hypervisor %s is not supported on this node", name)
	}
	if o, ok := hv.(hvOpener); ok {
		if err := o.open(); err != nil {
			return nil, err
		}
	}
	return hv, nil
}

// validateHVParams checks a full hypervisor parameter set on this node
// with the module's paramValidator. A module without one is refused, not
// trusted: parameters nobody checked must not pass as valid. Validating
// makes no run-time directories.
func (n *node) validateHVParams(hvName string, params map[string]any) error {
	module, ok := hvModules[hvName]
	if !ok {
		return hvParamFail("Unknown hypervisor type '%s'", hvName)
	}
	v, ok := module(n).(paramValidator)
	if !ok {
		return hvParamFail("Hypervisor '%s' has no parameter checks on this node", hvName)
	}
	return v.ValidateParams(params)
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

var processorLine = regexp.MustCompile(`(?m)^processor\s*:\s*[0-9]+\s*$`)

// linuxNodeInfo is the node's view of its own memory and CPUs, for
// hypervisors that do not virtualise the host (fake, KVM): free memory
// counts buffers and page cache as Ganeti does.
func (n *node) linuxNodeInfo() (map[string]any, error) {
	data, err := readFileLimited(n.paths.ProcMeminfo, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("Failed to list node info: %v", err)
	}
	info := map[string]any{}
	free := 0
	for _, line := range strings.Split(string(data), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		kb, err := strconv.Atoi(fields[0])
		if err != nil {
			return nil, fmt.Errorf("Failed to compute memory usage: %v", err)
		}
		switch strings.TrimSpace(key) {
		case "MemTotal":
			info["memory_total"] = kb / 1024
		case "MemFree", "Buffers", "Cached":
			free += kb / 1024
		case "Active":
			info["memory_dom0"] = kb / 1024
		}
	}
	info["memory_free"] = free
	cpu, err := readFileLimited(n.paths.ProcCPUinfo, 16<<20)
	if err != nil {
		return nil, fmt.Errorf("Failed to list node info: %v", err)
	}
	cpus := len(processorLine.FindAll(cpu, -1))
	info["cpu_total"] = cpus
	info["cpu_dom0"] = cpus
	info["cpu_nodes"] = 1
	info["cpu_sockets"] = 1
	return info, nil
}
