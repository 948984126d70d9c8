package main

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeInstance is an Instance object as the master sends it.
func fakeInstance(name string, disks ...map[string]any) map[string]any {
	if disks == nil {
		disks = []map[string]any{}
	}
	return map[string]any{"name": name, "hypervisor": "fake", "hvparams": map[string]any{"migration_mode": "live"},
		"beparams": map[string]any{"maxmem": 128, "minmem": 64, "vcpus": 2, "always_failover": false},
		"osparams": map[string]any{}, "admin_state": "up", "nics": []any{}, "disks": []string{},
		"disks_info": disks, "uuid": "b146", "primary_node": "c3fe", "tags": []string{}}
}

var testTrail = [][]any{{"gnt:client:gnt-instance", "startup", 1795533617636955904}}

func TestFakeInstanceLifecycle(t *testing.T) {
	n, file, _ := storageNode(t)
	withProc(n)
	diskPath := filepath.Join(file, "inst1-disk0")
	d := fileDisk("file", diskPath, 8)
	delete(d, "future_field")
	inst := fakeInstance("inst1.example.com", d)

	// The disk must be set up before the instance starts.
	mustFail(t, call(t, n, "instance_start", inst, false, testTrail), "Block device error: Block device '<Disk(type=file, logical_id=('loop', ")
	mustOK(t, call(t, n, "blockdev_create", d, 8, "inst1.example.com", true, nil, false), nil)
	mustOK(t, call(t, n, "instance_start", inst, false, testTrail), nil)
	state := filepath.Join(n.paths.RunDir, "fake-hypervisor", "inst1.example.com")
	if data, _ := os.ReadFile(state); string(data) != "0\n128\n2\n" {
		t.Fatalf("instance file %q", data)
	}
	if target, _ := os.Readlink(n.paths.diskLinkPath("inst1.example.com", 0)); target != diskPath {
		t.Fatalf("disk link -> %q", target)
	}
	var trail [][]any
	data, _ := os.ReadFile(filepath.Join(n.paths.RunDir, "instance-reason", "inst1.example.com"))
	if json.Unmarshal(data, &trail) != nil || len(trail) != 2 || trail[1][0] != "gnt:daemon:noded:start" {
		t.Fatalf("reason trail %q", data)
	}
	mustOK(t, call(t, n, "instance_start", inst, false, testTrail), nil) // already running

	var info map[string]any
	mustOK(t, call(t, n, "instance_info", "inst1.example.com", "fake", map[string]any{}), &info)
	if b, _ := json.Marshal(info); string(b) != `{"memory":128,"state":0,"time":0,"vcpus":2}` {
		t.Fatalf("info %s", b)
	}
	var names []string
	mustOK(t, call(t, n, "instance_list", []string{"fake"}, map[string]any{"fake": map[string]any{}}), &names)
	if strings.Join(names, ",") != "inst1.example.com" {
		t.Fatalf("list %v", names)
	}
	mustOK(t, call(t, n, "instance_balloon_memory", inst, 96), nil)
	if data, _ := os.ReadFile(state); string(data) != "0\n96\n2\n" {
		t.Fatalf("after balloon %q", data)
	}

	rec := callRaw(t, n, http.MethodPost, "instance_console_info", `{"inst1.example.com": {"instance": `+string(mustJSON(inst))+`, "node": {}, "group": {}, "hvParams": {}, "beParams": {}}}`)
	if !strings.Contains(rec.Body.String(), `"kind":"msg","message":"Console not available for fake hypervisor"`) {
		t.Fatalf("console %s", rec.Body)
	}

	mustOK(t, call(t, n, "instance_reboot", inst, "soft", 5, testTrail), nil)
	mustOK(t, call(t, n, "instance_reboot", inst, "hard", 5, testTrail), nil)
	if data, _ := os.ReadFile(state); string(data) != "0\n128\n2\n" {
		t.Fatalf("after hard reboot (startup memory again) %q", data)
	}
	mustFail(t, call(t, n, "instance_reboot", inst, "full", 5, testTrail), "Invalid reboot_type received: 'full'")
	mustFail(t, call(t, n, "hotplug_supported", inst), "Hotplug is not supported: Hotplug is not supported by this hypervisor")
	mustFail(t, call(t, n, "hotplug_device", inst, "hotadd", "nic", map[string]any{}, nil, 0), "Hotplug is not supported: Hotplug is not supported.")
	mustOK(t, call(t, n, "instance_migratable", inst), nil)
	mustFail(t, call(t, n, "resize_disk", inst, d, 16<<20), "Disk resize is not supported by this hypervisor")

	mustOK(t, call(t, n, "instance_shutdown", inst, 5, testTrail), nil)
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatal("instance still running")
	}
	if _, err := os.Lstat(n.paths.diskLinkPath("inst1.example.com", 0)); !os.IsNotExist(err) {
		t.Fatal("disk link kept after shutdown")
	}
	info = nil
	mustOK(t, call(t, n, "instance_info", "inst1.example.com", "fake", map[string]any{}), &info)
	if len(info) != 0 {
		entries, _ := os.ReadDir(filepath.Dir(state))
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("stopped instance info %v (files %v)", info, names)
	}
	mustOK(t, call(t, n, "instance_shutdown", inst, 5, testTrail), nil) // not running: fine
	mustFail(t, call(t, n, "instance_reboot", inst, "soft", 5, testTrail), "Cannot reboot instance 'inst1.example.com' that is not running")
	mustFail(t, call(t, n, "instance_migratable", inst), "Instance inst1.example.com is not running")
	mustOK(t, call(t, n, "instance_balloon_memory", inst, 96), nil) // not running: nothing to do
}

