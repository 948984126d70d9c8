package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

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
