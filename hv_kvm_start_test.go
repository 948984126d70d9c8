package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestKVMExecuteParameters checks the node-side arguments and checks of
// a start, with a qemu that only records its command line.
func TestKVMExecuteParameters(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("opens tap devices; needs root")
	}
	devlist := "name \"virtio-net-pci\", bus PCI\nname \"virtio-blk-pci\", bus PCI\nname \"scsi-hd\", bus SCSI\n"
	kvm, argvFile := kvmRecordingBinary(t, devlist)
	ifup := fakeTool(t, t.TempDir(), "kvm-ifup", "exit 0")
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("secret\n\n"), 0o600)
	emptyFile := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(emptyFile, []byte("\n"), 0o600)

	// start starts an instance with params on a fresh node, which setup
	// may change first.
	start := func(t *testing.T, params map[string]any, setup ...func(*node)) (string, error) {
		n := newShortTestNode(t)
		n.paths.KVMIfup = ifup
		for _, f := range setup {
			f(n)
		}
		h := mustKVM(t, n)
		_, inst := kvmTestInstance(t, params)
		inst.HVParams["kvm_path"] = kvm
		os.Remove(argvFile)
		err := h.StartInstance(inst, []string{"/dev/null"}, false)
		argv, _ := os.ReadFile(argvFile)
		return strings.ReplaceAll(strings.TrimSpace(string(argv)), "\n", " "), err
	}
	cases := []struct {
		name    string
		params  map[string]any
		want    []string
		wantErr string
	}{
		{name: "vhost and two queues", params: map[string]any{"vhost_net": true, "virtio_net_queues": 2.0},
			want: []string{"-netdev type=tap,id=nic-2db0ddf2-d984-44a4,fds=3:4,vhostfds=5:6,vhost=on -device virtio-net-pci,id=nic-2db0ddf2-d984-44a4,bus=pci.0,addr=0xd,netdev=nic-2db0ddf2-d984-44a4,mac=aa:00:00:35:1a:6b,mq=on,vectors=6 "}},
		{name: "queues need vhost", params: map[string]any{"virtio_net_queues": 4.0},
			want: []string{"-netdev type=tap,id=nic-2db0ddf2-d984-44a4,fd=3 -device virtio-net-pci,id=nic-2db0ddf2-d984-44a4,bus=pci.0,addr=0xd,netdev=nic-2db0ddf2-d984-44a4,mac=aa:00:00:35:1a:6b -qmp"}},
		{name: "scsi disk", params: map[string]any{"disk_type": "scsi-hd"},
			want: []string{"-boot c -device scsi-hd,id=disk-354003d2-e3c7-4cd6,bus=scsi.0,channel=0,scsi-id=0,lun=0,drive=disk-354003d2-e3c7-4cd6 -drive file=/dev/null,format=raw,if=none,aio=threads,id=disk-354003d2-e3c7-4cd6,auto-read-only=off -S"}},
		{name: "ide disk", params: map[string]any{"disk_type": "ide", "disk_discard": "unmap"},
			want: []string{"-boot c -drive file=/dev/null,format=raw,if=ide,aio=threads,discard=unmap,auto-read-only=off -S"}},
		{name: "vnc password", params: map[string]any{"vnc_bind_address": "127.0.0.1", "vnc_password_file": pwFile}, want: []string{"-vnc 127.0.0.1:1,password "}},
		{name: "vnc password missing", params: map[string]any{"vnc_bind_address": "127.0.0.1", "vnc_password_file": "/nonexistent/pw"},
			wantErr: "Failed to open VNC password file /nonexistent/pw: [Errno 2] No such file or directory: '/nonexistent/pw'"},
		{name: "vnc password empty", params: map[string]any{"vnc_bind_address": "127.0.0.1", "vnc_password_file": emptyFile},
			wantErr: "No data in one-liner file " + emptyFile},
		{name: "security user", params: map[string]any{"security_model": "user", "security_domain": "nobody", "keymap": "de"},
			want: []string{"-uuid 2cfe372e-790b-4995-a88f-02cb52534683 -runas nobody -k de -netdev"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			argv, err := start(t, c.params, func(n *node) {
				if c.params["vhost_net"] == true {
					n.paths.VhostNetDevice = "/dev/null" // stands in where the module is not loaded
				}
			})
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("error %v, want %s", err, c.wantErr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "kvm: recorded") {
				t.Fatalf("start: %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(argv+" ", w) {
					t.Fatalf("argv lacks %q:\n%s", w, argv)
				}
			}
		})
	}
	t.Run("user shutdown starts ganeti-kvmd", func(t *testing.T) {
		calls := filepath.Join(t.TempDir(), "calls")
		util := fakeTool(t, t.TempDir(), "daemon-util", `echo "$@" >> `+calls+`; [ "$2" = ganeti-kvmd ] && [ ! -e `+calls+`.fail ]`)
		useUtil := func(n *node) { n.paths.DaemonUtil = util }
		if _, err := start(t, map[string]any{"user_shutdown": true}, useUtil); err == nil || !strings.Contains(err.Error(), "kvm: recorded") {
			t.Fatalf("start: %v", err)
		}
		if data, _ := os.ReadFile(calls); string(data) != "start ganeti-kvmd\n" {
			t.Fatalf("daemon-util calls %q", data)
		}
		os.WriteFile(calls+".fail", nil, 0o644)
		if _, err := start(t, map[string]any{"user_shutdown": true}, useUtil); err == nil || err.Error() != "Failed to start KVM daemon" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("runtime without a command", func(t *testing.T) {
		n, _ := newTestNode(t)
		h := mustKVM(t, n)
		_, inst := kvmTestInstance(t, nil)
		if err := h.AcceptInstance(inst, `[[], [], {}, []]`, "127.0.0.1"); err == nil || !strings.Contains(err.Error(), "no qemu command") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("vhost-net missing", func(t *testing.T) {
		missing := func(n *node) { n.paths.VhostNetDevice = "/nonexistent/vhost-net" }
		if _, err := start(t, map[string]any{"vhost_net": true}, missing); err == nil || err.Error() != "Failed to open /nonexistent/vhost-net" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("vhost not in qemu", func(t *testing.T) {
		_, inst := kvmTestInstance(t, map[string]any{"vhost_net": true})
		if _, err := kvmNICFeatures(inst.HVParams, devlist, "-netdev tap,id=str[,fd=h]\n", "/dev/null"); err == nil || err.Error() != "vhost_net is configured but it is not available" {
			t.Fatalf("got %v", err)
		}
	})
}

// qemuDisplayStatus is what query-vnc and query-spice say about access.
type qemuDisplayStatus struct {
	Enabled bool   `json:"enabled"`
	Auth    string `json:"auth"`
}

// threadAffinity is Cpus_allowed_list of one thread of a process.
func threadAffinity(t *testing.T, pid, tid int) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", strconv.Itoa(tid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no Cpus_allowed_list for %d/%d", pid, tid)
	return ""
}

// TestKVMParametersProcess starts real qemus with VNC (TLS, password),
// a chroot, USB devices, a SCSI disk and per-vCPU pinning, then with
// SPICE (password), a uid from the pool and whole-process pinning, and
// checks what qemu and the kernel report.
func TestKVMParametersProcess(t *testing.T) {
	t.Parallel()
	if runtime.NumCPU() < 2 {
		t.Skip("pinning needs two CPUs")
	}
	n, file, base := qemuTestNode(t)
	pw := filepath.Join(base, "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	kvmRoot := filepath.Join(n.paths.RunDir, "kvm-hypervisor")

	newInst := func(name string, vcpus int, params map[string]any) (map[string]any, map[string]any) {
		d := fileDisk("file", filepath.Join(file, name+"-disk0"), 8)
		delete(d, "future_field")
		mustOK(t, call(t, n, "blockdev_create", d, 8, name, true, nil, false), nil)
		hvp := kvmDefaults()
		hvp["kvm_path"] = "/usr/bin/qemu-system-x86_64"
		for k, v := range params {
			hvp[k] = v
		}
		inst := map[string]any{"name": name, "hypervisor": "kvm", "hvparams": hvp, "uuid": "8a1c2d3e-0000-4000-8000-00000000001" + name[3:4],
			"beparams": map[string]any{"maxmem": 64, "minmem": 64, "vcpus": vcpus}, "nics": []any{}, "disks_info": []any{d}, "os": "none",
			"network_port": freePort(t)}
		t.Cleanup(func() { call(t, n, "instance_shutdown", inst, 0, testTrail) })
		if r := call(t, n, "instance_start", inst, false, testTrail); !r.OK {
			log, _ := os.ReadFile(filepath.Join(n.paths.LogDir, "kvm", name+".log"))
			t.Fatalf("start %s: %s\nqemu log: %s", name, r.Result, log)
		}
		return inst, hvp
	}
	h := &kvmHypervisor{n: n, rootDir: kvmRoot}

	inst, _ := newInst("kvm2.example.com", 2, map[string]any{"vnc_bind_address": "127.0.0.1", "vnc_tls": true, "vnc_password_file": pw,
		"use_chroot": true, "usb_devices": "keyboard", "disk_type": "scsi-hd", "scsi_controller_type": "virtio-scsi-pci", "cpu_mask": "1:0"})
	var vnc qemuDisplayStatus
	qmpCall(t, h, "kvm2.example.com", "query-vnc", nil, &vnc)
	if !vnc.Enabled || vnc.Auth != "vencrypt+tls+vnc" {
		t.Errorf("VNC %+v, want TLS with a password", vnc)
	}
	var cpus []struct {
		Index    int `json:"cpu-index"`
		ThreadID int `json:"thread-id"`
	}
	qmpCall(t, h, "kvm2.example.com", "query-cpus-fast", nil, &cpus)
	pid := h.pid("kvm2.example.com")
	if len(cpus) != 2 {
		t.Fatalf("vCPUs %+v", cpus)
	}
	for _, c := range cpus {
		if got, want := threadAffinity(t, pid, c.ThreadID), strconv.Itoa(1-c.Index); got != want {
			t.Errorf("vCPU %d runs on %s, want %s", c.Index, got, want)
		}
	}
	var diskType string
	diskID := kvmDeviceID("disk", inst["disks_info"].([]any)[0].(map[string]any)["uuid"].(string))
	qmpCall(t, h, "kvm2.example.com", "qom-get", map[string]any{"path": "/machine/peripheral/" + diskID, "property": "type"}, &diskType)
	if diskType != "scsi-hd" {
		t.Errorf("the disk is a %q, want scsi-hd", diskType)
	}
	chroot := filepath.Join(kvmRoot, "chroot", "kvm2.example.com")
	if st, err := os.Stat(chroot); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("chroot %v %v", st, err)
	}
	if root, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "root")); root != chroot {
		t.Errorf("qemu's root is %s, want %s", root, chroot)
	}
	mustOK(t, call(t, n, "instance_shutdown", inst, 0, testTrail), nil)
	for _, gone := range []string{chroot, filepath.Join(kvmRoot, "conf", "kvm2.example.com.runtime")} {
		if _, err := os.Stat(gone); err == nil {
			t.Errorf("%s left after shutdown", gone)
		}
	}

	// SPICE with a password, a uid from the pool, the whole process on CPU 0.
	os.WriteFile(n.paths.ssconfPath("uid_pool"), []byte("65534\n"), 0o444)
	inst, _ = newInst("kvm3.example.com", 2, map[string]any{"spice_bind": "127.0.0.1", "spice_password_file": pw,
		"security_model": "pool", "cpu_mask": "0"})
	var spice qemuDisplayStatus
	qmpCall(t, h, "kvm3.example.com", "query-spice", nil, &spice)
	if !spice.Enabled || spice.Auth != "spice" {
		t.Errorf("SPICE %+v, want a ticket (password)", spice)
	}
	pid = h.pid("kvm3.example.com")
	status, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if !strings.Contains(string(status), "\nUid:\t65534\t65534\t") {
		t.Errorf("qemu does not run as the pool's uid:\n%s", status)
	}
	if uid, _ := os.ReadFile(filepath.Join(kvmRoot, "uid", "kvm3.example.com")); string(uid) != "65534" {
		t.Errorf("uid file %q", uid)
	}
	tasks, _ := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		if got := threadAffinity(t, pid, tid); got != "0" {
			t.Errorf("thread %d runs on %s, want 0", tid, got)
		}
	}
	lock := filepath.Join(n.paths.RunDir, "uid-pool", "65534")
	if _, err := os.Stat(lock); err != nil {
		t.Errorf("uid lock: %v", err)
	}
	// A soft reboot gives the uid back and takes one again.
	mustOK(t, call(t, n, "instance_reboot", inst, "soft", 5, testTrail), nil)
	if newPid := h.pid("kvm3.example.com"); newPid == pid || !h.instanceAlive("kvm3.example.com") {
		t.Fatalf("soft reboot: pid %d, was %d", newPid, pid)
	}
	if _, err := os.Stat(lock); err != nil {
		t.Errorf("uid lock after reboot: %v", err)
	}
	mustOK(t, call(t, n, "instance_shutdown", inst, 0, testTrail), nil)
	if _, err := os.Stat(lock); err == nil {
		t.Error("uid not given back to the pool")
	}
}