func TestFakeInstanceMigration(t *testing.T) {
	n, _ := newTestNode(t)
	withProc(n)
	inst := fakeInstance("inst2.example.com")
	var info string
	mustOK(t, call(t, n, "migration_info", inst), &info)
	mustOK(t, call(t, n, "accept_instance", inst, info, "192.0.2.2"), nil)
	mustOK(t, call(t, n, "instance_finalize_migration_dst", inst, info, true), nil)
	mustFail(t, call(t, n, "accept_instance", inst, info, "192.0.2.2"), "Failed to accept instance: Can't accept instance, already running")
	mustOK(t, call(t, n, "instance_migrate", "cluster.example.com", inst, "192.0.2.3", true), nil)
	var st map[string]any
	mustOK(t, call(t, n, "instance_get_migration_status", inst), &st)
	if st["status"] != "completed" {
		t.Fatalf("status %v", st)
	}
	mustOK(t, call(t, n, "instance_finalize_migration_src", inst, true, true), nil)
	if _, err := os.Stat(filepath.Join(n.paths.RunDir, "fake-hypervisor", "inst2.example.com")); !os.IsNotExist(err) {
		t.Fatal("source kept the instance")
	}
}

func TestInstanceRefusals(t *testing.T) {
	n, _ := newTestNode(t)
	bad := fakeInstance("../../etc/passwd")
	mustFail(t, call(t, n, "instance_start", bad, false, testTrail), "Invalid instance name")
	mustFail(t, call(t, n, "instance_start", fakeInstance("i1"), false, nil), "missing reason trail")
	xen := fakeInstance("i1")
	xen["hypervisor"] = "xen-pvm"
	mustFail(t, call(t, n, "instance_start", xen, false, testTrail), "not supported")
	noVcpus := fakeInstance("i2")
	delete(noVcpus["beparams"].(map[string]any), "maxmem")
	mustFail(t, call(t, n, "instance_start", noVcpus, false, testTrail), "'maxmem'")
	mustFail(t, call(t, n, "instance_info", "a/b", "fake", map[string]any{}), "Invalid instance name")
	mustFail(t, call(t, n, "instance_shutdown", fakeInstance("i1"), -1, testTrail), "Invalid shutdown timeout")
}

