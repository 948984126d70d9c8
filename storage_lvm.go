package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
	listing, err := listingOf(tool, res)
	if err != nil {
		return nil, fmt.Errorf("Can't get the volume information: %v", err)
	}
	var rows [][]string
	for _, line := range strings.Split(listing, "\n") {
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

// listingOf is what a reporting command (vgs, pvs, lvs) printed on its
// standard output, refused when it was cut short: a listing that lost its
// end still parses, and a volume missing from it would read as absent.
func listingOf(tool string, res *cmdResult) (string, error) {
	if res.Truncated {
		return "", fmt.Errorf("%s printed more than %d bytes", tool, maxCommandOutput)
	}
	return res.Stdout, nil
}

// lvmSpaceInfo answers node_info for lvm-vg (MiB) and lvm-pv (spindles:
// empty physical volumes of all, under exclusive storage, else none).
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
			if pvs, err := n.physicalVolumes([]string{u.Key}, true, false); err == nil {
				info["storage_free"], info["storage_size"] = emptyPVs(pvs), len(pvs)
			}
		}
		return info, nil
	}
	vgs, err := n.volumeGroups([]string{u.Key}, exclusive)
	if err != nil {
		n.log.Warningf("node_info: %v", err)
		return info, nil
	}
	for _, vg := range vgs {
		info["storage_free"], info["storage_size"] = int(math.RoundToEven(vg.free)), int(math.RoundToEven(vg.size))
	}
	return info, nil
}

// pvInfo is one physical volume as pvs reports it, sizes in MiB.
type pvInfo struct {
	name, vg, attr string
	size, free     float64
	lvs            []string // with physicalVolumes' withLVs only
}

// isEmpty is Ganeti's test for a physical volume that exclusive storage
// may give to a new disk.
func (p pvInfo) isEmpty() bool { return p.size <= p.free+1 }

func emptyPVs(pvs []pvInfo) int {
	empty := 0
	for _, pv := range pvs {
		if pv.isEmpty() {
			empty++
		}
	}
	return empty
}

// lvmSize reads a size that an LVM tool printed with --units=m --nosuffix.
func lvmSize(tool, s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f >= 0 && f <= maxMiB) { // NaN fails both
		return 0, fmt.Errorf("Can't parse %s output: size '%s'", tool, s)
	}
	return f, nil
}

// physicalVolumes lists the physical volumes of the given volume groups
// (all when none), only the allocatable ones when asked, and with the
// logical volumes on each when asked (Ganeti's GetPVInfo).
func (n *node) physicalVolumes(vgs []string, allocatableOnly, withLVs bool) ([]pvInfo, error) {
	last := "pv_name"
	if withLVs {
		last = "lv_name"
	}
	rows, err := n.lvmFields("pvs", []string{"pv_name", "vg_name", "pv_free", "pv_attr", "pv_size", last})
	if err != nil {
		return nil, err
	}
	if withLVs {
		// pvs prints a line per segment: sorted, a volume's lines follow
		// each other.
		slices.SortStableFunc(rows, func(a, b []string) int {
			return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[5], b[5]))
		})
	}
	var out []pvInfo
	for _, r := range rows {
		// A missing one ("[unknown]", attributes a-m) is no place for new
		// extents either; Ganeti 3.0 would pass its name to lvcreate.
		missing := len(r[3]) > 2 && r[3][2] == 'm'
		if allocatableOnly && (!strings.HasPrefix(r[3], "a") || missing) || len(vgs) > 0 && !slices.Contains(vgs, r[1]) {
			continue
		}
		if k := len(out) - 1; k >= 0 && out[k].name == r[0] {
			if withLVs && r[5] != "" && !slices.Contains(out[k].lvs, r[5]) {
				out[k].lvs = append(out[k].lvs, r[5])
			}
			continue
		}
		size, err := lvmSize("pvs", r[4])
		if err != nil {
			return nil, err
		}
		free, err := lvmSize("pvs", r[2])
		if err != nil {
			return nil, err
		}
		pv := pvInfo{name: r[0], vg: r[1], attr: r[3], size: size, free: free, lvs: []string{}}
		if withLVs && r[5] != "" {
			pv.lvs = append(pv.lvs, r[5])
		}
		out = append(out, pv)
	}
	return out, nil
}

