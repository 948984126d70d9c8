package main

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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

func TestNotImplemented(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	mustFail(t, call(t, n, "drbd_wait_sync", []any{}), "drbd_wait_sync: not implemented")
}

func TestProcedureTableIsComplete(t *testing.T) {
	t.Parallel()
	// Every perspective_* of Ganeti 3.0's noded (108) plus resize_disk.
	if len(procedures) != 109 {
		t.Fatalf("procedure table has %d entries, want 109", len(procedures))
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
