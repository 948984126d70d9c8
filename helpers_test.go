package main

import (
	"bytes"
	"compress/zlib"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const testHost = "node1.example.com"

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newTestRoot makes a node root in a temporary directory with the
// directories ensure-dirs would make, and returns its layout.
func newTestRoot(t testing.TB) *layout {
	t.Helper()
	return newTestRootIn(t, t.TempDir())
}

// newTestRootIn is newTestRoot below base (short bases keep Unix socket
// paths under their 108-byte limit).
func newTestRootIn(t testing.TB, base string) *layout {
	t.Helper()
	root := filepath.Join(base, testHost)
	l := newLayout(root, testHost)
	for _, d := range []string{l.ConfDir, l.DataDir, l.DataDir + "/rapi", l.RunDir, l.LogDir,
		l.LockDir, l.QueueDir, l.QueueArchiveDir, l.XenConfigDir + "/scripts", l.XenConfigDir + "/xen"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(l.EtcHosts, []byte("127.0.0.1\tlocalhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	copyFile(t, "testdata/certs/cluster.pem", l.NodedCertFile)
	// root's ssh directory does not move with the root; a test node keeps
	// its own so that no test touches the machine's.
	l.SSHDir = filepath.Join(root, "root", ".ssh")
	// Nor do the machine's programs and kernel files: the suite runs as
	// root, so a test that forgot its fake would run Ganeti's real
	// daemon-util or ip, or reboot the machine through sysrq-trigger.
	// Here they do not exist; a test that needs one sets it.
	absent := filepath.Join(root, "not-in-tests")
	l.DaemonUtil = filepath.Join(absent, "daemon-util")
	l.IPCommand = filepath.Join(absent, "ip")
	l.MasterIPSetup = filepath.Join(absent, "master-ip-setup")
	l.KVMIfup = filepath.Join(absent, "kvm-ifup")
	l.SSHUpdateTool = filepath.Join(absent, "ssh-update")
	l.SysrqTrigger = filepath.Join(absent, "sysrq-trigger")
	return l
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// newTestNode is a node on a fresh test root, logging into the returned
// buffer. Users and groups map to the test's own ids (-1).
func newTestNode(t testing.TB) (*node, *syncBuffer) {
	t.Helper()
	buf := &syncBuffer{}
	lg, err := newLogger("", true, buf, false)
	if err != nil {
		t.Fatal(err)
	}
	ents := &ganetiEnts{users: map[string]int{}, groups: map[string]int{}}
	for _, u := range ganetiUsers {
		ents.users[u] = -1
	}
	for _, g := range ganetiGroups {
		ents.groups[g] = -1
	}
	return &node{paths: newTestRoot(t), log: lg, ents: ents}, buf
}

// newShortTestNode is newTestNode with its root below a short temporary
// directory instead of t.TempDir(), so that the Unix sockets below it
// (qemu's) stay under the 108-byte limit.
func newShortTestNode(t testing.TB) *node {
	t.Helper()
	n, _ := newTestNode(t)
	base, err := os.MkdirTemp("", "k")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	n.paths = newTestRootIn(t, base)
	return n
}

// rpcReply is a decoded [ok, result] reply.
type rpcReply struct {
	OK     bool
	Result json.RawMessage
}

// callRaw posts body to /name through the real HTTP handler.
func callRaw(t testing.TB, n *node, method, name, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "/"+name, strings.NewReader(body))
	rec := httptest.NewRecorder()
	(&rpcHandler{node: n}).ServeHTTP(rec, req)
	return rec
}

// call invokes a procedure with Go values as arguments and decodes the
// [ok, result] reply.
func call(t testing.TB, n *node, name string, args ...any) rpcReply {
	t.Helper()
	if args == nil {
		args = []any{}
	}
	body, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	return callBody(t, n, name, string(body))
}

// callBody invokes a procedure with a JSON argument list as written.
func callBody(t testing.TB, n *node, name, body string) rpcReply {
	t.Helper()
	rec := callRaw(t, n, http.MethodPost, name, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s: status %d: %s", name, rec.Code, rec.Body)
	}
	return decodeReply(t, rec.Body.Bytes())
}

func decodeReply(t testing.TB, body []byte) rpcReply {
	t.Helper()
	var pair []json.RawMessage
	if err := json.Unmarshal(body, &pair); err != nil || len(pair) != 2 {
		t.Fatalf("reply is not [ok, result]: %q", body)
	}
	var r rpcReply
	if err := json.Unmarshal(pair[0], &r.OK); err != nil {
		t.Fatalf("reply status is not a bool: %q", body)
	}
	r.Result = pair[1]
	return r
}

// mustOK checks the call succeeded and decodes its result into out (if not nil).
func mustOK(t testing.TB, r rpcReply, out any) {
	t.Helper()
	if !r.OK {
		t.Fatalf("call failed: %s", r.Result)
	}
	if out != nil {
		if err := json.Unmarshal(r.Result, out); err != nil {
			t.Fatalf("result %s: %v", r.Result, err)
		}
	}
}

// mustFail checks the call failed with a message containing want.
func mustFail(t testing.TB, r rpcReply, want string) {
	t.Helper()
	if r.OK {
		t.Fatalf("call succeeded (%s), want failure containing %q", r.Result, want)
	}
	var msg string
	if err := json.Unmarshal(r.Result, &msg); err != nil {
		t.Fatalf("failure message is not a string: %s", r.Result)
	}
	if !strings.Contains(msg, want) {
		t.Fatalf("failure %q does not contain %q", msg, want)
	}
}

// useOSSearchPath makes dirs the node's OS search path.
func useOSSearchPath(n *node, dirs ...string) { n.paths.OSSearchPath = dirs }

// testOSDir copies the test OS definitions (testdata/os) into a fresh
// directory, makes it the OS search path, and returns it. Their scripts
// record their environment in their working directory, which must be
// the OS's own: the debootstrap create script's is debootstrap/create.env.
func testOSDir(t *testing.T, n *node) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/os")); err != nil {
		t.Fatal(err)
	}
	useOSSearchPath(n, dir)
	return dir
}

// readOSEnv reads what a test OS script recorded (see testOSDir).
func readOSEnv(t *testing.T, osDir, script string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(osDir, "debootstrap", script+".env"))
	if err != nil {
		t.Fatalf("the %s script did not record its environment: %v", script, err)
	}
	return string(data)
}

// freePort returns a loopback port nobody listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// tlsConfigFor is the master's side: it presents certFile ("" for none)
// and accepts only the cluster certificate as the server's.
func tlsConfigFor(t testing.TB, certFile string) *tls.Config {
	t.Helper()
	cluster, err := os.ReadFile("testdata/certs/cluster.pem")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(cluster, cluster)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{
		InsecureSkipVerify: true, // Ganeti's certificates name no host; checked below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], pair.Certificate[0]) {
				return errors.New("server did not present the cluster certificate")
			}
			return nil
		},
	}
	if certFile != "" {
		client, err := tls.LoadX509KeyPair(certFile, certFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{client}
	}
	return cfg
}

