package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// kvmTestInstance is the instance of docs/reference/kvm.md 2.9 with the
// given parameters changed, and the generator for it (real paths).
func kvmTestInstance(t *testing.T, changes map[string]any) (*kvmHypervisor, *instance) {
	t.Helper()
	n, _ := newTestNode(t)
	n.paths = newLayout("", "")
	h := &kvmHypervisor{n: n, rootDir: "/var/run/ganeti/kvm-hypervisor"}
	hvp := kvmDefaults()
	for k, v := range changes {
		hvp[k] = v
	}
	port := portNumber(5901)
	inst := &instance{Name: "inst1.example.com", UUID: "2cfe372e-790b-4995-a88f-02cb52534683", HVParams: hvp, NetworkPort: &port,
		BEParams:  map[string]any{"maxmem": 1024.0, "minmem": 512.0, "vcpus": 2.0},
		DisksInfo: []*disk{{DevType: "file", UUID: "354003d2-e3c7-4cd6-bb4e-54e2aa8bf948", Mode: "rw", LogicalID: json.RawMessage(`["loop","/x"]`)}},
		NICs:      []map[string]any{{"mac": "aa:00:00:35:1a:6b", "uuid": "2db0ddf2-d984-44a4-957c-f877aa1d65a2", "nicparams": map[string]any{"mode": "bridged", "link": "br0"}}}}
	return h, inst
}

func kvmTestHelp(t *testing.T) string {
	help, err := os.ReadFile("testdata/kvm-help.txt")
	if err != nil {
		t.Fatal(err)
	}
	return string(help)
}

// argvText joins stored arguments with single spaces, for substring checks.
func argvText(cmd []any) string {
	var parts []string
	for _, a := range cmd {
		parts = append(parts, pyStr(a))
	}
	return strings.Join(parts, " ")
}

