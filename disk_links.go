package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

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
