package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteSsconfFiles(t *testing.T) {
	n, _ := newTestNode(t)
	values := map[string]any{
		"cluster_name":    "cluster.example.com",
		"node_list":       []string{"node1.example.com", "node2.example.com"},
		"master_node":     "node1.example.com\n",
		"offline_nodes":   "",
		"release_version": "3.0.2",
	}
	mustOK(t, call(t, n, "write_ssconf_files", values), nil)
	for key, want := range map[string]string{
		"cluster_name":  "cluster.example.com\n",
		"node_list":     "node1.example.com\nnode2.example.com\n",
		"master_node":   "node1.example.com\n",
		"offline_nodes": "",
	} {
		data, err := os.ReadFile(n.paths.ssconfPath(key))
		if err != nil || string(data) != want {
			t.Errorf("%s: %q, %v; want %q", key, data, err, want)
		}
		if st, _ := os.Stat(n.paths.ssconfPath(key)); st.Mode().Perm() != 0o444 {
			t.Errorf("%s: mode %v", key, st.Mode())
		}
	}
	if got, _ := n.paths.readSsconf("node_list"); got != "node1.example.com\nnode2.example.com" {
		t.Errorf("readSsconf = %q", got)
	}

	// An unknown key or oversized value refuses the whole call.
	mustFail(t, call(t, n, "write_ssconf_files", map[string]any{"cluster_name": "new", "../../etc/passwd": "x"}), "Invalid key requested from SSConf: '../../etc/passwd'")
	mustFail(t, call(t, n, "write_ssconf_files", map[string]any{"cluster_name": "new", "node_list": string(make([]byte, ssconfMaxSize+1))}), "only up to 131072 are allowed")
	mustFail(t, call(t, n, "write_ssconf_files", map[string]any{"cluster_name": 5}), "string or a list")
	if got, _ := n.paths.readSsconf("cluster_name"); got != "cluster.example.com" {
		t.Errorf("a refused call changed cluster_name to %q", got)
	}
	if m, _ := filepath.Glob(filepath.Join(n.paths.Root, "etc", "passwd")); len(m) > 0 {
		t.Fatal("wrote outside the data directory")
	}
}

func TestWriteSsconfWaitsForLock(t *testing.T) {
	n, _ := newTestNode(t)
	unlock, err := lockFile(n.paths.SsconfLockFile, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan rpcReply)
	go func() { done <- call(t, n, "write_ssconf_files", map[string]any{"cluster_name": "c"}) }()
	select {
	case <-done:
		t.Fatal("wrote ssconf while the lock was held")
	case <-time.After(300 * time.Millisecond):
	}
	unlock()
	mustOK(t, <-done, nil)
}
