package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const testMagic = "4d7c1bd0e2a8f1c3b5d6e7f8091a2b3c4d5e6f70"

// ganetiHelper is Debian's import-export helper, for the interoperability
// tests.
const ganetiHelper = "/usr/lib/ganeti/import-export"

// transferNode is a node with the cluster certificate whose transfers run
// exe (the test binary as the daemon, see TestMain, unless told otherwise).
func transferNode(t *testing.T, exe string) (*node, string) {
	t.Helper()
	n, file, _ := storageNode(t)
	pem, err := os.ReadFile("testdata/certs/cluster.pem")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(n.paths.NodedCertFile), 0o700)
	os.WriteFile(n.paths.NodedCertFile, pem, 0o400)
	if exe == "" {
		exe = daemonExe(t)
	}
	n.transferExe = exe
	return n, file
}

// waitTransfer polls impexp_status until done accepts the status.
func waitTransfer(t *testing.T, n *node, name string, done func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var sts []map[string]any
		mustOK(t, call(t, n, "impexp_status", []string{name}), &sts)
		if len(sts) != 1 {
			t.Fatalf("impexp_status gave %d entries", len(sts))
		}
		if sts[0] != nil && done(sts[0]) {
			return sts[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := filepath.Glob(filepath.Join(n.paths.LogDir, "os", "*"))
	for _, l := range log {
		data, _ := os.ReadFile(l)
		t.Logf("%s:\n%s", l, data)
	}
	t.Fatalf("transfer %s did not get there in time", name)
	return nil
}

func hasKey(k string) func(map[string]any) bool {
	return func(st map[string]any) bool { _, ok := st[k]; return ok }
}

// transferDisk streams one disk from src to dst as the master drives it,
// cleans both transfers up, and returns their final statuses.
func transferDisk(t *testing.T, src, dst *node, opts map[string]any, inst map[string]any, exportIO, importIO []any) (exp, imp map[string]any) {
	t.Helper()
	var impName, expName string
	mustOK(t, call(t, dst, "import_start", opts, inst, "disk0", importIO), &impName)
	if !strings.HasPrefix(impName, "import-disk0-") {
		t.Fatalf("import name %q", impName)
	}
	st := waitTransfer(t, dst, impName, hasKey("listen_port"))
	port := int(st["listen_port"].(float64))
	mustOK(t, call(t, src, "export_start", opts, "127.0.0.1", port, inst, "disk0", exportIO), &expName)
	exp = waitTransfer(t, src, expName, hasKey("exit_status"))
	imp = waitTransfer(t, dst, impName, hasKey("exit_status"))
	for _, c := range []struct {
		n    *node
		name string
	}{{src, expName}, {dst, impName}} {
		mustOK(t, call(t, c.n, "impexp_cleanup", c.name), nil)
		if _, err := os.Stat(filepath.Join(c.n.paths.importExportDir(), c.name)); !os.IsNotExist(err) {
			t.Fatalf("cleanup left %s", c.name)
		}
	}
	return exp, imp
}

func randomFile(t *testing.T, path string, size int) []byte {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	os.MkdirAll(filepath.Dir(path), 0o750)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return data
}

func mustSucceed(t *testing.T, what string, st map[string]any) {
	t.Helper()
	if st["exit_status"] != float64(0) || st["connected"] != true {
		t.Fatalf("%s: %v", what, st)
	}
}

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes (%v), want %d identical bytes", path, len(got), err, len(want))
	}
}