// TestKVMPoolUIDFailedStart: a start that fails after taking a uid from
// the pool gives the uid back and keeps no descriptor of its lock file.
func TestKVMPoolUIDFailedStart(t *testing.T) {
	kvm, _ := kvmRecordingBinary(t, "")
	n, _ := newTestNode(t)
	h := mustKVM(t, n)
	os.WriteFile(n.paths.ssconfPath("uid_pool"), []byte("65534\n"), 0o444)
	lockFds := func() (fds []string) {
		entries, _ := os.ReadDir("/proc/self/fd")
		for _, e := range entries {
			if target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); strings.Contains(target, n.uidPoolDir()) {
				fds = append(fds, e.Name()+" -> "+target)
			}
		}
		return fds
	}
	_, inst := kvmTestInstance(t, map[string]any{"security_model": "pool", "kvm_path": kvm})
	inst.NICs = nil
	err := h.StartInstance(inst, []string{"/dev/null"}, false)
	if err != nil && strings.Contains(err.Error(), "Failed to find an unused user-id") {
		t.Skip("uid 65534 is in use on this machine")
	}
	if err == nil || !strings.Contains(err.Error(), "kvm: recorded") {
		t.Fatalf("start: %v", err)
	}
	if fds := lockFds(); len(fds) != 0 {
		t.Fatalf("uid lock file still open: %v", fds)
	}
	if _, err := os.Stat(filepath.Join(n.uidPoolDir(), "65534")); !os.IsNotExist(err) {
		t.Fatalf("uid not given back: %v", err)
	}
}

