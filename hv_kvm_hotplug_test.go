package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A guest that never releases a hot-unplugged PCI device (no OS, no ACPI
// hotplug): as Ganeti, the daemon still sends drive_del (disks) or
// netdev_del (NICs, whose tap file also goes) right after device_del, and
// only then reports that the device is still there.
func TestKVMHotDelUnreleasedDevice(t *testing.T) {
	t.Parallel()
	const diskUUID = "6ad0d1aa-03cb-4384-ba0e-c10f55fc77b5"
	const nicUUID = "ea8fc518-67a1-424e-9a54-c9cae0a7b60a"
	diskID, nicID := kvmDeviceID("disk", diskUUID), kvmDeviceID("nic", nicUUID)
	stillThere := `{"return": [{"bus": 0, "devices": [{"qdev_id": "` + diskID + `"}, {"qdev_id": "` + nicID + `"}]}]}`
	replies := map[string][]string{
		"qmp_capabilities":      {`{"return": {}}`},
		"device_del":            {`{"return": {}}`},
		"netdev_del":            {`{"return": {}}`},
		"human-monitor-command": {`{"return": ""}`},
		"query-pci":             {stillThere},
	}
	n, _ := newTestNode(t)
	n.waits.hotplugCheck = time.Millisecond
	h := &kvmHypervisor{n: n, rootDir: t.TempDir()}
	inst := &instance{Name: "inst5.example.com"}
	rt := func() *kvmRuntime {
		return &kvmRuntime{
			HVParams: map[string]any{},
			Disks: [][3]any{{map[string]any{"uuid": diskUUID, "hvinfo": map[string]any{
				"driver": "virtio-blk-pci", "id": diskID, "bus": "pci.0", "addr": "0xe"}}, "/x", nil}},
			NICs: []map[string]any{{"uuid": nicUUID, "hvinfo": map[string]any{
				"driver": "virtio-net-pci", "id": nicID, "bus": "pci.0", "addr": "0xd"}}},
		}
	}
	commands := func(seen <-chan string) []string {
		var got []string
		for {
			select {
			case line := <-seen:
				if i := strings.Index(line, `"execute":"`); i >= 0 {
					cmd := line[i+len(`"execute":"`):]
					cmd = cmd[:strings.IndexByte(cmd, '"')]
					if strings.Contains(line, "drive_del") {
						cmd += " drive_del"
					}
					got = append(got, cmd)
				}
			case <-time.After(100 * time.Millisecond):
				return got
			}
		}
	}

	path, seen := scriptedQMP(t, replies)
	c, err := dialQMP(path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r := rt()
	_, err = h.hotDelDisk(c, inst, r, diskUUID)
	c.Close()
	if err == nil || err.Error() != "Device "+diskID+" should have been removed but is still there" {
		t.Fatalf("disk removal error %v", err)
	}
	got := strings.Join(commands(seen), ",")
	if want := "qmp_capabilities,device_del,human-monitor-command drive_del,query-pci,query-pci,query-pci,query-pci,query-pci"; got != want {
		t.Fatalf("disk removal sent %s, want %s", got, want)
	}
	if len(r.Disks) != 1 {
		t.Fatal("the runtime lost the disk the guest did not release")
	}

	nicFile := filepath.Join(h.rootDir, "nic", inst.Name, "1")
	os.MkdirAll(filepath.Dir(nicFile), 0o755)
	os.WriteFile(nicFile, []byte("tap1\n"), 0o644)
	path, seen = scriptedQMP(t, replies)
	if c, err = dialQMP(path, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	r = rt()
	_, err = h.hotDelNIC(c, inst, r, nicUUID, 1)
	c.Close()
	if err == nil || err.Error() != "Device "+nicID+" should have been removed but is still there" {
		t.Fatalf("NIC removal error %v", err)
	}
	got = strings.Join(commands(seen), ",")
	if want := "qmp_capabilities,device_del,netdev_del,query-pci,query-pci,query-pci,query-pci,query-pci"; got != want {
		t.Fatalf("NIC removal sent %s, want %s", got, want)
	}
	if _, err := os.Stat(nicFile); !os.IsNotExist(err) {
		t.Fatalf("NIC file left: %v", err)
	}
	if len(r.NICs) != 1 {
		t.Fatal("the runtime lost the NIC the guest did not release")
	}
}

// Device uuids and MACs from the master end up in qemu's comma-separated
// options and in the human monitor's drive_add line; one carrying a
// separator (",file=/etc/shadow") is refused before anything runs.
func TestKVMDeviceObjectsChecked(t *testing.T) {
	h, inst := kvmTestInstance(t, nil)
	help := kvmTestHelp(t)
	inst.DisksInfo[0].UUID = "354003d2-e3c7,file=/etc/shadow"
	if _, err := h.generateKVMRuntime(inst, []string{"/dev/null"}, false, help, ""); err == nil || !strings.Contains(err.Error(), "Invalid disk UUID") {
		t.Fatalf("disk uuid: %v", err)
	}
	h, inst = kvmTestInstance(t, nil)
	inst.NICs[0]["mac"] = "aa:00:00:35:1a:6b,romfile=/etc/shadow"
	if _, err := h.generateKVMRuntime(inst, []string{"/dev/null"}, false, help, ""); err == nil || !strings.Contains(err.Error(), "Invalid NIC MAC address") {
		t.Fatalf("NIC mac: %v", err)
	}
	h, inst = kvmTestInstance(t, nil)
	inst.NICs[0]["uuid"] = "2db0ddf2\nnetdev_del x"
	if _, err := h.generateKVMRuntime(inst, []string{"/dev/null"}, false, help, ""); err == nil || !strings.Contains(err.Error(), "Invalid nic UUID") {
		t.Fatalf("NIC uuid: %v", err)
	}

	// Hot-add: refused before the monitor is asked anything.
	h, inst = kvmTestInstance(t, nil)
	h.rootDir = t.TempDir()
	os.MkdirAll(filepath.Join(h.rootDir, "conf"), 0o755)
	if err := h.saveRuntime(inst.Name, &kvmRuntime{Cmd: []any{"kvm"}, HVParams: inst.HVParams}); err != nil {
		t.Fatal(err)
	}
	disk := []byte(`{"uuid": "5a5a5a5a-2222,file=/etc/shadow,id=x"}`)
	if _, err := h.hotplug(inst, "hotadd", "disk", disk, []byte(`["/dev/null", null]`), 1); err == nil || !strings.Contains(err.Error(), "Invalid disk UUID") {
		t.Fatalf("hot-added disk uuid: %v", err)
	}
	nic := []byte(`{"uuid": "7f3e2a10-1111-4222-8333-444455556666", "mac": "aa:00:00:12:34:56,romfile=/etc/shadow"}`)
	if _, err := h.hotplug(inst, "hotadd", "nic", nic, nil, 1); err == nil || !strings.Contains(err.Error(), "Invalid NIC MAC address") {
		t.Fatalf("hot-added NIC mac: %v", err)
	}
}

// A disk hot-add opens the given link read-write and passes it to the
// guest: anything but the instance's own instance-disks link is refused
// before it is opened.
func TestKVMHotAddDiskLink(t *testing.T) {
	replies := map[string][]string{
		"qmp_capabilities": {`{"return": {}}`},
		"query-commands":   {`{"return": [{"name": "add-fd"}, {"name": "device_add"}]}`},
	}
	n, _ := newTestNode(t)
	h := &kvmHypervisor{n: n, rootDir: t.TempDir()}
	inst := &instance{Name: "inst6.example.com"}
	rt := &kvmRuntime{HVParams: map[string]any{"disk_type": "paravirtual"}}
	d := map[string]any{"uuid": "5a5a5a5a-2222-4333-8444-555566667777"}
	target := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(target, []byte("x"), 0o600)
	own := n.paths.diskLinkPath(inst.Name, 1)
	os.MkdirAll(filepath.Dir(own), 0o755)
	os.WriteFile(n.paths.diskLinkPath(inst.Name, 2), nil, 0o600) // not a symlink
	for _, link := range []string{target, "", "relative:1", n.paths.diskLinkPath("other.example.com", 1),
		filepath.Dir(own) + "/../instance-disks/" + inst.Name + ":1", n.paths.diskLinkPath(inst.Name, 2)} {
		path, seen := scriptedQMP(t, replies)
		c, err := dialQMP(path, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		err = h.hotAddDisk(c, inst, rt, d, link)
		c.Close()
		if err == nil || !strings.Contains(err.Error(), "is not a disk link of instance") {
			t.Fatalf("link %q: %v", link, err)
		}
		for len(seen) > 0 {
			if line := <-seen; strings.Contains(line, "add-fd") && !strings.Contains(line, "query-commands") {
				t.Fatalf("link %q was passed to qemu", link)
			}
		}
	}
}
