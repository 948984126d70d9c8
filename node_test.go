package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNodeInfo(t *testing.T) {
	n, _ := newTestNode(t)
	withProc(n)
	os.MkdirAll(n.paths.FileStorageDir, 0o755)
	// A fake kvm whose --help starts like the real one (testdata/kvm-help.txt).
	kvm := filepath.Join(t.TempDir(), "kvm")
	os.WriteFile(kvm, []byte("#!/bin/sh\ncat "+mustAbs(t, "testdata/kvm-help.txt")+"\n"), 0o755)

	units := [][]any{{"file", n.paths.FileStorageDir, []any{}}}
	specs := [][]any{{"fake", map[string]any{}}, {"kvm", map[string]any{"kvm_path": kvm}}}
	var res []json.RawMessage
	mustOK(t, call(t, n, "node_info", units, specs), &res)
	if len(res) != 3 {
		t.Fatalf("result %v", res)
	}
	var boot string
	json.Unmarshal(res[0], &boot)
	if boot != "6f1e5bd4-cd8c-4b38-9a4e-2b1fe3b2a9a1" {
		t.Errorf("boot id %q", boot)
	}
	var storage []map[string]any
	json.Unmarshal(res[1], &storage)
	if len(storage) != 1 || storage[0]["type"] != "file" || storage[0]["name"] != n.paths.FileStorageDir ||
		storage[0]["storage_size"].(float64) <= 0 || storage[0]["storage_free"].(float64) > storage[0]["storage_size"].(float64) {
		t.Errorf("storage %v", storage)
	}
	var hvs []map[string]any
	json.Unmarshal(res[2], &hvs)
	// testdata/proc/meminfo: MemTotal 24683620 kB, free = MemFree+Buffers+Cached.
	want := map[string]float64{"memory_total": 24683620 / 1024, "memory_free": 24372364/1024 + 3116/1024 + 145876/1024,
		"memory_dom0": 81404 / 1024, "cpu_total": 2, "cpu_dom0": 2, "cpu_nodes": 1, "cpu_sockets": 1}
	for i, hv := range hvs {
		for k, v := range want {
			if hv[k] != v {
				t.Errorf("hypervisor %d: %s = %v, want %v", i, k, hv[k], v)
			}
		}
	}
	if v, _ := json.Marshal(hvs[1]["hv_version"]); string(v) != "[7,2,22]" {
		t.Errorf("kvm hv_version %s", v)
	}
	if _, ok := hvs[0]["hv_version"]; ok {
		t.Error("fake hypervisor reports a version")
	}

	// Null lists stay null; bad input fails cleanly.
	mustOK(t, call(t, n, "node_info", nil, nil), &res)
	if string(res[1]) != "null" || string(res[2]) != "null" {
		t.Errorf("null lists: %s", res)
	}
	mustFail(t, call(t, n, "node_info", [][]any{{"file", "/nonexistent/dir", []any{}}}, nil), "Failed to retrieve file system information about path: /nonexistent/dir")
	mustFail(t, call(t, n, "node_info", [][]any{{"file", "/", []any{1}}}, nil), "Expected 0 storage parameters")
	mustFail(t, call(t, n, "node_info", nil, [][]any{{"xen-pvm", map[string]any{}}}), "not supported")
	mustFail(t, call(t, n, "node_info", nil, [][]any{{"nonsense", map[string]any{}}}), "Unknown hypervisor type")
	mustFail(t, call(t, n, "node_info", nil, [][]any{{"kvm", map[string]any{"kvm_path": "/nonexistent/kvm"}}}), "Unable to get KVM")
}

func TestInstanceListNoInstances(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	var names []string
	mustOK(t, call(t, n, "instance_list", []string{"fake", "kvm"}, map[string]any{"fake": map[string]any{}, "kvm": map[string]any{}}), &names)
	if len(names) != 0 {
		t.Fatalf("instances %v", names)
	}
	// The hypervisors' run directories now exist, as Ganeti makes them.
	for _, d := range []string{"fake-hypervisor", "kvm-hypervisor/pid", "kvm-hypervisor/ctrl"} {
		if _, err := os.Stat(filepath.Join(n.paths.RunDir, d)); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	os.WriteFile(filepath.Join(n.paths.RunDir, "fake-hypervisor", "inst1.example.com"), []byte("0\n128\n1\n"), 0o644)
	// A stale KVM pid file (no such process) is not a running instance.
	os.WriteFile(filepath.Join(n.paths.RunDir, "kvm-hypervisor/pid", "inst2.example.com"), []byte("999999999"), 0o644)
	mustOK(t, call(t, n, "instance_list", []string{"fake", "kvm"}, map[string]any{}), &names)
	if strings.Join(names, ",") != "inst1.example.com" {
		t.Fatalf("instances %v", names)
	}
}

func TestParseKVMVersion(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][3]int{
		"QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)": {7, 2, 22},
		"QEMU emulator version 2.5, Copyright":                           {2, 5, 0},
	} {
		if got, err := parseKVMVersion(in + "\nmore"); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := parseKVMVersion("no version here"); err == nil {
		t.Error("garbage parsed")
	}
}
