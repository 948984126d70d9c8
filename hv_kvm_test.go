package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKVMInstanceProcess starts a real qemu (with KVM when /dev/kvm
// exists) on a tiny blank disk, queries, balloons and stops it.
func TestKVMInstanceProcess(t *testing.T) {
	t.Parallel()
	n, file, _ := qemuTestNode(t)
	d := fileDisk("file", filepath.Join(file, "kvm-disk0"), 16)
	delete(d, "future_field")
	mustOK(t, call(t, n, "blockdev_create", d, 16, "kvm1.example.com", true, nil, false), nil)
	hvp := kvmDefaults()
	hvp["kvm_path"] = "/usr/bin/qemu-system-x86_64"
	if _, err := os.Stat("/dev/kvm"); err == nil {
		hvp["kvm_flag"] = "enabled"
	}
	inst := map[string]any{"name": "kvm1.example.com", "hypervisor": "kvm", "hvparams": hvp, "uuid": "8a1c2d3e-0000-4000-8000-000000000001",
		"beparams": map[string]any{"maxmem": 128, "minmem": 64, "vcpus": 1}, "nics": []any{}, "disks_info": []any{d}, "os": "none"}
	t.Cleanup(func() { call(t, n, "instance_shutdown", inst, 0, testTrail) })
	if r := call(t, n, "instance_start", inst, false, testTrail); !r.OK {
		log, _ := os.ReadFile(filepath.Join(n.paths.LogDir, "kvm", "kvm1.example.com.log"))
		t.Fatalf("start: %s\nqemu log: %s", r.Result, log)
	}
	var names []string
	mustOK(t, call(t, n, "instance_list", []string{"kvm"}, map[string]any{"kvm": hvp}), &names)
	if strings.Join(names, ",") != "kvm1.example.com" {
		t.Fatalf("running instances %v", names)
	}
	var info map[string]any
	mustOK(t, call(t, n, "instance_info", "kvm1.example.com", "kvm", hvp), &info)
	if info["vcpus"] != 1.0 || info["memory"] == nil {
		t.Fatalf("info %v", info)
	}
	rt, err := os.ReadFile(filepath.Join(n.paths.RunDir, "kvm-hypervisor", "conf", "kvm1.example.com.runtime"))
	if err != nil || !strings.HasPrefix(string(rt), `[["/usr/bin/qemu-system-x86_64","-name","kvm1.example.com","-m",128,`) {
		t.Fatalf("runtime file %q %v", rt, err)
	}
	mustOK(t, call(t, n, "instance_balloon_memory", inst, 96), nil)
	// Grow the disk file, then tell qemu (resize_disk, Ganeti 3.1).
	h := &kvmHypervisor{n: n, rootDir: filepath.Join(n.paths.RunDir, "kvm-hypervisor")}
	diskSize := func() int64 {
		t.Helper()
		var block []struct {
			Device   string `json:"device"`
			Inserted struct {
				Image struct {
					VirtualSize int64 `json:"virtual-size"`
				} `json:"image"`
			} `json:"inserted"`
		}
		qmpCall(t, h, "kvm1.example.com", "query-block", nil, &block)
		for _, b := range block {
			if b.Device == kvmDeviceID("disk", d["uuid"].(string)) {
				return b.Inserted.Image.VirtualSize
			}
		}
		t.Fatalf("qemu has no drive for the disk: %+v", block)
		return 0
	}
	mustOK(t, call(t, n, "blockdev_grow", d, 16, false, true, false), nil)
	if size := diskSize(); size != 16<<20 {
		t.Fatalf("disk size before resize_disk %d", size)
	}
	mustOK(t, call(t, n, "resize_disk", inst, d, 32<<20), nil)
	if size := diskSize(); size != 32<<20 {
		t.Fatalf("qemu's disk size after resize_disk %d, want %d", size, 32<<20)
	}
	mustFail(t, call(t, n, "resize_disk", inst, d, 0), "Invalid disk size")

	// Hot-add a NIC (a stand-in kvm-ifup: the test has no bridge), then
	// remove it again.
	n.paths.KVMIfup = fakeTool(t, t.TempDir(), "kvm-ifup", "exit 0")
	mustOK(t, call(t, n, "hotplug_supported", inst), nil)
	nic := map[string]any{"mac": "aa:00:00:12:34:56", "uuid": "7f3e2a10-1111-4222-8333-444455556666", "nicparams": map[string]any{"mode": "bridged", "link": "br-test"}}
	mustOK(t, call(t, n, "hotplug_device", inst, "hotadd", "nic", nic, nil, 0), nil)
	rtFile := filepath.Join(n.paths.RunDir, "kvm-hypervisor", "conf", "kvm1.example.com.runtime")
	if data, _ := os.ReadFile(rtFile); !strings.Contains(string(data), `"id":"nic-7f3e2a10-1111-4222"`) {
		t.Fatalf("runtime after hot-add: %s", data)
	}
	// PCI unplug needs the guest's cooperation; with no OS QEMU keeps the
	// device, and Ganeti reports exactly this.
	mustFail(t, call(t, n, "hotplug_device", inst, "hotremove", "nic", nic, nil, 0), "Device nic-7f3e2a10-1111-4222 should have been removed but is still there")
	other := map[string]any{"uuid": "00000000-0000-4000-8000-000000000000"}
	mustFail(t, call(t, n, "hotplug_device", inst, "hotremove", "nic", other, nil, 1), "Cannot find runtime info for nic with UUID 00000000-0000-4000-8000-000000000000")
	// Hot-add a second disk through its instance-disks link.
	d2 := fileDisk("file", filepath.Join(file, "kvm-disk1"), 8)
	delete(d2, "future_field")
	d2["uuid"] = "5a5a5a5a-2222-4333-8444-555566667777"
	mustOK(t, call(t, n, "blockdev_create", d2, 8, "kvm1.example.com", true, nil, false), nil)
	var asm []any
	mustOK(t, call(t, n, "blockdev_assemble", d2, inst, true, 1), &asm)
	mustOK(t, call(t, n, "hotplug_device", inst, "hotadd", "disk", d2, []any{asm[1], nil}, 1), nil)
	if data, _ := os.ReadFile(rtFile); !strings.Contains(string(data), `"id":"disk-5a5a5a5a-2222-4333"`) {
		t.Fatalf("runtime after disk hot-add: %s", data)
	}
	mustFail(t, call(t, n, "hotplug_device", inst, "hotremove", "disk", d2, nil, 1), "Device disk-5a5a5a5a-2222-4333 should have been removed but is still there")
	pidFile := filepath.Join(n.paths.RunDir, "kvm-hypervisor", "pid", "kvm1.example.com")
	before, _ := os.ReadFile(pidFile)
	mustOK(t, call(t, n, "instance_reboot", inst, "soft", 5, testTrail), nil)
	after, _ := os.ReadFile(pidFile)
	if string(before) == string(after) {
		t.Fatal("soft reboot did not restart qemu")
	}
	mustOK(t, call(t, n, "instance_list", []string{"kvm"}, map[string]any{"kvm": hvp}), &names)
	if len(names) != 1 {
		t.Fatalf("not running after soft reboot: %v", names)
	}
	rec := callRaw(t, n, "POST", "instance_console_info", `{"kvm1.example.com": {"instance": `+string(mustJSON(inst))+`, "node": {"name": "node1.example.com", "ndparams": {"ssh_port": 2222}}, "group": {"ndparams": {}}, "hvParams": `+string(mustJSON(hvp))+`, "beParams": {}}}`)
	if !strings.Contains(rec.Body.String(), `"kind":"ssh"`) || !strings.Contains(rec.Body.String(), `"port":2222`) || !strings.Contains(rec.Body.String(), "kvm-console-wrapper") {
		t.Fatalf("console %s", rec.Body)
	}
	// A blank disk has no OS to answer ACPI: the shutdown times out and
	// is forced, as Ganeti does it.
	n.waits.shutdownRetry = 200 * time.Millisecond
	mustOK(t, call(t, n, "instance_shutdown", inst, 1, testTrail), nil)
	info = nil
	mustOK(t, call(t, n, "instance_info", "kvm1.example.com", "kvm", hvp), &info)
	if len(info) != 0 {
		t.Fatalf("still running: %v", info)
	}
}
