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
