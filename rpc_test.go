package main

import (
	"bytes"
	"compress/zlib"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	var v int
	mustOK(t, call(t, n, "version"), &v)
	if v != 3000000 {
		t.Fatalf("version = %d, want 3000000", v)
	}
}

func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	for _, tc := range []struct {
		method, name, body string
		status             int
		text               string
	}{
		{http.MethodGet, "version", "", 400, "Only the POST method is supported"},
		{http.MethodPut, "version", "[]", 400, "Only the POST method is supported"},
		{http.MethodPost, "no_such_procedure", "[]", 404, "no_such_procedure"},
		{http.MethodPost, "", "[]", 404, "Unknown procedure"},
		{http.MethodPost, "version", "", 400, "JSON list"},
		{http.MethodPost, "node_info", "{}", 400, "JSON list"},      // version and export_list take {} (TestNoArgProceduresTakeObjectBody)
		{http.MethodPost, "version", "null", 200, "[true,3000000]"}, // null is no arguments, as in 3.0.2
		{http.MethodPost, "test_delay", "null", 400, "JSON list"},
		{http.MethodPost, "test_delay", "[1, 2]", 400, "test_delay takes 1 arguments, the request lists more"},
		{http.MethodPost, "version", "[1,", 400, "JSON list"},
		{http.MethodPost, "version", `"x"`, 400, "JSON list"},
	} {
		rec := callRaw(t, n, tc.method, tc.name, tc.body)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.text) {
			t.Errorf("%s /%s %q: got %d %q, want %d containing %q", tc.method, tc.name, tc.body, rec.Code, rec.Body, tc.status, tc.text)
		}
		if rec.Header().Get("Connection") != "close" {
			t.Errorf("%s /%s: no Connection: close", tc.method, tc.name)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	big := "[\"" + strings.Repeat("a", maxRequestBody) + "\"]"
	rec := callRaw(t, n, http.MethodPost, "version", big)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: status %d", rec.Code)
	}
	// A large legitimate body (a 20 MB configuration upload) passes.
	cfg := strings.Repeat("x", 20<<20)
	r := call(t, n, "upload_file_single", n.paths.ClusterConfFile, []any{0, cfg}, 0o640, "root", "root", nil, nil)
	mustOK(t, r, nil)
}

func TestArgumentErrors(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	mustFail(t, call(t, n, "test_delay"), "test_delay: expected 1 arguments, got 0")
	mustFail(t, call(t, n, "test_delay", "soon"), "test_delay: argument 1")
	mustFail(t, call(t, n, "bridges_exist", "br0"), "bridges_exist: argument 1")
}

// TestNotImplemented adds to the global procedure table, so it runs
// serially: a procedure without a handler answers so.
func TestNotImplemented(t *testing.T) {
	n, _ := newTestNode(t)
	procedures["test_unimplemented"] = rpcProcedure{args: 0}
	defer delete(procedures, "test_unimplemented")
	mustFail(t, call(t, n, "test_unimplemented"), "test_unimplemented: not implemented")
}

func TestProcedureTableIsComplete(t *testing.T) {
	t.Parallel()
	// Every perspective_* of Ganeti 3.0's noded (108) plus resize_disk.
	if len(procedures) != 109 {
		t.Fatalf("procedure table has %d entries, want 109", len(procedures))
	}
	for name, p := range procedures {
		if p.run == nil && !strings.HasPrefix(name, "test_") {
			t.Errorf("%s has no handler", name)
		}
	}
}

