package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestHooksRunner(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	dir := filepath.Join(n.paths.HooksBaseDir, "cluster-verify-post.d")
	mark := filepath.Join(t.TempDir(), "mark")
	fakeTool(t, dir, "10-env", `echo "$GANETI_CLUSTER $PATH" > `+mark+`; printf 'ok\ttab\nline'`)
	fakeTool(t, dir, "20-fail", "echo broken >&2; exit 1")
	fakeTool(t, dir, "30.sh", "echo skipped by name")
	os.WriteFile(filepath.Join(dir, "40-notexec"), []byte("#!/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".hidden"), []byte("#!/bin/sh\n"), 0o755)

	var res [][]any
	env := map[string]string{"GANETI_CLUSTER": "cluster.example.com", "PATH": "/sbin:/bin:/usr/sbin:/usr/bin"}
	mustOK(t, call(t, n, "hooks_runner", "cluster-verify", "post", env), &res)
	want := [][]any{
		{"cluster-verify-post.d/10-env", 2.0, `ok\ttab\nline`},
		{"cluster-verify-post.d/20-fail", 1.0, "broken"},
		{"cluster-verify-post.d/30.sh", 0.0, ""},
		{"cluster-verify-post.d/40-notexec", 0.0, ""},
	}
	if got, _ := json.Marshal(res); string(got) != string(mustJSON(want)) {
		t.Fatalf("results %s\nwant    %s", got, mustJSON(want))
	}
	// The hook environment must be exactly what the master sent.
	if !fileHolds(t, mark, "cluster.example.com /sbin:/bin:/usr/sbin:/usr/bin\n") {
		t.FailNow()
	}
	mustOK(t, call(t, n, "hooks_runner", "no-such-hooks", "pre", env), &res)
	if len(res) != 0 {
		t.Fatalf("missing directory ran %v", res)
	}
	mustFail(t, call(t, n, "hooks_runner", "cluster-verify", "middle", env), "Unknown hooks phase 'middle'")
	mustFail(t, call(t, n, "hooks_runner", "../../../tmp", "pre", env), "Invalid hooks path")
	mustFail(t, call(t, n, "hooks_runner", "x", "pre", map[string]string{"A=B": "c"}), "Invalid hook environment")
}

func TestSafeEncode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"plain": "plain", "a\tb\nc\rd": `a\tb\nc\'rd`, "\x01\x7f": `\x01\x7f`, "é€": `\xe9\u20ac`} {
		if got := safeEncode(in); got != want {
			t.Errorf("safeEncode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIallocatorRunner(t *testing.T) {
	n, _ := newTestNode(t)
	dir := t.TempDir()
	n.paths.IallocatorSearchPath = []string{filepath.Join(dir, "none"), dir}
	fakeTool(t, dir, "hail", `echo "args: $2 $3"; cat "$1"; echo noise >&2`)
	fakeTool(t, dir, "broken", "exit 3")
	var out string
	mustOK(t, call(t, n, "iallocator_runner", "hail", `{"request": 1}`, map[string]any{"a": "1", "b": nil}), &out)
	if out != "args: --a=1 --b\n{\"request\": 1}" {
		t.Fatalf("output %q (stdout only, options sorted)", out)
	}
	mustFail(t, call(t, n, "iallocator_runner", "missing", "{}", map[string]any{}), "iallocator module 'missing' not found in the search path")
	mustFail(t, call(t, n, "iallocator_runner", "../bin/sh", "{}", map[string]any{}), "not found in the search path")
	mustFail(t, call(t, n, "iallocator_runner", "broken", "{}", map[string]any{}), "iallocator module 'broken' failed")
}
