package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const mib = 1 << 20

// rpcStorageList lists storage units: [type, args, name or null, fields]
// → one row of values (in field order) per unit.
func rpcStorageList(n *node, args []json.RawMessage) (any, error) {
	var kind string
	var suArgs []json.RawMessage
	var name *string
	var fields []string
	if err := decodeArgs(args, &kind, &suArgs, &name, &fields); err != nil {
		return nil, err
	}
	switch kind {
	case "file", "sharedfile", "gluster":
		return fileStorageList(kind, suArgs, name, fields)
	case "lvm-vg", "lvm-pv":
		return n.lvmStorageList(kind, name, fields)
	}
	return nil, fmt.Errorf("Error while executing backend function: Unknown storage type: '%s'", kind)
}

// rpcBdevSizes reports the size in MiB of block devices below /dev:
// [paths] → {path: MiB}; anything else is left out.
func rpcBdevSizes(n *node, args []json.RawMessage) (any, error) {
	var devices []string
	if err := decodeArgs(args, &devices); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, dev := range devices {
		clean := filepath.Clean(dev)
		if !filepath.IsAbs(dev) || clean != dev || !strings.HasPrefix(clean, "/dev/") {
			continue
		}
		st, err := os.Stat(clean)
		if err != nil || st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
			continue
		}
		size, err := n.blockDeviceBytes(clean)
		if err != nil {
			continue
		}
		out[clean] = size / mib
	}
	return out, nil
}

// rpcStorageModify changes a storage unit's fields: [type, args, name,
// changes]. Only physical volumes' "allocatable" can change.
func rpcStorageModify(n *node, args []json.RawMessage) (any, error) {
	var kind, name string
	var suArgs []json.RawMessage
	var changes map[string]any
	if err := decodeArgs(args, &kind, &suArgs, &name, &changes); err != nil {
		return nil, err
	}
	if !slices.Contains([]string{"file", "sharedfile", "gluster", "lvm-vg", "lvm-pv"}, kind) {
		return nil, fmt.Errorf("Error while executing backend function: Unknown storage type: '%s'", kind)
	}
	if v, ok := changes["allocatable"]; ok && kind == "lvm-pv" {
		alloc, isBool := v.(bool)
		if !isBool {
			return nil, fmt.Errorf("allocatable must be a boolean, not %v", v)
		}
		if err := n.pvSetAllocatable(name, alloc); err != nil {
			return nil, err
		}
		delete(changes, "allocatable")
	}
	if len(changes) > 0 {
		var fields []string
		for k := range changes {
			fields = append(fields, "'"+k+"'")
		}
		slices.Sort(fields)
		return nil, fmt.Errorf("Error while executing backend function: Unable to modify the followingfields: [%s]", strings.Join(fields, ", "))
	}
	return nil, nil
}

// rpcStorageExecute runs an operation on a storage unit: [type, args,
// name, op]. Volume groups can be made consistent (vgreduce
// --removemissing); nothing else has operations.
func rpcStorageExecute(n *node, args []json.RawMessage) (any, error) {
	var kind, name, op string
	var suArgs []json.RawMessage
	if err := decodeArgs(args, &kind, &suArgs, &name, &op); err != nil {
		return nil, err
	}
	if kind != "lvm-vg" || op != "fix-consistency" {
		return nil, fmt.Errorf("Error while executing backend function: operation '%s' is not supported on storage type '%s'", op, kind)
	}
	return nil, n.vgFixConsistency(name)
}

// blockDeviceBytes is the size of a block device in bytes, as the kernel
// reports it through blockdev.
func (n *node) blockDeviceBytes(path string) (int64, error) {
	res, err := n.runCommand(command{Args: []string{"blockdev", "--getsize64", path}, Timeout: lvmTimeout})
	if err != nil {
		return 0, fmt.Errorf("blockdev failed (%s): %s", exitReason(res, err), outputOf(res, err))
	}
	size, err := strconv.ParseInt(strings.TrimSpace(res.Stdout), 10, 64)
	if err != nil || size < 0 || size > maxBytes {
		return 0, fmt.Errorf("Failed to parse blockdev output: %s", res.Stdout)
	}
	return size, nil
}
