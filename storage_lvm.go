package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
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

// vgSizes lists volume groups and their sizes in MiB; any failure (no
// LVM on the node) gives an empty map, as in Ganeti.
func (n *node) vgSizes() map[string]int {
	out := map[string]int{}
	res, err := n.runCommand(command{Args: []string{"vgs", "--noheadings", "--units", "m", "--nosuffix", "-o", "name,size"}, Timeout: lvmTimeout})
	if err != nil {
		return out
	}
	for _, line := range strings.Split(res.Stdout, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if size, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = int(size)
		}
	}
	return out
}

var lvsLine = regexp.MustCompile(`^ *([^|]+)\|([^|]+)\|([0-9.]+)\|([^|]{6,})\|?$`)

// logicalVolumes maps "vg/lv" to [size, inactive, online] for the given
// volume groups (all when empty); virtual volumes are left out.
func (n *node) logicalVolumes(vgs []string) (map[string]any, error) {
	for _, vg := range vgs {
		if !lvmNamePattern.MatchString(vg) {
			return nil, fmt.Errorf("Invalid volume group name '%s'", vg)
		}
	}
	args := append([]string{"lvs", "--noheadings", "--units=m", "--nosuffix", "--separator=|", "-ovg_name,lv_name,lv_size,lv_attr"}, vgs...)
	res, err := n.runCommand(command{Args: args, Timeout: lvmTimeout})
	if res == nil {
		return nil, err
	}
	if err != nil {
		return nil, &rpcFailure{fmt.Sprintf("Failed to list logical volumes, lvs output: %s", res.Output)}
	}
	out := map[string]any{}
	for _, line := range strings.Split(res.Stdout, "\n") {
		m := lvsLine.FindStringSubmatch(strings.TrimRight(line, " "))
		if m == nil {
			continue
		}
		attr := m[4]
		if attr[0] == 'v' {
			continue
		}
		out[m[1]+"/"+m[2]] = []any{m[3], attr[4] == '-', attr[5] == 'o'}
	}
	return out, nil
}

// rpcFailure is an error Ganeti reports as a plain message (RPCFail) where
// node_verify embeds it as a value rather than failing the call.
type rpcFailure struct{ msg string }

func (e *rpcFailure) Error() string { return e.msg }

// rpcVGList: [] → {volume group: size in MiB}, as vgs reports it.
func rpcVGList(n *node, args []json.RawMessage) (any, error) {
	return n.vgSizes(), nil
}

// rpcLVList lists logical volumes: [vg_names or null].
func rpcLVList(n *node, args []json.RawMessage) (any, error) {
	var vgs []string
	if err := decodeArgs(args, &vgs); err != nil {
		return nil, err
	}
	return n.logicalVolumes(vgs)
}

func (v *verifier) checkVGList(json.RawMessage) error {
	v.result["vglist"] = v.n.vgSizes()
	return nil
}

func (v *verifier) checkLVList(json.RawMessage) error {
	vgs := []string{}
	for vg := range v.n.vgSizes() {
		vgs = append(vgs, vg)
	}
	lvs, err := v.n.logicalVolumes(vgs)
	var rf *rpcFailure
	switch {
	case errors.As(err, &rf):
		v.result["lvlist"] = rf.msg
	case err != nil:
		return err
	default:
		v.result["lvlist"] = lvs
	}
	return nil
}

