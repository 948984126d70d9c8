package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kvmDefaults are Ganeti's KVM defaults with the settings the e2e cluster
// uses (no kernel, no VNC).
func kvmDefaults() map[string]any {
	p := map[string]any{}
	for _, k := range kvmParameters {
		p[k] = ""
	}
	for k, v := range map[string]any{"acpi": true, "boot_order": "disk", "cpu_mask": "all", "disk_aio": "threads",
		"disk_cache": "default", "disk_discard": "default", "disk_type": "paravirtual", "kernel_args": "ro",
		"kvm_path": "/usr/bin/kvm", "kvm_pci_reservations": 12.0, "migration_mode": "live", "nic_type": "paravirtual",
		"reboot_behavior": "reboot", "root_path": "/dev/vda1", "security_model": "none", "serial_console": true,
		"serial_speed": 38400.0, "vnet_hdr": true, "virtio_net_queues": 1.0, "cpu_cores": 0.0, "cpu_threads": 0.0,
		"cpu_sockets": 0.0, "use_chroot": false, "vhost_net": false, "vnc_tls": false, "user_shutdown": false,
		"spice_use_tls": false, "use_guest_agent": false, "use_localtime": false, "scsi_controller_type": "lsi",
		"spice_ip_version": 0.0, "spice_playback_compression": true, "spice_use_vdagent": true, "vnc_x509_verify": false,
		"migration_port": 8102.0, "migration_bandwidth": 32.0, "migration_downtime": 30.0} {
		p[k] = v
	}
	return p
}

func TestKVMGenerateRuntime(t *testing.T) {
	n, _ := newTestNode(t)
	n.paths = newLayout("", "") // the real paths, to compare with Ganeti's
	h := &kvmHypervisor{n: n, rootDir: "/var/run/ganeti/kvm-hypervisor"}
	inst := &instance{Name: "inst1.example.com", UUID: "2cfe372e-790b-4995-a88f-02cb52534683", HVParams: kvmDefaults(),
		BEParams:  map[string]any{"maxmem": 1024.0, "minmem": 512.0, "vcpus": 2.0},
		DisksInfo: []*disk{{DevType: "file", UUID: "354003d2-e3c7-4cd6-bb4e-54e2aa8bf948", Mode: "rw", LogicalID: json.RawMessage(`["loop","/x"]`)}},
		NICs:      []map[string]any{{"mac": "aa:00:00:35:1a:6b", "uuid": "2db0ddf2-d984-44a4-957c-f877aa1d65a2", "nicparams": map[string]any{"mode": "bridged", "link": "br0"}}}}
	help, _ := os.ReadFile("testdata/kvm-help.txt")
	rt, err := h.generateKVMRuntime(inst, []string{"/var/run/ganeti/instance-disks/inst1.example.com:0"}, false, string(help), "pc-i440fx-7.2 Standard PC (i440FX + PIIX, 1996) (default)\n")
	if err != nil {
		t.Fatal(err)
	}
	// Ganeti 3.0.2's stored arguments for this instance (docs/reference/kvm.md §2.9).
	want := `["/usr/bin/kvm","-name","inst1.example.com","-m",1024,"-smp","2","-pidfile","/var/run/ganeti/kvm-hypervisor/pid/inst1.example.com",` +
		`"-device","virtio-balloon","-daemonize","-D","/var/log/ganeti/kvm/inst1.example.com.log","-machine","pc-i440fx-7.2",` +
		`"-monitor","unix:/var/run/ganeti/kvm-hypervisor/ctrl/inst1.example.com.monitor,server,nowait",` +
		`"-serial","unix:/var/run/ganeti/kvm-hypervisor/ctrl/inst1.example.com.serial,server,nowait","-usb","-display","none",` +
		`"-uuid","2cfe372e-790b-4995-a88f-02cb52534683"]`
	if got, _ := json.Marshal(rt.Cmd); string(got) != want {
		t.Fatalf("stored argv\n got %s\nwant %s", got, want)
	}
	_, id, dev := deviceString(rt.Disks[0][0].(map[string]any)["hvinfo"])
	if id != "disk-354003d2-e3c7-4cd6" || dev != "virtio-blk-pci,id=disk-354003d2-e3c7-4cd6,bus=pci.0,addr=0xc" {
		t.Fatalf("disk device %s %s", id, dev)
	}
	_, id, dev = deviceString(rt.NICs[0]["hvinfo"])
	if id != "nic-2db0ddf2-d984-44a4" || dev != "virtio-net-pci,id=nic-2db0ddf2-d984-44a4,bus=pci.0,addr=0xd" {
		t.Fatalf("nic device %s %s", id, dev)
	}
	// The runtime file round-trips, in Ganeti's 4-element layout.
	data, _ := json.Marshal(rt)
	var back kvmRuntime
	if err := json.Unmarshal(data, &back); err != nil || len(back.Cmd) != len(rt.Cmd) || len(back.Disks) != 1 || len(back.NICs) != 1 {
		t.Fatalf("round trip: %v", err)
	}
	_, _, dev = deviceString(back.Disks[0][0].(map[string]any)["hvinfo"])
	if dev != "virtio-blk-pci,id=disk-354003d2-e3c7-4cd6,bus=pci.0,addr=0xc" {
		t.Fatalf("device after round trip %s", dev)
	}

	// Variants and refusals.
	inst.HVParams["kernel_path"] = "/boot/vmlinuz"
	inst.HVParams["acpi"] = false
	inst.HVParams["kvm_flag"] = "enabled"
	if rt, err = h.generateKVMRuntime(inst, nil, true, string(help), ""); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(rt.Cmd)
	for _, want := range []string{`"-no-acpi"`, `"-machine","pc,accel=kvm"`, `"-S"`, `"-kernel","/boot/vmlinuz","-append","root=/dev/vda1 ro console=ttyS0,38400"`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("argv lacks %s: %s", want, got)
		}
	}
}

