package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRunOOB(t *testing.T) {
	t.Parallel() // its timed-out helper costs the 5 s kill grace
	n, _ := newTestNode(t)
	bin := t.TempDir()
	oob := fakeTool(t, bin, "oob", `[ "$1" = power-status ] && echo '{"powered": true}'; [ "$1" = health ] && exit 2; exit 0`)
	var out map[string]any
	mustOK(t, call(t, n, "run_oob", oob, "power-status", "node1.example.com", 60), &out)
	if out["powered"] != true {
		t.Fatalf("oob output %v", out)
	}
	var none any
	mustOK(t, call(t, n, "run_oob", oob, "power-on", "node1.example.com", 60), &none)
	if none != nil {
		t.Fatalf("silent helper returned %v", none)
	}
	mustFail(t, call(t, n, "run_oob", oob, "health", "node1.example.com", 60), "failed with reason 'exited with exit code 2'")
	mustFail(t, call(t, n, "run_oob", oob, "rm -rf", "node1.example.com", 60), "Unknown out-of-band command")
	mustFail(t, call(t, n, "run_oob", "oob", "power-on", "node1.example.com", 60), "not an absolute path")
	slow := fakeTool(t, bin, "slow", "sleep 30")
	began := time.Now()
	mustFail(t, call(t, n, "run_oob", slow, "power-on", "node1.example.com", 0.2), "terminated after timeout")
	if time.Since(began) > 15*time.Second {
		t.Fatal("oob timeout not enforced")
	}
}

func TestRunRestrictedCommand(t *testing.T) {
	t.Parallel()
	n, logs := newTestNode(t)
	dir := restrictedCommandsDir(t, n)
	fakeTool(t, dir, "uptime-check", `echo "env:$(env | grep -v '^PWD=' | grep -v '^SHLVL=' | grep -v '^_=' | wc -l)"`)
	fakeTool(t, dir, "fails", "echo bad; exit 4")
	var s string
	mustOK(t, call(t, n, "restricted_command", "uptime-check"), &s)
	if s != "env:0\n" {
		t.Fatalf("restricted command output %q (must run with an empty environment)", s)
	}
	mustFail(t, call(t, n, "restricted_command", "fails"), "Restricted command 'fails' failed: exited with exit code 4; output: bad")
	for _, bad := range []string{"../../bin/sh", "", "a b", "missing"} {
		mustFail(t, call(t, n, "restricted_command", bad), "Executing command '"+bad+"' failed")
	}
	os.Chmod(filepath.Join(dir, "uptime-check"), 0o777)
	mustFail(t, call(t, n, "restricted_command", "uptime-check"), "Executing command 'uptime-check' failed")
	if !strings.Contains(logs.String(), "too permissive") {
		t.Fatal("the real reason is not logged")
	}
}

// restrictedCommandsDir prepares n's restricted commands directory for an
// unprivileged test (owned by the test's user, a short failure delay) and
// returns it.
func restrictedCommandsDir(t *testing.T, n *node) string {
	t.Helper()
	n.restrictedOwner = [2]uint32{uint32(os.Getuid()), uint32(os.Getgid())}
	n.waits.restrictedFailure = 10 * time.Millisecond
	dir := n.paths.RestrictedCommandsDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	return dir
}

// A restricted command that hangs must not hold the lock: Ganeti releases
// it once the command has started.
func TestRestrictedCommandUnlocksOnceStarted(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	dir := restrictedCommandsDir(t, n)
	flags := t.TempDir()
	started, release := filepath.Join(flags, "started"), filepath.Join(flags, "release")
	fakeTool(t, dir, "hangs", ": >"+started+"; while [ ! -e "+release+" ]; do sleep 0.05; done; echo done")
	fakeTool(t, dir, "quick", "echo quick")

	first := make(chan rpcReply, 1)
	go func() { first <- call(t, n, "restricted_command", "hangs") }()
	defer func() {
		os.WriteFile(release, nil, 0o644)
		var s string
		mustOK(t, <-first, &s)
		if s != "done\n" {
			t.Errorf("hung command's output %q after release", s)
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hung command never started")
		}
	}
	began := time.Now()
	var s string
	mustOK(t, call(t, n, "restricted_command", "quick"), &s)
	if s != "quick\n" {
		t.Fatalf("second command's output %q", s)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Fatalf("second restricted command took %s while the first hung", d)
	}
}
