package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// disk is Ganeti's objects.Disk as the master sends it; unknown fields are
// ignored. Sizes are in MiB.
type disk struct {
	DevType       string          `json:"dev_type"`
	LogicalID     json.RawMessage `json:"logical_id"`
	Children      []*disk         `json:"children"`
	IVName        string          `json:"iv_name"`
	Size          mebibytes       `json:"size"`
	Mode          string          `json:"mode"`
	Params        map[string]any  `json:"params"`
	DynamicParams map[string]any  `json:"dynamic_params"`
	UUID          string          `json:"uuid"`
	Name          *string         `json:"name"`
	Spindles      *count          `json:"spindles"`
}

func (d *disk) String() string {
	return fmt.Sprintf("Disk(type=%s, logical_id=%s, iv_name=%s, size=%d)", d.DevType, d.LogicalID, d.IVName, d.Size)
}

// blockDevice is one kind of storage behind a disk, as Ganeti's storage/
// classes: file and shared-file now; LVM, DRBD, RBD, ExtStorage, Gluster
// and adopted block devices implement the same methods.
type blockDevice interface {
	// Path is the device's path on this node (what instances use).
	Path() string
	// UniqueID is the logical id the master stores for the device.
	UniqueID() any
	// Exists tells whether the device is present (attached).
	Exists() bool
	Create(size mebibytes) error
	Remove() error
	Rename(newID json.RawMessage) error
	// Grow adds amount MiB; dryrun checks only; backingstore false means
	// only the logical layer (nothing to do for files).
	Grow(amount mebibytes, dryrun, backingstore bool) error
	// SizeBytes is the current size.
	SizeBytes() (int64, error)
}

// deviceFor maps a disk to its device implementation.
func (n *node) deviceFor(d *disk) (blockDevice, error) {
	switch d.DevType {
	case "file", "sharedfile":
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
	case "plain", "drbd", "blockdev", "rbd", "ext", "gluster":
		return nil, fmt.Errorf("Disk template '%s' is not supported on this node yet", d.DevType)
	}
	// Includes "diskless": diskless instances have no block devices.
	return nil, fmt.Errorf("Error while executing backend function: Invalid block device type '%s'", d.DevType)
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

// fileDevice is a disk stored in a (sparse) file.
type fileDevice struct {
	driver, path string
	n            *node
}

func (f *fileDevice) Path() string  { return f.path }
func (f *fileDevice) UniqueID() any { return []string{f.driver, f.path} }

func (f *fileDevice) Exists() bool {
	st, err := os.Stat(f.path)
	return err == nil && st.Mode().IsRegular()
}

// Create makes a sparse file of the given size; an existing file is never
// overwritten.
func (f *fileDevice) Create(size mebibytes) error {
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

// Remove deletes the file; a missing one is not an error.
func (f *fileDevice) Remove() error {
	if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: can't remove: %v", f.path, err)
	}
	return nil
}

func (f *fileDevice) Rename(newID json.RawMessage) error {
	var id []string
	if err := json.Unmarshal(newID, &id); err != nil || len(id) != 2 {
		return fmt.Errorf("Invalid configuration data %s", newID)
	}
	if !f.Exists() {
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
// anything is done, so a wrapped sum can never shrink the file.
func (f *fileDevice) Grow(amount mebibytes, dryrun, backingstore bool) error {
	if amount < 0 || amount > maxMiB {
		return fmt.Errorf("%s: can't grow by invalid amount %d MiB", f.path, amount)
	}
	if !backingstore || dryrun {
		return nil
	}
	if !f.Exists() {
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

// blockDevStatus is objects.BlockDevStatus on the wire.
type blockDevStatus struct {
	DevPath       string   `json:"dev_path"`
	Major         *int     `json:"major"`
	Minor         *int     `json:"minor"`
	SyncPercent   *float64 `json:"sync_percent"`
	EstimatedTime *int     `json:"estimated_time"`
	IsDegraded    bool     `json:"is_degraded"`
	LDiskStatus   int      `json:"ldisk_status"`
}

const ldiskOkay = 1

// status of a device that does not mirror: never syncing, never degraded.
func deviceStatus(dev blockDevice) blockDevStatus {
	return blockDevStatus{DevPath: dev.Path(), LDiskStatus: ldiskOkay}
}

// bdevCachePath is where Ganeti records which instance owns a device.
func (l *layout) bdevCachePath(devPath string) string {
	p := strings.TrimPrefix(devPath, "/dev/")
	return filepath.Join(l.RunDir, "bdev-cache", "bdev_"+strings.ReplaceAll(p, "/", "_"))
}

func (n *node) updateBdevCache(devPath, owner string, primary bool, ivName string) {
	state := "secondary"
	if primary {
		state = "primary"
	}
	if ivName == "" {
		ivName = "not_visible"
	}
	path := n.paths.bdevCachePath(devPath)
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := writeFile(path, []byte(fmt.Sprintf("%s %s %s\n", owner, state, ivName)), 0o600); err != nil {
		n.log.Errorf("Can't update bdev cache for %s: %v", devPath, err)
	}
}

func (n *node) removeBdevCache(devPath string) {
	if err := os.Remove(n.paths.bdevCachePath(devPath)); err != nil && !errors.Is(err, os.ErrNotExist) {
		n.log.Errorf("Can't update bdev cache for %s: %v", devPath, err)
	}
}

// diskLinkPath is the symlink Ganeti keeps for an activated instance disk.
func (l *layout) diskLinkPath(instance string, idx int) string {
	return filepath.Join(l.RunDir, "instance-disks", fmt.Sprintf("%s:%d", instance, idx))
}

// symlinkDisk points /var/run/ganeti/instance-disks/<instance>:<idx> at
// the device, replacing a stale link.
func (n *node) symlinkDisk(instance string, idx int, devPath string) (string, error) {
	link := n.paths.diskLinkPath(instance, idx)
	os.MkdirAll(filepath.Dir(link), 0o755)
	if cur, err := os.Readlink(link); err == nil && cur == devPath {
		return link, nil
	}
	tmp := link + ".new"
	os.Remove(tmp)
	if err := os.Symlink(devPath, tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return link, nil
}
