package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// verify calls node_verify with the given checks and returns the result.
func verify(t *testing.T, n *node, what map[string]any) map[string]json.RawMessage {
	t.Helper()
	var res map[string]json.RawMessage
	mustOK(t, call(t, n, "node_verify", what, "cluster.example.com", map[string]any{"fake": map[string]any{}, "kvm": map[string]any{"kvm_path": "/bin/true"}}), &res)
	return res
}

func TestNodeVerifyBasics(t *testing.T) {
	n, _ := newTestNode(t)
	withProc(n)
	os.WriteFile(n.paths.KnownHostsFile, []byte("known"), 0o644)
	res := verify(t, n, map[string]any{
		"version":      nil,
		"time":         nil,
		"filelist":     []string{n.paths.KnownHostsFile, n.paths.DataDir + "/missing"},
		"hypervisor":   []string{"fake", "kvm"},
		"instancelist": []string{"fake"},
		"hvinfo":       "fake",
		"user-scripts": []string{"/bin/sh", "/nonexistent/script"},
		"oob-paths":    []string{"/bin/sh", "/nonexistent/oob", "/etc"},
		"bridges":      []string{"surely-not-a-bridge0"},
		"drbd-helper":  "/bin/true",
		"drbd-list":    nil,
	})
	if string(res["version"]) != `[3000000,"3.0.2"]` {
		t.Errorf("version %s", res["version"])
	}
	var tm []int64
	json.Unmarshal(res["time"], &tm)
	if len(tm) != 2 || time.Since(time.Unix(tm[0], tm[1]*1000)).Abs() > time.Minute {
		t.Errorf("time %s", res["time"])
	}
	// SHA-1 of "known"; the missing file is left out.
	if string(res["filelist"]) != fmt.Sprintf(`{%q:"6ca33ad04dbc4e215660f7707ece0fb2c03aeace"}`, n.paths.KnownHostsFile) {
		t.Errorf("filelist %s", res["filelist"])
	}
	if !strings.Contains(string(res["hypervisor"]), `"fake":null`) || !strings.Contains(string(res["hypervisor"]), "The socat binary") && !fileExists(socatPath) {
		t.Errorf("hypervisor %s", res["hypervisor"])
	}
	if string(res["instancelist"]) != "[]" {
		t.Errorf("instancelist %s", res["instancelist"])
	}
	if !strings.Contains(string(res["hvinfo"]), `"memory_total":24105`) {
		t.Errorf("hvinfo %s", res["hvinfo"])
	}
	if string(res["user-scripts"]) != `["/nonexistent/script"]` {
		t.Errorf("user-scripts %s", res["user-scripts"])
	}
	if string(res["oob-paths"]) != `[null,"error stating out of band helper: stat /nonexistent/oob: no such file or directory","out of band helper /etc is not a file"]` {
		t.Errorf("oob-paths %s", res["oob-paths"])
	}
	if string(res["bridges"]) != `["surely-not-a-bridge0"]` {
		t.Errorf("bridges %s", res["bridges"])
	}
	if !strings.Contains(string(res["drbd-helper"]), `[false,"The file /sys/module/drbd/parameters/usermode_helper cannot be opened, check if the module is loaded`) && !fileExists(n.paths.DRBDHelperFile) {
		t.Errorf("drbd-helper %s", res["drbd-helper"])
	}
	// Keys not asked for are not answered.
	if _, ok := res["nodesetup"]; ok {
		t.Error("nodesetup answered unasked")
	}
}

func TestNodeVerifyNonVMNode(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	res := verify(t, n, map[string]any{"hypervisor": []string{"fake"}, "version": nil, "nonvmnodes": []string{n.fqdn()}})
	if _, ok := res["hypervisor"]; ok {
		t.Error("vm check ran on a non-vm node")
	}
	if _, ok := res["version"]; !ok {
		t.Error("version skipped")
	}
}

func TestNodeVerifyNodeSetup(t *testing.T) {
	n, _ := newTestNode(t)
	n.paths.SysrqTrigger = filepath.Join(t.TempDir(), "sysrq-trigger")
	res := verify(t, n, map[string]any{"nodesetup": nil})
	if !strings.Contains(string(res["nodesetup"]), "The procfs filesystem doesn't seem to be mounted under /proc, missing required directory /proc/sys and the file /proc/sysrq-trigger") {
		t.Errorf("nodesetup without sysrq-trigger: %s", res["nodesetup"])
	}
	os.WriteFile(n.paths.SysrqTrigger, nil, 0o200)
	res = verify(t, n, map[string]any{"nodesetup": nil})
	if string(res["nodesetup"]) != "[]" {
		t.Errorf("nodesetup: %s", res["nodesetup"])
	}
}

