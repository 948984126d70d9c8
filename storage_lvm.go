package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// lvmFields runs an LVM reporting command (vgs, pvs, lvs) with Ganeti's
// options and returns its rows split into fields.
func (n *node) lvmFields(tool string, fields []string, extra ...string) ([][]string, error) {
	args := append([]string{tool, "--noheadings", "--nosuffix", "--units=m", "--unbuffered",
		"--separator=|", "-o" + strings.Join(fields, ",")}, extra...)
	res, err := n.runCommand(command{Args: args, Timeout: lvmTimeout})
	if err != nil {
		return nil, fmt.Errorf("Can't get the volume information: %v", err)
	}
	var rows [][]string
	for _, line := range strings.Split(res.Output, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "WARNING") {
			continue
		}
		parts := strings.Split(line, "|")
		if len(parts) != len(fields) {
			return nil, fmt.Errorf("Can't parse %s output: line '%s'", tool, line)
		}
		rows = append(rows, parts)
	}
	return rows, nil
}

const lvmTimeout = time.Minute

// lvmSpaceInfo answers node_info for lvm-vg (MiB) and lvm-pv (spindles).
// Without LVM, or without the volume group, the figures are null, as in
// Ganeti.
func (n *node) lvmSpaceInfo(u storageUnit) (map[string]any, error) {
	if len(u.Params) != 1 {
		return nil, fmt.Errorf("Expected 1 storage parameters, got %d", len(u.Params))
	}
	exclusive, ok := u.Params[0].(bool)
	if !ok {
		return nil, fmt.Errorf("Exclusive storage parameter is not boolean: '%v'.", u.Params[0])
	}
	info := map[string]any{"type": u.Type, "name": u.Key, "storage_free": nil, "storage_size": nil}
	if u.Type == "lvm-pv" {
		info["storage_free"], info["storage_size"] = 0, 0
		if exclusive {
			return nil, fmt.Errorf("spindle reporting with exclusive storage is not supported on this node")
		}
		return info, nil
	}
	rows, err := n.lvmFields("vgs", []string{"vg_name", "vg_free", "vg_attr", "vg_size"}, u.Key)
	if err != nil {
		n.log.Warningf("node_info: %v", err)
		return info, nil
	}
	for _, r := range rows {
		if r[0] != u.Key {
			continue
		}
		free, err1 := strconv.ParseFloat(r[1], 64)
		size, err2 := strconv.ParseFloat(r[3], 64)
		if err1 == nil && err2 == nil {
			info["storage_free"], info["storage_size"] = int(math.Round(free)), int(math.Round(size))
		}
	}
	return info, nil
}