// TestPanicBecomesBackendError adds to the global procedure table, so it
// runs serially.
func TestPanicBecomesBackendError(t *testing.T) {
	n, logs := newTestNode(t)
	procedures["test_panic"] = rpcProcedure{args: 0, run: func(*node, []json.RawMessage) (any, error) { panic("boom") }}
	defer delete(procedures, "test_panic")
	srv := httptest.NewServer(newHTTPServer(n).Handler)
	defer srv.Close()
	post := func(name string) rpcReply {
		resp, err := http.Post(srv.URL+"/"+name, "application/json", strings.NewReader("[]"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		return decodeReply(t, buf.Bytes())
	}
	mustFail(t, post("test_panic"), "Error while executing backend function: boom")
	mustOK(t, post("version"), nil) // still serving
	if !strings.Contains(logs.String(), "panic in procedure test_panic: boom") {
		t.Fatalf("panic not logged: %s", logs)
	}
}

func TestAuditLine(t *testing.T) {
	t.Parallel()
	n, logs := newTestNode(t)
	call(t, n, "version")
	call(t, n, "test_delay", -1)
	out := logs.String()
	for _, want := range []string{`proc="version"`, `outcome="ok"`, `proc="test_delay"`, `outcome="failed: Invalid sleep duration`, "peer=192.0.2.1:1234", "cert=-", "duration="} {
		if !strings.Contains(out, want) {
			t.Errorf("audit log lacks %q:\n%s", want, out)
		}
	}
}

func TestCompressedText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{`[0, "plain"]`, "plain", true},
		{`[1, "` + zlibBase64(t, "zipped text") + `"]`, "zipped text", true},
		{`"bare"`, "bare", true},
		{`[2, "x"]`, "", false},
		{`[1, "not base64!"]`, "", false},
		{`[1, "` + base64.StdEncoding.EncodeToString([]byte("not zlib")) + `"]`, "", false},
		{`[0]`, "", false},
		{`{"a":1}`, "", false},
	} {
		var c compressedText
		err := json.Unmarshal([]byte(tc.in), &c)
		if (err == nil) != tc.ok || (tc.ok && string(c) != tc.want) {
			t.Errorf("%s: got %q, %v", tc.in, c, err)
		}
	}
}

func TestCompressedTextBomb(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	chunk := make([]byte, 1<<20)
	for i := 0; i < maxDecompressed>>20+1; i++ {
		w.Write(chunk)
	}
	w.Close()
	in, _ := json.Marshal([]any{1, base64.StdEncoding.EncodeToString(b.Bytes())})
	var c compressedText
	if err := json.Unmarshal(in, &c); err == nil || !strings.Contains(err.Error(), "expands beyond") {
		t.Fatalf("zlib bomb accepted: %v", err)
	}
}

func TestCertDigestMatchesOpenSSL(t *testing.T) {
	t.Parallel()
	for file, want := range map[string]string{
		"cluster.pem": "DB:60:0F:2E:B7:02:1B:B7:FD:CC:8C:CB:1D:CB:40:F1:A4:4E:97:42",
		"client.pem":  "2D:07:5F:9F:4F:62:72:35:95:9F:6E:CD:E6:8A:53:71:B0:63:4F:D1",
	} {
		_, leaf, err := loadKeyPair("testdata/certs/"+file, "testdata/certs/"+file)
		if err != nil {
			t.Fatal(err)
		}
		if got := certDigest(leaf); got != want {
			t.Errorf("%s: digest %s, want %s", file, got, want)
		}
	}
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

// gateForTest serves a gate listener on loopback; cfg nil is plain. tune,
// if given, changes its settings before it starts.
func gateForTest(t *testing.T, cfg *tls.Config, maxClients int, tune ...func(*gateListener)) (*gateListener, *syncBuffer) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	buf := &syncBuffer{}
	lg, _ := newLogger("", true, buf, false)
	l := newGateListener(inner, cfg, maxClients, nil, lg)
	for _, f := range tune {
		f(l)
	}
	l.start()
	t.Cleanup(func() { l.Close() })
	return l, buf
}

// acceptInto hands every connection l accepts to a channel.
func acceptInto(l net.Listener) chan net.Conn {
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	return accepted
}

func dialOrFail(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestGateListenerSlots(t *testing.T) {
	t.Parallel()
	l, _ := gateForTest(t, nil, 1)
	accepted := acceptInto(l)
	dialOrFail(t, l.Addr())
	dialOrFail(t, l.Addr())
	first := <-accepted
	select {
	case <-accepted:
		t.Fatal("second connection handed over while the first holds the only slot")
	case <-time.After(200 * time.Millisecond):
	}
	first.Close()
	first.Close() // a double close must not free two slots
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("second connection not handed over after the first closed")
	}
	dialOrFail(t, l.Addr())
	select {
	case <-accepted:
		t.Fatal("a double close freed two slots")
	case <-time.After(200 * time.Millisecond):
	}
}

