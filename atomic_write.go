package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// writeOptions describes the file writeFileAtomic produces.
type writeOptions struct {
	Mode     os.FileMode // 0 means 0600
	UID, GID int         // -1 keeps the daemon's own
	Times    *[2]time.Time
}

// writeFileAtomic replaces path with data so that readers see either the old
// or the new file, never a partial one: temporary file in the same directory,
// fsync, rename, fsync of the directory.
func writeFileAtomic(path string, data []byte, opt writeOptions) error {
	return writeFilesAtomic([]fileContent{{Path: path, Data: data, Opt: opt}})
}

// fileContent is one file for writeFilesAtomic.
type fileContent struct {
	Path string
	Data []byte
	Opt  writeOptions
}

// writeFilesAtomic replaces several files all or nothing: every new file
// is written to a temporary beside its target and fsynced before the first
// rename, so a full disk or any other write error removes the temporaries
// and leaves every target as it was. Renames within a directory need no
// space; should one still fail (an I/O error), the files before it stay
// replaced and the rest are not.
func writeFilesAtomic(files []fileContent) error {
	temps := make([]*os.File, 0, len(files))
	renamed := 0
	defer func() {
		for i, tmp := range temps {
			if i >= renamed {
				os.Remove(tmp.Name())
			}
			tmp.Close() // drops the lock only after the rename
		}
	}()
	for _, f := range files {
		tmp, err := writeTemp(f)
		if err != nil {
			return err
		}
		temps = append(temps, tmp)
	}
	dirs := map[string]bool{}
	for i, f := range files {
		if err := os.Rename(temps[i].Name(), f.Path); err != nil {
			return err
		}
		renamed++
		dirs[filepath.Dir(f.Path)] = true
	}
	for dir := range dirs {
		if err := syncDir(dir); err != nil {
			return err
		}
	}
	return nil
}

// tempSuffix ends the temporary files of writeFilesAtomic, which are named
// "." + target name + "." + random digits + tempSuffix (os.CreateTemp).
const tempSuffix = ".new"

// createLockedTemp creates the temporary for target and holds a shared
// flock on it until it is closed, which tells removeStaleTemps (of another
// daemon starting meanwhile) that it is in use. A temporary removed before
// the lock was taken is created anew.
func createLockedTemp(target string) (*os.File, error) {
	dir, base := filepath.Split(target)
	for attempt := 0; ; attempt++ {
		tmp, err := os.CreateTemp(dir, "."+base+".*"+tempSuffix)
		if err != nil {
			return nil, err
		}
		err = syscall.Flock(int(tmp.Fd()), syscall.LOCK_SH)
		if err == nil && namesOpenFile(tmp, tmp.Name()) {
			return tmp, nil
		}
		tmp.Close()
		if err != nil || attempt == 3 {
			os.Remove(tmp.Name())
			if err == nil {
				return nil, fmt.Errorf("temporary file %s was replaced before it could be locked, %d times", tmp.Name(), attempt+1)
			}
			return nil, fmt.Errorf("cannot lock temporary file %s: %v", tmp.Name(), err)
		}
	}
}

// isOwnTemp tells whether a directory entry is named as createLockedTemp
// names the temporary of one of targets (of any file when targets is
// empty): "." + target + "." + decimal digits + ".new".
func isOwnTemp(name string, targets []string) bool {
	rest, dot := strings.CutPrefix(name, ".")
	rest, suffix := strings.CutSuffix(rest, tempSuffix)
	i := strings.LastIndexByte(rest, '.')
	if !dot || !suffix || i <= 0 || i == len(rest)-1 {
		return false
	}
	for _, c := range rest[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(targets) == 0 || slices.Contains(targets, rest[:i])
}

// removeStaleTemps removes from dir (not below it) the temporaries that a
// daemon killed during writeFilesAtomic left behind: regular files named
// as ours that no writer holds locked. It returns the names it removed;
// a missing dir has none.
func removeStaleTemps(dir string, targets []string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if isNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot list %s for stale temporary files: %w", dir, err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || !isOwnTemp(e.Name(), targets) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
		if err != nil {
			continue // gone meanwhile, or not ours to touch
		}
		if tryLock(f) == nil && namesOpenFile(f, path) {
			if err := os.Remove(path); err != nil {
				errs = append(errs, fmt.Errorf("cannot remove stale temporary file: %w", err))
			} else {
				removed = append(removed, e.Name())
			}
		}
		f.Close()
	}
	return removed, errors.Join(errs...)
}

// namesOpenFile tells whether path still names the open file f.
func namesOpenFile(f *os.File, path string) bool {
	open, err := f.Stat()
	if err != nil {
		return false
	}
	named, err := os.Stat(path)
	return err == nil && os.SameFile(open, named)
}

// writeTempHook, set by tests only, can fail the write of the temporary
// for target as a full disk would.
var writeTempHook func(target string) error

// writeTemp writes f's data to a new fsynced temporary file beside f.Path
// and returns it still open, so still locked (see createLockedTemp); on
// error nothing is left behind.
func writeTemp(f fileContent) (_ *os.File, err error) {
	tmp, err := createLockedTemp(f.Path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	mode := f.Opt.Mode
	if mode == 0 {
		mode = 0o600
	}
	if err = tmp.Chmod(mode); err != nil {
		return nil, err
	}
	if f.Opt.UID != -1 || f.Opt.GID != -1 {
		if err = tmp.Chown(f.Opt.UID, f.Opt.GID); err != nil {
			return nil, err
		}
	}
	if writeTempHook != nil {
		if err = writeTempHook(f.Path); err != nil {
			return nil, err
		}
	}
	if _, err = tmp.Write(f.Data); err != nil {
		return nil, err
	}
	if err = tmp.Sync(); err != nil {
		return nil, err
	}
	if f.Opt.Times != nil {
		if err = os.Chtimes(tmp.Name(), f.Opt.Times[0], f.Opt.Times[1]); err != nil {
			return nil, err
		}
	}
	return tmp, nil
}

// writeFile is writeFileAtomic with the daemon's ownership.
func writeFile(path string, data []byte, mode os.FileMode) error {
	return writeFileAtomic(path, data, writeOptions{Mode: mode, UID: -1, GID: -1})
}