// TestKVMGenerateParameters checks the stored arguments of the display,
// device and chroot parameters against what Ganeti 3.0 generates.
func TestKVMGenerateParameters(t *testing.T) {
	help := kvmTestHelp(t)
	okURL := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead || r.URL.Path != "/x.iso" {
			http.NotFound(w, r)
		}
	}))
	defer okURL.Close()
	cases := []struct {
		name    string
		params  map[string]any
		port    portNumber
		want    []string // substrings of the argv, in this order
		wantErr string
	}{
		{name: "vnc tls x509 verify password", port: 5901,
			params: map[string]any{"vnc_bind_address": "0.0.0.0", "vnc_tls": true, "vnc_x509_path": "/etc/x", "vnc_x509_verify": true, "vnc_password_file": "/etc/pw"},
			want:   []string{"-usb -usbdevice tablet -object tls-creds-x509,id=vnctls0,endpoint=server,dir=/etc/x,verify-peer=yes -vnc :1,tls-creds=vnctls0,password -uuid"}},
		{name: "vnc tls anonymous", port: 5905, params: map[string]any{"vnc_bind_address": "127.0.0.1", "vnc_tls": true},
			want: []string{"-object tls-creds-anon,id=vnctls0,endpoint=server -vnc 127.0.0.1:5,tls-creds=vnctls0 "}},
		{name: "vnc x509 without verify", port: 5902, params: map[string]any{"vnc_bind_address": "::1", "vnc_tls": true, "vnc_x509_path": "/etc/x"},
			want: []string{"-object tls-creds-x509,id=vnctls0,endpoint=server,dir=/etc/x,verify-peer=no -vnc [::1]:2,tls-creds=vnctls0 "}},
		{name: "vnc on an interface", port: 5903, params: map[string]any{"vnc_bind_address": "lo"}, want: []string{"-vnc 127.0.0.1:3 "}},
		{name: "vnc on a directory", port: 5903, params: map[string]any{"vnc_bind_address": "/var/run/vnc"}, want: []string{"-vnc unix:/var/run/vnc/inst1.example.com.vnc "}},
		{name: "vnc port too low", port: 5900, params: map[string]any{"vnc_bind_address": "127.0.0.1", "vnc_password_file": "/etc/pw"}, want: []string{"-vnc none,password "}},
		{name: "usb devices", params: map[string]any{"usb_devices": "keyboard,wacom-tablet", "vga": "std"},
			want: []string{"-vga std -usbdevice keyboard -usbdevice wacom-tablet -uuid"}},
		{name: "soundhw without -soundhw", params: map[string]any{"soundhw": "ac97"}, wantErr: "soundhw is configured but this qemu has no -soundhw option (removed in QEMU 7.1); use kvm_extra with -audio or -device instead"},
		{name: "chroot", params: map[string]any{"use_chroot": true},
			want: []string{"-display none -chroot /var/run/ganeti/kvm-hypervisor/chroot/inst1.example.com -uuid"}},
		{name: "cdrom url", params: map[string]any{"cdrom_image_path": okURL.URL + "/x.iso"},
			want: []string{"-machine pc-i440fx-7.2 -drive file=" + okURL.URL + "/x.iso,media=cdrom,if=virtio -monitor"}},
		{name: "cdrom url boot", params: map[string]any{"cdrom_image_path": okURL.URL + "/x.iso", "boot_order": "cdrom"},
			want: []string{"-boot d -drive file=" + okURL.URL + "/x.iso,media=cdrom,if=ide -monitor"}},
		{name: "cdrom url missing", params: map[string]any{"cdrom_image_path": okURL.URL + "/y.iso"},
			wantErr: "Cdrom ISO image '" + okURL.URL + "/y.iso' is not accessible"},
		{name: "two cdroms of a disk type", params: map[string]any{"cdrom_image_path": "/a.iso", "cdrom2_image_path": "/b.iso", "cdrom_disk_type": "ide"},
			want: []string{"-drive file=/a.iso,media=cdrom,format=raw,if=ide -drive file=/b.iso,media=cdrom,format=raw,if=ide -monitor"}},
		{name: "scsi disks", params: map[string]any{"disk_type": "scsi-hd", "scsi_controller_type": "virtio-scsi-pci"},
			want: []string{"-pidfile /var/run/ganeti/kvm-hypervisor/pid/inst1.example.com -device virtio-scsi-pci,id=scsi -device virtio-balloon"}},
		{name: "spice", port: 11001, params: map[string]any{"spice_bind": "127.0.0.1", "spice_use_vdagent": false, "spice_playback_compression": true},
			want: []string{"-usb -spice addr=127.0.0.1,port=11001,disable-ticketing,agent-mouse=off -vga qxl"}},
		{name: "spice tls agent", port: 11001, params: map[string]any{"spice_bind": "127.0.0.1", "spice_use_vdagent": true, "spice_use_tls": true,
			"spice_tls_ciphers": "HIGH", "spice_password_file": "/etc/pw", "spice_image_compression": "lz", "spice_streaming_video": "off"},
			want: []string{"-device virtio-serial-pci,id=spice -device virtserialport,chardev=spicechannel0,name=com.redhat.spice.0 -chardev spicevmc,id=spicechannel0,name=vdagent " +
				"-spice addr=127.0.0.1,tls-port=11001,x509-cacert-file=/var/lib/ganeti/spice-ca.pem,x509-key-file=/var/lib/ganeti/spice.pem,x509-cert-file=/var/lib/ganeti/spice.pem,tls-ciphers=HIGH,image-compression=lz,streaming-video=off -vga qxl"}},
		{name: "spice on an interface", port: 11001, params: map[string]any{"spice_bind": "lo", "spice_ip_version": 4.0, "spice_use_vdagent": false},
			want: []string{"-spice addr=127.0.0.1,port=11001,disable-ticketing,ipv4,agent-mouse=off -vga qxl"}},
		{name: "cpu mask", params: map[string]any{"cpu_mask": "0:1-3"}, want: []string{"-smp 2 "}},
		{name: "cpu mask per vcpu count", params: map[string]any{"cpu_mask": "0:1:2"}, wantErr: "Number of vCPUs [2] does not match the CPU mask [0:1:2]"},
		{name: "cpu mask syntax", params: map[string]any{"cpu_mask": "0-x"},
			wantErr: "Parameter 'cpu_mask' fails syntax check: Multiple CPU mask definition is not well-formed (current value: '0-x')"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, inst := kvmTestInstance(t, c.params)
			if c.port != 0 {
				inst.NetworkPort = &c.port
			}
			rt, err := h.generateKVMRuntime(inst, []string{"/var/run/ganeti/instance-disks/inst1.example.com:0"}, false, help,
				"pc-i440fx-7.2 Standard PC (i440FX + PIIX, 1996) (default)\n")
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("error %v, want %s", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := argvText(rt.Cmd) + " "
			at := 0
			for _, w := range c.want {
				i := strings.Index(got[at:], w)
				if i < 0 {
					t.Fatalf("argv lacks %q (after offset %d):\n%s", w, at, got)
				}
				at += i + len(w)
			}
		})
	}

	// SCSI disks sit on the controller's bus; the NIC takes the first PCI
	// slot after the reserved ones. The numbers stay numbers in the file.
	h, inst := kvmTestInstance(t, map[string]any{"disk_type": "scsi-hd"})
	rt, err := h.generateKVMRuntime(inst, nil, false, help, "")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(rt)
	if !strings.Contains(string(data), `"hvinfo":{"driver":"scsi-hd","id":"disk-354003d2-e3c7-4cd6","bus":"scsi.0","channel":0,"scsi-id":0,"lun":0}`) {
		t.Fatalf("SCSI hvinfo: %s", data)
	}
	if _, _, dev := deviceString(rt.NICs[0]["hvinfo"]); dev != "virtio-net-pci,id=nic-2db0ddf2-d984-44a4,bus=pci.0,addr=0xc" {
		t.Fatalf("NIC after a SCSI disk: %s", dev)
	}
	var back kvmRuntime
	json.Unmarshal(data, &back)
	if _, _, dev := deviceString(back.Disks[0][0].(map[string]any)["hvinfo"]); dev != "scsi-hd,id=disk-354003d2-e3c7-4cd6,bus=scsi.0,channel=0,scsi-id=0,lun=0" {
		t.Fatalf("SCSI device after a round trip: %s", dev)
	}

	// A qemu that still has -soundhw gets it.
	h, inst = kvmTestInstance(t, map[string]any{"soundhw": "ac97"})
	rt, err = h.generateKVMRuntime(inst, nil, false, help+"-soundhw c1,... enable audio support\n", "")
	if err != nil || !strings.Contains(argvText(rt.Cmd), "-pidfile /var/run/ganeti/kvm-hypervisor/pid/inst1.example.com -soundhw ac97 -device virtio-balloon") {
		t.Fatalf("soundhw: %v %v", err, rt)
	}
}

