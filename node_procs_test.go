package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHooksRunner(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	dir := filepath.Join(n.paths.HooksBaseDir, "cluster-verify-post.d")
	mark := filepath.Join(t.TempDir(), "mark")
	fakeTool(t, dir, "10-env", `echo "$GANETI_CLUSTER $PATH" > `+mark+`; printf 'ok\ttab\nline'`)
	fakeTool(t, dir, "20-fail", "echo broken >&2; exit 1")
	fakeTool(t, dir, "30.sh", "echo skipped by name")
	os.WriteFile(filepath.Join(dir, "40-notexec"), []byte("#!/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".hidden"), []byte("#!/bin/sh\n"), 0o755)

	var res [][]any
	env := map[string]string{"GANETI_CLUSTER": "cluster.example.com", "PATH": "/sbin:/bin:/usr/sbin:/usr/bin"}
	mustOK(t, call(t, n, "hooks_runner", "cluster-verify", "post", env), &res)
	want := [][]any{
		{"cluster-verify-post.d/10-env", 2.0, `ok\ttab\nline`},
		{"cluster-verify-post.d/20-fail", 1.0, "broken"},
		{"cluster-verify-post.d/30.sh", 0.0, ""},
		{"cluster-verify-post.d/40-notexec", 0.0, ""},
	}
	if got, _ := json.Marshal(res); string(got) != string(mustJSON(want)) {
		t.Fatalf("results %s\nwant    %s", got, mustJSON(want))
	}
	// The hook environment must be exactly what the master sent.
	if !fileHolds(t, mark, "cluster.example.com /sbin:/bin:/usr/sbin:/usr/bin\n") {
		t.FailNow()
	}
	mustOK(t, call(t, n, "hooks_runner", "no-such-hooks", "pre", env), &res)
	if len(res) != 0 {
		t.Fatalf("missing directory ran %v", res)
	}
	mustFail(t, call(t, n, "hooks_runner", "cluster-verify", "middle", env), "Unknown hooks phase 'middle'")
	mustFail(t, call(t, n, "hooks_runner", "../../../tmp", "pre", env), "Invalid hooks path")
	mustFail(t, call(t, n, "hooks_runner", "x", "pre", map[string]string{"A=B": "c"}), "Invalid hook environment")
}

func TestSafeEncode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"plain": "plain", "a\tb\nc\rd": `a\tb\nc\'rd`, "\x01\x7f": `\x01\x7f`, "é€": `\xe9\u20ac`} {
		if got := safeEncode(in); got != want {
			t.Errorf("safeEncode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIallocatorRunner(t *testing.T) {
	n, _ := newTestNode(t)
	dir := t.TempDir()
	n.paths.IallocatorSearchPath = []string{filepath.Join(dir, "none"), dir}
	fakeTool(t, dir, "hail", `echo "args: $2 $3"; cat "$1"; echo noise >&2`)
	fakeTool(t, dir, "broken", "exit 3")
	var out string
	mustOK(t, call(t, n, "iallocator_runner", "hail", `{"request": 1}`, map[string]any{"a": "1", "b": nil}), &out)
	if out != "args: --a=1 --b\n{\"request\": 1}" {
		t.Fatalf("output %q (stdout only, options sorted)", out)
	}
	mustFail(t, call(t, n, "iallocator_runner", "missing", "{}", map[string]any{}), "iallocator module 'missing' not found in the search path")
	mustFail(t, call(t, n, "iallocator_runner", "../bin/sh", "{}", map[string]any{}), "not found in the search path")
	mustFail(t, call(t, n, "iallocator_runner", "broken", "{}", map[string]any{}), "iallocator module 'broken' failed")
}

func TestMasterDaemonsAndIP(t *testing.T) {
	n, _ := newTestNode(t)
	log := filepath.Join(t.TempDir(), "calls")
	bin := t.TempDir()
	n.paths.DaemonUtil = fakeTool(t, bin, "daemon-util", `echo "daemon-util $* [$EXTRA_LUXID_ARGS]" >> `+log)
	n.paths.MasterIPSetup = fakeTool(t, bin, "master-ip-setup", `echo "setup $1 $MASTER_NETDEV $MASTER_IP $MASTER_NETMASK $CLUSTER_IP_VERSION home=$HOME" >> `+log)
	n.paths.IPCommand = fakeTool(t, bin, "ip", `echo "ip $*" >> `+log)
	os.WriteFile(n.paths.ssconfPath("master_node"), []byte("node1.example.com\n"), 0o444)
	os.WriteFile(n.paths.ssconfPath("cluster_name"), []byte("cluster.example.com\n"), 0o444)
	hookMark := filepath.Join(t.TempDir(), "hook")
	fakeTool(t, filepath.Join(n.paths.HooksBaseDir, "master-ip-turnup-post.d"), "mark", `echo "$GANETI_HOOKS_PHASE $GANETI_POST_MASTER_IP" > `+hookMark)

	mustOK(t, call(t, n, "node_start_master_daemons", true), nil)
	mustOK(t, call(t, n, "node_stop_master"), nil)
	params := map[string]any{"uuid": "u", "ip": "10.77.0.100", "netmask": 24, "netdev": "gnt0", "ip_family": 2}
	mustOK(t, call(t, n, "node_activate_master_ip", params, false), nil)
	mustOK(t, call(t, n, "node_deactivate_master_ip", params, false), nil)
	mustOK(t, call(t, n, "node_change_master_netmask", 24, 24, "127.0.0.1", "lo"), nil) // same mask: nothing
	mustOK(t, call(t, n, "node_change_master_netmask", 8, 16, "127.0.0.1", "lo"), nil)
	calls, _ := os.ReadFile(log)
	want := "daemon-util start-master [--no-voting --yes-do-it]\n" +
		"daemon-util stop-master []\n" +
		"setup start gnt0 10.77.0.100 24 4 home=\n" +
		"setup stop gnt0 10.77.0.100 24 4 home=\n" +
		"ip address add 127.0.0.1/16 dev lo label lo:0\n" +
		"ip address del 127.0.0.1/8 dev lo label lo:0\n"
	if string(calls) != want {
		t.Fatalf("commands run:\n%s\nwant:\n%s", calls, want)
	}
	if !fileHolds(t, hookMark, "post 10.77.0.100\n") {
		t.FailNow()
	}

	// Refusals.
	bad := map[string]any{"ip": "10.77.0.100; reboot", "netmask": 24, "netdev": "gnt0", "ip_family": 2}
	mustFail(t, call(t, n, "node_activate_master_ip", bad, false), "Invalid master IP address")
	bad = map[string]any{"ip": "10.77.0.100", "netmask": 24, "netdev": "../x", "ip_family": 2}
	mustFail(t, call(t, n, "node_activate_master_ip", bad, false), "Invalid master network device")
	bad = map[string]any{"ip": "10.77.0.100", "netmask": 24, "netdev": "gnt0", "ip_family": 99}
	mustFail(t, call(t, n, "node_activate_master_ip", bad, false), "99 is not a valid IP address family")
	mustFail(t, call(t, n, "node_activate_master_ip", params, true), "master-ip-setup")
	mustFail(t, call(t, n, "node_change_master_netmask", 24, 16, "192.0.2.1", "lo"), "The master IP address is not up")
	fakeTool(t, filepath.Join(n.paths.HooksBaseDir, "master-ip-turnup-pre.d"), "veto", "echo no; exit 1")
	mustFail(t, call(t, n, "node_activate_master_ip", params, false), "master-ip-turnup-pre.d/veto")
	n.paths.DaemonUtil = fakeTool(t, bin, "daemon-util", "echo cannot; exit 1")
	mustFail(t, call(t, n, "node_start_master_daemons", false), "Can't start Ganeti master")
	mustOK(t, call(t, n, "node_stop_master"), nil) // only logged
}

func TestNodeLeaveCluster(t *testing.T) {
	n, _ := newTestNode(t)
	log := filepath.Join(t.TempDir(), "calls")
	n.paths.DaemonUtil = fakeTool(t, t.TempDir(), "daemon-util", `echo "$*" >> `+log)
	stopped := make(chan bool, 1)
	n.stop = func() { stopped <- true }
	for _, f := range []string{n.paths.ClusterConfFile, n.paths.ssconfPath("master_node"), n.paths.QueueDir + "/job-1"} {
		os.WriteFile(f, []byte("x"), 0o600)
	}
	os.MkdirAll(n.paths.DataDir+"/rapi", 0o755)
	var msg string
	mustOK(t, call(t, n, "node_leave_cluster", false), &msg)
	if msg != "Shutdown scheduled" {
		t.Fatalf("reply %q", msg)
	}
	for _, f := range []string{n.paths.ClusterConfFile, n.paths.NodedCertFile, n.paths.ssconfPath("master_node"), n.paths.QueueDir + "/job-1"} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s survived", f)
		}
	}
	if _, err := os.Stat(n.paths.DataDir + "/rapi"); err != nil {
		t.Error("directories must stay")
	}
	fileHolds(t, log, "stop ganeti-confd\nstop ganeti-mond\nstop ganeti-kvmd\n")
	select {
	case <-stopped:
	default:
		t.Fatal("daemon not asked to stop")
	}
}

func TestRunOOB(t *testing.T) {
	t.Parallel() // its timed-out helper costs the 5 s kill grace
	n, _ := newTestNode(t)
	bin := t.TempDir()
	oob := fakeTool(t, bin, "oob", `[ "$1" = power-status ] && echo '{"powered": true}'; [ "$1" = health ] && exit 2; exit 0`)
	var out map[string]any
	mustOK(t, call(t, n, "run_oob", oob, "power-status", "node1.example.com", 60), &out)
	if out["powered"] != true {
		t.Fatalf("oob output %v", out)
	}
	var none any
	mustOK(t, call(t, n, "run_oob", oob, "power-on", "node1.example.com", 60), &none)
	if none != nil {
		t.Fatalf("silent helper returned %v", none)
	}
	mustFail(t, call(t, n, "run_oob", oob, "health", "node1.example.com", 60), "failed with reason 'exited with exit code 2'")
	mustFail(t, call(t, n, "run_oob", oob, "rm -rf", "node1.example.com", 60), "Unknown out-of-band command")
	mustFail(t, call(t, n, "run_oob", "oob", "power-on", "node1.example.com", 60), "not an absolute path")
	slow := fakeTool(t, bin, "slow", "sleep 30")
	began := time.Now()
	mustFail(t, call(t, n, "run_oob", slow, "power-on", "node1.example.com", 0.2), "terminated after timeout")
	if time.Since(began) > 15*time.Second {
		t.Fatal("oob timeout not enforced")
	}
}

// TestRunRestrictedCommand swaps restrictedOwner and restrictedFailureDelay
// (restrictedCommandsDir), so it cannot run in parallel.
func TestRunRestrictedCommand(t *testing.T) {
	n, logs := newTestNode(t)
	dir := restrictedCommandsDir(t, n)
	fakeTool(t, dir, "uptime-check", `echo "env:$(env | grep -v '^PWD=' | grep -v '^SHLVL=' | grep -v '^_=' | wc -l)"`)
	fakeTool(t, dir, "fails", "echo bad; exit 4")
	var s string
	mustOK(t, call(t, n, "restricted_command", "uptime-check"), &s)
	if s != "env:0\n" {
		t.Fatalf("restricted command output %q (must run with an empty environment)", s)
	}
	mustFail(t, call(t, n, "restricted_command", "fails"), "Restricted command 'fails' failed: exited with exit code 4; output: bad")
	for _, bad := range []string{"../../bin/sh", "", "a b", "missing"} {
		mustFail(t, call(t, n, "restricted_command", bad), "Executing command '"+bad+"' failed")
	}
	os.Chmod(filepath.Join(dir, "uptime-check"), 0o777)
	mustFail(t, call(t, n, "restricted_command", "uptime-check"), "Executing command 'uptime-check' failed")
	if !strings.Contains(logs.String(), "too permissive") {
		t.Fatal("the real reason is not logged")
	}
}

// restrictedCommandsDir prepares n's restricted commands directory for an
// unprivileged test (owned by the test's user, a short failure delay) and
// returns it.
func restrictedCommandsDir(t *testing.T, n *node) string {
	t.Helper()
	oldOwner, oldDelay := restrictedOwner, restrictedFailureDelay
	t.Cleanup(func() { restrictedOwner, restrictedFailureDelay = oldOwner, oldDelay })
	restrictedOwner = [2]uint32{uint32(os.Getuid()), uint32(os.Getgid())}
	restrictedFailureDelay = 10 * time.Millisecond
	dir := n.paths.RestrictedCommandsDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	return dir
}

// A restricted command that hangs must not hold the lock: Ganeti releases
// it once the command has started.
func TestRestrictedCommandUnlocksOnceStarted(t *testing.T) {
	n, _ := newTestNode(t)
	dir := restrictedCommandsDir(t, n)
	flags := t.TempDir()
	started, release := filepath.Join(flags, "started"), filepath.Join(flags, "release")
	fakeTool(t, dir, "hangs", ": >"+started+"; while [ ! -e "+release+" ]; do sleep 0.05; done; echo done")
	fakeTool(t, dir, "quick", "echo quick")

	first := make(chan rpcReply, 1)
	go func() { first <- call(t, n, "restricted_command", "hangs") }()
	defer func() {
		os.WriteFile(release, nil, 0o644)
		var s string
		mustOK(t, <-first, &s)
		if s != "done\n" {
			t.Errorf("hung command's output %q after release", s)
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hung command never started")
		}
	}
	began := time.Now()
	var s string
	mustOK(t, call(t, n, "restricted_command", "quick"), &s)
	if s != "quick\n" {
		t.Fatalf("second command's output %q", s)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Fatalf("second restricted command took %s while the first hung", d)
	}
}

func TestNodeAdminProcedures(t *testing.T) {
	n, _ := newTestNode(t)
	bin := withFakePath(t)
	fakeTool(t, bin, "lvs", `echo "  root|1024.00|/dev/sda1(0),/dev/sdb1(0)|xenvg"; echo "  junk"`)
	var vols []map[string]string
	mustOK(t, call(t, n, "node_volumes"), &vols)
	if len(vols) != 2 || vols[0]["dev"] != "/dev/sda1" || vols[1]["dev"] != "/dev/sdb1" || vols[0]["size"] != "1024.00" || vols[0]["vg"] != "xenvg" {
		t.Fatalf("volumes %v", vols)
	}
	fakeTool(t, bin, "lvs", "echo no lvm >&2; exit 5")
	mustFail(t, call(t, n, "node_volumes"), "Failed to list logical volumes, lvs output: no lvm")

	ovsLog := filepath.Join(t.TempDir(), "ovs")
	fakeTool(t, bin, "ovs-vsctl", `echo "$*" >> `+ovsLog)
	mustOK(t, call(t, n, "node_configure_ovs", "switch1", "eth0"), nil)
	if !fileHolds(t, ovsLog, "--may-exist add-br switch1\n--may-exist add-port switch1 eth0\n") {
		t.FailNow()
	}
	mustFail(t, call(t, n, "node_configure_ovs", "sw/1", nil), "Invalid switch")

	n.paths.DaemonUtil = fakeTool(t, bin, "daemon-util-fake", `[ "$1" = check-and-start ]`)
	var ok bool
	mustOK(t, call(t, n, "node_ensure_daemon", "ganeti-kvmd", true), &ok)
	if !ok {
		t.Fatal("ensure kvmd failed")
	}
	mustOK(t, call(t, n, "node_ensure_daemon", "ganeti-kvmd", false), &ok)
	if ok {
		t.Fatal("failed stop reported as success")
	}
	mustOK(t, call(t, n, "node_ensure_daemon", "ganeti-luxid", true), &ok)
	if ok {
		t.Fatal("a daemon other than kvmd may not be started")
	}

	// Demotion keeps a backup of the configuration; the master refuses.
	os.WriteFile(n.paths.ssconfPath("master_node"), []byte("node1.example.com\n"), 0o444)
	mustFail(t, call(t, n, "node_demote_from_mc"), "I'm the master node, will not demote")
	os.WriteFile(n.paths.ssconfPath("master_node"), []byte("node9.example.com\n"), 0o444)
	os.WriteFile(n.paths.ClusterConfFile, []byte("{}"), 0o600)
	mustOK(t, call(t, n, "node_demote_from_mc"), nil)
	if _, err := os.Stat(n.paths.ClusterConfFile); !os.IsNotExist(err) {
		t.Fatal("config.data kept")
	}
	if m, _ := filepath.Glob(n.paths.ClusterConfFile + ".backup-*"); len(m) != 1 {
		t.Fatalf("backups %v", m)
	}

	// Powercycle answers first, then writes "b" to sysrq-trigger.
	trigger := filepath.Join(t.TempDir(), "sysrq-trigger")
	os.WriteFile(trigger, nil, 0o600)
	oldDelay := powercycleDelay
	defer func() { powercycleDelay = oldDelay }()
	n.paths.SysrqTrigger, powercycleDelay = trigger, 100*time.Millisecond
	var msg string
	mustOK(t, call(t, n, "node_powercycle", "fake", map[string]any{}), &msg)
	if msg != "Reboot scheduled in 0 seconds" {
		t.Fatalf("powercycle reply %q", msg)
	}
	time.Sleep(500 * time.Millisecond)
	if !fileHolds(t, trigger, "b") {
		t.FailNow()
	}
	mustFail(t, call(t, n, "node_powercycle", "vmware", map[string]any{}), "Unknown hypervisor type")
}
