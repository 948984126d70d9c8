package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestStorageListFile(t *testing.T) {
	n, _ := newTestNode(t)
	dir := filepath.Join(n.paths.Root, "srv/ganeti/file-storage")
	os.MkdirAll(filepath.Join(dir, "inst1"), 0o755)
	os.WriteFile(filepath.Join(dir, "inst1", "disk0"), make([]byte, 3<<20), 0o600)
	var rows [][]any
	mustOK(t, call(t, n, "storage_list", "file", []any{[]string{dir}}, nil, []string{"name", "used", "free", "size", "allocatable"}), &rows)
	if len(rows) != 1 || rows[0][0] != dir || rows[0][1] != 3.0 || rows[0][4] != true || rows[0][3].(float64) < rows[0][2].(float64) {
		t.Fatalf("rows %v", rows)
	}
	mustOK(t, call(t, n, "storage_list", "sharedfile", []any{[]string{"/nope"}}, dir, []string{"name"}), &rows)
	if len(rows) != 1 || rows[0][0] != dir {
		t.Fatalf("named row %v", rows)
	}
	mustFail(t, call(t, n, "storage_list", "file", []any{[]string{dir}}, nil, []string{"colour"}), "Unknown field: 'colour'")
	mustFail(t, call(t, n, "storage_list", "file", []any{[]string{"/nonexistent"}}, nil, []string{"size"}), "No such file or directory: '/nonexistent'")
	mustFail(t, call(t, n, "storage_list", "tape", []any{}, nil, []string{"name"}), "Unknown storage type: 'tape'")
}

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

func TestBdevSizes(t *testing.T) {
	n, _ := newTestNode(t)
	var sizes map[string]int
	mustOK(t, call(t, n, "bdev_sizes", []string{"/etc/passwd", "relative", "/dev/null", "/dev/../etc/shadow"}), &sizes)
	if len(sizes) != 0 {
		t.Fatalf("non-block devices reported: %v", sizes)
	}
	// A loop device, where the machine has them.
	if out, err := exec.Command("sh", "-c", "ls /dev/loop0").CombinedOutput(); err == nil && strings.TrimSpace(string(out)) == "/dev/loop0" {
		mustOK(t, call(t, n, "bdev_sizes", []string{"/dev/loop0"}), &sizes)
		if _, ok := sizes["/dev/loop0"]; !ok && os.Geteuid() == 0 {
			t.Errorf("loop0 not reported: %v", sizes)
		}
	}
}

func TestAllInstancesInfo(t *testing.T) {
	n, _ := newTestNode(t)
	var infos map[string]map[string]int
	mustOK(t, call(t, n, "all_instances_info", []string{"fake", "kvm"}, map[string]any{}), &infos)
	if len(infos) != 0 {
		t.Fatalf("instances %v", infos)
	}
	os.WriteFile(filepath.Join(n.paths.RunDir, "fake-hypervisor", "inst1.example.com"), []byte("0\n256\n2\n"), 0o644)
	os.WriteFile(filepath.Join(n.paths.RunDir, "kvm-hypervisor", "conf", "inst2.example.com.conf"), []byte("{}"), 0o644)
	os.WriteFile(filepath.Join(n.paths.RunDir, "kvm-hypervisor", "ctrl", "inst2.example.com.shutdown"), nil, 0o644)
	mustOK(t, call(t, n, "all_instances_info", []string{"fake", "kvm"}, map[string]any{}), &infos)
	if b, _ := json.Marshal(infos); string(b) != `{"inst1.example.com":{"memory":256,"state":0,"time":0,"vcpus":2},"inst2.example.com":{"memory":0,"state":1,"time":0,"vcpus":0}}` {
		t.Fatalf("instances %s", b)
	}
	mustFail(t, call(t, n, "all_instances_info", []string{"lxc"}, map[string]any{}), "not supported")
}

func TestStorageModifyExecute(t *testing.T) {
	n, _ := newTestNode(t)
	bin := withFakePath(t)
	log := filepath.Join(t.TempDir(), "calls")
	fakeTool(t, bin, "pvchange", `echo "pvchange $*" >> `+log)
	fakeTool(t, bin, "vgreduce", `echo "vgreduce $*" >> `+log+`; echo "Wrote out consistent volume group xenvg"`)
	fakeTool(t, bin, "vgs", `echo "  xenvg"`)
	mustOK(t, call(t, n, "storage_modify", "lvm-pv", []any{}, "/dev/sda1", map[string]any{"allocatable": false}), nil)
	mustOK(t, call(t, n, "storage_modify", "file", []any{[]string{"/srv"}}, "/srv", map[string]any{}), nil)
	mustFail(t, call(t, n, "storage_modify", "file", []any{[]string{"/srv"}}, "/srv", map[string]any{"size": 1}), "Unable to modify the followingfields: ['size']")
	mustFail(t, call(t, n, "storage_modify", "lvm-pv", []any{}, "/dev/sda1;reboot", map[string]any{"allocatable": true}), "Invalid physical volume name")
	mustOK(t, call(t, n, "storage_execute", "lvm-vg", []any{}, "xenvg", "fix-consistency"), nil)
	mustFail(t, call(t, n, "storage_execute", "file", []any{}, "/srv", "fix-consistency"), "not supported")
	if data, _ := os.ReadFile(log); string(data) != "pvchange --allocatable n /dev/sda1\nvgreduce --removemissing xenvg\n" {
		t.Fatalf("commands %q", data)
	}
}

