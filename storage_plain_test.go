package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fakeLVMEnv makes the test binary, run under the name of an LVM tool
// (a symlink on PATH), answer from the replies in the directory it names
// (replies.json) and log each command line it got (calls.jsonl): the
// k-th call of one command line gets the k-th reply recorded for it, the
// last one again after that.
const fakeLVMEnv = "NODED_TEST_FAKE_LVM"

// fakeLVMTools are the commands the fake answers for: LVM's
// (lvmCommands), and those the DRBD tests need too.
var fakeLVMTools = append(slices.Clip(lvmCommands), "blockdev", "dd", "drbdsetup", "drbdmeta")

// lvmCommands are LVM's own commands, all a bench needs faked: the
// Python daemon's disk transfers run the machine's dd.
var lvmCommands = []string{"lvs", "pvs", "vgs", "lvcreate", "lvchange", "lvextend", "lvremove", "lvrename",
	"pvchange", "vgreduce"}

// fakeReply is one recorded command: its argv and what it answered.
type fakeReply struct {
	Op     string   `json:"op,omitempty"`
	Argv   []string `json:"argv"`
	RC     int      `json:"rc"`
	Stdout string   `json:"stdout"`
	Stderr string   `json:"stderr"`
	// Proc, when set, is /proc/drbd after the command (fakeProcDRBD).
	Proc string `json:"proc,omitempty"`
	// Extra is an answer Ganeti's code did not ask for (but this
	// daemon may): given, not expected.
	Extra bool `json:"extra,omitempty"`
}

// fakeProcDRBD is the fake kernel's /proc/drbd, in the fake's directory.
func fakeProcDRBD(dir string) string { return filepath.Join(dir, "proc_drbd") }

// runFakeLVMTool is the fake tool's main.
func runFakeLVMTool(dir string, args []string) int {
	argv := append([]string{filepath.Base(args[0])}, args[1:]...)
	var replies []fakeReply
	if b, err := os.ReadFile(filepath.Join(dir, "replies.json")); err != nil || json.Unmarshal(b, &replies) != nil {
		fmt.Fprintln(os.Stderr, "fake lvm: no replies.json")
		return 98
	}
	var match []fakeReply
	for _, r := range replies {
		if slices.Equal(r.Argv, argv) {
			match = append(match, r)
		}
	}
	log := filepath.Join(dir, "calls.jsonl")
	seen := 0
	if b, err := os.ReadFile(log); err == nil && len(match) > 1 {
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			var prev []string
			if json.Unmarshal(line, &prev) == nil && slices.Equal(prev, argv) {
				seen++
			}
		}
	}
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return 98
	}
	line, _ := json.Marshal(argv)
	f.Write(append(line, '\n')) // one write: whole lines, even from concurrent tools
	f.Close()
	if len(match) == 0 {
		fmt.Fprintf(os.Stderr, "fake lvm: no reply recorded for %q\n", argv)
		return 99
	}
	r := match[min(seen, len(match)-1)]
	if r.Proc != "" {
		if err := writeFileAtomic(fakeProcDRBD(dir), []byte(r.Proc), writeOptions{Mode: 0o644, UID: -1, GID: -1}); err != nil {
			return 98
		}
	}
	os.Stdout.WriteString(r.Stdout)
	os.Stderr.WriteString(r.Stderr)
	return r.RC
}

// isFakeLVMTool tells TestMain that this process is the fake tool.
func isFakeLVMTool() bool {
	return os.Getenv(fakeLVMEnv) != "" && slices.Contains(fakeLVMTools, filepath.Base(os.Args[0]))
}

// fakeLVM is a test's fake LVM: the tools on PATH and their replies.
type fakeLVM struct{ dir string }

func newFakeLVM(t testing.TB, replies []fakeReply) *fakeLVM {
	t.Helper()
	return newFakeTools(t, fakeLVMTools, replies)
}