func TestInstanceOSAddAndRename(t *testing.T) {
	n, file, _ := storageNode(t)
	withProc(n)
	osDir := testOSDir(t, n)
	d := fileDisk("file", filepath.Join(file, "inst3-disk0"), 8)
	delete(d, "future_field")
	mustOK(t, call(t, n, "blockdev_create", d, 8, "inst3.example.com", true, nil, false), nil)
	inst := fakeInstance("inst3.example.com", d)
	inst["os"] = "debootstrap+minimal"
	inst["nics"] = []map[string]any{{"mac": "aa:00:00:00:00:01", "uuid": "n1", "nicparams": map[string]any{"mode": "bridged", "link": "gnt0"},
		"netinfo": map[string]any{"name": "net1", "uuid": "9c1e", "network": "192.0.2.0/24", "gateway": "192.0.2.1", "network6": nil,
			"mac_prefix": "aa:00:00", "tags": []string{"dmz", "v4"}}}}
	mustOK(t, call(t, n, "instance_os_add", inst, true, 1), nil)
	env := readOSEnv(t, osDir, "create")
	for _, want := range []string{"INSTANCE_NAME=inst3.example.com", "OS_VARIANT=minimal", "DISK_COUNT=1",
		"DISK_0_PATH=" + filepath.Join(file, "inst3-disk0"), "DISK_0_BACKEND_TYPE=file:loop", "NIC_0_MAC=aa:00:00:00:00:01",
		"NIC_0_BRIDGE=gnt0", "INSTANCE_REINSTALL=1", "INSTANCE_BE_maxmem=128", "HYPERVISOR=fake", "DEBUG_LEVEL=1",
		"NIC_0_NETWORK_NAME=net1", "NIC_0_NETWORK_UUID=9c1e", "NIC_0_NETWORK_TAGS=dmz v4", "NIC_0_NETWORK_SUBNET=192.0.2.0/24",
		"NIC_0_NETWORK_GATEWAY=192.0.2.1", "NIC_0_NETWORK_MAC_PREFIX=aa:00:00"} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("create environment lacks %s", want)
		}
	}
	if strings.Contains(env, "NETWORK_SUBNET6") || strings.Contains(env, "NETWORK_GATEWAY6") {
		t.Errorf("create environment has the network's unset IPv6 fields:\n%s", env)
	}
	if logs, _ := filepath.Glob(filepath.Join(n.paths.LogDir, "os", "add-debootstrap+minimal-inst3.example.com-*.log")); len(logs) != 1 {
		t.Errorf("OS log files %v", logs)
	}
	mustOK(t, call(t, n, "instance_run_rename", inst, "old.example.com", 2), nil)
	if env := readOSEnv(t, osDir, "rename"); !strings.Contains(env, "OLD_INSTANCE_NAME=old.example.com\n") || !strings.Contains(env, "\nDEBUG_LEVEL=2\n") {
		t.Errorf("rename script did not get the old name and the debug level:\n%s", env)
	}
	if logs, _ := filepath.Glob(filepath.Join(n.paths.LogDir, "os", "rename-debootstrap+minimal-old.example.com-inst3.example.com-*.log")); len(logs) != 1 {
		t.Errorf("rename log files %v", logs)
	}
	// A variant is any line of variants.list, but never a path.
	os.WriteFile(filepath.Join(osDir, "debootstrap", "variants.list"), []byte("default\nubuntu-22.04\n"), 0o644)
	inst["os"] = "debootstrap+ubuntu-22.04"
	mustOK(t, call(t, n, "instance_os_add", inst, false, 0), nil)
	if env := readOSEnv(t, osDir, "create"); !strings.Contains(env, "\nOS_VARIANT=ubuntu-22.04\n") {
		t.Errorf("create environment of debootstrap+ubuntu-22.04:\n%s", env)
	}
	for _, bad := range []string{"debootstrap+../../x", "debootstrap+a\nOS_NAME=x"} {
		inst["os"] = bad
		mustFail(t, call(t, n, "instance_os_add", inst, false, 0), "Invalid OS name")
		mustFail(t, call(t, n, "os_export", inst, map[string]string{}), "Invalid OS name")
	}
	inst["os"] = "missing+x"
	mustFail(t, call(t, n, "instance_os_add", inst, false, 0), "Directory for OS missing not found")
	inst["os"] = "debootstrap+minimal"
	inst["disks_info"] = []map[string]any{fileDisk("file", filepath.Join(file, "absent"), 8)}
	mustFail(t, call(t, n, "instance_os_add", inst, false, 0), "is not set up")
}

