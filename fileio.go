package main

// Helpers for files, directories, PID files and locks that every concern
// shares; atomic writes are in atomic_write.go.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func syncDir(dir string) error {
	if dir == "" {
		dir = "."
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// readFileLimited reads a small file, refusing one larger than limit.
func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("file %s is larger than %d bytes", path, limit)
	}
	return data, nil
}

func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }

// readPidFile is the pid a PID file names (its first line), 0 when it
// names none.
func readPidFile(path string) int {
	data, err := readFileLimited(path, 64)
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// daemonAlive reads a Ganeti PID file and checks the process exists.
func daemonAlive(pidFile string) bool {
	pid := readPidFile(pidFile)
	if pid == 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// copyFileTemp copies src to a new file named prefix + random suffix.
func copyFileTemp(src, prefix string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(prefix), filepath.Base(prefix)+"*")
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(out.Name())
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// lockFile takes an exclusive flock on path (created if missing), waiting
// at most timeout, and returns the function that releases it.
func lockFile(path string, timeout time.Duration) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o664)
	if err != nil {
		return nil, fmt.Errorf("cannot open lock file %s: %w", path, err)
	}
	deadline := time.Now().Add(timeout)
	for wait := 10 * time.Millisecond; ; wait = min(wait*2, 500*time.Millisecond) {
		err := tryLock(f)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !isLocked(err) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("Failed to lock %s in exclusive mode: %v", path, err)
		}
		time.Sleep(wait)
	}
}

// tryLock takes an exclusive lock on f without waiting; isLocked tells
// whether its error means that another process holds the lock.
func tryLock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// unlock releases a lock taken by tryLock before f is closed.
func unlock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// isLocked tells whether tryLock failed because the lock is held elsewhere.
func isLocked(err error) bool { return errors.Is(err, syscall.EWOULDBLOCK) }

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// ensureDir makes a directory (and parents) with mode if missing.
func ensureDir(path string, mode os.FileMode) error {
	if err := os.MkdirAll(path, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}
