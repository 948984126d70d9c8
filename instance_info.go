package main

import (
	"encoding/json"
	"fmt"
)

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
