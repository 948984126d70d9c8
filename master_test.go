package main

import (
	"os"
	"path/filepath"
	"testing"
)

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
