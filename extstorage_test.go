package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestExtStorageDiagnose(t *testing.T) {
	n, _ := newTestNode(t)
	dir := t.TempDir()
	n.paths.ExtStorageSearchPath = []string{"/nonexistent", dir}
	for _, s := range []string{"attach", "create", "detach", "grow", "remove", "setinfo", "verify"} {
		fakeTool(t, filepath.Join(dir, "good"), s, "exit 0")
	}
	os.WriteFile(filepath.Join(dir, "good", "parameters.list"), []byte("pool The pool to use\n"), 0o644)
	fakeTool(t, filepath.Join(dir, "bad"), "create", "exit 0")
	var res [][]any
	mustOK(t, call(t, n, "extstorage_diagnose"), &res)
	got := map[string][]any{}
	for _, r := range res {
		got[r[0].(string)] = r
	}
	if g := got["good"]; g == nil || g[2] != true || g[3] != "" || len(g[4].([]any)) != 1 {
		t.Fatalf("good provider %v", g)
	}
	if b := got["bad"]; b == nil || b[2] != false || b[3] != "File 'attach' under path '"+filepath.Join(dir, "bad")+"' is missing (ENOENT)" {
		t.Fatalf("bad provider %v", b)
	}
}
