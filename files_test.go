package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestUploadFile(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	path := n.paths.ClusterConfFile
	mtime := 1700000000.25
	big := strings.Repeat("config line\n", 1000)
	args := []any{path, []any{1, zlibBase64(t, big)}, 0o100640, "root", "root", mtime - 10, mtime}
	mustOK(t, call(t, n, "upload_file", args), nil)
	st, _ := os.Stat(path) // before reading, which may touch atime
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode())
	}
	if got := st.ModTime(); !got.Equal(time.Unix(1700000000, 250000000)) {
		t.Errorf("mtime %v", got)
	}
	atime := st.Sys().(*syscall.Stat_t).Atim
	if atime.Sec != 1700000000-10 {
		t.Errorf("atime %v", atime)
	}
	if !fileHolds(t, path, big) {
		t.FailNow()
	}

	// upload_file_single takes the same fields flat; null mode means 0600.
	mustOK(t, call(t, n, "upload_file_single", n.paths.RapiUsersFile, []any{0, "admin pw write\n"}, nil, "gnt-rapi", "gnt-admin", nil, nil), nil)
	st, _ = os.Stat(n.paths.RapiUsersFile)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode())
	}

	// Every allowed path can be written; a virtual path is localized.
	for _, p := range n.paths.uploadAllowed() {
		virt := virtualPathPrefix + strings.TrimPrefix(p, n.paths.Root)
		mustOK(t, call(t, n, "upload_file_single", virt, []any{0, "x"}, 0o644, "root", "root", nil, nil), nil)
		fileHolds(t, p, "x")
	}
	leftovers, _ := filepath.Glob(filepath.Join(n.paths.DataDir, ".*.new"))
	if len(leftovers) > 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
}

func TestUploadFileRefusals(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	ok := func(path string) []any {
		return []any{path, []any{0, "evil"}, 0o644, "root", "root", nil, nil}
	}
	for _, path := range []string{
		n.paths.NodedCertFile,
		n.paths.FileStoragePathsFile,
		n.paths.ssconfPath("master_node"),
		n.paths.DataDir + "/../ganeti/config.data",
		"/etc/passwd",
		"config.data",
	} {
		mustFail(t, call(t, n, "upload_file", ok(path)), "not")
	}
	if data, _ := os.ReadFile(n.paths.NodedCertFile); strings.Contains(string(data), "evil") {
		t.Fatal("refused upload wrote the certificate")
	}
	if _, err := os.Stat(n.paths.FileStoragePathsFile); err == nil {
		t.Fatal("refused upload created file-storage-paths")
	}
	conf := n.paths.ClusterConfFile
	mustFail(t, call(t, n, "upload_file_single", conf, []any{0, "x"}, 0o644, "mallory", "root", nil, nil), "Unknown Ganeti user 'mallory'")
	mustFail(t, call(t, n, "upload_file_single", conf, []any{0, "x"}, 0o644, "root", "wheel", nil, nil), "Unknown Ganeti group 'wheel'")
	mustFail(t, call(t, n, "upload_file_single", conf, []any{0, "x"}, 0o644, 0, 0, nil, nil), "Invalid username/groupname type")
	mustFail(t, call(t, n, "upload_file_single", conf, []any{0, "x"}, 0o644, "root", "root", 5.0, nil), "Both atime and mtime")
	mustFail(t, call(t, n, "upload_file_single", conf, []any{7, "x"}, 0o644, "root", "root", nil, nil), "unknown data encoding")
	mustFail(t, call(t, n, "upload_file", []any{conf}), "expected 7 arguments")
	if _, err := os.Stat(conf); err == nil {
		t.Fatal("a refused upload wrote the configuration")
	}
}

func TestGetFileInfo(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	path := filepath.Join(n.paths.DataDir, "some-file")
	os.WriteFile(path, []byte("12345"), 0o600)
	var res []any
	mustOK(t, call(t, n, "get_file_info", path), &res)
	if len(res) != 2 || res[0] != true || res[1].(map[string]any)["size"] != 5.0 {
		t.Fatalf("get_file_info = %v", res)
	}
	mustOK(t, call(t, n, "get_file_info", path+".missing"), &res)
	if res[0] != false || len(res[1].(map[string]any)) != 0 {
		t.Fatalf("missing file: %v", res)
	}
}

func TestEtcHostsModify(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	hosts := n.paths.EtcHosts
	os.WriteFile(hosts, []byte("# comment 10.0.0.5\n127.0.0.1\tlocalhost\n10.0.0.5 old.example.com old\n10.0.0.5 dup\n10.0.0.9 other"), 0o640)
	os.Chmod(hosts, 0o640)
	read := func() string { b, _ := os.ReadFile(hosts); return string(b) }

	var ok bool
	mustOK(t, call(t, n, "etc_hosts_modify", "add", "node2.example.com", "10.0.0.5"), &ok)
	if !ok {
		t.Fatal("etc_hosts_modify did not return true")
	}
	want := "# comment 10.0.0.5\n127.0.0.1\tlocalhost\n10.0.0.5\tnode2.example.com node2\n10.0.0.9 other\n"
	if got := read(); got != want {
		t.Fatalf("after add:\n%q\nwant\n%q", got, want)
	}
	mustOK(t, call(t, n, "etc_hosts_modify", "add", "node3", "10.0.0.6"), nil)
	if !strings.HasSuffix(read(), "10.0.0.6\tnode3\n") {
		t.Fatalf("append: %q", read())
	}
	mustOK(t, call(t, n, "etc_hosts_modify", "remove", "node2.example.com", nil), nil)
	if strings.Contains(read(), "node2") || strings.Contains(read(), "10.0.0.5\t") {
		t.Fatalf("after remove: %q", read())
	}
	if st, _ := os.Stat(hosts); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode not kept: %v", st.Mode())
	}

	before := read()
	mustFail(t, call(t, n, "etc_hosts_modify", "add", "x.example.com", nil), "Mode 'add' needs 'ip' parameter")
	mustFail(t, call(t, n, "etc_hosts_modify", "remove", "x.example.com", "10.0.0.1"), "Mode 'remove' does not allow 'ip' parameter")
	mustFail(t, call(t, n, "etc_hosts_modify", "replace", "x.example.com", nil), "Mode not supported")
	mustFail(t, call(t, n, "etc_hosts_modify", "add", "evil\n0.0.0.0 bank.com", "10.0.0.1"), "Invalid host name")
	mustFail(t, call(t, n, "etc_hosts_modify", "add", "x.example.com", "10.0.0.1\n1.2.3.4"), "Invalid IP address")
	if read() != before {
		t.Fatal("a refused call changed /etc/hosts")
	}
}
