package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
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

// useOSSearchPath makes dirs the OS search path for the test.
func useOSSearchPath(t *testing.T, dirs ...string) {
	t.Helper()
	old := osSearchPath
	t.Cleanup(func() { osSearchPath = old })
	osSearchPath = dirs
}

// testOSDir copies the test OS definitions (testdata/os) into a fresh
// directory, makes it the OS search path, and returns it. Their scripts
// record their environment in their working directory, which must be
// the OS's own: the debootstrap create script's is debootstrap/create.env.
func testOSDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/os")); err != nil {
		t.Fatal(err)
	}
	useOSSearchPath(t, dir)
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