// checkPVList lists physical volumes of the given groups and, with
// "exclusive-pvs", those shared by several logical volumes.
func (v *verifier) checkPVList(raw json.RawMessage) error {
	var vgs []string
	if err := json.Unmarshal(raw, &vgs); err != nil {
		return fmt.Errorf("node_verify: bad pvlist: %v", err)
	}
	_, exclusive := v.what["exclusive-pvs"]
	last := "pv_name"
	if exclusive {
		last = "lv_name"
	}
	rows, err := v.n.lvmFields("pvs", []string{"pv_name", "vg_name", "pv_free", "pv_attr", "pv_size", last})
	if err != nil {
		return err
	}
	pvs := []any{}
	lvsOn := map[string][]string{}
	var order []string
	for _, r := range rows {
		if len(vgs) > 0 && !slices.Contains(vgs, r[1]) {
			continue
		}
		if exclusive {
			if _, ok := lvsOn[r[0]]; !ok {
				order = append(order, r[0])
			}
			if r[5] != "" {
				lvsOn[r[0]] = append(lvsOn[r[0]], r[5])
			} else if lvsOn[r[0]] == nil {
				lvsOn[r[0]] = []string{}
			}
		}
		size, _ := strconv.ParseFloat(r[4], 64)
		free, _ := strconv.ParseFloat(r[2], 64)
		pvs = append(pvs, map[string]any{"name": r[0], "vg_name": r[1], "size": size, "free": free, "attributes": r[3], "lv_list": []string{}})
	}
	v.result["pvlist"] = pvs
	if exclusive {
		shared := []any{}
		for _, pv := range order {
			if len(lvsOn[pv]) > 1 {
				shared = append(shared, []any{pv, lvsOn[pv]})
			}
		}
		v.result["exclusive-pvs"] = shared
	}
	return nil
}