// newFakeTools is newFakeLVM for only the given tools.
func newFakeTools(t testing.TB, tools []string, replies []fakeReply) *fakeLVM {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := withFakePath(t)
	for _, tool := range tools {
		if err := os.Symlink(exe, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	f := &fakeLVM{dir: t.TempDir()}
	t.Setenv(fakeLVMEnv, f.dir)
	if replies == nil {
		replies = []fakeReply{}
	}
	if err := os.WriteFile(filepath.Join(f.dir, "replies.json"), mustJSON(replies), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// calls are the command lines the tools got, in order.
func (f *fakeLVM) calls(t *testing.T) [][]string {
	t.Helper()
	var out [][]string
	b, _ := os.ReadFile(filepath.Join(f.dir, "calls.jsonl"))
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var argv []string
		if err := json.Unmarshal(line, &argv); err != nil {
			t.Fatal(err)
		}
		out = append(out, argv)
	}
	return out
}

// ganetiLVMRecord is one scenario of testdata/lvm/ganeti/results.jsonl:
// a procedure Ganeti 3.0's code ran against its fake LVM, with the
// arguments the master sends and noded's [ok, result] reply.
type ganetiLVMRecord struct {
	Op   string            `json:"op"`
	Proc string            `json:"proc"`
	Args []json.RawMessage `json:"args"`
	RPC  json.RawMessage   `json:"rpc"`
}

func readJSONLines[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	return out
}

// collapseReads drops a reporting command (lvs, pvs, vgs, blockdev) that
// repeats the one before it: Ganeti attaches a volume more often than
// needed, and what matters is what is run, not how often lvs is asked.
func collapseReads(calls [][]string) [][]string {
	var out [][]string
	for _, c := range calls {
		read := slices.Contains([]string{"lvs", "pvs", "vgs", "blockdev"}, c[0])
		if read && len(out) > 0 && slices.Equal(out[len(out)-1], c) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// lvmDeltas are where this daemon differs from Ganeti 3.0 on purpose,
// and why: the reply it gives instead (when not ""), the commands it runs
// instead (when not nil) and the answers to those Ganeti does not run.
var lvmDeltas = map[string]struct {
	reply string
	calls [][]string
	extra []fakeReply
	why   string
}{
	"lvm-vg/List/unknown-field": {reply: `[false, "Error while executing backend function: Unknown field: 'bogus'"]`,
		why: "Ganeti's message is a bare KeyError"},
	"lvm-vg/Execute/unknown-op": {reply: `[false, "Error while executing backend function: operation 'bogus' is not supported on storage type 'lvm-vg'"]`,
		why: "Ganeti's message is an empty NotImplementedError"},
	"lvm-pv/Execute/any": {reply: `[false, "Error while executing backend function: operation 'fix-consistency' is not supported on storage type 'lvm-pv'"]`,
		why: "Ganeti's message is an empty NotImplementedError"},
	"rpc:bdev_sizes": {reply: `[true, {}]`, calls: [][]string{},
		why: "the recorder fakes os.stat for /dev/fake0; there is no such block device here (TestBdevSizes has real ones)"},
	"rpc:blockdev_create/invalid-name": {reply: `[false, "Can't create block device: Invalid LVM name 'bad name'"]`,
		why: "Ganeti raises the name check as a generic error"},
	"rpc:blockdev_snapshot/bad-name": {reply: `[false, "Invalid snapshot name \"bad name\""]`, calls: [][]string{},
		why: "the name is refused before any LVM command runs"},
	"rpc:blockdev_rename/fails": {reply: `[false, "Can't rename device '/dev/xenvg/rnew2.ren' to '('xenvg', 'x')': Failed to rename the logical volume:   Logical volume \"x\" already exists in volume group \"xenvg\"\n"]`,
		why: "the device is named by its path, not by Python's repr of the object"},
	"rpc:blockdev_convert/plain->plain": {
		calls: [][]string{
			{"lvs", "--noheadings", "--separator=|", "--units=k", "--nosuffix", "-o" + lvsFields},
			{"blockdev", "--getsize64", "/dev/xenvg/rnew3"},
			{"dd", "if=/dev/xenvg/inact", "of=/dev/xenvg/rnew3", "bs=1048576", "count=1024", "iflag=direct", "oflag=direct", "conv=notrunc"},
		},
		extra: []fakeReply{
			{Argv: []string{"blockdev", "--getsize64", "/dev/xenvg/rnew3"}, Stdout: "1073741824\n"},
			{Argv: []string{"dd", "if=/dev/xenvg/inact", "of=/dev/xenvg/rnew3", "bs=1048576", "count=1024", "iflag=direct", "oflag=direct", "conv=notrunc"}},
		},
		why: "one dd and no shell; the destination's size is checked first (a file would grow)"},
}

// TestLVMAgainstGaneti replays every recorded procedure of Ganeti 3.0's
// LVM code: the same arguments, the same LVM answers; this daemon must
// run the same commands and give the same reply.
func TestLVMAgainstGaneti(t *testing.T) {
	replies := map[string][]fakeReply{}
	for _, r := range readJSONLines[fakeReply](t, "testdata/lvm/ganeti/argv.jsonl") {
		replies[r.Op] = append(replies[r.Op], r)
	}
	ran := 0
	for _, rec := range readJSONLines[ganetiLVMRecord](t, "testdata/lvm/ganeti/results.jsonl") {
		if rec.Proc == "" {
			continue
		}
		t.Run(rec.Op, func(t *testing.T) {
			ran++
			delta := lvmDeltas[rec.Op]
			fake := newFakeLVM(t, append(slices.Clone(replies[rec.Op]), delta.extra...))
			n, _ := newTestNode(t)
			noRemoveRetry(t)
			body, _ := json.Marshal(rec.Args)
			got := callRaw(t, n, "POST", rec.Proc, string(body)).Body.Bytes()
			want := rec.RPC
			if delta.reply != "" {
				want = json.RawMessage(delta.reply)
			}
			if !jsonEqual(got, want) {
				t.Errorf("reply\n got %s\nwant %s", got, want)
			}
			var wantCalls [][]string
			for _, r := range replies[rec.Op] {
				wantCalls = append(wantCalls, r.Argv)
			}
			wantCalls = collapseReads(wantCalls)
			if delta.calls != nil {
				wantCalls = delta.calls
			}
			if gotCalls := collapseReads(fake.calls(t)); !slices.EqualFunc(gotCalls, wantCalls, slices.Equal) {
				t.Errorf("commands\n got %s\nwant %s", showCalls(gotCalls), showCalls(wantCalls))
			}
		})
	}
	if ran < 30 {
		t.Fatalf("only %d recorded procedures", ran)
	}
}

// noRemoveRetry makes blockdev_remove try once, as Ganeti's recorder did.
func noRemoveRetry(t *testing.T) {
	saved := removeRetry
	removeRetry.within = 0
	t.Cleanup(func() { removeRetry = saved })
}

func showCalls(calls [][]string) string {
	var b strings.Builder
	for _, c := range calls {
		b.WriteString("\n\t" + strings.Join(c, " "))
	}
	return b.String()
}

// jsonEqual compares two JSON texts as values.
func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

func TestLVMTag(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"originstname+inst1.example.com", "originstname+inst1.example.com"},
		// Ganeti's own example (lvm-spec §2.16): a leading '-' and every
		// other character LVM refuses become '_', at most 128.
		{"-bad tag/with:charsé" + strings.Repeat("x", 200), "_bad_tag_with_chars_" + strings.Repeat("x", 108)},
		{"a-b", "a-b"},
		{"", ""},
		{"\n", "_"},
	} {
		if got := lvmTag(tc.in); got != tc.want {
			t.Errorf("lvmTag(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPyFloat(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{10236, "10236.0"}, {20979.989999999998, "20979.989999999998"}, {0, "0.0"},
		{1e16, "1e+16"}, {0.00001, "1e-05"}, {0.5, "0.5"}, {-3, "-3.0"},
	} {
		if got := pyFloat(tc.in); got != tc.want {
			t.Errorf("pyFloat(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestIsLVMName(t *testing.T) {
	for name, want := range map[string]bool{
		"xenvg": true, "d1b2.disk0": true, "a+b_c.d-e": true, "lv.snap": true,
		"": false, "-L1m": false, ".": false, "..": false, "snapshot": false, "pvmove": false,
		"x_mlog": false, "x_mimage_0": false, "a/b": false, "a b": false, "a\n": false,
		strings.Repeat("a", 127): true, strings.Repeat("a", 128): false,
	} {
		if got := isLVMName(name); got != want {
			t.Errorf("isLVMName(%q) = %v, want %v", name, got, want)
		}
	}
	for name, want := range map[string]bool{
		"/dev/vda": true, "/dev/mapper/pv-1": true, "/dev/disk/by-id/ata-X:1": true,
		"/dev/../etc/passwd": false, "/dev/": false, "vda": false, "/dev/a b": false, "/dev/a//b": false, "-/dev/x": false,
	} {
		if got := isPVName(name); got != want {
			t.Errorf("isPVName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestLVDegraded: a partial volume (a physical volume is missing) is
// degraded here, as is a virtual one (what vgreduce --removemissing
// leaves); Ganeti 3.0 sees only the latter.
func TestLVDegraded(t *testing.T) {
	for attr, want := range map[string]bool{
		"-wi-ao----": false, "-wi-------": false, "vwi-a-v---": true, "-wi-a---p-": true, "-wi-ao--p-": true,
	} {
		if got := (lvInfo{attr: attr}).degraded(); got != want {
			t.Errorf("degraded(%q) = %v, want %v", attr, got, want)
		}
	}
}

// realLVM reads recordings of real LVM commands (testdata/lvm/real, made
// by e2e/cluster/lvm-record.sh in a test-bed guest) as fake replies.
func realLVM(t *testing.T, names ...string) []fakeReply {
	t.Helper()
	var out []fakeReply
	for _, name := range names {
		base := filepath.Join("testdata/lvm/real", name)
		read := func(ext string) string {
			b, err := os.ReadFile(base + ext)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		r := fakeReply{Op: name, Argv: strings.Split(strings.TrimSuffix(read(".cmd"), "\n"), "\n"), Stdout: read(".out"), Stderr: read(".err")}
		fmt.Sscan(read(".rc"), &r.RC)
		out = append(out, r)
	}
	return out
}

// withArgv is a recorded reply given to another command line.
func withArgv(r []fakeReply, argv ...string) []fakeReply {
	r[0].Argv = argv
	return r
}

func TestLogicalVolumeInfoReal(t *testing.T) {
	newFakeLVM(t, realLVM(t, "lvs-attach"))
	n, _ := newTestNode(t)
	got, err := n.logicalVolumeInfo()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]lvInfo{
		"/dev/recvg/inactive": {attr: "-wi-------", major: -1, minor: -1, extentKiB: 4096, stripes: 1, pvs: []string{"/dev/loop2"}},
		// Two segments, on two physical volumes: both count.
		"/dev/recvg/linear":      {attr: "owi-a-s---", major: 253, minor: 0, extentKiB: 4096, stripes: 1, pvs: []string{"/dev/loop0", "/dev/loop1"}},
		"/dev/recvg/linear.snap": {attr: "swi-a-s---", major: 253, minor: 4, extentKiB: 4096, stripes: 1, pvs: []string{"/dev/loop1"}},
		"/dev/recvg/striped":     {attr: "-wi-a-----", major: 253, minor: 1, extentKiB: 4096, stripes: 2, pvs: []string{"/dev/loop1", "/dev/loop2"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// TestPlainMissingPVReal: with a physical volume gone (LVM's warnings on
// standard error), the volumes on it are partial, degraded and faulty.
func TestPlainMissingPVReal(t *testing.T) {
	newFakeLVM(t, withArgv(realLVM(t, "lvs-attach-missing-pv"), "lvs", "--noheadings", "--separator=|", "--units=k", "--nosuffix", "-o"+lvsFields))
	n, _ := newTestNode(t)
	var st map[string]any
	mustOK(t, call(t, n, "blockdev_find", plainDisk("recvg", "renamed", 40)), &st)
	if st["is_degraded"] != true || st["ldisk_status"] != float64(ldiskFaulty) || st["minor"] != float64(-1) {
		t.Errorf("status of a partial volume: %v", st)
	}
	mustOK(t, call(t, n, "blockdev_find", plainDisk("recvg", "inactive", 8)), &st)
	if st["is_degraded"] != false || st["ldisk_status"] != float64(ldiskOkay) {
		t.Errorf("status of a whole volume: %v", st)
	}
	var dims []any
	mustOK(t, call(t, n, "blockdev_getmirrorstatus_multi", []any{plainDisk("recvg", "linear", 124), plainDisk("recvg", "gone", 8)}), &dims)
	want := `[[true,{"dev_path":"/dev/recvg/linear","is_degraded":true,"ldisk_status":4,"major":-1,"minor":-1}],` +
		`[false,"Can't find device <LogicalVolume(/dev/recvg/gone, visible as /dev/disk/0, size=8m)>"]]`
	if b, _ := json.Marshal(dims); !jsonEqual(b, []byte(want)) {
		t.Errorf("mirror status: %s", b)
	}
}

// plainDisk is a plain disk object as the master sends it.
func plainDisk(vg, lv string, size int) map[string]any {
	return map[string]any{"dev_type": "plain", "logical_id": []string{vg, lv}, "size": size, "iv_name": "disk/0",
		"params": map[string]any{"stripes": 1}, "children": []any{}, "uuid": "u-" + lv, "mode": "rw"}
}

func TestPVsAndVGsReal(t *testing.T) {
	newFakeLVM(t, slices.Concat(realLVM(t, "pvs-info", "pvs-info-lvs", "vgs-info", "vgs-list")))
	n, _ := newTestNode(t)
	pvs, err := n.physicalVolumes([]string{"recvg"}, true, false)
	if err != nil || len(pvs) != 3 || !reflect.DeepEqual(pvs[0], pvInfo{name: "/dev/loop0", vg: "recvg", attr: "a--", size: 96, free: 0, lvs: []string{}}) {
		t.Fatalf("pvs %+v, %v", pvs, err)
	}
	withLVs, err := n.physicalVolumes(nil, false, true)
	if err != nil {
		t.Fatal(err)
	}
	lvsOn := map[string][]string{}
	for _, pv := range withLVs {
		lvsOn[pv.name] = pv.lvs
	}
	want := map[string][]string{"/dev/loop0": {"linear"}, "/dev/loop1": {"linear", "linear.snap", "striped"}, "/dev/loop2": {"inactive", "striped"}}
	if !reflect.DeepEqual(lvsOn, want) {
		t.Errorf("volumes on each PV: %v, want %v", lvsOn, want)
	}
	vgs, err := n.volumeGroups(nil, false)
	if err != nil || !reflect.DeepEqual(vgs, []vgInfo{{name: "recvg", free: 108, size: 288}}) {
		t.Errorf("vgs %+v, %v", vgs, err)
	}
	if sizes, names := n.vgSizes(); !reflect.DeepEqual(sizes, map[string]int{"recvg": 288}) || !slices.Equal(names, []string{"recvg"}) {
		t.Errorf("vg_list %v %v", sizes, names)
	}
	// Exclusive storage: the empty PVs' standard size, floor(96/1.03) = 93
	// each; none is empty here.
	if vgs, err := n.volumeGroups([]string{"recvg"}, true); err != nil || vgs[0].free != 0 {
		t.Errorf("exclusive vgs %+v, %v", vgs, err)
	}
}

// TestMissingPVNotAllocatable: a missing physical volume is never given
// to lvcreate.
func TestMissingPVNotAllocatable(t *testing.T) {
	newFakeLVM(t, realLVM(t, "pvs-info-missing-pv"))
	n, _ := newTestNode(t)
	pvs, err := n.physicalVolumes([]string{"recvg"}, true, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, pv := range pvs {
		if pv.name == "[unknown]" {
			t.Errorf("missing PV listed as allocatable: %+v", pv)
		}
	}
	if len(pvs) != 2 {
		t.Errorf("pvs %+v", pvs)
	}
}

func TestLVMListsReal(t *testing.T) {
	newFakeLVM(t, slices.Concat(
		withArgv(realLVM(t, "lvs-lvlist"), "lvs", "--noheadings", "--units=m", "--nosuffix", "--separator=|", "-ovg_name,lv_name,lv_size,lv_attr", "recvg"),
		realLVM(t, "lvs-nodevolumes", "vgs-storage", "pvs-storage-noalloc", "blockdev-getsize64")))
	n, _ := newTestNode(t)
	var lvs map[string][]any
	mustOK(t, call(t, n, "lv_list", []string{"recvg"}), &lvs)
	if b := mustJSON(lvs); string(b) != `{"recvg/inactive":["8.00",true,false],"recvg/linear":["124.00",false,false],"recvg/linear.snap":["8.00",false,false],"recvg/striped":["40.00",false,false]}` {
		t.Errorf("lv_list %s", b)
	}
	var vols []map[string]string
	mustOK(t, call(t, n, "node_volumes"), &vols)
	if b := mustJSON(vols); !strings.Contains(string(b), `{"dev":"/dev/loop1","name":"striped","size":"40.00","vg":"recvg"},{"dev":"/dev/loop2","name":"striped","size":"40.00","vg":"recvg"}`) || len(vols) != 6 {
		t.Errorf("node_volumes %s", b)
	}
	var rows [][]any
	mustOK(t, call(t, n, "storage_list", "lvm-vg", []any{}, nil, []string{"name", "size", "free"}), &rows)
	if b := mustJSON(rows); string(b) != `[["recvg",288,108]]` {
		t.Errorf("lvm-vg %s", b)
	}
	mustOK(t, call(t, n, "storage_list", "lvm-pv", []any{}, nil, []string{"name", "size", "used", "free", "allocatable"}), &rows)
	if b := mustJSON(rows); string(b) != `[["/dev/loop0",96,96,0,true],["/dev/loop1",96,56,40,true],["/dev/loop2",96,28,68,false]]` {
		t.Errorf("lvm-pv %s", b)
	}
	if size, err := n.blockDeviceBytes("/dev/recvg/linear"); err != nil || size != 130023424 {
		t.Errorf("blockdev %d, %v", size, err)
	}
}

// TestVGRepairReal: vgreduce refuses while partial volumes are there,
// then --force removes them (their data is gone) and the group is whole.
func TestVGRepairReal(t *testing.T) {
	fake := newFakeLVM(t, realLVM(t, "vgreduce-removemissing", "vgreduce-removemissing-force", "vgs-after-repair"))
	n, _ := newTestNode(t)
	mustOK(t, call(t, n, "storage_execute", "lvm-vg", []any{}, "recvg", "fix-consistency"), nil)
	want := [][]string{{"vgreduce", "--removemissing", "recvg"}, {"vgreduce", "--removemissing", "--force", "recvg"}, {"vgs", "--noheadings", "--nosuffix", "recvg"}}
	if got := fake.calls(t); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("commands %s, want %s", showCalls(got), showCalls(want))
	}
}

func TestPlainCreateFailsReal(t *testing.T) {
	fake := newFakeLVM(t, slices.Concat(realLVM(t, "pvs-info"),
		withArgv(realLVM(t, "lvcreate-toobig"), "lvcreate", "-Wn", "-L100m", "-nbig", "-i1", "recvg", "/dev/loop2", "/dev/loop1", "/dev/loop0")))
	n, _ := newTestNode(t)
	// 108 MiB free in all, on three PVs: lvcreate refuses; nothing is left.
	mustFail(t, call(t, n, "blockdev_create", plainDisk("recvg", "big", 100), 100, "inst1.example.com", true, "x", false),
		`Can't create block device: LV create failed (exited with exit code 5):   Volume group "recvg" has insufficient free space (57 extents): 250 required.`)
	mustFail(t, call(t, n, "blockdev_create", plainDisk("recvg", "big", 1000), 1000, "inst1.example.com", true, "x", false),
		"Can't create block device: Not enough free space: required 1000, available 108.0")
	for _, c := range fake.calls(t) {
		if c[0] != "pvs" && c[0] != "lvcreate" {
			t.Errorf("ran %q", c)
		}
	}
}

// TestPlainRefusals: what this daemon refuses where Ganeti 3.0 would do
// harm or nonsense.
func TestPlainRefusals(t *testing.T) {
	lvs := []string{"lvs", "--noheadings", "--separator=|", "--units=k", "--nosuffix", "-o" + lvsFields}
	two := "  xenvg|disk0|-wi-ao----|253|0|4096.00|1|/dev/vda(0)\n  xenvg|other|-wi-ao----|253|1|4096.00|1|/dev/vda(9)\n"
	t.Run("snapshot", func(t *testing.T) {
		fake := newFakeLVM(t, []fakeReply{{Argv: lvs, Stdout: two}})
		n, _ := newTestNode(t)
		// A snapshot named as another volume would remove that volume.
		mustFail(t, call(t, n, "blockdev_snapshot", plainDisk("xenvg", "disk0", 8), "other", nil), "/dev/xenvg/other exists and is not a snapshot")
		mustFail(t, call(t, n, "blockdev_snapshot", plainDisk("xenvg", "disk0", 8), "disk0", nil), "can't be called disk0")
		for _, c := range fake.calls(t) {
			if c[0] != "lvs" {
				t.Errorf("ran %q", c)
			}
		}
	})
	t.Run("not numbers", func(t *testing.T) {
		// LVM output that is no number is refused, not computed with.
		newFakeLVM(t, []fakeReply{
			{Argv: lvs, Stdout: two + "  xenvg|odd|-wi-ao----|253|2|NaN|1|/dev/vda(20)\n"},
			{Argv: []string{"pvs", "--noheadings", "--nosuffix", "--units=m", "--unbuffered", "--separator=|", "-opv_name,vg_name,pv_free,pv_attr,pv_size,pv_name"},
				Stdout: "  /dev/vda|xenvg|NaN|a--|30716.00|/dev/vda\n"},
		})
		n, _ := newTestNode(t)
		mustFail(t, call(t, n, "blockdev_find", plainDisk("xenvg", "disk0", 8)), "Can't parse vg extent size: NaN")
		mustFail(t, call(t, n, "blockdev_create", plainDisk("xenvg", "new", 8), 8, "i", true, "x", false), "Can't compute PV info for vg xenvg")
	})
	t.Run("PV names", func(t *testing.T) {
		// A device LVM names oddly never becomes an lvextend argument.
		newFakeLVM(t, []fakeReply{
			{Argv: lvs, Stdout: "  xenvg|disk0|-wi-ao----|253|0|4096.00|1|-odd(0)\n"},
			{Argv: []string{"pvs", "--noheadings", "--nosuffix", "--units=m", "--unbuffered", "--separator=|", "-opv_name,vg_name,pv_free,pv_attr,pv_size,pv_name"},
				Stdout: "  -odd|xenvg|100.00|a--|30716.00|-odd\n"},
		})
		n, _ := newTestNode(t)
		mustFail(t, call(t, n, "blockdev_grow", plainDisk("xenvg", "disk0", 8), 8, false, true, true), "which this node does not pass to lvextend")
		mustFail(t, call(t, n, "blockdev_create", plainDisk("xenvg", "new", 8), 8, "i", true, "x", false), "does not pass to lvcreate")
	})
}

// TestPlainZeroSpindles: under exclusive storage a disk of no spindles is
// refused; Ganeti 3.0 crashes there, and a loop of no lvcreate must not
// report success.
func TestPlainZeroSpindles(t *testing.T) {
	newFakeLVM(t, realLVM(t, "pvs-info"))
	n, _ := newTestNode(t)
	d := plainDisk("recvg", "none", 0)
	d["spindles"] = 0
	mustFail(t, call(t, n, "blockdev_create", d, 0, "i", true, "x", true), "Can't create a volume of 0 MiB on 0 physical volumes")
}

func TestCommandOutputTruncated(t *testing.T) {
	n, _ := newTestNode(t)
	res, err := n.runCommand(command{Args: []string{"head", "-c", strconv.Itoa(maxCommandOutput + 1), "/dev/zero"}})
	if err != nil || !res.Truncated || len(res.Stdout) != maxCommandOutput {
		t.Fatalf("truncated %v, %d bytes, %v", res != nil && res.Truncated, len(res.Stdout), err)
	}
	res, err = n.runCommand(command{Args: []string{"head", "-c", strconv.Itoa(maxCommandOutput), "/dev/zero"}})
	if err != nil || res.Truncated {
		t.Fatalf("exactly the limit: truncated %v, %v", res.Truncated, err)
	}
}

// TestLVMListingTruncated: an lvs listing cut at the output bound is
// refused, not read as "the volume is absent".
func TestLVMListingTruncated(t *testing.T) {
	line := "  xenvg|other|-wi-ao----|253|1|4096.00|1|/dev/vda(9)\n"
	newFakeLVM(t, []fakeReply{{Argv: []string{"lvs", "--noheadings", "--separator=|", "--units=k", "--nosuffix", "-o" + lvsFields},
		Stdout: strings.Repeat(line, maxCommandOutput/len(line)+1)}})
	n, _ := newTestNode(t)
	mustFail(t, call(t, n, "blockdev_remove", plainDisk("xenvg", "disk0", 8)), "lvs printed more than")
}

// TestPlainReviewCases: what a hostile review found, each on a fake LVM.
func TestPlainReviewCases(t *testing.T) {
	lvs := []string{"lvs", "--noheadings", "--separator=|", "--units=k", "--nosuffix", "-o" + lvsFields}
	pvs := []string{"pvs", "--noheadings", "--nosuffix", "--units=m", "--unbuffered", "--separator=|", "-opv_name,vg_name,pv_free,pv_attr,pv_size,pv_name"}
	vgs := []string{"vgs", "--noheadings", "--nosuffix", "--units=m", "--unbuffered", "--separator=|", "-ovg_name,vg_free,vg_attr,vg_size"}
	disk0 := "  xenvg|disk0|-wi-ao----|253|0|4096.00|1|/dev/vda(0)\n"
	ran := func(calls [][]string, tool string) bool {
		return slices.ContainsFunc(calls, func(c []string) bool { return c[0] == tool })
	}
	t.Run("thin volume", func(t *testing.T) {
		// A thin volume anywhere on the node, or a virtual one, has no
		// stripes: it must not make every other volume unlistable.
		newFakeLVM(t, []fakeReply{{Argv: lvs, Stdout: disk0 + "  xenvg|thin|Vwi-a-tz--|253|5|4096.00|0|\n" +
			"  xenvg|lost|vwi-a-v---|253|6|4096.00|0|\n"}})
		n, _ := newTestNode(t)
		var st blockDevStatus
		mustOK(t, call(t, n, "blockdev_find", plainDisk("xenvg", "disk0", 8)), &st)
		if st.IsDegraded {
			t.Errorf("disk0 degraded: %+v", st)
		}
		mustOK(t, call(t, n, "blockdev_find", plainDisk("xenvg", "thin", 8)), &st)
		if st.IsDegraded {
			t.Errorf("thin volume degraded: %+v", st)
		}
		mustOK(t, call(t, n, "blockdev_find", plainDisk("xenvg", "lost", 8)), &st)
		if !st.IsDegraded || st.LDiskStatus != ldiskFaulty {
			t.Errorf("virtual volume not degraded: %+v", st)
		}
		mustFail(t, call(t, n, "blockdev_grow", plainDisk("xenvg", "lost", 8), 8, false, true, false), "it is a virtual volume, with no stripes")
	})
	t.Run("snapshot of another volume", func(t *testing.T) {
		// A snapshot of that name taken of another volume (another
		// instance's export reads it) is not replaced.
		fake := newFakeLVM(t, []fakeReply{
			{Argv: lvs, Stdout: disk0 + "  xenvg|b.snap|swi-a-s---|253|3|4096.00|1|/dev/vda(40)\n"},
			{Argv: []string{"lvs", "--noheadings", "-o", "origin", "xenvg/b.snap"}, Stdout: "  other\n"},
		})
		n, _ := newTestNode(t)
		mustFail(t, call(t, n, "blockdev_snapshot", plainDisk("xenvg", "disk0", 8), "b.snap", nil), "/dev/xenvg/b.snap is a snapshot of 'other', not of /dev/xenvg/disk0")
		if ran(fake.calls(t), "lvremove") {
			t.Errorf("removed another volume's snapshot: %q", fake.calls(t))
		}
	})
	t.Run("snapshot replaced", func(t *testing.T) {
		fake := newFakeLVM(t, []fakeReply{
			{Argv: lvs, Stdout: disk0 + "  xenvg|disk0.snap|swi-a-s---|253|3|4096.00|1|/dev/vda(40)\n"},
			{Argv: []string{"lvs", "--noheadings", "-o", "origin", "xenvg/disk0.snap"}, Stdout: "  disk0\n"},
			{Argv: []string{"lvremove", "-f", "xenvg/disk0.snap"}},
			{Argv: vgs, Stdout: "  xenvg|1000.00|wz--n-|30716.00\n"},
			{Argv: []string{"lvcreate", "-L8m", "-s", "-ndisk0.snap", "/dev/xenvg/disk0"}},
		})
		n, _ := newTestNode(t)
		var id []string
		mustOK(t, call(t, n, "blockdev_snapshot", plainDisk("xenvg", "disk0", 8), nil, nil), &id)
		if !slices.Equal(id, []string{"xenvg", "disk0.snap"}) || !ran(fake.calls(t), "lvremove") {
			t.Errorf("snapshot %q after %q", id, fake.calls(t))
		}
	})
	t.Run("created but not found", func(t *testing.T) {
		// lvcreate succeeded, yet lvs does not list the volume: the daemon
		// reports a failure, so the volume must not stay behind.
		fake := newFakeLVM(t, []fakeReply{
			{Argv: pvs, Stdout: "  /dev/vda|xenvg|1000.00|a--|30716.00|/dev/vda\n"},
			{Argv: []string{"lvcreate", "-Wn", "-L8m", "-nnew", "-i1", "xenvg", "/dev/vda"}},
			{Argv: lvs, Stdout: disk0},
			{Argv: []string{"lvremove", "-f", "xenvg/new"}},
		})
		n, _ := newTestNode(t)
		mustFail(t, call(t, n, "blockdev_create", plainDisk("xenvg", "new", 8), 8, "i", true, "x", false), "LV /dev/xenvg/new was created but cannot be found")
		if calls := fake.calls(t); !slices.ContainsFunc(calls, func(c []string) bool { return slices.Equal(c, []string{"lvremove", "-f", "xenvg/new"}) }) {
			t.Errorf("volume left behind: %q", calls)
		}
	})
	t.Run("stripes above LVM's limit", func(t *testing.T) {
		// Ganeti stripes over as many PVs as there are, whatever the
		// parameter asks: 256 on one PV is one stripe.
		newFakeLVM(t, []fakeReply{
			{Argv: pvs, Stdout: "  /dev/vda|xenvg|1000.00|a--|30716.00|/dev/vda\n"},
			{Argv: []string{"lvcreate", "-Wn", "-L8m", "-nnew", "-i1", "xenvg", "/dev/vda"}},
			{Argv: lvs, Stdout: disk0 + "  xenvg|new|-wi-a-----|253|1|4096.00|1|/dev/vda(9)\n"},
			{Argv: []string{"lvchange", "-ay", "/dev/xenvg/new"}},
			{Argv: []string{"lvs", "-o", "tags", "--noheadings", "--nosuffix", "/dev/xenvg/new"}},
			{Argv: []string{"lvchange", "--addtag", "x", "/dev/xenvg/new"}},
		})
		n, _ := newTestNode(t)
		d := plainDisk("xenvg", "new", 8)
		d["params"] = map[string]any{"stripes": 256}
		mustOK(t, call(t, n, "blockdev_create", d, 8, "i", true, "x", false), nil)
	})
	t.Run("storage sizes", func(t *testing.T) {
		// Whole MiB, rounded half to even as Python's round().
		newFakeLVM(t, []fakeReply{
			{Argv: []string{"vgs", "--noheadings", "--units=m", "--nosuffix", "--separator", "|", "--options", "vg_name,vg_size,vg_free"},
				Stdout: "  xenvg|10236.50|2.50\n  other|7.51|0.49\n"},
		})
		n, _ := newTestNode(t)
		var rows [][]any
		mustOK(t, call(t, n, "storage_list", "lvm-vg", []any{}, nil, []string{"name", "size", "free", "used"}), &rows)
		if got, want := string(mustJSON(rows)), `[["xenvg",10236,2,10234],["other",8,0,8]]`; got != want {
			t.Errorf("rows %s, want %s", got, want)
		}
	})
}

// TestPyFloorDiv: Python's float floor division, values from python3.
func TestPyFloorDiv(t *testing.T) {
	for _, c := range []struct{ x, want float64 }{
		{10300, 9999}, {96, 93}, {30716, 29821}, {0.5, 0}, {1.03, 1}, {103, 99}, {2060, 1999},
	} {
		if got := pyFloorDiv(c.x, 1+0.01+0.02); got != c.want {
			t.Errorf("%v // 1.03 = %v, want %v", c.x, got, c.want)
		}
	}
}

// TestMirrorStatusListsVolumesOnce: a procedure about many disks lists
// the volumes once for all of them (Ganeti's lvs cache), at any depth
// (a DRBD disk's two volumes), and lists again only for a volume the
// listing lacks, as Ganeti does.
func TestMirrorStatusListsVolumesOnce(t *testing.T) {
	fake := newFakeLVM(t, benchLVMReplies())
	n, _ := newTestNode(t)
	lvsCalls := func() int {
		c := 0
		for _, argv := range fake.calls(t) {
			if argv[0] == "lvs" {
				c++
			}
		}
		return c
	}
	var multi []any
	disks := []any{benchLVDisk(0), benchLVDisk(1), benchLVDisk(2), benchLVDisk(3)}
	mustOK(t, call(t, n, "blockdev_getmirrorstatus_multi", disks), &multi)
	if got := lvsCalls(); got != 1 {
		t.Errorf("4 volumes: %d lvs calls, want 1", got)
	}
	mustOK(t, call(t, n, "blockdev_getmirrorstatus_multi", []any{benchLVDisk(0), plainDisk("xenvg", "gone", 8)}), &multi)
	if got := lvsCalls(); got != 3 {
		t.Errorf("one volume missing: %d lvs calls in all, want 3 (one more listing for it)", got)
	}

	data, meta := &disk{DevType: "plain"}, &disk{DevType: "plain"}
	tree := []disk{{DevType: "drbd", Children: []*disk{data, meta}}, {DevType: "file"}}
	n.shareLVListing(tree)
	if data.lvs == nil || data.lvs != meta.lvs || tree[1].lvs != nil || tree[0].lvs != nil {
		t.Errorf("listing shared as %p %p, drbd %p, file %p", data.lvs, meta.lvs, tree[0].lvs, tree[1].lvs)
	}
	if got := lvsCalls(); got != 4 {
		t.Errorf("a DRBD disk's volumes: %d lvs calls in all, want 4", got)
	}
}