func TestBytesToMiB(t *testing.T) {
	const half = 1 << 19
	cases := []struct {
		bytes uint64
		want  int64
	}{
		{0, 0}, {half - 1, 0}, {half, 0}, {half + 1, 1}, {mib - 1, 1}, {mib, 1},
		{mib + half, 2}, {2*mib + half, 2}, {3*mib + half, 4}, {2*mib + half + 1, 3},
		{1 << 40, 1 << 20}, {80697*mib + half, 80698},
	}
	in := []uint64{}
	for _, c := range cases {
		if got := bytesToMiB(c.bytes); got != c.want {
			t.Errorf("bytesToMiB(%d) = %d, want %d", c.bytes, got, c.want)
		}
		in = append(in, c.bytes)
	}
	// And Ganeti's own BytesToMebibyte agrees on each.
	out := runGanetiPython(t, `
import json
from ganeti import utils
json.dump([utils.BytesToMebibyte(b) for b in json.load(sys.stdin)], sys.stdout)
`, mustJSON(in))
	var want []int64
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if c.want != want[i] {
			t.Errorf("Ganeti's BytesToMebibyte(%d) = %d, the table says %d", c.bytes, want[i], c.want)
		}
	}
}

// storage_list's file rows and node_info's file figures are those of
// Ganeti's FileStorage (GetFilesystemStats, CalculateDirectorySize) and
// GetFileStorageSpaceInfo on the same directory.
func TestFileStorageMatchesGaneti(t *testing.T) {
	n, _ := newTestNode(t)
	dir := filepath.Join(n.paths.Root, "srv/ganeti/file-storage")
	os.MkdirAll(filepath.Join(dir, "inst1", "sub"), 0o755)
	// 2.5 MiB of files in all: Python's round makes that 2. Directories
	// and the link to one do not count; the other links count their own
	// size (the length of their target).
	f, err := os.Create(filepath.Join(dir, "inst1", "disk0"))
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(int64(2*mib + 1<<19 - len("disk0") - len("nowhere")))
	f.Close()
	os.Symlink("disk0", filepath.Join(dir, "inst1", "disk0.link"))
	os.Symlink("nowhere", filepath.Join(dir, "inst1", "broken"))
	os.Symlink("sub", filepath.Join(dir, "inst1", "sub.link"))
	fields := []string{"name", "used", "free", "size", "allocatable"}

	ours := func() string {
		var rows json.RawMessage
		mustOK(t, call(t, n, "storage_list", "file", []any{[]string{dir}}, nil, fields), &rows)
		var info []json.RawMessage
		mustOK(t, call(t, n, "node_info", [][]any{{"file", dir, []any{}}}, nil), &info)
		return string(mustJSON([]json.RawMessage{rows, info[1]}))
	}
	script := `
import json
from ganeti.storage import container, filestorage
path, fields = json.load(sys.stdin)
json.dump([[container.FileStorage._ListInner(path, fields)], [filestorage.GetFileStorageSpaceInfo(path)]], sys.stdout)
`
	// Others share the file system: compare only when our figures did not
	// change around Python's.
	for try := 0; try < 10; try++ {
		before := ours()
		theirs := runGanetiPython(t, script, mustJSON([]any{dir, fields}))
		if before != ours() {
			continue
		}
		var got, want any
		json.Unmarshal([]byte(before), &got)
		if err := json.Unmarshal(theirs, &want); err != nil {
			t.Fatal(err)
		}
		if g, w := string(mustJSON(got)), string(mustJSON(want)); g != w {
			t.Fatalf("file storage\n%s\nGaneti's\n%s", g, w)
		}
		if used := got.([]any)[0].([]any)[0].([]any)[1]; used != 2.0 {
			t.Fatalf("used %v MiB, want 2 (2.5 rounded to even)", used)
		}
		return
	}
	t.Skip("the file system's free space kept changing")
}