// TestImpexpFileRoundTrip streams an export file between two daemons with
// every compression method, byte for byte.
func TestImpexpFileRoundTrip(t *testing.T) {
	t.Parallel()
	src, _ := transferNode(t, "")
	dst, _ := transferNode(t, "")
	inst := fakeInstance("inst1.example.com")
	source := filepath.Join(src.paths.ExportDir, "inst1.example.com", "d0")
	data := randomFile(t, source, 3<<20+12345)
	methods := []string{"none", "gzip", "gzip-fast", "gzip-slow"}
	for _, tool := range []string{"xz", "zstd"} {
		if _, err := exec.LookPath(tool); err == nil {
			methods = append(methods, tool)
		}
	}
	for _, method := range methods {
		target := filepath.Join(dst.paths.ExportDir, "inst1.example.com.new", method)
		opts := map[string]any{"compress": method, "magic": testMagic, "connect_timeout": 60}
		exp, imp := transferDisk(t, src, dst, opts, inst, []any{"file", []string{source}}, []any{"file", []string{target}})
		mustSucceed(t, method+" export", exp)
		mustSucceed(t, method+" import", imp)
		sameFile(t, target, data)
		if exp["progress_mbytes"] != float64(3) || exp["progress_percent"] != float64(100) {
			t.Errorf("%s export progress %v", method, exp)
		}
		if st, _ := os.Stat(target); st.Mode().Perm() != 0o600 {
			t.Errorf("imported file mode %v", st.Mode())
		}
	}
	// lzop is one of Ganeti's methods; without the tool both sides fail
	// with the helper's message.
	if _, err := exec.LookPath("lzop"); err != nil {
		opts := map[string]any{"compress": "lzop", "magic": testMagic, "connect_timeout": 60}
		var name string
		mustOK(t, call(t, dst, "import_start", opts, inst, "disk0", []any{"file", []string{filepath.Join(dst.paths.ExportDir, "x.new", "lzop")}}), &name)
		st := waitTransfer(t, dst, name, hasKey("exit_status"))
		if msg, _ := st["error_message"].(string); st["exit_status"] != float64(1) || !strings.Contains(msg, "Verification attempt of selected compression method lzop failed") {
			t.Fatalf("lzop without lzop: %v", st)
		}
	}
}

// TestImpexpRawAndScript streams a disk as raw data (dd) and through the
// OS's export and import scripts.
func TestImpexpRawAndScript(t *testing.T) {
	src, srcFile := transferNode(t, "")
	dst, dstFile := transferNode(t, "")
	withProc(src)
	withProc(dst)
	osDir := t.TempDir()
	os.MkdirAll(filepath.Join(osDir, "streamer"), 0o755)
	for name, body := range map[string]string{
		"ganeti_api_version": "20\n", "variants.list": "default\n", "parameters.list": "",
		"create": "#!/bin/sh\nexit 0\n", "rename": "#!/bin/sh\nexit 0\n", "verify": "#!/bin/sh\nexit 0\n",
		"export": "#!/bin/sh\nset -e\necho export $EXPORT_INDEX transfer-mode=${GANETI_NODED_TRANSFER:-unset} >&2\nstat -c %s \"$EXPORT_DEVICE\" >&$EXP_SIZE_FD\ncat \"$EXPORT_DEVICE\"\n",
		"import": "#!/bin/sh\nset -e\necho import $IMPORT_INDEX >&2\ncat > \"$IMPORT_DEVICE\"\n",
	} {
		os.WriteFile(filepath.Join(osDir, "streamer", name), []byte(body), 0o755)
	}
	useOSSearchPath(src, osDir)
	useOSSearchPath(dst, osDir)

	srcDisk := fileDisk("file", filepath.Join(srcFile, "inst1", "disk0"), 4)
	dstDisk := fileDisk("file", filepath.Join(dstFile, "inst1", "disk0"), 4)
	delete(srcDisk, "future_field")
	delete(dstDisk, "future_field")
	os.MkdirAll(filepath.Join(srcFile, "inst1"), 0o750)
	os.MkdirAll(filepath.Join(dstFile, "inst1"), 0o750)
	mustOK(t, call(t, src, "blockdev_create", srcDisk, 4, "inst1.example.com", true, nil, false), nil)
	mustOK(t, call(t, dst, "blockdev_create", dstDisk, 4, "inst1.example.com", true, nil, false), nil)
	data := randomFile(t, filepath.Join(srcFile, "inst1", "disk0"), 4<<20)
	opts := map[string]any{"compress": "gzip", "magic": testMagic, "connect_timeout": 60}

	// raw: dd from one disk into the other (gnt-instance move)
	srcInst, dstInst := fakeInstance("inst1.example.com", srcDisk), fakeInstance("inst1.example.com", dstDisk)
	exp, imp := transferDisk(t, src, dst, opts, srcInst, []any{"raw", []any{srcDisk}}, []any{"raw", []any{dstDisk}})
	mustSucceed(t, "raw export", exp)
	mustSucceed(t, "raw import", imp)
	sameFile(t, filepath.Join(dstFile, "inst1", "disk0"), data)
	if exp["progress_percent"] != float64(100) {
		t.Errorf("raw export progress %v", exp)
	}

	// A peer that sends more than the disk holds cannot grow it: 8 MiB
	// from an export file into the 4 MiB disk.
	big := filepath.Join(dst.paths.ExportDir, "big.example.com", "disk0")
	os.MkdirAll(filepath.Dir(big), 0o700)
	randomFile(t, big, 8<<20)
	transferDisk(t, dst, dst, opts, dstInst, []any{"file", []string{big}}, []any{"raw", []any{dstDisk}})
	if st, err := os.Stat(filepath.Join(dstFile, "inst1", "disk0")); err != nil || st.Size() != 4<<20 {
		t.Fatalf("raw import of 8 MiB into a 4 MiB disk: %v, size %d", err, st.Size())
	}

	// script: the OS's export script into an export file, then that file
	// through the import script into a cleared disk (gnt-backup).
	srcInst["os"], dstInst["os"] = "streamer+default", "streamer+default"
	dump := filepath.Join(dst.paths.ExportDir, "inst1.example.com.new", "354003d2")
	exp, imp = transferDisk(t, src, dst, opts, srcInst, []any{"script", []any{srcDisk, 0}}, []any{"file", []string{dump}})
	mustSucceed(t, "script export", exp)
	mustSucceed(t, "file import", imp)
	sameFile(t, dump, data)
	if exp["progress_percent"] != float64(100) {
		t.Errorf("script export did not report its size: %v", exp)
	}
	// The script must not inherit the transfer mode (running the daemon
	// from it would start a transfer instead).
	if logs, _ := filepath.Glob(filepath.Join(src.paths.LogDir, "os", "export-streamer+default-*.log")); len(logs) != 1 {
		t.Errorf("export logs %v", logs)
	} else if out, _ := os.ReadFile(logs[0]); !strings.Contains(string(out), "export 0 transfer-mode=unset") {
		t.Errorf("export script's output: %s", out)
	}
	os.WriteFile(filepath.Join(dstFile, "inst1", "disk0"), make([]byte, 4<<20), 0o600)
	exp, imp = transferDisk(t, dst, dst, opts, dstInst, []any{"file", []string{dump}}, []any{"script", []any{dstDisk, 0}})
	mustSucceed(t, "file export", exp)
	mustSucceed(t, "script import", imp)
	sameFile(t, filepath.Join(dstFile, "inst1", "disk0"), data)
	logs, _ := filepath.Glob(filepath.Join(dst.paths.LogDir, "os", "import-streamer+default-inst1.example.com-disk0-*.log"))
	if len(logs) == 0 {
		t.Fatal("no import log in /var/log/ganeti/os")
	}
	if out, _ := os.ReadFile(logs[len(logs)-1]); !strings.Contains(string(out), "import 0") {
		t.Errorf("import script's output not in its log: %s", out)
	}
}

