package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The bdev cache is named as Ganeti names it: the path below /dev with
// slashes as underscores.
func TestBdevCachePath(t *testing.T) {
	l := newTestRoot(t)
	for dev, want := range map[string]string{
		"/dev/xenvg/disk0":  "bdev_xenvg_disk0",
		"/dev/drbd1":        "bdev_drbd1",
		"/srv/ganeti/disk0": "bdev__srv_ganeti_disk0",
	} {
		if got := l.bdevCachePath(dev); got != filepath.Join(l.RunDir, "bdev-cache", want) {
			t.Errorf("bdevCachePath(%s) = %s, want .../%s", dev, got, want)
		}
	}
}

// symlinkDisk replaces a stale link and keeps a current one.
func TestSymlinkDiskReplacesStale(t *testing.T) {
	n, _ := newTestNode(t)
	link := n.paths.diskLinkPath("inst1.example.com", 0)
	os.MkdirAll(filepath.Dir(link), 0o755)
	os.Symlink("/nonexistent/old", link)
	for i := 0; i < 2; i++ {
		got, err := n.symlinkDisk("inst1.example.com", 0, "/srv/disk0")
		if err != nil || got != link {
			t.Fatalf("symlinkDisk: %s, %v", got, err)
		}
		if target, _ := os.Readlink(link); target != "/srv/disk0" {
			t.Fatalf("link -> %s", target)
		}
	}
	if _, err := os.Lstat(link + ".new"); !os.IsNotExist(err) {
		t.Fatal("temporary link left behind")
	}
}
