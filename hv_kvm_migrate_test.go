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

// TestKVMLiveMigration moves a running instance between two nodes (two
// roots on this machine, migration over loopback), as the master drives
// it, and leaves it running on the target.
func TestKVMLiveMigration(t *testing.T) {
	t.Parallel()
	needQemu(t)
	shared := t.TempDir()
	mkNode := func() *node {
		n := newShortTestNode(t)
		qemuProc(n)
		os.WriteFile(n.paths.FileStoragePathsFile, []byte(shared+"\n"), 0o644)
		return n
	}
	src, dst := mkNode(), mkNode()
	d := fileDisk("sharedfile", filepath.Join(shared, "mig-disk0"), 16)
	delete(d, "future_field")
	mustOK(t, call(t, src, "blockdev_create", d, 16, "mig1.example.com", true, nil, false), nil)
	hvp := kvmDefaults()
	hvp["kvm_path"] = "/usr/bin/qemu-system-x86_64"
	hvp["migration_port"] = float64(freePort(t))
	hvp["migration_bandwidth"] = 1000.0
	if _, err := os.Stat("/dev/kvm"); err == nil {
		hvp["kvm_flag"] = "enabled"
	}
	inst := map[string]any{"name": "mig1.example.com", "hypervisor": "kvm", "hvparams": hvp, "uuid": "8a1c2d3e-0000-4000-8000-000000000002",
		"beparams": map[string]any{"maxmem": 64, "minmem": 64, "vcpus": 1}, "nics": []any{}, "disks_info": []any{d}, "os": "none"}
	t.Cleanup(func() {
		call(t, src, "instance_shutdown", inst, 0, testTrail)
		call(t, dst, "instance_shutdown", inst, 0, testTrail)
	})
	mustOK(t, call(t, src, "instance_start", inst, false, testTrail), nil)
	var assembled []any
	mustOK(t, call(t, dst, "blockdev_assemble", d, inst, true, 0), &assembled)

	var info string
	mustOK(t, call(t, src, "migration_info", inst), &info)
	mustOK(t, call(t, dst, "accept_instance", inst, info, "127.0.0.1"), nil)
	mustOK(t, call(t, src, "instance_migrate", "cluster.example.com", inst, "127.0.0.1", true), nil)
	deadline := time.Now().Add(60 * time.Second)
	var st map[string]any
	for time.Now().Before(deadline) {
		mustOK(t, call(t, src, "instance_get_migration_status", inst), &st)
		if st["status"] != "active" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st["status"] != "completed" {
		t.Fatalf("migration status %v", st)
	}
	mustOK(t, call(t, src, "instance_finalize_migration_src", inst, true, true), nil)
	mustOK(t, call(t, dst, "instance_finalize_migration_dst", inst, info, true), nil)

	var names []string
	mustOK(t, call(t, src, "instance_list", []string{"kvm"}, map[string]any{"kvm": hvp}), &names)
	if len(names) != 0 {
		t.Fatalf("source still runs %v", names)
	}
	mustOK(t, call(t, dst, "instance_list", []string{"kvm"}, map[string]any{"kvm": hvp}), &names)
	if strings.Join(names, ",") != "mig1.example.com" {
		t.Fatalf("target runs %v", names)
	}
	h := &kvmHypervisor{n: dst, rootDir: filepath.Join(dst.paths.RunDir, "kvm-hypervisor")}
	c, err := dialQMP(h.qmpSocket("mig1.example.com"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ret, err := c.Execute("query-status", nil); err != nil || !strings.Contains(string(ret), `"running"`) {
		t.Fatalf("target status %s %v", ret, err)
	}
	if data, err := os.ReadFile(h.runtimePath("mig1.example.com")); err != nil || !strings.Contains(string(data), dst.paths.Root+"/var/run/ganeti/kvm-hypervisor/pid/mig1.example.com") {
		t.Fatalf("target runtime file (must name the target's own paths): %s %v", data, err)
	}
}

// Accepting an instance that already runs here is refused before any
// tap, network script or qemu (Ganeti's _CheckDown).
func TestKVMAcceptRunningInstance(t *testing.T) {
	kvm, argvFile := kvmRecordingBinary(t, "")
	n, _ := newTestNode(t)
	h := mustKVM(t, n)
	_, inst := kvmTestInstance(t, map[string]any{"kvm_path": kvm})
	running := exec.Command("sh", "-c", "sleep 30; :", "-name", inst.Name) // a process whose command line names the instance
	if err := running.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { running.Process.Kill(); running.Wait() }()
	os.WriteFile(filepath.Join(h.rootDir, "pid", inst.Name), []byte(strconv.Itoa(running.Process.Pid)+"\n"), 0o644)
	for deadline := time.Now().Add(5 * time.Second); !h.instanceAlive(inst.Name); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) { // the child may not have run exec yet
			t.Fatal("stand-in qemu not seen as running")
		}
	}
	info := `[["` + kvm + `", "-name", "` + inst.Name + `"], [], {}, []]`
	if err := h.AcceptInstance(inst, info, "127.0.0.1"); err == nil || err.Error() != "Failed to start instance "+inst.Name+": already running" {
		t.Fatalf("accept: %v", err)
	}
	if _, err := os.Stat(argvFile); err == nil {
		t.Fatal("a second qemu was started")
	}
}
