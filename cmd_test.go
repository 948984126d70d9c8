package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunCommand(t *testing.T) {
	t.Parallel()
	n, logs := newTestNode(t)
	res, err := n.runCommand(command{Args: []string{"sh", "-c", "echo out; echo err >&2; echo $LC_ALL $EXTRA"}, Env: []string{"EXTRA=x"}})
	if err != nil || res.ExitCode != 0 || res.Output != "out\nC x\nerr\n" || res.Stdout != "out\nC x\n" {
		t.Fatalf("got %+v, %v", res, err)
	}
	if !strings.Contains(logs.String(), "running sh -c") {
		t.Error("command not logged")
	}

	res, err = n.runCommand(command{Args: []string{"sh", "-c", "echo broken; exit 3"}})
	var ce *commandError
	if !errors.As(err, &ce) || res.ExitCode != 3 || !strings.Contains(err.Error(), "exit code 3): broken") {
		t.Fatalf("failing command: %+v, %v", res, err)
	}

	// A timeout kills the whole process group, grandchildren included.
	began := time.Now()
	res, err = n.runCommand(command{Args: []string{"sh", "-c", "sleep 30 & sleep 30; echo never"}, Timeout: 300 * time.Millisecond})
	if err == nil || !res.TimedOut || time.Since(began) > 10*time.Second || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("timeout: %+v, %v after %s", res, err, time.Since(began))
	}

	if _, err := n.runCommand(command{Args: []string{"/nonexistent/tool"}}); err == nil || !strings.Contains(err.Error(), "cannot run /nonexistent/tool") {
		t.Fatalf("missing tool: %v", err)
	}

	res, _ = n.runCommand(command{Args: []string{"sh", "-c", "head -c 3000000 /dev/zero"}})
	if len(res.Stdout) != maxCommandOutput {
		t.Fatalf("output not bounded: %d bytes", len(res.Output))
	}
	res, _ = n.runCommand(command{Args: []string{"cat"}, Stdin: []byte("fed")})
	if res.Output != "fed" {
		t.Fatalf("stdin: %q", res.Output)
	}
}

// TestStartDetachedCleansUpAfterFailure: a process whose pid cannot be
// recorded is not left running without one.
func TestStartDetachedCleansUpAfterFailure(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	dir := t.TempDir()
	marker := filepath.Join(dir, "pid")
	// /dev/full opens and locks, but refuses the write.
	err := n.startDetached(command{Args: []string{"sh", "-c", "echo $$ > " + marker + "; exec sleep 60"}}, "/dev/full", filepath.Join(dir, "log"))
	if err == nil || !strings.Contains(err.Error(), "/dev/full") {
		t.Fatalf("pid write to /dev/full: %v", err)
	}
	time.Sleep(time.Second)
	data, err := os.ReadFile(marker)
	if err != nil {
		return // killed before it could start
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			return
		}
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("process %d kept running without a pid file", pid)
}

// TestRunCommandTermGrace: a command ended through its context with a
// grace period gets SIGTERM first (a trap can clean up), and one that
// ignores it is killed, with its group, when the grace is over.
func TestRunCommandTermGrace(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	mark := filepath.Join(t.TempDir(), "cleaned")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	res, err := n.runCommand(command{Args: []string{"bash", "-c", "trap 'echo done > " + mark + "; exit 143' TERM; sleep 30 & wait"},
		Ctx: ctx, TermGrace: 5 * time.Second})
	if data, _ := os.ReadFile(mark); string(data) != "done\n" || err == nil || res.ExitCode == 0 {
		t.Fatalf("trap did not run on SIGTERM: %q, %+v, %v", data, res, err)
	}

	// Ignoring SIGTERM: killed after the grace, the group's sleep too.
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	began := time.Now()
	_, err = n.runCommand(command{Args: []string{"bash", "-c", "trap '' TERM; sleep 30 & echo $! > " + pidFile + "; wait"},
		Ctx: ctx, TermGrace: time.Second})
	took := time.Since(began)
	if err == nil || took < time.Second || took > 10*time.Second {
		t.Fatalf("ignored SIGTERM: %v after %s", err, took)
	}
	data, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	for deadline := time.Now().Add(5 * time.Second); pid > 0 && syscall.Kill(pid, 0) == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the group's sleep (%d) survived", pid)
		}
	}
	if pid <= 0 {
		t.Fatalf("no pid recorded: %q", data)
	}
}

// TestRunCommandSharedOutputKeepsOrder: a command whose standard output and
// error go to one file leaves its lines there in the order it wrote them,
// as an OS script's log must be.
func TestRunCommandSharedOutputKeepsOrder(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	path := filepath.Join(t.TempDir(), "log")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&want, "err %d\nout %d\n", i, i)
	}
	script := `i=0; while [ $i -lt 200 ]; do echo "err $i" >&2; echo "out $i"; i=$((i+1)); done`
	if _, err := n.runCommand(command{Args: []string{"/bin/sh", "-c", script}, StdoutTo: f, MergeStderr: true}); err != nil {
		t.Fatal(err)
	}
	fileHolds(t, path, want.String())
}