// TestImpexpFailures: refusals, a wrong magic, the listen timeout, an
// abort, and a peer without the cluster's certificate.
func TestImpexpFailures(t *testing.T) {
	t.Parallel()
	n, file := transferNode(t, "")
	inst := fakeInstance("inst1.example.com")
	opts := map[string]any{"compress": "none", "magic": testMagic, "connect_timeout": 60}
	target := []any{"file", []string{filepath.Join(n.paths.ExportDir, "inst1.example.com.new", "d0")}}
	badOS := fakeInstance("inst1.example.com")
	badOS["os"] = "../../../../../../../../tmp/x"
	for _, c := range []struct {
		proc string
		args []any
		want string
	}{
		{"import_start", []any{opts, inst, "disk0", []any{"foo", []any{}}}, "Invalid import I/O mode 'foo'"},
		{"import_start", []any{opts, inst, "disk0", []any{"file", []string{"rel/x"}}}, "Path 'rel/x' is not normalized or absolute"},
		{"import_start", []any{opts, inst, "disk0", []any{"file", []string{n.paths.ExportDir + "/../x"}}}, "is not normalized or absolute"},
		{"import_start", []any{opts, inst, "disk0", []any{"file", []string{"/etc/passwd"}}}, "is not under exports directory"},
		{"import_start", []any{map[string]any{"key_name": "x509-a"}, inst, "disk0", target}, "Cluster certificate can only be used for both key and CA"},
		{"import_start", []any{map[string]any{"key_name": "x509-a", "ca_pem": "x"}, inst, "disk0", target}, "/crypto/x509-a/key' does not exist"},
		{"import_start", []any{opts, inst, "../disk0", target}, "Invalid component"},
		{"import_start", []any{opts, badOS, "disk0", target}, "Invalid OS name"},
		{"import_start", []any{map[string]any{"magic": "a b"}, inst, "disk0", target}, "Invalid magic value"},
		{"import_start", []any{map[string]any{"connect_timeout": -1}, inst, "disk0", target}, "Invalid connect timeout -1"},
		{"import_start", []any{opts, inst, "disk0", []any{"raw", []any{fileDisk("file", filepath.Join(file, "absent"), 1)}}}, "is not set up"},
		{"export_start", []any{opts, nil, nil, inst, "disk0", target}, "Host and port must be specified for an export"},
		{"export_start", []any{opts, "-oProxy", 1, inst, "disk0", target}, "Invalid host"},
		{"impexp_status", []any{[]string{"../x"}}, "Invalid import/export name"},
	} {
		mustFail(t, call(t, n, c.proc, c.args...), c.want)
	}
	if entries, _ := os.ReadDir(n.paths.importExportDir()); len(entries) != 0 {
		t.Fatalf("refused transfers left %d directories", len(entries))
	}
	var sts []any
	mustOK(t, call(t, n, "impexp_status", []string{"import-nothing"}), &sts)
	if len(sts) != 1 || sts[0] != nil {
		t.Fatalf("unknown transfer status %v", sts)
	}
	mustOK(t, call(t, n, "impexp_abort", "import-nothing"), nil)
	mustOK(t, call(t, n, "impexp_cleanup", "import-nothing"), nil)

	// No exporter within the connect timeout: the import gives up as the
	// helper does (SIGTERM to itself).
	var name string
	short := map[string]any{"compress": "none", "magic": testMagic, "connect_timeout": 1}
	mustOK(t, call(t, n, "import_start", short, inst, "disk0", target), &name)
	st := waitTransfer(t, n, name, hasKey("exit_status"))
	if st["exit_status"] != float64(-15) || st["error_message"] != "Exited due to signal 15" ||
		!strings.Contains(fmt.Sprint(st["recent_output"]), "didn't establish connection in time (1s)") {
		t.Fatalf("listen timeout: %v", st)
	}
	mustOK(t, call(t, n, "impexp_cleanup", name), nil)

	// Abort a listening import: the process ends, and says why.
	mustOK(t, call(t, n, "import_start", opts, inst, "disk0", target), &name)
	waitTransfer(t, n, name, hasKey("listen_port"))
	pid := lockedPid(filepath.Join(n.paths.importExportDir(), name, "pid"))
	if pid <= 0 {
		t.Fatal("running transfer's pid file is not locked")
	}
	mustOK(t, call(t, n, "impexp_abort", name), nil)
	st = waitTransfer(t, n, name, hasKey("exit_status"))
	if st["exit_status"] != float64(-15) || st["error_message"] != "Exited due to signal 15" {
		t.Fatalf("abort: %v", st)
	}
	mustOK(t, call(t, n, "impexp_cleanup", name), nil)

	// A wrong magic value fails both sides.
	src, _ := transferNode(t, "")
	source := filepath.Join(src.paths.ExportDir, "inst1.example.com", "d0")
	randomFile(t, source, 1<<20)
	var impName, expName string
	other := map[string]any{"compress": "gzip", "magic": "ffffffffffffffffffffffffffffffffffffffff"}
	opts["compress"] = "gzip"
	mustOK(t, call(t, n, "import_start", opts, inst, "disk0", target), &impName)
	port := waitTransfer(t, n, impName, hasKey("listen_port"))["listen_port"]
	mustOK(t, call(t, src, "export_start", other, "127.0.0.1", port, inst, "disk0", []any{"file", []string{source}}), &expName)
	st = waitTransfer(t, n, impName, hasKey("exit_status"))
	if st["exit_status"] != float64(1) || !strings.Contains(fmt.Sprint(st["recent_output"]), "Magic value mismatch") {
		t.Fatalf("magic mismatch, import: %v", st)
	}
	if st := waitTransfer(t, src, expName, hasKey("exit_status")); st["exit_status"] == float64(0) {
		t.Fatalf("magic mismatch, export succeeded: %v", st)
	}

	// An exporter whose certificate the importer's CA did not sign is
	// refused; the import keeps waiting for the right peer.
	var keyName []string
	mustOK(t, call(t, src, "x509_cert_create", 3600), &keyName)
	clusterPEM, _ := os.ReadFile("testdata/certs/cluster.pem")
	foreign := map[string]any{"compress": "none", "magic": testMagic, "key_name": keyName[0], "ca_pem": string(clusterPEM)}
	opts["compress"] = "none"
	mustOK(t, call(t, n, "import_start", opts, inst, "disk0", target), &impName)
	port = waitTransfer(t, n, impName, hasKey("listen_port"))["listen_port"]
	mustOK(t, call(t, src, "export_start", foreign, "127.0.0.1", port, inst, "disk0", []any{"file", []string{source}}), &expName)
	if st := waitTransfer(t, src, expName, hasKey("exit_status")); st["exit_status"] == float64(0) {
		t.Fatalf("foreign exporter succeeded: %v", st)
	}
	if st := waitTransfer(t, n, impName, hasKey("recent_output")); st["connected"] != nil {
		t.Fatalf("importer accepted a foreign certificate: %v", st)
	}
	mustOK(t, call(t, n, "impexp_cleanup", impName), nil)
	if entries, _ := os.ReadDir(n.paths.importExportDir()); len(entries) > 3 {
		t.Fatalf("%d transfer directories", len(entries))
	}
}

