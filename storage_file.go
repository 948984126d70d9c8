package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"syscall"
)

// fileDevice is a disk stored in a (sparse) file: Ganeti's file and
// sharedfile disk types. Files need no activation, so assembling,
// opening and their reverses only check or do nothing.
type fileDevice struct {
	driver, path string
	n            *node
}

// newFileDevice is the file kind's constructor: the logical id is
// [driver, path] with the path acceptable for file storage.
func newFileDevice(n *node, d *disk) (blockDevice, error) {
	if len(d.Children) > 0 {
		return nil, errors.New("Invalid setup for file device")
	}
	var id []string
	if err := json.Unmarshal(d.LogicalID, &id); err != nil || len(id) != 2 {
		return nil, fmt.Errorf("Invalid configuration data %s", d.LogicalID)
	}
	path, err := n.checkStoragePath(id[1])
	if err != nil {
		return nil, err
	}
	if path == filepath.Dir(path) || n.isStorageRoot(path) {
		return nil, fmt.Errorf("Invalid file disk path '%s'", id[1])
	}
	return &fileDevice{driver: id[0], path: path, n: n}, nil
}

// isStorageRoot refuses using a storage directory itself as a disk file.
func (n *node) isStorageRoot(path string) bool {
	for _, d := range append(n.clusterStorageDirs(), n.allowedFileStoragePaths()...) {
		if filepath.Clean(d) == path {
			return true
		}
	}
	return false
}

func (f *fileDevice) Path() string            { return f.path }
func (f *fileDevice) UniqueID() any           { return []string{f.driver, f.path} }
func (f *fileDevice) Children() []blockDevice { return nil }

func (f *fileDevice) Attach() (bool, error) { return f.exists(), nil }

// exists tells whether the disk's file is there.
func (f *fileDevice) exists() bool {
	st, err := os.Stat(f.path)
	return err == nil && st.Mode().IsRegular()
}

// Create makes a sparse file of the given size; an existing file is never
// overwritten.
func (f *fileDevice) Create(size mebibytes, exclStor bool) error {
	if exclStor {
		return &programmerError{"Error while executing backend function: FileStorage device requested with exclusive_storage"}
	}
	if size < 0 || size > maxMiB {
		return fmt.Errorf("%s: can't create: invalid size %d MiB", f.path, size)
	}
	file, err := os.OpenFile(f.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("%s: can't create: %v", f.path, err)
	}
	err = file.Truncate(size.bytes())
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.path)
		return fmt.Errorf("%s: can't create: %v", f.path, err)
	}
	return nil
}

// Assemble only checks that the file is there.
func (f *fileDevice) Assemble() error {
	if !f.exists() {
		return fmt.Errorf("%s: No such file", f.path)
	}
	return nil
}

func (f *fileDevice) Shutdown() error                 { return nil }
func (f *fileDevice) Open(bool) error                 { return nil }
func (f *fileDevice) Close() error                    { return nil }
func (f *fileDevice) SetInfo(string) error            { return nil }
func (f *fileDevice) Status() (blockDevStatus, error) { return deviceStatus(f), nil }

// Remove deletes the file; a missing one is not an error.
func (f *fileDevice) Remove() error {
	if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: can't remove: %v", f.path, err)
	}
	return nil
}

// Rename moves the file to the new id's path, which must be acceptable
// for file storage too.
func (f *fileDevice) Rename(newID json.RawMessage) error {
	var id []string
	if err := json.Unmarshal(newID, &id); err != nil || len(id) != 2 {
		return fmt.Errorf("Invalid configuration data %s", newID)
	}
	if !f.exists() {
		return fmt.Errorf("%s: No such file", f.path)
	}
	target, err := f.n.checkStoragePath(id[1])
	if err != nil {
		return err
	}
	if err := os.Rename(f.path, target); err != nil {
		return fmt.Errorf("%s: can't rename to %s: %v", f.path, target, err)
	}
	f.path = target
	return nil
}

