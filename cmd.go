package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Every external command the daemon runs goes through runCommand: it logs
// the command line, enforces a timeout (killing the whole process group),
// captures output up to a bound, and reports that output in errors.

const (
	defaultCommandTimeout = 5 * time.Minute
	maxCommandOutput      = 1 << 20
)

// command describes one run.
type command struct {
	Args    []string
	Env     []string // extra variables on top of the daemon's (LC_ALL=C added)
	Reset   bool     // start from an empty environment instead
	Dir     string
	Stdin   []byte
	Timeout time.Duration // 0 means defaultCommandTimeout
	// ExtraFiles are inherited as fds 3, 4, ... (qemu's tap devices).
	ExtraFiles []*os.File
	// Streams for long-running data commands (disk transfers): standard
	// input read from StdinFrom, standard output written to StdoutTo
	// instead of being captured, standard error copied to StderrTo too.
	// With MergeStderr, standard error goes to StdoutTo directly, in the
	// order the command wrote both (as Ganeti's RunCmd with an output
	// file), and is not captured.
	StdinFrom   io.Reader
	StdoutTo    io.Writer
	StderrTo    io.Writer
	MergeStderr bool
	// Ctx, when set, ends the command (killing its process group) when done.
	Ctx context.Context
	// TermGrace, when set, makes the end through Ctx gentler: SIGTERM to
	// the process group, then SIGKILL after TermGrace, as Ganeti's
	// import-export helper gives its data commands (OS scripts) time to
	// clean up. A timeout still kills at once.
	TermGrace time.Duration
	// Started, when set, is called once the command has started (not when
	// it could not), before waiting for it: restricted_command releases
	// its lock there, as Ganeti's postfork_fn does.
	Started func()
}

// cmdResult is what a finished command left.
type cmdResult struct {
	Output string // standard output followed by standard error, as Ganeti reports it
	Stdout string // standard output alone
	// Truncated tells that standard output went past maxCommandOutput:
	// a listing that parses may still be missing its end.
	Truncated bool
	ExitCode  int // -1 when killed by a signal
	TimedOut  bool
}

// commandError is a command that ran and failed; its message carries the
// command line, the exit status and the output.
type commandError struct {
	Cmdline string
	Result  *cmdResult
}

func (e *commandError) Error() string {
	why := fmt.Sprintf("exit code %d", e.Result.ExitCode)
	if e.Result.TimedOut {
		why = "timed out"
	}
	out := strings.TrimSpace(e.Result.Output)
	if out == "" {
		return fmt.Sprintf("%s failed (%s)", e.Cmdline, why)
	}
	return fmt.Sprintf("%s failed (%s): %s", e.Cmdline, why, truncate(out, 2000))
}

// boundedBuffer keeps the first maxCommandOutput bytes written.
type boundedBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	truncated bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := maxCommandOutput - b.buf.Len()
	if room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	if len(p) > room {
		b.truncated = true
	}
	return len(p), nil
}

