package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

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
	n.paths.SysrqTrigger, n.waits.powercycle = trigger, 100*time.Millisecond
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