// Grow extends the file by amount MiB. The new size is checked before
// anything is done, so a wrapped sum can never shrink the file. A file
// has no logical layer apart from its backing store.
func (f *fileDevice) Grow(amount mebibytes, dryrun, backingstore, _ bool) error {
	if amount < 0 || amount > maxMiB {
		return fmt.Errorf("%s: can't grow by invalid amount %d MiB", f.path, amount)
	}
	if !backingstore || dryrun {
		return nil
	}
	if !f.exists() {
		return fmt.Errorf("%s: No such file", f.path)
	}
	size, err := f.SizeBytes()
	if err != nil {
		return err
	}
	newSize, err := checkedAdd(size, amount.bytes(), "new size in bytes")
	if err != nil || newSize > maxBytes {
		return fmt.Errorf("%s: can't grow by %d MiB: the size would exceed %d bytes", f.path, amount, int64(maxBytes))
	}
	// Truncate extends sparsely and keeps the data.
	if err := os.Truncate(f.path, newSize); err != nil {
		return fmt.Errorf("%s: can't grow: %v", f.path, err)
	}
	return nil
}

func (f *fileDevice) SizeBytes() (int64, error) {
	st, err := os.Stat(f.path)
	if err != nil {
		return 0, fmt.Errorf("%s: can't stat: %v", f.path, err)
	}
	return st.Size(), nil
}

// fileStorageList answers storage_list for file, sharedfile and gluster
// storage: one row per directory, args being [paths].
func fileStorageList(kind string, suArgs []json.RawMessage, name *string, fields []string) (any, error) {
	var paths []string
	if len(suArgs) != 1 || json.Unmarshal(suArgs[0], &paths) != nil {
		return nil, fmt.Errorf("storage_list: %s storage takes [paths]", kind)
	}
	if name != nil {
		paths = []string{*name}
	}
	rows := []any{}
	for _, p := range paths {
		row, err := fileStorageRow(p, fields)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// fileStorageRow answers name, used (MiB of files below the path), free,
// size and allocatable for one directory.
func fileStorageRow(path string, fields []string) ([]any, error) {
	// Ganeti's GetFilesystemStats: statvfs, each figure rounded to MiB.
	var total, avail uint64
	if slices.Contains(fields, "free") || slices.Contains(fields, "size") {
		var err error
		if total, avail, err = fsSpace(path); err != nil {
			return nil, fmt.Errorf("Error while executing backend function: [Errno %d] %s: '%s'", err.(syscall.Errno), pyStrerror(err), path)
		}
	}
	row := []any{}
	for _, f := range fields {
		switch f {
		case "name":
			row = append(row, path)
		case "used":
			row = append(row, bytesToMiB(dirSize(path)))
		case "free":
			row = append(row, bytesToMiB(avail))
		case "size":
			row = append(row, bytesToMiB(total))
		case "allocatable":
			row = append(row, true)
		default:
			return nil, fmt.Errorf("Error while executing backend function: Unknown field: '%s'", f)
		}
	}
	return row, nil
}

// bytesToMiB rounds as Ganeti's BytesToMebibyte does: int(round(b /
// 1048576.0, 0)), Python 3's round, so a half goes to the even neighbour
// (2.5 MiB is 2, 3.5 MiB is 4).
func bytesToMiB(b uint64) int64 { return int64(math.RoundToEven(float64(b) / mib)) }

// fsSpace is a file system's total and available (to unprivileged users)
// bytes, as statvfs(2) reports them (f_frsize × f_blocks, × f_bavail).
func fsSpace(path string) (total, avail uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, err
	}
	return uint64(st.Frsize) * st.Blocks, uint64(st.Frsize) * st.Bavail, nil
}

// dirSize sums the sizes (lstat) of the files below path, as Ganeti's
// CalculateDirectorySize over os.walk: directories themselves do not
// count, nor do symbolic links to directories (os.walk lists them as
// directories and does not follow them); other links count their own size.
func dirSize(path string) uint64 {
	var total uint64
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				return nil
			}
		}
		if info, err := d.Info(); err == nil {
			total += uint64(info.Size())
		}
		return nil
	})
	return total
}

// fileStorageSpaceInfo is statvfs of the directory in whole MiB: Ganeti's
// GetFileStorageSpaceInfo divides without rounding (unlike storage_list's
// GetFilesystemStats, see fileStorageRow), so node_info and list-storage
// can differ by one.
func fileStorageSpaceInfo(path string) (map[string]any, error) {
	total, avail, err := fsSpace(path)
	if err != nil {
		return nil, fmt.Errorf("Failed to retrieve file system information about path: %s - %s", path, pyStrerror(err))
	}
	return map[string]any{
		"type":         "file",
		"name":         path,
		"storage_size": total / mib,
		"storage_free": avail / mib,
	}, nil
}