// TestImpexpInteropWithGanetiHelper streams a disk from this daemon's
// transfer into Debian's import-export helper and back, byte for byte,
// with the helper started by the same procedures.
func TestImpexpInteropWithGanetiHelper(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("Ganeti's helper sleeps 2 s on each side of every transfer")
	}
	if _, err := os.Stat(ganetiHelper); err != nil {
		t.Skip("Ganeti's import-export helper is not installed (apt-get install ganeti)")
	}
	ours, _ := transferNode(t, "")
	theirs, _ := transferNode(t, ganetiHelper)
	inst := fakeInstance("inst1.example.com")
	data := randomFile(t, filepath.Join(ours.paths.ExportDir, "inst1.example.com", "d0"), 2<<20+77)
	for _, method := range []string{"gzip", "none"} {
		opts := map[string]any{"compress": method, "magic": testMagic, "connect_timeout": 60}
		there := filepath.Join(theirs.paths.ExportDir, "inst1.example.com.new", method)
		exp, imp := transferDisk(t, ours, theirs, opts, inst,
			[]any{"file", []string{filepath.Join(ours.paths.ExportDir, "inst1.example.com", "d0")}}, []any{"file", []string{there}})
		mustSucceed(t, "to Ganeti: export", exp)
		mustSucceed(t, "to Ganeti: import", imp)
		sameFile(t, there, data)
		back := filepath.Join(ours.paths.ExportDir, "inst1.example.com.new", method)
		exp, imp = transferDisk(t, theirs, ours, opts, inst, []any{"file", []string{there}}, []any{"file", []string{back}})
		mustSucceed(t, "from Ganeti: export", exp)
		mustSucceed(t, "from Ganeti: import", imp)
		sameFile(t, back, data)
	}
}