func TestNodeVerifyClientCert(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	res := verify(t, n, map[string]any{"client-cert": nil})
	if !strings.Contains(string(res["client-cert"]), `["ERROR","The client certificate does not exist.`) {
		t.Errorf("missing: %s", res["client-cert"])
	}
	copyFile(t, "testdata/certs/client.pem", n.paths.NodedClientCertFile)
	res = verify(t, n, map[string]any{"client-cert": nil})
	if string(res["client-cert"]) != `[null,"`+clientDigest+`"]` {
		t.Errorf("good: %s", res["client-cert"])
	}
	// The cluster certificate is self-signed: a warning, as Ganeti gives.
	st := clientCertStatus("testdata/certs/cluster.pem", time.Now())
	if st[0] != "WARNING" || !strings.Contains(st[1].(string), "is self-signed") {
		t.Errorf("self-signed: %v", st)
	}
	_, leaf, _ := loadKeyPair("testdata/certs/client.pem", "testdata/certs/client.pem")
	st = clientCertStatus("testdata/certs/client.pem", leaf.NotAfter.Add(-72*time.Hour))
	if st[0] != "ERROR" || !strings.Contains(st[1].(string), "Certificate expires in about") {
		t.Errorf("about to expire: %v", st)
	}
	st = clientCertStatus("testdata/certs/client.pem", leaf.NotAfter.Add(time.Hour))
	if st[0] != "ERROR" || !strings.Contains(st[1].(string), "Certificate is expired") {
		t.Errorf("expired: %v", st)
	}
}

func TestNodeVerifyNetworkChecks(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	me := n.fqdn()
	// Something listening on the daemon port is not needed: a refused
	// connection proves reachability too.
	res := verify(t, n, map[string]any{
		"node-net-test": []any{[][]string{{me, "127.0.0.1", "127.0.0.1"}, {"other", "127.0.0.2", "127.0.0.2"}}, []string{me}},
		"master-ip":     []any{me, "127.0.0.1", []string{me}},
	})
	if string(res["node-net-test"]) != "{}" {
		t.Errorf("node-net-test %s", res["node-net-test"])
	}
	if string(res["master-ip"]) != "true" {
		t.Errorf("master-ip %s", res["master-ip"])
	}
	// Not a master candidate: nothing is tested.
	res = verify(t, n, map[string]any{
		"node-net-test": []any{[][]string{{me, "127.0.0.1", "127.0.0.1"}}, []string{"someone-else"}},
		"master-ip":     []any{"someone-else", "127.0.0.1", []string{"someone-else"}},
	})
	if string(res["node-net-test"]) != "{}" || string(res["master-ip"]) != "null" {
		t.Errorf("non-candidate: %s %s", res["node-net-test"], res["master-ip"])
	}
	res = verify(t, n, map[string]any{"node-net-test": []any{[][]string{{"other", "127.0.0.2", "127.0.0.2"}}, []string{me}}})
	if !strings.Contains(string(res["node-net-test"]), "Can't find my own primary/secondary IP in the node list") {
		t.Errorf("missing self: %s", res["node-net-test"])
	}
	if !tcpPing("127.0.0.1", freePort(t), "") {
		t.Error("refused connection must count as reachable")
	}
	if l, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		if !tcpPing("127.0.0.1", l.Addr().(*net.TCPAddr).Port, "127.0.0.1") {
			t.Error("listening port unreachable")
		}
		l.Close()
	}
}