// vgInfo is one volume group as vgs reports it, sizes in MiB.
type vgInfo struct {
	name       string
	free, size float64
}

// volumeGroups lists the writable volume groups of the given names (all
// when none). Under exclusive storage a group's free space is what its
// empty physical volumes hold (Ganeti 3.0 means this, but fails here
// comparing a number with a string).
func (n *node) volumeGroups(names []string, exclStor bool) ([]vgInfo, error) {
	rows, err := n.lvmFields("vgs", []string{"vg_name", "vg_free", "vg_attr", "vg_size"})
	if err != nil {
		return nil, err
	}
	var out []vgInfo
	for _, r := range rows {
		if strings.HasPrefix(r[2], "r") || len(names) > 0 && !slices.Contains(names, r[0]) {
			continue
		}
		free, err := lvmSize("vgs", r[1])
		if err != nil {
			return nil, err
		}
		size, err := lvmSize("vgs", r[3])
		if err != nil {
			return nil, err
		}
		if exclStor {
			pvs, err := n.physicalVolumes([]string{r[0]}, true, false)
			if err != nil {
				return nil, err
			}
			free = min(free, standardPVSize(pvs)*float64(emptyPVs(pvs)))
		}
		out = append(out, vgInfo{name: r[0], free: free, size: size})
	}
	return out, nil
}

// vgSizes lists volume groups and their sizes in MiB, and their names
// in the order vgs printed them; any failure (no LVM on the node) gives
// none, as in Ganeti.
func (n *node) vgSizes() (map[string]int, []string) {
	out := map[string]int{}
	var names []string
	res, err := n.runCommand(command{Args: []string{"vgs", "--noheadings", "--units", "m", "--nosuffix", "-o", "name,size"}, Timeout: lvmTimeout})
	if err != nil {
		return out, nil
	}
	listing, err := listingOf("vgs", res)
	if err != nil {
		n.log.Warningf("vg_list: %v", err)
		return out, nil
	}
	for _, line := range strings.Split(listing, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if size, err := lvmSize("vgs", f[1]); err == nil {
			out[f[0]] = int(size)
			names = append(names, f[0])
		}
	}
	return out, names
}

var lvsLine = regexp.MustCompile(`^ *([^|]+)\|([^|]+)\|([0-9.]+)\|([^|]{6,})\|?$`)