func TestKVMHelpOptionMentions(t *testing.T) {
	help := kvmTestHelp(t)
	if kvmHelpOptionMentions(help, "-drive", ",boot=on|off") {
		t.Error("QEMU 7.2 has no boot=on for -drive")
	}
	if !kvmHelpOptionMentions(help, "-blockdev", ",auto-read-only=on|off") {
		t.Error("QEMU 7.2 has auto-read-only for -blockdev")
	}
	old := "-drive [file=file][,if=type]\n       [,boot=on|off]\n-other\n"
	if !kvmHelpOptionMentions(old, "-drive", ",boot=on|off") || kvmHelpOptionMentions("-drive x\n-y [,boot=on|off]\n", "-drive", ",boot=on|off") {
		t.Error("the option's block ends at the next option")
	}
}

func TestKVMCPUMasks(t *testing.T) {
	for _, c := range []struct {
		mask string
		want string
	}{{"", "[]"}, {"all", "[]"}, {"0-2,5", "[[0,1,2,5]]"}, {"3,1,1-2", "[[1,2,3]]"}, {"0:all:1-2", "[[0],null,[1,2]]"}, {"0::1", "[[0],null,[1]]"}} {
		got, err := kvmCPUMasks(c.mask, 3)
		if b, _ := json.Marshal(got); err != nil || (string(b) != c.want && !(c.want == "[]" && got == nil)) {
			t.Errorf("%q: %s %v, want %s", c.mask, b, err, c.want)
		}
	}
	for _, bad := range []string{"x", "1-2-3", "3-1", "-1", "all,1", "1:x"} {
		if _, err := kvmCPUMasks(bad, -1); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestUIDPoolParse(t *testing.T) {
	uids, err := parseUIDPool("1000-1002\n\n1001\n2000")
	if err != nil || len(uids) != 4 {
		t.Fatalf("%v %v", uids, err)
	}
	for _, bad := range []string{"1-2-3", "x", "5-3"} {
		if _, err := parseUIDPool(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// kvmRecordingBinary is a stand-in qemu: it answers --help with QEMU
// 7.2's text and -device ? with devlist, and otherwise records its
// mustKVM is the node's KVM hypervisor, or the end of the test.
func mustKVM(t *testing.T, n *node) *kvmHypervisor {
	t.Helper()
	h, err := newKVMHypervisor(n)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// arguments (one per line) and fails.
func kvmRecordingBinary(t *testing.T, devlist string) (kvm, argvFile string) {
	dir := t.TempDir()
	argvFile = filepath.Join(dir, "argv")
	os.WriteFile(filepath.Join(dir, "devlist"), []byte(devlist), 0o644)
	kvm = fakeTool(t, dir, "kvm", `case "$1" in
--help) cat `+mustAbs(t, "testdata/kvm-help.txt")+`;;
-machine) echo 'pc-i440fx-7.2 Standard PC (i440FX + PIIX, 1996) (default)';;
-device) cat `+dir+`/devlist;;
*) for a in "$@"; do echo "$a"; done > `+argvFile+`; echo "kvm: recorded" >&2; exit 1;;
esac`)
	return kvm, argvFile
}

// TestKVMExecuteParameters checks the node-side arguments and checks of
// a start, with a qemu that only records its command line.
func TestKVMExecuteParameters(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("opens tap devices; needs root")
	}
	devlist := "name \"virtio-net-pci\", bus PCI\nname \"virtio-blk-pci\", bus PCI\nname \"scsi-hd\", bus SCSI\n"
	kvm, argvFile := kvmRecordingBinary(t, devlist)
	ifup := fakeTool(t, t.TempDir(), "kvm-ifup", "exit 0")
	oldVhost := vhostNetDevice
	defer func() { vhostNetDevice = oldVhost }()
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("secret\n\n"), 0o600)
	emptyFile := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(emptyFile, []byte("\n"), 0o600)

	start := func(t *testing.T, params map[string]any) (string, error) {
		n := newShortTestNode(t)
		n.paths.KVMIfup = ifup
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
			if c.params["vhost_net"] == true {
				vhostNetDevice = "/dev/null" // stands in where the module is not loaded
			}
			defer func() { vhostNetDevice = oldVhost }()
			argv, err := start(t, c.params)
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
		oldUtil := daemonUtil
		defer func() { daemonUtil = oldUtil }()
		calls := filepath.Join(t.TempDir(), "calls")
		daemonUtil = fakeTool(t, t.TempDir(), "daemon-util", `echo "$@" >> `+calls+`; [ "$2" = ganeti-kvmd ] && [ ! -e `+calls+`.fail ]`)
		if _, err := start(t, map[string]any{"user_shutdown": true}); err == nil || !strings.Contains(err.Error(), "kvm: recorded") {
			t.Fatalf("start: %v", err)
		}
		if data, _ := os.ReadFile(calls); string(data) != "start ganeti-kvmd\n" {
			t.Fatalf("daemon-util calls %q", data)
		}
		os.WriteFile(calls+".fail", nil, 0o644)
		if _, err := start(t, map[string]any{"user_shutdown": true}); err == nil || err.Error() != "Failed to start KVM daemon" {
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
		vhostNetDevice = "/nonexistent/vhost-net"
		if _, err := start(t, map[string]any{"vhost_net": true}); err == nil || err.Error() != "Failed to open /nonexistent/vhost-net" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("vhost not in qemu", func(t *testing.T) {
		_, inst := kvmTestInstance(t, map[string]any{"vhost_net": true})
		if _, err := kvmNICFeatures(inst.HVParams, devlist, "-netdev tap,id=str[,fd=h]\n"); err == nil || err.Error() != "vhost_net is configured but it is not available" {
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
