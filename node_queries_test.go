package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTestDelay(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	start := time.Now()
	mustOK(t, call(t, n, "test_delay", 0.2), nil)
	if time.Since(start) < 200*time.Millisecond {
		t.Fatal("test_delay returned early")
	}
	mustOK(t, call(t, n, "test_delay", 0), nil)
	mustFail(t, call(t, n, "test_delay", -1), "Invalid sleep duration")
	mustFail(t, call(t, n, "test_delay", 1e12), "Invalid sleep duration")
}

func TestMasterNodeName(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	mustFail(t, call(t, n, "master_node_name"), "Cluster configuration incomplete: Can't read ssconf file "+n.paths.ssconfPath("master_node"))
	os.WriteFile(n.paths.ssconfPath("master_node"), []byte("node1.example.com\n\n"), 0o444)
	var name string
	mustOK(t, call(t, n, "master_node_name"), &name)
	if name != "node1.example.com" {
		t.Fatalf("master = %q", name)
	}
	os.WriteFile(n.paths.ssconfPath("master_node"), []byte(strings.Repeat("x", ssconfMaxSize+1)), 0o444)
	mustFail(t, call(t, n, "master_node_name"), "larger than")
}

func TestNodeHasIPAddress(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	for addr, want := range map[string]bool{
		"127.0.0.1":   true,
		"::1":         true,
		"192.0.2.123": false, // TEST-NET-1, never configured here
		"not-an-ip":   false,
		"":            false,
	} {
		var got bool
		mustOK(t, call(t, n, "node_has_ip_address", addr), &got)
		if got != want {
			t.Errorf("node_has_ip_address(%q) = %v, want %v", addr, got, want)
		}
	}
	mustFail(t, call(t, n, "node_has_ip_address", 5), "argument 1")
}

func TestBridgesExist(t *testing.T) {
	n, _ := newTestNode(t)
	fake := t.TempDir()
	n.paths.SysClassNet = fake
	os.MkdirAll(filepath.Join(fake, "br0", "bridge"), 0o755)
	os.MkdirAll(filepath.Join(fake, "eth0"), 0o755) // an interface, not a bridge
	os.MkdirAll(filepath.Join(fake, "bridge"), 0o755)

	mustOK(t, call(t, n, "bridges_exist", []string{"br0"}), nil)
	mustOK(t, call(t, n, "bridges_exist", []string{}), nil)
	mustFail(t, call(t, n, "bridges_exist", []string{"br0", "eth0", "br9"}), "Missing bridges eth0, br9")
	// Path tricks never count as bridges.
	mustFail(t, call(t, n, "bridges_exist", []string{"."}), "Missing bridges .")
	mustFail(t, call(t, n, "bridges_exist", []string{"../" + filepath.Base(fake) + "/br0"}), "Missing bridges")
}
