package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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