// logicalVolumes maps "vg/lv" to [size, inactive, online] for the given
// volume groups (all when empty); virtual volumes are left out.
func (n *node) logicalVolumes(vgs []string) (map[string]any, error) {
	for _, vg := range vgs {
		if !isVGName(vg) {
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
	listing, err := listingOf("lvs", res)
	if err != nil {
		return nil, &rpcFailure{fmt.Sprintf("Failed to list logical volumes: %v", err)}
	}
	out := map[string]any{}
	for _, line := range strings.Split(listing, "\n") {
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
	sizes, _ := n.vgSizes()
	return sizes, nil
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
	v.result["vglist"], _ = v.n.vgSizes()
	return nil
}

func (v *verifier) checkLVList(json.RawMessage) error {
	_, vgs := v.n.vgSizes()
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
	pvs, err := v.n.physicalVolumes(vgs, false, exclusive)
	if err != nil {
		return err
	}
	list, shared := []any{}, []any{}
	for _, pv := range pvs {
		if len(pv.lvs) > 1 {
			shared = append(shared, []any{pv.name, pv.lvs})
		}
		list = append(list, map[string]any{"name": pv.name, "vg_name": pv.vg, "size": pv.size, "free": pv.free,
			"attributes": pv.attr, "lv_list": []string{}})
	}
	v.result["pvlist"] = list
	if exclusive {
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
	// Sizes are whole MiB, rounded as Python's round() does.
	var bad error
	size := func(s string) int64 {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || !(f >= 0 && f <= float64(maxMiB)) {
			bad = cmp.Or(bad, fmt.Errorf("Error while executing backend function: Can't parse size '%s'", s))
			return 0
		}
		return int64(math.RoundToEven(f))
	}
	var tool string
	var cols map[string]column
	if kind == "lvm-vg" {
		tool = "vgs"
		cols = map[string]column{
			"name":        {[]string{"vg_name"}, func(v []string) any { return v[0] }},
			"size":        {[]string{"vg_size"}, func(v []string) any { return size(v[0]) }},
			"free":        {[]string{"vg_free"}, func(v []string) any { return size(v[0]) }},
			"used":        {[]string{"vg_size", "vg_free"}, func(v []string) any { return size(v[0]) - size(v[1]) }},
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
		if kind == "lvm-vg" && !isVGName(*name) || kind == "lvm-pv" && !isPVName(*name) {
			return nil, fmt.Errorf("Invalid LVM name '%s'", *name)
		}
		argv = append(argv, *name)
	}
	res, err := n.runCommand(command{Args: argv, Timeout: lvmTimeout})
	if err != nil {
		return nil, fmt.Errorf("Error while executing backend function: Failed to run '%s', command output: %s", tool, outputOf(res, err))
	}
	listing, err := listingOf(tool, res)
	if err != nil {
		return nil, fmt.Errorf("Error while executing backend function: Failed to run '%s': %v", tool, err)
	}
	rows := []any{}
	for _, line := range strings.Split(listing, "\n") {
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
	if bad != nil {
		return nil, bad
	}
	return rows, nil
}

// pvSetAllocatable is storage_modify's one change: whether LVM may
// allocate on a physical volume (pvchange).
func (n *node) pvSetAllocatable(name string, alloc bool) error {
	if !isPVName(name) {
		return fmt.Errorf("Invalid physical volume name '%s'", name)
	}
	flag := "n"
	if alloc {
		flag = "y"
	}
	res, err := n.runCommand(command{Args: []string{"pvchange", "--allocatable", flag, name}, Timeout: lvmChangeTimeout})
	if err != nil {
		return fmt.Errorf("Error while executing backend function: Failed to modify physical volume, pvchange output: %s", outputOf(res, err))
	}
	return nil
}

// vgFixConsistency is storage_execute's fix-consistency: vgreduce
// --removemissing (forced when LVM asks for it), then vgs must find no
// missing device.
func (n *node) vgFixConsistency(name string) error {
	if !isVGName(name) {
		return fmt.Errorf("Invalid volume group name '%s'", name)
	}
	res, err := n.runCommand(command{Args: []string{"vgreduce", "--removemissing", name}, Timeout: lvmChangeTimeout})
	out := outputOf(res, errors.New("vgreduce did not run"))
	if res == nil || res.TimedOut {
		// --force removes every volume that lost a disk: only after LVM
		// said it needs it, never after a vgreduce that did not finish.
		return fmt.Errorf("Error while executing backend function: Volume group '%s' not repaired, vgreduce did not finish: %v", name, err)
	}
	if !strings.Contains(out, "Wrote out consistent volume group") || strings.Contains(out, "vgreduce --removemissing --force") {
		res, _ = n.runCommand(command{Args: []string{"vgreduce", "--removemissing", "--force", name}, Timeout: lvmChangeTimeout})
		out += "\n" + outputOf(res, errors.New("vgreduce did not run"))
	}
	res, err = n.runCommand(command{Args: []string{"vgs", "--noheadings", "--nosuffix", name}, Timeout: lvmTimeout})
	if err != nil || strings.Contains(outputOf(res, err), "Couldn't find device with uuid") {
		return fmt.Errorf("Error while executing backend function: Volume group '%s' still not consistent, 'vgreduce' output: %s, 'vgs' output: %s", name, pyRepr(out), pyRepr(outputOf(res, err)))
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
	listing, err := listingOf("lvs", res)
	if err != nil {
		return nil, fmt.Errorf("Failed to list logical volumes: %v", err)
	}
	vols := []any{}
	for _, line := range strings.Split(listing, "\n") {
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
