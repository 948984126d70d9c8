package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestStorageListLVM(t *testing.T) {
	n, _ := newTestNode(t)
	bin := withFakePath(t)
	fakeTool(t, bin, "vgs", `echo "$*" > `+bin+`/args; echo "  xenvg|20480.00|1024.00"`)
	var rows [][]any
	mustOK(t, call(t, n, "storage_list", "lvm-vg", []any{}, nil, []string{"name", "size", "used", "allocatable"}), &rows)
	if b, _ := json.Marshal(rows); string(b) != `[["xenvg",20480,19456,true]]` {
		t.Fatalf("rows %s", b)
	}
	if args, _ := os.ReadFile(bin + "/args"); strings.TrimSpace(string(args)) != "--noheadings --units=m --nosuffix --separator | --options vg_name,vg_size,vg_free" {
		t.Fatalf("vgs args %q", args)
	}
	mustFail(t, call(t, n, "storage_list", "lvm-vg", []any{}, "xen;vg", []string{"name"}), "Invalid LVM name")
}
