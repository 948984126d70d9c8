package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// hypervisor is what every hypervisor module offers the node procedures,
// as Ganeti's hypervisor/ classes do. Xen, LXC and chroot slot in by
// implementing it and registering in hypervisorFor.
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

// instanceInfo is a hypervisor's view of one instance; state 0 is
// running, 1 shut down (by the user, inside the guest).
type instanceInfo struct {
	Memory int `json:"memory"`
	VCPUs  int `json:"vcpus"`
	State  int `json:"state"`
	Time   int `json:"time"`
}

// hypervisorNames are Ganeti 3.0's hypervisor types.
var hypervisorNames = []string{"chroot", "fake", "kvm", "lxc", "xen-hvm", "xen-pvm"}

// hypervisorFor returns the module for name, creating its run-time
// directories as Ganeti's constructors do.
func (n *node) hypervisorFor(name string) (hypervisor, error) {
	switch name {
	case "fake":
		return newFakeHypervisor(n)
	case "kvm":
		return newKVMHypervisor(n)
	case "chroot", "lxc", "xen-hvm", "xen-pvm":
		return nil, fmt.Errorf("Hypervisor %s is not supported on this node", name)
	}
	return nil, fmt.Errorf("Unknown hypervisor type '%s'", name)
}

// Where Linux reports memory and CPUs; tests point these elsewhere.
var (
	procMeminfo = "/proc/meminfo"
	procCPUinfo = "/proc/cpuinfo"
)

var processorLine = regexp.MustCompile(`(?m)^processor\s*:\s*[0-9]+\s*$`)

// linuxNodeInfo is the node's view of its own memory and CPUs, for
// hypervisors that do not virtualise the host (fake, KVM): free memory
// counts buffers and page cache as Ganeti does.
func linuxNodeInfo() (map[string]any, error) {
	data, err := readFileLimited(procMeminfo, 1<<20)
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
	cpu, err := readFileLimited(procCPUinfo, 16<<20)
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

// ensureDir makes a directory (and parents) with mode if missing.
func ensureDir(path string, mode os.FileMode) error {
	if err := os.MkdirAll(path, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

// rpcInstanceList names the running instances of the given hypervisors:
// [hypervisor_list, {hvname: hvparams}].
func rpcInstanceList(n *node, args []json.RawMessage) (any, error) {
	var names []string
	var hvparams map[string]map[string]any
	if err := decodeArgs(args, &names, &hvparams); err != nil {
		return nil, err
	}
	all := []string{}
	for _, name := range names {
		hv, err := n.hypervisorFor(name)
		if err != nil {
			return nil, err
		}
		list, err := hv.ListInstances(hvparams[name])
		if err != nil {
			return nil, fmt.Errorf("Error enumerating instances (hypervisor %s): %v", name, err)
		}
		all = append(all, list...)
	}
	return all, nil
}

// rpcAllInstancesInfo merges the instances of the given hypervisors:
// [hypervisor_list, {hvname: hvparams}] → {name: {memory, vcpus, state, time}}.
func rpcAllInstancesInfo(n *node, args []json.RawMessage) (any, error) {
	var names []string
	var hvparams map[string]map[string]any
	if err := decodeArgs(args, &names, &hvparams); err != nil {
		return nil, err
	}
	all := map[string]instanceInfo{}
	for _, name := range names {
		hv, err := n.hypervisorFor(name)
		if err != nil {
			return nil, err
		}
		infos, err := hv.AllInstancesInfo(hvparams[name])
		if err != nil {
			return nil, err
		}
		for inst, info := range infos {
			if prev, ok := all[inst]; ok && (prev.Memory != info.Memory || prev.VCPUs != info.VCPUs) {
				return nil, fmt.Errorf("Instance %s is running twice with different parameters", inst)
			}
			all[inst] = info
		}
	}
	return all, nil
}
