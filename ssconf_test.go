package main

import (
	"maps"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestWriteSsconfFiles(t *testing.T) {
	t.Parallel()
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
		fileHolds(t, n.paths.ssconfPath(key), want)
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
	t.Parallel()
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

// TestWriteSsconfAllOrNothing fails the write of each key in turn, as a
// full disk would: no key changes and no temporary file is left.
func TestWriteSsconfAllOrNothing(t *testing.T) {
	n, _ := newTestNode(t)
	old := map[string]any{"cluster_name": "old.example.com", "master_node": "node1", "node_list": "node1", "release_version": "3.0.1"}
	mustOK(t, call(t, n, "write_ssconf_files", old), nil)
	before := ssconfSnapshot(t, n.paths.DataDir)
	fresh := map[string]any{"cluster_name": "new.example.com", "master_node": "node2", "node_list": "node2", "release_version": "3.0.2"}
	for _, failing := range []string{"cluster_name", "master_node", "node_list", "release_version"} {
		t.Run(failing, func(t *testing.T) {
			writeTempHook = func(target string) error {
				if filepath.Base(target) == ssconfFilePrefix+failing {
					return syscall.ENOSPC
				}
				return nil
			}
			defer func() { writeTempHook = nil }()
			mustFail(t, call(t, n, "write_ssconf_files", fresh), "no space left on device")
			if after := ssconfSnapshot(t, n.paths.DataDir); !maps.Equal(after, before) {
				t.Errorf("directory changed by a failed call:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
	mustOK(t, call(t, n, "write_ssconf_files", fresh), nil)
	if got, _ := n.paths.readSsconf("release_version"); got != "3.0.2" {
		t.Errorf("release_version %q after a good call", got)
	}
}

// ssconfSnapshot maps every entry of dir to its content.
func ssconfSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	snap := map[string]string{}
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		snap[e.Name()] = string(data)
	}
	return snap
}