// The tap name of a NIC is recorded in nic/<name>/<seq>; a failure to
// write it is reported in the log, not dropped.
func TestKVMSaveNICTap(t *testing.T) {
	n, logs := newTestNode(t)
	h := &kvmHypervisor{n: n, rootDir: t.TempDir()}
	h.saveNICTap("inst7.example.com", 2, "tap5")
	if data, err := os.ReadFile(h.nicFile("inst7.example.com", 2)); err != nil || string(data) != "tap5" {
		t.Fatalf("nic file %q %v", data, err)
	}
	os.WriteFile(filepath.Join(h.rootDir, "nic", "inst8.example.com"), nil, 0o600) // a file where the directory goes
	h.saveNICTap("inst8.example.com", 0, "tap6")
	if !strings.Contains(logs.String(), "Cannot record tap tap6 of NIC 0 of instance inst8.example.com") {
		t.Fatalf("log %s", logs.String())
	}
}

// kvm-ifup gets the instance's tags and, for a NIC on a network, the
// network's description, as Ganeti's ConfigureNIC gives them.
func TestKVMIfupEnvironment(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), "env")
	n, _ := newTestNode(t)
	n.paths.KVMIfup = fakeTool(t, t.TempDir(), "kvm-ifup", "env > "+envFile)
	h := &kvmHypervisor{n: n, rootDir: t.TempDir()}
	inst := &instance{Name: "inst9.example.com", Tags: []string{"web", "prod"}}
	nic := map[string]any{"mac": "aa:00:00:12:34:56", "uuid": "7f3e2a10-1111-4222-8333-444455556666", "network": "net-uuid",
		"nicparams": map[string]any{"mode": "routed", "link": "100"},
		"netinfo": map[string]any{"name": "backend", "uuid": "net-uuid", "tags": []any{"a", "b"}, "network": "10.0.0.0/24",
			"gateway": "10.0.0.1", "network6": nil, "mac_prefix": "aa:00:01"}}
	if err := h.runIfup(inst, 3, nic, "tap9"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(envFile)
	env := "\n" + string(data)
	for _, want := range []string{"TAGS=web prod", "NETWORK_NAME=backend", "NETWORK_UUID=net-uuid", "NETWORK_TAGS=a b",
		"NETWORK_SUBNET=10.0.0.0/24", "NETWORK_GATEWAY=10.0.0.1", "NETWORK_MAC_PREFIX=aa:00:01", "INTERFACE_INDEX=3", "LINK=100"} {
		if !strings.Contains(env, "\n"+want+"\n") {
			t.Errorf("kvm-ifup environment lacks %s:\n%s", want, data)
		}
	}
	if strings.Contains(env, "NETWORK_SUBNET6") || strings.Contains(env, "NETWORK_GATEWAY6") || strings.Contains(env, "\nBRIDGE=") {
		t.Errorf("unexpected variables:\n%s", data)
	}
}
