package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestExports(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	mustFail(t, call(t, n, "export_list"), "No exports directory")
	os.MkdirAll(filepath.Join(n.paths.ExportDir, "inst2.example.com"), 0o755)
	os.MkdirAll(filepath.Join(n.paths.ExportDir, "inst1.example.com"), 0o755)
	conf := "[export]\nversion = 0\nos = debootstrap\n\n[instance]\nname = inst1.example.com\n"
	os.WriteFile(filepath.Join(n.paths.ExportDir, "inst1.example.com", "config.ini"), []byte(conf), 0o600)
	var names []string
	mustOK(t, call(t, n, "export_list"), &names)
	if len(names) != 2 || names[0] != "inst1.example.com" {
		t.Fatalf("exports %v", names)
	}
	var info string
	mustOK(t, call(t, n, "export_info", filepath.Join(n.paths.ExportDir, "inst1.example.com")), &info)
	if info != conf {
		t.Fatalf("info %q", info)
	}
	mustFail(t, call(t, n, "export_info", filepath.Join(n.paths.ExportDir, "inst2.example.com")), "doesn't have the required fields")
	mustFail(t, call(t, n, "export_info", n.paths.ExportDir+"/../../../etc"), "Invalid export directory")
	mustOK(t, call(t, n, "export_remove", "inst1.example.com"), nil)
	if _, err := os.Stat(filepath.Join(n.paths.ExportDir, "inst1.example.com")); !os.IsNotExist(err) {
		t.Fatal("export kept")
	}
	for _, bad := range []string{"..", "../ganeti", ""} {
		mustFail(t, call(t, n, "export_remove", bad), "Invalid export name")
	}
	mustFail(t, call(t, n, "export_remove", "inst9.example.com"), "Error while removing the export")
	if _, err := os.Stat(n.paths.DataDir); err != nil {
		t.Fatal("a refused removal touched the data directory")
	}
}