// Handshakes do not take slots: idle and trickling unauthenticated
// connections, far more than the slots, do not delay a candidate.
// Not parallel: it measures a hand-over latency (500 ms) that the load of
// parallel tests distorts on a small machine.
func TestGateListenerHandshakesOutsideSlots(t *testing.T) {
	cfg, _ := serverConfigForTest(t, clientDigest)
	l, _ := gateForTest(t, cfg, 2)
	accepted := acceptInto(l)
	for i := 0; i < 50; i++ {
		dialOrFail(t, l.Addr()) // never says a word
	}
	for i := 0; i < 50; i++ {
		c := dialOrFail(t, l.Addr())
		go func() {
			for _, b := range []byte{0x16, 0x03, 0x01, 0x02, 0x00} {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(300 * time.Millisecond)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	for i := 0; i < 3; i++ {
		began := time.Now()
		c, err := tls.Dial("tcp", l.Addr().String(), tlsConfigFor(t, "testdata/certs/client.pem"))
		if err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-accepted:
			if took := time.Since(began); took > 500*time.Millisecond {
				t.Errorf("candidate handed over after %s", took)
			}
			got.Close()
		case <-time.After(2 * time.Second):
			t.Fatal("candidate not handed over while unauthenticated connections wait")
		}
		c.Close()
	}
}

func TestGateListenerHandshakeTimeoutAndRefusal(t *testing.T) {
	t.Parallel()
	cfg, _ := serverConfigForTest(t, clientDigest)
	l, logs := gateForTest(t, cfg, 1, func(l *gateListener) { l.handshakeTimeout = 300 * time.Millisecond })
	accepted := acceptInto(l)

	idle := dialOrFail(t, l.Addr())
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	began := time.Now()
	if _, err := io.ReadAll(idle); err != nil {
		t.Fatalf("idle connection not closed by the daemon: %v", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("idle connection closed after %s, want about 300ms", took)
	}

	// A refused certificate never reaches the server, and says why.
	if c, err := tls.Dial("tcp", l.Addr().String(), tlsConfigFor(t, "testdata/certs/client2.pem")); err == nil {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		c.Read(make([]byte, 1)) // TLS 1.3: the refusal arrives after the client's Finished
		c.Close()
	}
	select {
	case <-accepted:
		t.Fatal("connection with a non-candidate certificate handed over")
	case <-time.After(300 * time.Millisecond):
	}
	if !strings.Contains(logs.String(), "is not a master candidate's") {
		t.Errorf("refusal not logged:\n%s", logs)
	}
}

func TestGateListenerDropsOldestPending(t *testing.T) {
	t.Parallel()
	cfg, _ := serverConfigForTest(t, clientDigest)
	l, _ := gateForTest(t, cfg, 1, func(l *gateListener) { l.maxPending = 3 })
	var idle []net.Conn
	for i := 0; i < 4; i++ {
		idle = append(idle, dialOrFail(t, l.Addr()))
		time.Sleep(50 * time.Millisecond) // accepted in this order
	}
	idle[0].SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadAll(idle[0]); err != nil {
		t.Fatalf("oldest pending connection not dropped: %v", err)
	}
	idle[3].SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := idle[3].Read(make([]byte, 1)); err == nil || !os.IsTimeout(err) {
		t.Fatalf("newest pending connection dropped: %v", err)
	}
}

func TestDecodeBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		arity int
		body  string
		n     int
		err   string
	}{
		{"version", 0, `[]`, 0, ""},
		{"version", 0, `null`, 0, ""},
		{"version", 0, ` {} `, 0, ""},
		{"node_volumes", 0, `{}`, 0, "must be a JSON list"},
		{"test_delay", 1, `null`, 0, "must be a JSON list"},
		{"test_delay", 1, `[1]`, 1, ""},
		{"test_delay", 1, `[1, 2]`, 0, "takes 1 arguments"},
		{"version", 0, `[1]`, 0, "takes 0 arguments"},
		{"instance_console_info", 1, `{"a": 1}`, 1, ""},
		{"test_delay", 1, `[1`, 0, "must be a JSON list"},
		{"test_delay", 1, `[1] [2]`, 0, "must be a JSON list"},
		{"test_delay", 1, `"x"`, 0, "must be a JSON list"},
		{"test_delay", 1, ``, 0, "must be a JSON list"},
		{"test_delay", 1, "[" + strings.Repeat("0,", maxBodyValues) + "0]", 0, "more than"},
		{"test_delay", 1, "[[" + strings.Repeat("0,", maxBodyValues) + "0]]", 0, "more than"},
		// Commas inside strings are no values.
		{"jobqueue_update", 2, `["f", "` + strings.Repeat(",", 2*maxBodyValues) + `"]`, 2, ""},
	} {
		args, err := decodeBody(tc.name, tc.arity, []byte(tc.body))
		label := tc.body
		if len(label) > 40 {
			label = label[:40] + "…"
		}
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %s: err %v, want %q", tc.name, label, err, tc.err)
			}
			continue
		}
		if err != nil || len(args) != tc.n {
			t.Errorf("%s %s: %d args, err %v; want %d", tc.name, label, len(args), err, tc.n)
		}
	}
}

