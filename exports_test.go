package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestFinalizeExport checks config.ini against what Ganeti 3.0's
// FinalizeExport writes for the same arguments (testdata/export, made with
// the installed backend, time fixed), and the directory swap.
func TestFinalizeExport(t *testing.T) {
	t.Parallel()
	input, err := os.ReadFile("testdata/export/finalize-input.json")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile("testdata/export/finalize-config.ini")
	var args []json.RawMessage
	if err := json.Unmarshal(input, &args); err != nil {
		t.Fatal(err)
	}
	var inst exportInstance
	json.Unmarshal(args[0], &inst)
	var snaps []json.RawMessage
	json.Unmarshal(args[1], &snaps)
	disks := []*disk{new(disk), nil, new(disk)}
	json.Unmarshal(snaps[0], disks[0])
	json.Unmarshal(snaps[2], disks[2])
	got, err := exportConfig(&inst, disks, time.Unix(1764000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("config.ini differs from Ganeti's:\n%s\nwant:\n%s", got, want)
	}

	n, _ := newTestNode(t)
	// Without the staging directory the transfers never ran: refuse.
	mustFail(t, callBody(t, n, "finalize_export", string(input)), "finalize_export inst1.example.com")
	staging := filepath.Join(n.paths.ExportDir, "inst1.example.com.new")
	final := filepath.Join(n.paths.ExportDir, "inst1.example.com")
	os.MkdirAll(staging, 0o755)
	os.WriteFile(filepath.Join(staging, "d0d0d0d0-0000-4000-8000-000000000000"), []byte("disk data"), 0o600)
	os.MkdirAll(final, 0o755)
	os.WriteFile(filepath.Join(final, "old-dump"), []byte("old"), 0o600)
	withPercent := strings.Replace(string(input), `"s3cret"`, `"50%off"`, 1)
	withPercent = strings.Replace(withPercent, `"admin_state": "up"`, `"admin_state": "up", "future_field": 1`, 1)
	mustOK(t, callBody(t, n, "finalize_export", withPercent), nil)
	if _, err := os.Stat(staging); !os.IsNotExist(err) {
		t.Fatal("staging directory left behind")
	}
	if _, err := os.Stat(filepath.Join(final, "old-dump")); !os.IsNotExist(err) {
		t.Fatal("previous export not replaced")
	}
	if !fileHolds(t, filepath.Join(final, "d0d0d0d0-0000-4000-8000-000000000000"), "disk data") {
		t.FailNow()
	}
	var info string
	mustOK(t, call(t, n, "export_info", final), &info)
	if !strings.Contains(info, "secret = 50%%off\n") || !strings.Contains(info, "disk_count = 2\n") {
		t.Fatalf("config.ini:\n%s", info)
	}
	mustFail(t, callBody(t, n, "finalize_export", `[{"name": "../etc"}, []]`), "Invalid instance name")
	mustFail(t, callBody(t, n, "finalize_export", `[{"name": "inst2.example.com", "beparams": {}}, []]`), "beparams lack maxmem")
}

// Ganeti's query daemon (gnt-backup list goes through it) calls export_list,
// and version, with the body {}: its Haskell client encodes their empty
// argument record as an object. A list body still works, and other
// procedures still want a list.
func TestNoArgProceduresTakeObjectBody(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	os.MkdirAll(filepath.Join(n.paths.ExportDir, "inst1.example.com"), 0o755)
	for _, body := range []string{"{}", " {} \n", "[]"} {
		var names []string
		mustOK(t, decodeReply(t, callRaw(t, n, "POST", "export_list", body).Body.Bytes()), &names)
		if len(names) != 1 || names[0] != "inst1.example.com" {
			t.Fatalf("body %q: exports %v", body, names)
		}
		var version int
		mustOK(t, decodeReply(t, callRaw(t, n, "POST", "version", body).Body.Bytes()), &version)
		if version == 0 {
			t.Fatalf("body %q: version 0", body)
		}
	}
	for _, bad := range []string{"{", `{"a": }`, `"x"`} {
		if rec := callRaw(t, n, "POST", "export_list", bad); rec.Code != 400 {
			t.Fatalf("body %q: status %d, want 400", bad, rec.Code)
		}
	}
	if rec := callRaw(t, n, "POST", "export_info", "{}"); rec.Code != 400 {
		t.Fatalf("export_info with {}: status %d, want 400", rec.Code)
	}
}