func TestNodeVerifyFileStorage(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	me := n.fqdn()
	store := filepath.Join(n.paths.Root, "srv/ganeti/file-storage")
	os.MkdirAll(store, 0o755)
	res := verify(t, n, map[string]any{"allowed-file-storage-paths": me, "file-storage-path": store})
	if string(res["allowed-file-storage-paths"]) != "[]" {
		t.Errorf("allowed %s", res["allowed-file-storage-paths"])
	}
	if !strings.Contains(string(res["file-storage-path"]), "No paths are valid or path file") {
		t.Errorf("no paths file: %s", res["file-storage-path"])
	}
	os.WriteFile(n.paths.FileStoragePathsFile, []byte("# file storage\n"+filepath.Dir(store)+"\n/etc/ganeti\nrelative\n"), 0o644)
	res = verify(t, n, map[string]any{"allowed-file-storage-paths": me, "file-storage-path": store, "shared-file-storage-path": "/usr/lib/x"})
	if string(res["allowed-file-storage-paths"]) != `["/etc/ganeti","relative"]` {
		t.Errorf("forbidden paths %s", res["allowed-file-storage-paths"])
	}
	if _, bad := res["file-storage-path"]; bad {
		t.Errorf("good storage dir reported: %s", res["file-storage-path"])
	}
	if !strings.Contains(string(res["shared-file-storage-path"]), "uses a forbidden prefix") {
		t.Errorf("shared %s", res["shared-file-storage-path"])
	}
	res = verify(t, n, map[string]any{"allowed-file-storage-paths": "another-master", "file-storage-path": "/srv/elsewhere"})
	if _, ok := res["allowed-file-storage-paths"]; ok {
		t.Error("non-master answered allowed-file-storage-paths")
	}
	if !strings.Contains(string(res["file-storage-path"]), "is not acceptable for file storage") {
		t.Errorf("outside: %s", res["file-storage-path"])
	}
}

func TestNodeVerifyRejectsBadInput(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	mustFail(t, call(t, n, "node_verify", map[string]any{"filelist": "notalist"}, "c", map[string]any{}), "bad filelist")
	if rec := callRaw(t, n, "POST", "node_verify", `[{}, "c", {}, 4]`); rec.Code != 400 || !strings.Contains(rec.Body.String(), "takes 3 arguments") {
		t.Errorf("four arguments: %d %s", rec.Code, rec.Body)
	}
	mustFail(t, call(t, n, "node_verify", map[string]any{"hvinfo": "xen-pvm"}, "c", map[string]any{}), "not supported")
}

func TestOSDiagnose(t *testing.T) {
	n, _ := newTestNode(t)
	useOSSearchPath(n, "/nonexistent/os", mustAbs(t, "testdata/os"))
	var res [][]json.RawMessage
	mustOK(t, call(t, n, "os_diagnose"), &res)
	got := map[string]string{}
	for _, r := range res {
		var name string
		json.Unmarshal(r[0], &name)
		b, _ := json.Marshal(r)
		got[name] = string(b)
	}
	dir := mustAbs(t, "testdata/os")
	for name, want := range map[string]string{
		"debootstrap": fmt.Sprintf(`["debootstrap","%s/debootstrap",true,"",["default","minimal"],[["dhcp","Whether to use DHCP  "],["proxy"]],[20,15],true]`, dir),
		"broken-api":  fmt.Sprintf(`["broken-api","%s/broken-api",false,"API version mismatch for path '%s/broken-api': found [5], want frozenset({10, 15, 20}).",[],[],[],true]`, dir, dir),
		"no-create":   fmt.Sprintf(`["no-create","%s/no-create",false,"A create script (trusted or untrusted) under path '%s/no-create' must exist",[],[],[],true]`, dir, dir),
	} {
		if got[name] != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got[name], want)
		}
	}
}