func TestCountJSONValues(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]int{
		`1`: 1, `[]`: 2, `[1,2,3]`: 4, `{"a":1,"b":[1,2]}`: 5, `"a,b[c{"`: 1, `["\",", 1]`: 3, `"\\",`: 2,
	} {
		if got := countJSONValues([]byte(body)); got != want {
			t.Errorf("%s: %d, want %d", body, got, want)
		}
		var v any
		if json.Unmarshal([]byte(body), &v) != nil && body != `"\\",` {
			t.Errorf("%s: test body not JSON", body)
		}
	}
}

// The arity table is Ganeti's: the length of each call's argument list in
// the master's rpc_defs.py.
func TestProcedureArityMatchesGaneti(t *testing.T) {
	t.Parallel()
	const ganeti = "/usr/share/ganeti/3.0"
	if _, err := os.Stat(ganeti + "/ganeti/rpc_defs.py"); err != nil {
		t.Skip("Ganeti 3.0 is not installed")
	}
	script := `
import sys
sys.path.insert(0, "` + ganeti + `")
from ganeti import rpc_defs
for calls in rpc_defs.CALLS.values():
    for c in calls.values():
        print(c[0], len(c[4]))
`
	out, err := exec.Command("/usr/bin/python3", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var name string
		var n int
		if _, err := fmt.Sscan(line, &name, &n); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		seen[name] = true
		p, ok := procedures[name]
		if !ok {
			t.Errorf("%s: in Ganeti's rpc_defs, not in the table", name)
		} else if p.args != n {
			t.Errorf("%s: %d arguments in the table, %d in Ganeti", name, p.args, n)
		}
	}
	// Not in 3.0's master: the query daemon's and 3.1's calls.
	for name, want := range map[string]int{"instance_console_info": 1, "resize_disk": 3} {
		seen[name] = true
		if procedures[name].args != want {
			t.Errorf("%s: %d arguments, want %d", name, procedures[name].args, want)
		}
	}
	for name := range procedures {
		if !seen[name] && name != "test_panic" {
			t.Errorf("%s: in the table, not in Ganeti", name)
		}
	}
}

// splitJSONList agrees with encoding/json on where the elements are.
func TestSplitJSONList(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`[]`, `[ ]`, `[1]`, `[1,2]`, ` [ "a,b" , [1,[2,3]] ,{"k":[1,"]"]}, null, "\"]", -1.5e3 ] `,
		`[[], {}, ""]`, `["\\\\", "\u005c"]`} {
		var want []json.RawMessage
		if err := json.Unmarshal([]byte(body), &want); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		got, more := splitJSONList([]byte(strings.TrimSpace(body)), 10)
		if more || fmt.Sprintf("%s", got) != fmt.Sprintf("%s", want) {
			t.Errorf("%s: got %s (more %v), want %s", body, got, more, want)
		}
		if len(want) > 0 {
			if _, more := splitJSONList([]byte(strings.TrimSpace(body)), len(want)-1); !more {
				t.Errorf("%s: a bound of %d elements not reported", body, len(want)-1)
			}
		}
	}
}

// A client refused in a loop writes a bounded number of log lines.
func TestGateListenerRefusalLogIsBounded(t *testing.T) {
	t.Parallel()
	cfg, _ := serverConfigForTest(t, clientDigest)
	l, logs := gateForTest(t, cfg, 1)
	acceptInto(l)
	for i := 0; i < 200; i++ {
		c := dialOrFail(t, l.Addr())
		io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		io.ReadAll(c)
		c.Close()
	}
	time.Sleep(100 * time.Millisecond)
	if n := strings.Count(logs.String(), "refused"); n > refusalLogBurst || n == 0 {
		t.Fatalf("%d refusal lines for 200 refused clients, want 1..%d", n, refusalLogBurst)
	}
}
