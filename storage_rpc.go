package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

const mib = 1 << 20

// bytesToMiB rounds as Ganeti's BytesToMebibyte does: int(round(b /
// 1048576.0, 0)), Python 3's round, so a half goes to the even neighbour
// (2.5 MiB is 2, 3.5 MiB is 4).
func bytesToMiB(b uint64) int64 { return int64(math.RoundToEven(float64(b) / mib)) }

// fsSpace is a file system's total and available (to unprivileged users)
// bytes, as statvfs(2) reports them (f_frsize × f_blocks, × f_bavail).
func fsSpace(path string) (total, avail uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, err
	}
	return uint64(st.Frsize) * st.Blocks, uint64(st.Frsize) * st.Bavail, nil
}

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
		var paths []string
		if len(suArgs) != 1 || json.Unmarshal(suArgs[0], &paths) != nil {
			return nil, fmt.Errorf("storage_list: %s storage takes [paths]", kind)
		}
		if name != nil {
			paths = []string{*name}
		}
		rows := []any{}
		for _, p := range paths {
			row, err := fileStorageRow(p, fields)
			if err != nil {
				return nil, err
			}
			rows = append(rows, row)
		}
		return rows, nil
	case "lvm-vg", "lvm-pv":
		return n.lvmStorageList(kind, name, fields)
	}
	return nil, fmt.Errorf("Error while executing backend function: Unknown storage type: '%s'", kind)
}

// fileStorageRow answers name, used (MiB of files below the path), free,
// size and allocatable for one directory.
func fileStorageRow(path string, fields []string) ([]any, error) {
	// Ganeti's GetFilesystemStats: statvfs, each figure rounded to MiB.
	var total, avail uint64
	if slices.Contains(fields, "free") || slices.Contains(fields, "size") {
		var err error
		if total, avail, err = fsSpace(path); err != nil {
			return nil, fmt.Errorf("Error while executing backend function: [Errno %d] %s: '%s'", err.(syscall.Errno), pyStrerror(err), path)
		}
	}
	row := []any{}
	for _, f := range fields {
		switch f {
		case "name":
			row = append(row, path)
		case "used":
			row = append(row, bytesToMiB(dirSize(path)))
		case "free":
			row = append(row, bytesToMiB(avail))
		case "size":
			row = append(row, bytesToMiB(total))
		case "allocatable":
			row = append(row, true)
		default:
			return nil, fmt.Errorf("Error while executing backend function: Unknown field: '%s'", f)
		}
	}
	return row, nil
}

// pyStrerror is the C library's message, as Python prints it.
func pyStrerror(err error) string {
	s := err.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// dirSize sums the sizes (lstat) of the files below path, as Ganeti's
// CalculateDirectorySize over os.walk: directories themselves do not
// count, nor do symbolic links to directories (os.walk lists them as
// directories and does not follow them); other links count their own size.
func dirSize(path string) uint64 {
	var total uint64
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				return nil
			}
		}
		if info, err := d.Info(); err == nil {
			total += uint64(info.Size())
		}
		return nil
	})
	return total
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
		res, err := n.runCommand(command{Args: []string{"blockdev", "--getsize64", clean}, Timeout: lvmTimeout})
		if err != nil {
			continue
		}
		size, err := strconv.ParseInt(strings.TrimSpace(res.Stdout), 10, 64)
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
		// A device path can never be mistaken for an option.
		if !strings.HasPrefix(name, "/dev/") || filepath.Clean(name) != name || strings.ContainsAny(name, " \t\n;") {
			return nil, fmt.Errorf("Invalid physical volume name '%s'", name)
		}
		flag := "n"
		if alloc {
			flag = "y"
		}
		res, err := n.runCommand(command{Args: []string{"pvchange", "--allocatable", flag, name}, Timeout: lvmTimeout})
		if err != nil {
			return nil, fmt.Errorf("Error while executing backend function: Failed to modify physical volume, pvchange output: %s", outputOf(res, err))
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
	if !lvmNamePattern.MatchString(name) {
		return nil, fmt.Errorf("Invalid volume group name '%s'", name)
	}
	res, _ := n.runCommand(command{Args: []string{"vgreduce", "--removemissing", name}, Timeout: lvmTimeout})
	out := outputOf(res, errors.New("vgreduce did not run"))
	if !strings.Contains(out, "Wrote out consistent volume group") || strings.Contains(out, "vgreduce --removemissing --force") {
		res, _ = n.runCommand(command{Args: []string{"vgreduce", "--removemissing", "--force", name}, Timeout: lvmTimeout})
		out += "\n" + outputOf(res, errors.New("vgreduce did not run"))
	}
	res, err := n.runCommand(command{Args: []string{"vgs", "--noheadings", "--nosuffix", name}, Timeout: lvmTimeout})
	if err != nil || strings.Contains(outputOf(res, err), "Couldn't find device with uuid") {
		return nil, fmt.Errorf("Error while executing backend function: Volume group '%s' still not consistent, 'vgreduce' output: %q, 'vgs' output: %q", name, out, outputOf(res, err))
	}
	return nil, nil
}