func TestHypervisorValidateParams(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	kvm := filepath.Join(t.TempDir(), "kvm")
	os.WriteFile(kvm, []byte("#!/bin/sh\ncase \"$1\" in --help) cat "+mustAbs(t, "testdata/kvm-help.txt")+";; -machine) echo 'pc-i440fx-7.2 Standard PC (i440FX + PIIX, 1996) (default)';; esac\n"), 0o755)
	full := kvmDefaults()
	full["kvm_path"] = kvm
	mustOK(t, call(t, n, "hypervisor_validate_params", "kvm", full), nil)
	mustOK(t, call(t, n, "hypervisor_validate_params", "fake", map[string]any{"migration_mode": "live"}), nil)

	full["kernel_path"] = "/boot/vmlinuz-3-kvmU"
	mustFail(t, call(t, n, "hypervisor_validate_params", "kvm", full), "Parameter 'kernel_path' fails validation: not found or not a file (current value: '/boot/vmlinuz-3-kvmU')")
	full["kernel_path"] = ""
	full["machine_version"] = "pc-i440fx-7.2"
	mustOK(t, call(t, n, "hypervisor_validate_params", "kvm", full), nil)
	full["machine_version"] = "pc-q35-99"
	mustFail(t, call(t, n, "hypervisor_validate_params", "kvm", full), "Unsupported machine version: pc-q35-99")
	full["machine_version"] = ""
	full["vnc_bind_address"] = "not an address"
	mustFail(t, call(t, n, "hypervisor_validate_params", "kvm", full), "VNC: The vnc_bind_address parameter must be")
	full["vnc_bind_address"] = "127.0.0.1"
	full["spice_bind"] = "127.0.0.1"
	mustFail(t, call(t, n, "hypervisor_validate_params", "kvm", full), "Both SPICE and VNC are configured")
	delete(full, "vnc_bind_address")
	mustFail(t, call(t, n, "hypervisor_validate_params", "kvm", full), "Error while executing backend function: 'vnc_bind_address'")
	mustFail(t, call(t, n, "hypervisor_validate_params", "fake", map[string]any{}), "'migration_mode'")
	mustFail(t, call(t, n, "hypervisor_validate_params", "vmware", map[string]any{}), "Unknown hypervisor type 'vmware'")

	// Ganeti's syntax checks (the master's CheckParameterSyntax) come
	// first, then the node's own checks, each with Ganeti's message.
	for _, c := range []struct {
		changes map[string]any
		want    string
	}{
		{map[string]any{"kvm_path": "kvm"}, "Parameter 'kvm_path' fails syntax check: must be an absolute normalized path (current value: 'kvm')"},
		{map[string]any{"kernel_path": "/boot/../vmlinuz"}, "Parameter 'kernel_path' fails syntax check: must be an absolute normalized path (current value: '/boot/../vmlinuz')"},
		{map[string]any{"cdrom_image_path": "cd.iso"}, "Parameter 'cdrom_image_path' fails syntax check: must be an absolute normalized path or a URL (current value: 'cd.iso')"},
		{map[string]any{"cdrom_image_path": "/nonexistent.iso"}, "Parameter 'cdrom_image_path' fails validation: not found or not a file or URL (current value: '/nonexistent.iso')"},
		{map[string]any{"boot_order": ""}, "Parameter 'boot_order' is required but is currently not defined"},
		{map[string]any{"boot_order": "usb"}, "Parameter 'boot_order' fails syntax check: The value must be one of: cdrom, disk, floppy, network (current value: 'usb')"},
		{map[string]any{"disk_type": "nvme"}, "Parameter 'disk_type' fails syntax check: The value must be one of: ide, mtd, paravirtual, pflash, scsi, scsi-block, scsi-cd, scsi-generic, scsi-hd, sd (current value: 'nvme')"},
		{map[string]any{"scsi_controller_type": "pvscsi"}, "Parameter 'scsi_controller_type' fails syntax check: The value must be one of: lsi, megasas, virtio-scsi-pci (current value: 'pvscsi')"},
		{map[string]any{"migration_port": 65535.0}, "Parameter 'migration_port' fails syntax check: invalid port number (current value: '65535')"},
		{map[string]any{"migration_bandwidth": -1.0}, "Parameter 'migration_bandwidth' fails syntax check: cannot be negative (current value: '-1')"},
		{map[string]any{"migration_mode": "fast"}, "Parameter 'migration_mode' fails syntax check: invalid migration mode (current value: 'fast')"},
		{map[string]any{"virtio_net_queues": 9.0}, "Parameter 'virtio_net_queues' fails syntax check: invalid number of queues (current value: '9')"},
		{map[string]any{"cpu_mask": "0-1:x"}, "Parameter 'cpu_mask' fails syntax check: Multiple CPU mask definition is not well-formed (current value: '0-1:x')"},
		{map[string]any{"cpu_cores": -2.0}, "Parameter 'cpu_cores' fails syntax check: cannot be negative (current value: '-2')"},
		{map[string]any{"kvm_pci_reservations": 33.0}, "Parameter 'kvm_pci_reservations' fails syntax check: The number of PCI slots managed by QEMU (max: 32) (current value: '33')"},
		{map[string]any{"spice_ip_version": 5.0}, "Parameter 'spice_ip_version' fails syntax check: The SPICE IP version should be 4 or 6 (current value: '5')"},
		{map[string]any{"spice_streaming_video": "on"}, "Parameter 'spice_streaming_video' fails syntax check: The value must be one of: all, filter, off (current value: 'on')"},
		{map[string]any{"boot_order": "cdrom"}, "Cannot boot from cdrom without an ISO path"},
		{map[string]any{"kernel_path": "/nonexistent/vmlinuz", "root_path": ""}, "Need a root partition for the instance, if a kernel is defined"},
		{map[string]any{"security_model": "user"}, "A security domain (user to run kvm as) must be specified"},
		{map[string]any{"security_model": "pool", "security_domain": "nobody"}, "Cannot have a security domain when the security model is 'none' or 'pool'"},
		{map[string]any{"security_model": "user", "security_domain": "no-such-user-here"}, "Unknown security domain user no-such-user-here"},
		{map[string]any{"serial_speed": 1234.0}, "Invalid serial console speed, must be one of: 75, 110, 300, 600, 1200, 1800, 2400, 4800, 9600, 14400, 19200, 28800, 38400, 57600, 115200, 230400, 345600, 460800"},
		{map[string]any{"vnc_x509_verify": true}, "vnc_x509_path must be defined, if vnc_x509_verify is"},
		{map[string]any{"vnc_x509_path": "/nonexistent/x509"}, "Parameter 'vnc_x509_path' fails validation: not found or not a directory (current value: '/nonexistent/x509')"},
		{map[string]any{"spice_bind": "127.0.0.1", "spice_ip_version": 6.0}, "SPICE: Got an IPv4 address (127.0.0.1), but the specified IP version is 6"},
		{map[string]any{"spice_bind": "::1", "spice_ip_version": 4.0}, "SPICE: Got an IPv6 address (::1), but the specified IP version is 4"},
		{map[string]any{"spice_use_tls": true}, "SPICE: spice_use_tls requires spice_bind to be set"},
		{map[string]any{"spice_bind": "no-such-interface"}, "SPICE: The spice_bind parameter must be either a valid IP address or interface name"},
		{map[string]any{"disk_aio": "native"}, "When 'disk_aio' is set to 'native', the only supported value for 'disk_cache' is 'none'."},
	} {
		params := kvmDefaults()
		params["kvm_path"] = kvm
		for k, v := range c.changes {
			params[k] = v
		}
		mustFail(t, call(t, n, "hypervisor_validate_params", "kvm", params), c.want)
	}
}

