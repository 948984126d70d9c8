package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// A detached daemon is this binary started again in its own session with
// the startup pipe as fd 3; Go cannot fork a running runtime.
const (
	detachedEnv  = "GANETI_NODED_DETACHED"
	readyMessage = "ready"
)

func isDetachedChild() bool { return os.Getenv(detachedEnv) == "1" }

// startupPipe is the write end the parent waits on.
func startupPipe() io.WriteCloser { return os.NewFile(3, "startup-pipe") }

// detach starts the daemon in the background and returns 0 once it
// listens, or 1 with the daemon's startup error on stderr, as
// `daemon-util start` expects.
func detach(stderr io.Writer) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "cannot find own executable: %v\n", err)
		return 1
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "cannot create startup pipe: %v\n", err)
		return 1
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "cannot open %s: %v\n", os.DevNull, err)
		return 1
	}
	defer devnull.Close()
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), detachedEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "cannot start daemon: %v\n", err)
		return 1
	}
	w.Close()
	// The child lives on; only its startup verdict matters here.
	msg, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	r.Close()
	if string(bytes.TrimSpace(msg)) == readyMessage {
		cmd.Process.Release()
		return 0
	}
	cmd.Wait()
	if len(bytes.TrimSpace(msg)) == 0 {
		msg = []byte("daemon exited during startup (see the log file)\n")
	}
	stderr.Write(msg)
	return 1
}

// pidFile is the locked PID file; the lock lasts until release or the end
// of the process.
type pidFile struct {
	path string
	f    *os.File
}

// lockPidFile creates and locks the PID file; a second daemon finds it
// locked and refuses to start. A daemon that is shutting down unlinks the
// file before it drops the lock, so a lock won on a file that is no longer
// at path is retried on the new file.
func lockPidFile(path string) (*pidFile, error) {
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("cannot open PID file %s: %w", path, err)
		}
		if err := tryLock(f); err != nil {
			f.Close()
			if isLocked(err) {
				return nil, fmt.Errorf("PID file '%s' is locked by another process (is %s already running?)", path, daemonName)
			}
			return nil, fmt.Errorf("cannot lock PID file %s: %w", path, err)
		}
		if !namesOpenFile(f, path) {
			f.Close()
			if attempt < 10 {
				continue
			}
			return nil, fmt.Errorf("cannot lock PID file %s: it keeps being replaced", path)
		}
		if err := f.Truncate(0); err == nil {
			_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("cannot write PID file %s: %w", path, err)
		}
		return &pidFile{path: path, f: f}, nil
	}
}

// release removes the PID file and drops its lock, in that order, so that
// `start-stop-daemon --start` finds no daemon and the next one locks a
// fresh file. Only our own file is removed: once released, the path may
// belong to the next daemon. Calling it again does nothing.
func (p *pidFile) release() {
	if p.f == nil {
		return
	}
	if namesOpenFile(p.f, p.path) {
		os.Remove(p.path)
	}
	p.f.Close()
	p.f = nil
}

// setProcessName renames the process (its comm, as ps and /proc/PID/stat
// show it). A draining daemon takes another name so that
// `start-stop-daemon --stop --name ganeti-noded`, which keeps polling the
// PID it read from the PID file, sees the daemon gone.
func setProcessName(name string) error {
	// /proc/self is the thread-group leader, whose comm names the process;
	// any thread of the group may write it.
	if err := os.WriteFile("/proc/self/comm", []byte(name), 0); err != nil {
		return fmt.Errorf("cannot rename the process to %q: %w", name, err)
	}
	return nil
}