// runCommand runs c and returns its result; the error is non-nil when the
// command could not start, timed out, or exited non-zero (then it is a
// *commandError and the result is returned too).
func (n *node) runCommand(c command) (*cmdResult, error) {
	if len(c.Args) == 0 {
		return nil, errors.New("runCommand: empty command")
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = defaultCommandTimeout
	}
	cmdline := strings.Join(redactArgs(c.Args), " ")
	parent := c.Ctx
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	env := []string{}
	if !c.Reset {
		env = append(os.Environ(), "LC_ALL=C")
	}
	cmd.Env = append(env, c.Env...)
	cmd.Dir = c.Dir
	cmd.ExtraFiles = c.ExtraFiles
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	if c.StdinFrom != nil {
		cmd.Stdin = c.StdinFrom
	}
	stdout, stderr := &boundedBuffer{}, &boundedBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if c.StdoutTo != nil {
		cmd.Stdout = c.StdoutTo
	}
	switch {
	case c.MergeStderr && c.StdoutTo != nil:
		cmd.Stderr = c.StdoutTo
	case c.StderrTo != nil:
		cmd.Stderr = io.MultiWriter(stderr, c.StderrTo)
	}
	// Own process group, so a timeout also ends what the command started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var hardKill atomic.Pointer[time.Timer] // set once the gentle end began
	cmd.Cancel = func() error {
		pgid := -cmd.Process.Pid
		if c.TermGrace > 0 && parent.Err() != nil {
			hardKill.Store(time.AfterFunc(c.TermGrace, func() { syscall.Kill(pgid, syscall.SIGKILL) }))
			return syscall.Kill(pgid, syscall.SIGTERM)
		}
		return syscall.Kill(pgid, syscall.SIGKILL)
	}
	cmd.WaitDelay = max(5*time.Second, c.TermGrace+time.Second)

	start := time.Now()
	n.log.Debugf("running %s", cmdline)
	err := cmd.Start()
	if err == nil {
		if c.Started != nil {
			c.Started()
		}
		err = cmd.Wait()
	}
	if t := hardKill.Load(); t != nil && t.Stop() {
		// What the group leader left behind gets no more grace.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	res := &cmdResult{Output: stdout.buf.String() + stderr.buf.String(), Stdout: stdout.buf.String(), ExitCode: cmd.ProcessState.ExitCode(),
		Truncated: stdout.truncated}
	if cmd.ProcessState == nil {
		n.log.Warningf("cannot run %s: %v", cmdline, err)
		return nil, fmt.Errorf("cannot run %s: %w", cmdline, err)
	}
	// A command that ended by itself just as its time ran out did not
	// time out: its exit status stands.
	res.TimedOut = err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded)
	n.log.Debugf("%s: exit %d after %s", cmdline, res.ExitCode, time.Since(start).Round(time.Millisecond))
	if err != nil || res.TimedOut {
		n.log.Warningf("command %s failed: exit %d, timed out %v", cmdline, res.ExitCode, res.TimedOut)
		return res, &commandError{Cmdline: cmdline, Result: res}
	}
	return res, nil
}

// startDetached starts a long-lived process in its own session, with its
// output appended to logFile and a locked pid file that it holds (as fd 3)
// for as long as it lives.
func (n *node) startDetached(c command, pidPath, logFile string) error {
	os.MkdirAll(filepath.Dir(logFile), 0o750)
	logOut, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("cannot open log file: %w", err)
	}
	defer logOut.Close()
	pidOut, err := os.OpenFile(pidPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer pidOut.Close()
	if err := tryLock(pidOut); err != nil {
		return fmt.Errorf("cannot lock %s: %w", pidPath, err)
	}
	cmd := exec.Command(c.Args[0], c.Args[1:]...)
	cmd.Env = append(append(os.Environ(), "LC_ALL=C"), c.Env...)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logOut, logOut
	cmd.ExtraFiles = []*os.File{pidOut}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	n.log.Infof("starting %s", strings.Join(c.Args, " "))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start %s: %w", c.Args[0], err)
	}
	go cmd.Wait() // reap it; it outlives this call, not the daemon's restarts
	_, err = pidOut.WriteString(strconv.Itoa(cmd.Process.Pid) + "\n")
	if err == nil {
		err = pidOut.Sync()
	}
	if err != nil {
		// Without its pid nobody could stop it: end it (and its session).
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return fmt.Errorf("cannot write pid file %s: %w", pidPath, err)
	}
	return nil
}

// secretOptions are options whose value is a secret: never in a log line
// or an error (the DRBD peers' shared secret).
var secretOptions = []string{"--shared-secret"}

// redactArgs is argv with the values of secretOptions replaced.
func redactArgs(args []string) []string {
	out := slices.Clone(args)
	for i := 1; i < len(out); i++ {
		if slices.Contains(secretOptions, out[i-1]) {
			out[i] = "<redacted>"
		}
	}
	return out
}