func TestOSValidate(t *testing.T) {
	n, _ := newTestNode(t)
	osDir := testOSDir(t, n)
	t.Setenv("NODED_TEST_MARKER", "1") // not passed: the scripts get a clean environment
	var ok bool
	mustOK(t, call(t, n, "os_validate", true, "debootstrap+minimal", []string{"parameters"}, map[string]any{"dhcp": "yes"}, false), &ok)
	if !ok {
		t.Fatal("valid OS refused")
	}
	env := readOSEnv(t, osDir, "verify")
	for _, want := range []string{"OS_API_VERSION=20", "OS_NAME=debootstrap", "OS_VARIANT=minimal", "OSP_DHCP=yes", "DEBUG_LEVEL=0"} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("verify script environment lacks %s:\n%s", want, env)
		}
	}
	if strings.Contains(env, "NODED_TEST_MARKER") {
		t.Error("verify script inherited the daemon's environment")
	}
	mustFail(t, call(t, n, "os_validate", true, "debootstrap+huge", []string{}, map[string]any{}, false), "OS 'debootstrap' does not support variant 'huge'")
	mustFail(t, call(t, n, "os_validate", true, "debootstrap", []string{}, map[string]any{}, false), "must include a variant")
	mustFail(t, call(t, n, "os_validate", true, "debootstrap+default", []string{"parameters"}, map[string]any{"colour": "red"}, false), "The following parameters are not supported by the OS debootstrap: colour")
	mustFail(t, call(t, n, "os_validate", true, "debootstrap+default", []string{"disks"}, map[string]any{}, false), "Unknown checks required")
	mustFail(t, call(t, n, "os_validate", true, "missing", []string{}, map[string]any{}, false), "Directory for OS missing not found in search path")
	mustOK(t, call(t, n, "os_validate", false, "missing", []string{}, map[string]any{}, false), &ok)
	if ok {
		t.Fatal("missing optional OS reported valid")
	}
}

// TestLoadOSAPIVersionFile: the API version file read as Ganeti reads it
// (Python's splitlines and int()).
func TestLoadOSAPIVersionFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for content, want := range map[string]string{
		"":         "found [], want frozenset({10, 15, 20})",
		"20\n\n":   "can't be converted to integer: invalid literal for int() with base 10: ''",
		"x\n":      "invalid literal for int() with base 10: 'x'",
		"5\n":      "found [5], want",
		" 20 \n15": "File 'export' under path",
	} {
		osDir := filepath.Join(dir, "os1")
		os.RemoveAll(osDir)
		os.MkdirAll(osDir, 0o755)
		os.WriteFile(filepath.Join(osDir, "ganeti_api_version"), []byte(content), 0o644)
		if _, err := loadOS(dir, "os1"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("API file %q: got %v, want %q", content, err, want)
		}
	}
}
