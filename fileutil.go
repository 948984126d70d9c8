package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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
func writeFileAtomic(path string, data []byte, opt writeOptions) (err error) {
	dir, base := filepath.Split(path)
	tmp, err := os.CreateTemp(dir, "."+base+".*.new")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	mode := opt.Mode
	if mode == 0 {
		mode = 0o600
	}
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if opt.UID != -1 || opt.GID != -1 {
		if err = tmp.Chown(opt.UID, opt.GID); err != nil {
			return err
		}
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if opt.Times != nil {
		if err = os.Chtimes(tmp.Name(), opt.Times[0], opt.Times[1]); err != nil {
			return err
		}
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// writeFile is writeFileAtomic with the daemon's ownership.
func writeFile(path string, data []byte, mode os.FileMode) error {
	return writeFileAtomic(path, data, writeOptions{Mode: mode, UID: -1, GID: -1})
}

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

// isPlainName accepts a name that is one entry of a directory: not empty,
// not "." or "..", without a slash or NUL.
func isPlainName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}
