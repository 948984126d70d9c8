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
func writeFilesAtomic(files []fileContent) (err error) {
	temps := make([]string, 0, len(files))
	defer func() {
		for _, tmp := range temps {
			if tmp != "" {
				os.Remove(tmp)
			}
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
		if err := os.Rename(temps[i], f.Path); err != nil {
			return err
		}
		temps[i] = ""
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

// writeTempHook, set by tests only, can fail the write of the temporary
// for target as a full disk would.
var writeTempHook func(target string) error

// writeTemp writes f's data to a new fsynced temporary file beside f.Path
// and returns its name; on error nothing is left behind.
func writeTemp(f fileContent) (name string, err error) {
	dir, base := filepath.Split(f.Path)
	tmp, err := os.CreateTemp(dir, "."+base+".*"+tempSuffix)
	if err != nil {
		return "", err
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
		return "", err
	}
	if f.Opt.UID != -1 || f.Opt.GID != -1 {
		if err = tmp.Chown(f.Opt.UID, f.Opt.GID); err != nil {
			return "", err
		}
	}
	if writeTempHook != nil {
		if err = writeTempHook(f.Path); err != nil {
			return "", err
		}
	}
	if _, err = tmp.Write(f.Data); err != nil {
		return "", err
	}
	if err = tmp.Sync(); err != nil {
		return "", err
	}
	if err = tmp.Close(); err != nil {
		return "", err
	}
	if f.Opt.Times != nil {
		if err = os.Chtimes(tmp.Name(), f.Opt.Times[0], f.Opt.Times[1]); err != nil {
			return "", err
		}
	}
	return tmp.Name(), nil
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