// TestOSExport packs the OS definition and the script environment as
// Ganeti's tar does, the overrides replacing what they name.
func TestOSExport(t *testing.T) {
	n, _ := newTestNode(t)
	osDir := testOSDir(t, n)
	fakeTool(t, filepath.Join(osDir, "debootstrap", "lib"), "common.sh", "true")
	inst := fakeInstance("inst3.example.com")
	inst["os"] = "debootstrap+minimal"
	var pkg string
	mustOK(t, call(t, n, "os_export", inst, map[string]string{"EXTRA": "1", "INSTANCE_NAME": "other.example.com"}), &pkg)
	defer os.Remove(pkg)
	out, err := exec.Command("tar", "-tvzf", pkg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-rwxr-xr-x") || !strings.Contains(string(out), " ./os/create\n") ||
		!strings.Contains(string(out), " ./os/variants.list\n") || !strings.Contains(string(out), " ./os/lib/common.sh\n") ||
		!strings.Contains(string(out), " ./environment\n") {
		t.Fatalf("OS archive %s: %v %s", pkg, err, out)
	}
	env, err := exec.Command("tar", "-xzOf", pkg, "./environment").Output()
	if err != nil || !strings.HasPrefix(string(env), "OS_API_VERSION=20\n") || !strings.Contains(string(env), "\nINSTANCE_NAME=other.example.com\nINSTANCE_OS=") ||
		strings.Contains(string(env), "inst3") || !strings.HasSuffix(string(env), "\nEXTRA=1\n") {
		t.Fatalf("archived environment %q: %v", env, err)
	}
	mustFail(t, call(t, n, "os_export", inst, map[string]string{"A=B": "1"}), "Invalid environment override 'A=B'")
	// Where Ganeti's tar --dereference fails, so does the export.
	os.Symlink("..", filepath.Join(osDir, "debootstrap", "lib", "up"))
	mustFail(t, call(t, n, "os_export", inst, map[string]string{}), "lib/up: file system loop")
	os.Remove(filepath.Join(osDir, "debootstrap", "lib", "up"))
	os.Symlink("/nonexistent", filepath.Join(osDir, "debootstrap", "dangling"))
	mustFail(t, call(t, n, "os_export", inst, map[string]string{}), "dangling: no such file or directory")
	os.Remove(filepath.Join(osDir, "debootstrap", "dangling"))
	// The environment file has a variable a line: a value must not add one.
	inst["osparams"] = map[string]any{"motd": "hello\nOS_NAME=other"}
	mustFail(t, call(t, n, "os_export", inst, map[string]string{}), "Invalid value of OSP_MOTD for the environment file: it has a newline")
}

// TestOSScriptLog: a script's whole output, standard output and error,
// goes into its log, and a failure reports the log's last lines, however
// much the script wrote.
func TestOSScriptLog(t *testing.T) {
	n, _ := newTestNode(t)
	osDir := testOSDir(t, n)
	fakeTool(t, filepath.Join(osDir, "debootstrap"), "create",
		"echo starting >&2\nyes 'progress line' | head -n 220000\necho 'the last words' >&2\nexit 3")
	inst := fakeInstance("inst4.example.com")
	inst["os"] = "debootstrap+default"
	mustFail(t, call(t, n, "instance_os_add", inst, false, 0),
		"OS create script failed (exited with exit code 3), last lines in the log file:\nprogress line\n")
	r := call(t, n, "instance_os_add", inst, false, 0)
	if msg := string(r.Result); r.OK || !strings.HasSuffix(msg, `progress line\nthe last words"`) || strings.Count(msg, `\n`) != 20 {
		t.Fatalf("failure %s, want the log's last 20 lines", msg)
	}
	logs, _ := filepath.Glob(filepath.Join(n.paths.LogDir, "os", "add-debootstrap+default-inst4.example.com-*.log"))
	if len(logs) == 0 {
		t.Fatal("no log")
	}
	log, err := os.ReadFile(logs[0])
	if err != nil || !strings.HasPrefix(string(log), "starting\nprogress line\n") || !strings.Contains(string(log), "the last words\n") ||
		len(log) < 3000000 {
		t.Fatalf("log %s: %d bytes, %v", logs[0], len(log), err)
	}
}

func TestInstanceMetadataModify(t *testing.T) {
	n, _ := newTestNode(t)
	os.MkdirAll(filepath.Join(n.paths.RunDir, "socket"), 0o755)
	os.WriteFile(n.paths.metadPidFile(), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644) // "alive"
	l, err := net.Listen("unix", n.paths.metadSocket())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, _ := bufio.NewReader(c).ReadBytes(0x03)
		got <- string(req)
		c.Write([]byte(`{"success": true, "result": null}` + "\x03"))
	}()
	mustOK(t, call(t, n, "instance_metadata_modify", map[string]any{"name": "inst1.example.com", "osparams_secret": map[string]any{}}), nil)
	if req := <-got; !strings.HasPrefix(req, `{"args":[{"name":"inst1.example.com"`) || !strings.Contains(req, `"method":"updateConfig"`) {
		t.Fatalf("metad request %q", req)
	}
}
