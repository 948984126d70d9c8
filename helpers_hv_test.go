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

// mustKVM is the node's KVM hypervisor as the daemon opens it (hvModules,
// then its directories made), or the end of the test.
func mustKVM(t *testing.T, n *node) *kvmHypervisor {
	t.Helper()
	hv, err := n.hypervisorFor("kvm")
	if err != nil {
		t.Fatal(err)
	}
	return hv.(*kvmHypervisor)
}

// kvmRecordingBinary is a stand-in qemu: it answers --help with QEMU
// 7.2's text and -device ? with devlist, and otherwise records its
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

// needQemu skips a test that starts real qemus unless it runs as root
// with qemu installed, and gives the hypervisor the real /proc.
func needQemu(t *testing.T) {
	if testing.Short() || os.Geteuid() != 0 {
		t.Skip("starts qemu; needs root")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu not installed")
	}
}

// qemuProc points a qemu test node's CPU and boot readers at recorded
// files; memory stays the machine's, which qemu really takes.
func qemuProc(n *node) {
	withProc(n)
	n.paths.ProcMeminfo = "/proc/meminfo"
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
	qemuProc(n)
	os.WriteFile(n.paths.FileStoragePathsFile, []byte(fileStorage+"\n"), 0o644)
	return n, fileStorage, filepath.Dir(n.paths.Root)
}
