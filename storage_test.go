package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestStorageListFile(t *testing.T) {
	n, _ := newTestNode(t)
	dir := filepath.Join(n.paths.Root, "srv/ganeti/file-storage")
	os.MkdirAll(filepath.Join(dir, "inst1"), 0o755)
	os.WriteFile(filepath.Join(dir, "inst1", "disk0"), make([]byte, 3<<20), 0o600)
	var rows [][]any
	mustOK(t, call(t, n, "storage_list", "file", []any{[]string{dir}}, nil, []string{"name", "used", "free", "size", "allocatable"}), &rows)
	if len(rows) != 1 || rows[0][0] != dir || rows[0][1] != 3.0 || rows[0][4] != true || rows[0][3].(float64) < rows[0][2].(float64) {
		t.Fatalf("rows %v", rows)
	}
	mustOK(t, call(t, n, "storage_list", "sharedfile", []any{[]string{"/nope"}}, dir, []string{"name"}), &rows)
	if len(rows) != 1 || rows[0][0] != dir {
		t.Fatalf("named row %v", rows)
	}
	mustFail(t, call(t, n, "storage_list", "file", []any{[]string{dir}}, nil, []string{"colour"}), "Unknown field: 'colour'")
	mustFail(t, call(t, n, "storage_list", "file", []any{[]string{"/nonexistent"}}, nil, []string{"size"}), "No such file or directory: '/nonexistent'")
	mustFail(t, call(t, n, "storage_list", "tape", []any{}, nil, []string{"name"}), "Unknown storage type: 'tape'")
}

func TestStorageListLVM(t *testing.T) {
	n, _ := newTestNode(t)
	bin := withFakePath(t)
	fakeTool(t, bin, "vgs", `echo "$*" > `+bin+`/args; echo "  xenvg|20480.00|1024.00"`)
	var rows [][]any
	mustOK(t, call(t, n, "storage_list", "lvm-vg", []any{}, nil, []string{"name", "size", "used", "allocatable"}), &rows)
	if b, _ := json.Marshal(rows); string(b) != `[["xenvg",20480,19456,true]]` {
		t.Fatalf("rows %s", b)
	}
	if args, _ := os.ReadFile(bin + "/args"); strings.TrimSpace(string(args)) != "--noheadings --units=m --nosuffix --separator | --options vg_name,vg_size,vg_free" {
		t.Fatalf("vgs args %q", args)
	}
	mustFail(t, call(t, n, "storage_list", "lvm-vg", []any{}, "xen;vg", []string{"name"}), "Invalid LVM name")
}

func TestBdevSizes(t *testing.T) {
	n, _ := newTestNode(t)
	var sizes map[string]int
	mustOK(t, call(t, n, "bdev_sizes", []string{"/etc/passwd", "relative", "/dev/null", "/dev/../etc/shadow"}), &sizes)
	if len(sizes) != 0 {
		t.Fatalf("non-block devices reported: %v", sizes)
	}
	// A loop device, where the machine has them.
	if out, err := exec.Command("sh", "-c", "ls /dev/loop0").CombinedOutput(); err == nil && strings.TrimSpace(string(out)) == "/dev/loop0" {
		mustOK(t, call(t, n, "bdev_sizes", []string{"/dev/loop0"}), &sizes)
		if _, ok := sizes["/dev/loop0"]; !ok && os.Geteuid() == 0 {
			t.Errorf("loop0 not reported: %v", sizes)
		}
	}
}

func TestAllInstancesInfo(t *testing.T) {
	n, _ := newTestNode(t)
	var infos map[string]map[string]int
	mustOK(t, call(t, n, "all_instances_info", []string{"fake", "kvm"}, map[string]any{}), &infos)
	if len(infos) != 0 {
		t.Fatalf("instances %v", infos)
	}
	os.WriteFile(filepath.Join(n.paths.RunDir, "fake-hypervisor", "inst1.example.com"), []byte("0\n256\n2\n"), 0o644)
	os.WriteFile(filepath.Join(n.paths.RunDir, "kvm-hypervisor", "conf", "inst2.example.com.conf"), []byte("{}"), 0o644)
	os.WriteFile(filepath.Join(n.paths.RunDir, "kvm-hypervisor", "ctrl", "inst2.example.com.shutdown"), nil, 0o644)
	mustOK(t, call(t, n, "all_instances_info", []string{"fake", "kvm"}, map[string]any{}), &infos)
	if b, _ := json.Marshal(infos); string(b) != `{"inst1.example.com":{"memory":256,"state":0,"time":0,"vcpus":2},"inst2.example.com":{"memory":0,"state":1,"time":0,"vcpus":0}}` {
		t.Fatalf("instances %s", b)
	}
	mustFail(t, call(t, n, "all_instances_info", []string{"lxc"}, map[string]any{}), "not supported")
}

func TestStorageModifyExecute(t *testing.T) {
	n, _ := newTestNode(t)
	bin := withFakePath(t)
	log := filepath.Join(t.TempDir(), "calls")
	fakeTool(t, bin, "pvchange", `echo "pvchange $*" >> `+log)
	fakeTool(t, bin, "vgreduce", `echo "vgreduce $*" >> `+log+`; echo "Wrote out consistent volume group xenvg"`)
	fakeTool(t, bin, "vgs", `echo "  xenvg"`)
	mustOK(t, call(t, n, "storage_modify", "lvm-pv", []any{}, "/dev/sda1", map[string]any{"allocatable": false}), nil)
	mustOK(t, call(t, n, "storage_modify", "file", []any{[]string{"/srv"}}, "/srv", map[string]any{}), nil)
	mustFail(t, call(t, n, "storage_modify", "file", []any{[]string{"/srv"}}, "/srv", map[string]any{"size": 1}), "Unable to modify the followingfields: ['size']")
	mustFail(t, call(t, n, "storage_modify", "lvm-pv", []any{}, "/dev/sda1;reboot", map[string]any{"allocatable": true}), "Invalid physical volume name")
	mustOK(t, call(t, n, "storage_execute", "lvm-vg", []any{}, "xenvg", "fix-consistency"), nil)
	mustFail(t, call(t, n, "storage_execute", "file", []any{}, "/srv", "fix-consistency"), "not supported")
	if data, _ := os.ReadFile(log); string(data) != "pvchange --allocatable n /dev/sda1\nvgreduce --removemissing xenvg\n" {
		t.Fatalf("commands %q", data)
	}
}
