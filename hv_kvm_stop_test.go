package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestKVMUserShutdown: an instance whose guest powered off (ganeti-kvmd
// left the marker) is reported as shut down until Ganeti stops it.
func TestKVMUserShutdown(t *testing.T) {
	n, _ := newTestNode(t)
	h := mustKVM(t, n)
	hvp := kvmDefaults()
	inst := map[string]any{"name": "gone.example.com", "hypervisor": "kvm", "hvparams": hvp, "uuid": "8a1c2d3e-0000-4000-8000-000000000009",
		"beparams": map[string]any{"maxmem": 64, "minmem": 64, "vcpus": 1}, "nics": []any{}, "disks_info": []any{}, "os": "none"}
	var info map[string]any
	mustOK(t, call(t, n, "instance_info", "gone.example.com", "kvm", hvp), &info)
	if len(info) != 0 {
		t.Fatalf("unknown instance: %v", info)
	}
	os.WriteFile(h.shutdownFile("gone.example.com"), nil, 0o644)
	mustOK(t, call(t, n, "instance_info", "gone.example.com", "kvm", hvp), &info)
	if info["state"] != 1.0 || info["memory"] != 0.0 {
		t.Fatalf("user-shut-down instance: %v", info)
	}
	mustOK(t, call(t, n, "instance_shutdown", inst, 1, testTrail), nil)
	if fileExists(h.shutdownFile("gone.example.com")) {
		t.Fatal("shutdown marker kept after instance_shutdown")
	}
	info = nil
	mustOK(t, call(t, n, "instance_info", "gone.example.com", "kvm", hvp), &info)
	if len(info) != 0 {
		t.Fatalf("after shutdown: %v", info)
	}
}

// TestKVMCleanupQuarantine: a chroot qemu wrote into is moved aside, not
// deleted, and the instance's uid goes back to the pool.
func TestKVMCleanupQuarantine(t *testing.T) {
	n, logs := newTestNode(t)
	h := mustKVM(t, n)
	name := "jail.example.com"
	os.MkdirAll(filepath.Join(h.chrootDir(name), "etc"), 0o700)
	os.WriteFile(filepath.Join(h.rootDir, "uid", name), []byte("4242"), 0o600)
	os.MkdirAll(n.uidPoolDir(), 0o755)
	os.WriteFile(filepath.Join(n.uidPoolDir(), "4242"), nil, 0o664)
	if err := h.CleanupInstance(name); err != nil {
		t.Fatal(err)
	}
	if fileExists(h.chrootDir(name)) || fileExists(filepath.Join(n.uidPoolDir(), "4242")) {
		t.Fatal("chroot or uid lock left")
	}
	q, _ := filepath.Glob(filepath.Join(h.rootDir, "chroot-quarantine", name+"-*", "etc"))
	if len(q) != 1 || !strings.Contains(logs.String(), "can not be removed as it is not empty. Moving it to the quarantine instead") {
		t.Fatalf("quarantine %v, log %s", q, logs.String())
	}
	// An empty chroot is simply removed.
	os.MkdirAll(h.chrootDir(name), 0o700)
	if err := h.CleanupInstance(name); err != nil || fileExists(h.chrootDir(name)) {
		t.Fatalf("empty chroot: %v", err)
	}
}

// A pid file left by a qemu that died may name a process that reused the
// pid: stopping the instance (e.g. a failed migration's target) must not
// signal it.
func TestKVMKillStalePidFile(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	h := &kvmHypervisor{n: n, rootDir: t.TempDir()}
	other := exec.Command("sleep", "30")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { other.Wait(); close(exited) }()
	defer other.Process.Kill()
	os.MkdirAll(filepath.Join(h.rootDir, "pid"), 0o755)
	os.WriteFile(filepath.Join(h.rootDir, "pid", "gone.example.com"), []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644)
	if err := h.kill("gone.example.com"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		t.Fatal("an unrelated process named by a stale pid file was killed")
	case <-time.After(300 * time.Millisecond):
	}
}