// needQemu skips a test that starts real qemus unless it runs as root
// with qemu installed, and gives the hypervisor the real /proc.
func needQemu(t *testing.T) {
	if testing.Short() || os.Geteuid() != 0 {
		t.Skip("starts qemu; needs root")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu not installed")
	}
	withProc(t)
	procMeminfo = "/proc/meminfo"
}

// qmpCall runs one QMP command on an instance's qemu and decodes what it
// returns into out.
func qmpCall(t *testing.T, h *kvmHypervisor, name, cmd string, args map[string]any, out any) {
	t.Helper()
	c, err := dialQMP(h.qmpSocket(name), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ret, err := c.Execute(cmd, args)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	if err := json.Unmarshal(ret, out); err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
}

// qemuTestNode is a node for tests that start real qemus (as root): its
// root is short enough for qemu's sockets, file storage is allowed in the
// returned directory. Without qemu or root the test is skipped.
func qemuTestNode(t *testing.T) (n *node, fileStorage, base string) {
	needQemu(t)
	_, fileStorage, _ = storageNode(t)
	n = newShortTestNode(t)
	os.WriteFile(n.paths.FileStoragePathsFile, []byte(fileStorage+"\n"), 0o644)
	return n, fileStorage, filepath.Dir(n.paths.Root)
}

// TestKVMInstanceProcess starts a real qemu (with KVM when /dev/kvm
// exists) on a tiny blank disk, queries, balloons and stops it.
func TestKVMInstanceProcess(t *testing.T) {
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
	old := shutdownRetryDelay
	shutdownRetryDelay = 200 * time.Millisecond
	defer func() { shutdownRetryDelay = old }()
	mustOK(t, call(t, n, "instance_shutdown", inst, 1, testTrail), nil)
	info = nil
	mustOK(t, call(t, n, "instance_info", "kvm1.example.com", "kvm", hvp), &info)
	if len(info) != 0 {
		t.Fatalf("still running: %v", info)
	}
}

// TestKVMLiveMigration moves a running instance between two nodes (two
// roots on this machine, migration over loopback), as the master drives
// it, and leaves it running on the target.
func TestKVMLiveMigration(t *testing.T) {
	needQemu(t)
	shared := t.TempDir()
	mkNode := func() *node {
		n := newShortTestNode(t)
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

// The console of a KVM instance is what Ganeti 3.0's
// KVMHypervisor.GetInstanceConsole returns for the same request (what
// luxid sends: the node and group unfilled), port included only when the
// ndparams set one.
func TestKVMConsoleMatchesGaneti(t *testing.T) {
	n, _ := newTestNode(t)
	hvp := func(serial bool, vnc, spice string) map[string]any {
		return map[string]any{"serial_console": serial, "vnc_bind_address": vnc, "spice_bind": spice}
	}
	type nd = map[string]any
	inst := func(name string, port any) map[string]any {
		m := map[string]any{"name": name, "hypervisor": "kvm", "primary_node": "uuid-1", "hvparams": map[string]any{}, "beparams": map[string]any{}, "nics": []any{}, "disks": []any{}}
		if port != nil {
			m["network_port"] = port
		}
		return m
	}
	req := map[string]any{}
	for _, c := range []struct {
		name        string
		port        any
		node, group nd
		hv          map[string]any
	}{
		{"no-port.example.com", 11000, nd{}, nd{}, hvp(true, "", "")},
		{"node-port.example.com", nil, nd{"ssh_port": 2222}, nd{"ssh_port": 2022}, hvp(true, "", "")},
		{"group-port.example.com", nil, nd{}, nd{"ssh_port": 2022}, hvp(true, "", "")},
		{"null-port.example.com", nil, nd{"ssh_port": nil}, nd{"ssh_port": 2022}, hvp(true, "", "")},
		{"vnc.example.com", 5901, nd{}, nd{}, hvp(false, "0.0.0.0", "")},
		{"vnc-low.example.com", 5900, nd{}, nd{}, hvp(false, "0.0.0.0", "")},
		{"spice.example.com", 11001, nd{}, nd{}, hvp(false, "", "127.0.0.1")},
		{"spice-no-port.example.com", nil, nd{}, nd{}, hvp(false, "", "127.0.0.1")},
		{"none.example.com", nil, nd{}, nd{}, hvp(false, "", "")},
	} {
		req[c.name] = map[string]any{"instance": inst(c.name, c.port),
			"node": map[string]any{"name": "node1.example.com", "ndparams": c.node}, "group": map[string]any{"name": "default", "ndparams": c.group},
			"hvParams": c.hv, "beParams": map[string]any{}}
	}
	body := mustJSON(req)
	want := runGanetiPython(t, `
import json
from ganeti import objects
from ganeti.hypervisor import hv_kvm
out = {}
for name, r in json.load(sys.stdin).items():
    c = hv_kvm.KVMHypervisor.GetInstanceConsole(objects.Instance.FromDict(r["instance"]),
        objects.Node.FromDict(r["node"]), objects.NodeGroup.FromDict(r["group"]), r["hvParams"], r["beParams"])
    out[name] = c.ToDict()
json.dump(out, sys.stdout)
`, body)
	var reply rpcReply
	rec := callRaw(t, n, "POST", "instance_console_info", string(body))
	reply = decodeReply(t, rec.Body.Bytes())
	var got, exp map[string]any
	mustOK(t, reply, &got)
	// Ganeti's paths are the installed ones; the test's run directory is
	// elsewhere.
	gotJSON := strings.ReplaceAll(string(mustJSON(got)), n.paths.RunDir+"/", "/var/run/ganeti/")
	json.Unmarshal([]byte(gotJSON), &got)
	if err := json.Unmarshal(want, &exp); err != nil {
		t.Fatal(err)
	}
	for name := range req {
		if g, w := string(mustJSON(got[name])), string(mustJSON(exp[name])); g != w {
			t.Errorf("%s: console\n%s\nGaneti's\n%s", name, g, w)
		}
	}
}