// lvmStorageList lists volume groups or physical volumes with vgs/pvs.
func (n *node) lvmStorageList(kind string, name *string, fields []string) (any, error) {
	type column struct {
		lvm []string
		val func(v []string) any
	}
	size := func(s string) any { f, _ := strconv.ParseFloat(s, 64); return f }
	var tool string
	var cols map[string]column
	if kind == "lvm-vg" {
		tool = "vgs"
		cols = map[string]column{
			"name":        {[]string{"vg_name"}, func(v []string) any { return v[0] }},
			"size":        {[]string{"vg_size"}, func(v []string) any { return size(v[0]) }},
			"free":        {[]string{"vg_free"}, func(v []string) any { return size(v[0]) }},
			"used":        {[]string{"vg_size", "vg_free"}, func(v []string) any { return size(v[0]).(float64) - size(v[1]).(float64) }},
			"allocatable": {nil, func([]string) any { return true }},
		}
	} else {
		tool = "pvs"
		cols = map[string]column{
			"name":        {[]string{"pv_name"}, func(v []string) any { return v[0] }},
			"size":        {[]string{"pv_size"}, func(v []string) any { return size(v[0]) }},
			"used":        {[]string{"pv_used"}, func(v []string) any { return size(v[0]) }},
			"free":        {[]string{"pv_free"}, func(v []string) any { return size(v[0]) }},
			"allocatable": {[]string{"pv_attr"}, func(v []string) any { return strings.HasPrefix(v[0], "a") }},
		}
	}
	var lvmFields []string
	for _, f := range fields {
		c, ok := cols[f]
		if !ok {
			return nil, fmt.Errorf("Error while executing backend function: Unknown field: '%s'", f)
		}
		for _, l := range c.lvm {
			if !slices.Contains(lvmFields, l) {
				lvmFields = append(lvmFields, l)
			}
		}
	}
	if len(lvmFields) == 0 {
		lvmFields = []string{cols["name"].lvm[0]}
	}
	argv := []string{tool, "--noheadings", "--units=m", "--nosuffix", "--separator", "|", "--options", strings.Join(lvmFields, ",")}
	if name != nil {
		if !lvmNamePattern.MatchString(strings.TrimPrefix(*name, "/dev/")) {
			return nil, fmt.Errorf("Invalid LVM name '%s'", *name)
		}
		argv = append(argv, *name)
	}
	res, err := n.runCommand(command{Args: argv, Timeout: lvmTimeout})
	if err != nil {
		return nil, fmt.Errorf("Error while executing backend function: Failed to run '%s', command output: %s", tool, outputOf(res, err))
	}
	rows := []any{}
	for _, line := range strings.Split(res.Stdout, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		vals := strings.Split(line, "|")
		if len(vals) != len(lvmFields) {
			return nil, fmt.Errorf("Error while executing backend function: Can't parse %s output: line '%s'", tool, line)
		}
		byName := map[string]string{}
		for i, f := range lvmFields {
			byName[f] = strings.TrimSpace(vals[i])
		}
		row := []any{}
		for _, f := range fields {
			var args []string
			for _, l := range cols[f].lvm {
				args = append(args, byName[l])
			}
			row = append(row, cols[f].val(args))
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// pvSetAllocatable is storage_modify's one change: whether LVM may
// allocate on a physical volume (pvchange).
func (n *node) pvSetAllocatable(name string, alloc bool) error {
	// A device path can never be mistaken for an option.
	if !strings.HasPrefix(name, "/dev/") || filepath.Clean(name) != name || strings.ContainsAny(name, " \t\n;") {
		return fmt.Errorf("Invalid physical volume name '%s'", name)
	}
	flag := "n"
	if alloc {
		flag = "y"
	}
	res, err := n.runCommand(command{Args: []string{"pvchange", "--allocatable", flag, name}, Timeout: lvmTimeout})
	if err != nil {
		return fmt.Errorf("Error while executing backend function: Failed to modify physical volume, pvchange output: %s", outputOf(res, err))
	}
	return nil
}

// vgFixConsistency is storage_execute's fix-consistency: vgreduce
// --removemissing (forced when LVM asks for it), then vgs must find no
// missing device.
func (n *node) vgFixConsistency(name string) error {
	if !lvmNamePattern.MatchString(name) {
		return fmt.Errorf("Invalid volume group name '%s'", name)
	}
	res, _ := n.runCommand(command{Args: []string{"vgreduce", "--removemissing", name}, Timeout: lvmTimeout})
	out := outputOf(res, errors.New("vgreduce did not run"))
	if !strings.Contains(out, "Wrote out consistent volume group") || strings.Contains(out, "vgreduce --removemissing --force") {
		res, _ = n.runCommand(command{Args: []string{"vgreduce", "--removemissing", "--force", name}, Timeout: lvmTimeout})
		out += "\n" + outputOf(res, errors.New("vgreduce did not run"))
	}
	res, err := n.runCommand(command{Args: []string{"vgs", "--noheadings", "--nosuffix", name}, Timeout: lvmTimeout})
	if err != nil || strings.Contains(outputOf(res, err), "Couldn't find device with uuid") {
		return fmt.Errorf("Error while executing backend function: Volume group '%s' still not consistent, 'vgreduce' output: %q, 'vgs' output: %q", name, out, outputOf(res, err))
	}
	return nil
}

// rpcNodeVolumes lists logical volumes with the physical device each
// lives on: [] → [{name, size, dev, vg}, ...].
func rpcNodeVolumes(n *node, args []json.RawMessage) (any, error) {
	if err := decodeArgs(args); err != nil {
		return nil, err
	}
	res, err := n.runCommand(command{Args: []string{"lvs", "--noheadings", "--units=m", "--nosuffix",
		"--separator=|", "--options=lv_name,lv_size,devices,vg_name"}, Timeout: lvmTimeout})
	if res == nil {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("Failed to list logical volumes, lvs output: %s", res.Output)
	}
	vols := []any{}
	for _, line := range strings.Split(res.Stdout, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.Count(line, "|") < 3 {
			n.log.Warningf("Strange line in the output from lvs: '%s'", line)
			continue
		}
		f := strings.Split(line, "|")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		for _, dev := range strings.Split(f[2], ",") {
			dev, _, _ = strings.Cut(dev, "(")
			vols = append(vols, map[string]string{"name": f[0], "size": f[1], "dev": dev, "vg": f[3]})
		}
	}
	return vols, nil
}
