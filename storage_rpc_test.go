package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

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