// TestDaemonTransferSurvivesRestart: a transfer is its own process, so a
// daemon killed and started again finds it running and reports its end.
func TestDaemonTransferSurvivesRestart(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("process test")
	}
	l := newTestRoot(t)
	pem, _ := os.ReadFile("testdata/certs/cluster.pem")
	os.WriteFile(l.NodedCertFile, pem, 0o400)
	d := startDaemon(t, l, "--no-ssl", "--no-mlock")
	rpc := func(d *daemonProc, name string, out any, args ...any) {
		t.Helper()
		r, err := d.rpc(t, http.DefaultClient, "http", name, args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		mustOK(t, r, out)
	}
	inst := fakeInstance("inst1.example.com")
	opts := map[string]any{"compress": "gzip", "magic": testMagic, "connect_timeout": 120}
	target := filepath.Join(l.ExportDir, "inst1.example.com.new", "d0")
	var name string
	rpc(d, "import_start", &name, opts, inst, "disk0", []any{"file", []string{target}})
	status := func(d *daemonProc) map[string]any {
		var sts []map[string]any
		rpc(d, "impexp_status", &sts, []string{name})
		return sts[0]
	}
	var port any
	for deadline := time.Now().Add(20 * time.Second); port == nil && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st := status(d); st != nil {
			port = st["listen_port"]
		}
	}
	if port == nil {
		t.Fatal("import never listened")
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	d.cmd.Wait()
	pidFile := filepath.Join(l.importExportDir(), name, "pid")
	if lockedPid(pidFile) <= 0 {
		t.Fatal("the transfer died with the daemon")
	}
	d2 := startDaemon(t, l, "--no-ssl", "--no-mlock")
	src, _ := transferNode(t, "")
	data := randomFile(t, filepath.Join(src.paths.ExportDir, "inst1.example.com", "d0"), 1<<20+5)
	var expName string
	mustOK(t, call(t, src, "export_start", opts, "127.0.0.1", port, inst, "disk0", []any{"file", []string{filepath.Join(src.paths.ExportDir, "inst1.example.com", "d0")}}), &expName)
	mustSucceed(t, "export", waitTransfer(t, src, expName, hasKey("exit_status")))
	var st map[string]any
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st = status(d2); st != nil && st["exit_status"] != nil {
			break
		}
	}
	mustSucceed(t, "import after the daemon's restart", st)
	sameFile(t, target, data)
	rpc(d2, "impexp_cleanup", nil, name)
	if _, err := os.Stat(filepath.Dir(pidFile)); !os.IsNotExist(err) {
		t.Fatal("cleanup left the transfer directory")
	}
}