func httpClient(cfg *tls.Config) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
}

func writeCandidates(t testing.TB, l *layout, digests ...string) {
	var b strings.Builder
	for i, d := range digests {
		fmt.Fprintf(&b, "uuid-%d=%s\n", i, d)
	}
	if err := os.WriteFile(l.ssconfPath("master_candidates_certs"), []byte(b.String()), 0o444); err != nil {
		t.Fatal(err)
	}
}

// fakeTool writes an executable shell script into dir.
func fakeTool(t *testing.T, dir, name, body string) string {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// withFakePath puts a directory of fake tools first on PATH (t.Setenv: a
// test using it cannot be parallel).
func withFakePath(t testing.TB) string {
	dir := t.TempDir()
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	return dir
}

// mustJSON is v as JSON.
func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// withProc points the node's /proc readers at recorded files.
func withProc(n *node) {
	n.paths.ProcMeminfo, n.paths.ProcCPUinfo, n.paths.BootIDFile = "testdata/proc/meminfo", "testdata/proc/cpuinfo", "testdata/proc/boot_id"
}

// mustAbs is p made absolute.
func mustAbs(t *testing.T, p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// zlibBase64 is data compressed and encoded as Ganeti sends compressed text.
func zlibBase64(t testing.TB, data string) string {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write([]byte(data))
	w.Close()
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// Digests of the certificates in testdata/certs.
const (
	clusterDigest = "DB:60:0F:2E:B7:02:1B:B7:FD:CC:8C:CB:1D:CB:40:F1:A4:4E:97:42"
	clientDigest  = "2D:07:5F:9F:4F:62:72:35:95:9F:6E:CD:E6:8A:53:71:B0:63:4F:D1"
	client2Digest = "36:F5:C4:1A:00:5E:35:09:75:84:0C:05:57:B1:E3:59:CC:2B:B9:9A"
	foreignDigest = "0E:59:35:B2:4D:41:77:87:04:A1:6D:6E:5C:69:24:92:9F:65:74:2F"
)

// fileHolds reports, as a test error, a file at path that cannot be read
// or does not hold exactly want; a caller that cannot go on without the
// content follows a false result with t.FailNow.
func fileHolds(t testing.TB, path, want string) bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v; want it to hold %q", err, want)
		return false
	}
	if string(data) != want {
		t.Errorf("%s holds %q, want %q", path, data, want)
		return false
	}
	return true
}

// A test node names none of the machine's programs or kernel files.
func TestTestNodeNamesNoHostPrograms(t *testing.T) {
	p := newTestRoot(t)
	for what, path := range map[string]string{
		"DaemonUtil": p.DaemonUtil, "IPCommand": p.IPCommand, "MasterIPSetup": p.MasterIPSetup,
		"KVMIfup": p.KVMIfup, "SSHUpdateTool": p.SSHUpdateTool, "SysrqTrigger": p.SysrqTrigger,
	} {
		if !strings.HasPrefix(path, p.Root+"/") {
			t.Errorf("test node's %s is the machine's %s", what, path)
		}
	}
}