// TestImpexpExternalToolSinkFails: an import whose destination cannot be
// written ends, with an external decompressor still holding data.
func TestImpexpExternalToolSinkFails(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("xz is not installed")
	}
	src, _ := transferNode(t, "")
	dst, _ := transferNode(t, "")
	inst := fakeInstance("inst1.example.com")
	source := filepath.Join(src.paths.ExportDir, "inst1.example.com", "d0")
	randomFile(t, source, 4<<20)
	target := filepath.Join(dst.paths.ExportDir, "inst1.example.com.new", "d0")
	os.MkdirAll(target, 0o750) // a directory: the import cannot open it for writing
	opts := map[string]any{"compress": "xz", "magic": testMagic, "connect_timeout": 60}
	var impName, expName string
	mustOK(t, call(t, dst, "import_start", opts, inst, "disk0", []any{"file", []string{target}}), &impName)
	port := waitTransfer(t, dst, impName, hasKey("listen_port"))["listen_port"]
	mustOK(t, call(t, src, "export_start", opts, "127.0.0.1", port, inst, "disk0", []any{"file", []string{source}}), &expName)
	if st := waitTransfer(t, dst, impName, hasKey("exit_status")); st["exit_status"] == float64(0) {
		t.Fatalf("import into a directory succeeded: %v", st)
	}
	st := waitTransfer(t, src, expName, hasKey("exit_status"))
	if st["exit_status"] == float64(0) {
		t.Fatalf("export to a failed import succeeded: %v", st)
	}
	// The exporter says that sending failed, not that a pipe closed.
	if msg, _ := st["error_message"].(string); !strings.HasPrefix(msg, "sending data: ") || strings.Contains(msg, "data command") {
		t.Errorf("export's error: %q", msg)
	}
	mustOK(t, call(t, dst, "impexp_cleanup", impName), nil)
	mustOK(t, call(t, src, "impexp_cleanup", expName), nil)
}

// TestImpexpConnectTimeoutEndsWithConnection: the import's connect
// timeout stops counting once the exporter is connected, so a transfer
// that lasts longer does not report a listen timeout.
func TestImpexpConnectTimeoutEndsWithConnection(t *testing.T) {
	t.Parallel()
	src, _ := transferNode(t, "")
	dst, _ := transferNode(t, "")
	inst := fakeInstance("inst1.example.com")
	// The source is a FIFO that gets its data only after the timeout.
	source := filepath.Join(src.paths.ExportDir, "inst1.example.com", "d0")
	os.MkdirAll(filepath.Dir(source), 0o750)
	if err := syscall.Mkfifo(source, 0o600); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20)
	rand.Read(data)
	go func() {
		time.Sleep(2500 * time.Millisecond)
		f, err := os.OpenFile(source, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		f.Write(data)
		f.Close()
	}()
	target := filepath.Join(dst.paths.ExportDir, "inst1.example.com.new", "d0")
	opts := map[string]any{"compress": "none", "magic": testMagic, "connect_timeout": 1}
	exp, imp := transferDisk(t, src, dst, opts, inst, []any{"file", []string{source}}, []any{"file", []string{target}})
	mustSucceed(t, "export", exp)
	mustSucceed(t, "import", imp)
	sameFile(t, target, data)
	if out := fmt.Sprint(imp["recent_output"]); strings.Contains(out, "didn't establish connection") {
		t.Fatalf("connected import reported a listen timeout: %s", out)
	}
}
