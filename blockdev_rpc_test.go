package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestBlockdevFileLifecycle(t *testing.T) {
	n, file, _ := storageNode(t)
	dir := filepath.Join(file, "inst1.example.com")
	mustOK(t, call(t, n, "file_storage_dir_create", dir), nil)
	path := filepath.Join(dir, "disk0")
	d := fileDisk("file", path, 1024)

	var id []string
	mustOK(t, call(t, n, "blockdev_create", d, 1024, "inst1.example.com", true, "originstname+inst1.example.com", false), &id)
	if len(id) != 2 || id[0] != "loop" || id[1] != path {
		t.Fatalf("unique id %v", id)
	}
	st, _ := os.Stat(path)
	if st.Size() != 1<<30 || st.Sys().(*syscall.Stat_t).Blocks > 16 {
		t.Fatalf("disk file size %d, %d blocks (must be sparse)", st.Size(), st.Sys().(*syscall.Stat_t).Blocks)
	}
	if data, _ := os.ReadFile(n.paths.bdevCachePath(path)); string(data) != "inst1.example.com primary disk/0\n" {
		t.Fatalf("bdev cache %q", data)
	}
	mustFail(t, call(t, n, "blockdev_create", d, 1024, "inst1.example.com", true, nil, false), "file exists")

	// Data written by the instance survives grow and rename.
	payload := []byte("the instance's data")
	f, _ := os.OpenFile(path, os.O_WRONLY, 0)
	f.WriteAt(payload, 4096)
	f.Close()
	mustOK(t, call(t, n, "blockdev_grow", d, 512, true, true, false), nil) // dry run
	if st, _ := os.Stat(path); st.Size() != 1<<30 {
		t.Fatal("dry run grew the disk")
	}
	mustOK(t, call(t, n, "blockdev_grow", d, 512, false, false, false), nil) // logical only
	mustOK(t, call(t, n, "blockdev_grow", d, 512, false, true, false), nil)
	var dims [][]any
	mustOK(t, call(t, n, "blockdev_getdimensions", []any{d}), &dims)
	if b, _ := json.Marshal(dims); string(b) != "[[1610612736,null]]" {
		t.Fatalf("dimensions after grow %s", b)
	}
	mustFail(t, call(t, n, "blockdev_grow", d, -1, false, true, false), "size in MiB -1 out of range")

	newPath := filepath.Join(dir, "disk0-renamed")
	mustOK(t, call(t, n, "blockdev_rename", [][]any{{d, []string{"loop", newPath}}}), nil)
	d = fileDisk("file", newPath, 1536)
	got := make([]byte, len(payload))
	f, _ = os.Open(newPath)
	f.ReadAt(got, 4096)
	f.Close()
	if !bytes.Equal(got, payload) {
		t.Fatalf("data after grow and rename: %q", got)
	}

	var res []any
	mustOK(t, call(t, n, "blockdev_assemble", d, map[string]any{"name": "inst1.example.com", "disks": []any{}}, true, 0), &res)
	link := n.paths.diskLinkPath("inst1.example.com", 0)
	if len(res) != 3 || res[0] != newPath || res[1] != link || res[2] != nil {
		t.Fatalf("assemble %v", res)
	}
	if target, _ := os.Readlink(link); target != newPath {
		t.Fatalf("link %s -> %s", link, target)
	}
	var status map[string]any
	mustOK(t, call(t, n, "blockdev_find", d), &status)
	if b, _ := json.Marshal(status); string(b) != `{"dev_path":"`+newPath+`","is_degraded":false,"ldisk_status":1}` {
		t.Fatalf("status %s", b)
	}
	var multi [][]any
	missing := fileDisk("file", filepath.Join(dir, "nope"), 1)
	mustOK(t, call(t, n, "blockdev_getmirrorstatus_multi", []any{d, missing}), &multi)
	if len(multi) != 2 || multi[0][0] != true || multi[1][0] != false {
		t.Fatalf("multi %v", multi)
	}
	mustFail(t, call(t, n, "blockdev_getmirrorstatus", []any{d, missing}), "Can't find device")
	var null any
	mustOK(t, call(t, n, "blockdev_find", missing), &null)
	if null != nil {
		t.Fatal("missing disk found")
	}
	mustFail(t, call(t, n, "blockdev_snapshot", d, "snap", 1024), "Cannot snapshot block device '('loop', '"+newPath+"')' of type 'file'")
	mustOK(t, call(t, n, "blockdev_setinfo", d, "info"), nil)
	mustOK(t, call(t, n, "blockdev_close", "inst1.example.com", []any{d}), nil)
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Fatal("close kept the disk link")
	}
	mustOK(t, call(t, n, "blockdev_open", "inst1.example.com", []any{d}, true), nil)
	if target, _ := os.Readlink(link); target != newPath {
		t.Fatal("open did not link the disk")
	}
	mustOK(t, call(t, n, "blockdev_shutdown", d), nil)
	mustOK(t, call(t, n, "blockdev_remove", d), nil)
	if _, err := os.Stat(newPath); !os.IsNotExist(err) {
		t.Fatal("disk file not removed")
	}
	if _, err := os.Stat(n.paths.bdevCachePath(newPath)); !os.IsNotExist(err) {
		t.Fatal("bdev cache entry kept")
	}
	mustOK(t, call(t, n, "blockdev_remove", d), nil) // already gone
	mustOK(t, call(t, n, "file_storage_dir_remove", dir), nil)
}

func TestBlockdevRefusals(t *testing.T) {
	n, file, shared := storageNode(t)
	outside := filepath.Join(t.TempDir(), "disk")
	for _, d := range []map[string]any{
		fileDisk("file", outside, 1),
		fileDisk("file", filepath.Join(file, "../../../x"), 1),
		fileDisk("file", "/etc/passwd", 1),
		fileDisk("file", file, 1),
		fileDisk("sharedfile", "relative", 1),
	} {
		mustFail(t, call(t, n, "blockdev_create", d, 1, "i", true, nil, false), "Can't create block device")
	}
	if _, err := os.Stat(outside); !os.IsNotExist(err) {
		t.Fatal("refused disk created")
	}
	bad := fileDisk("file", filepath.Join(file, "x"), 1)
	bad["logical_id"] = []string{"loop"}
	mustFail(t, call(t, n, "blockdev_create", bad, 1, "i", true, nil, false), "Invalid configuration data")
	mustFail(t, call(t, n, "blockdev_create", fileDisk("file", filepath.Join(file, "x"), 1), 1, "i", true, nil, true), "exclusive_storage")
	mustFail(t, call(t, n, "blockdev_create", fileDisk("tape", filepath.Join(file, "x"), 1), 1, "i", true, nil, false), "Invalid block device type 'tape'")
	mustFail(t, call(t, n, "blockdev_create", fileDisk("diskless", "", 0), 0, "i", true, nil, false), "Invalid block device type 'diskless'")
	// A shared-file disk in the shared directory works the same way.
	sd := fileDisk("sharedfile", filepath.Join(shared, "disk0"), 8)
	mustOK(t, call(t, n, "blockdev_create", sd, 8, "inst2", false, nil, false), nil)
	// Renaming out of the storage directories is refused; the disk stays.
	mustFail(t, call(t, n, "blockdev_rename", [][]any{{sd, []string{"loop", outside}}}), "not acceptable")
	if _, err := os.Stat(filepath.Join(shared, "disk0")); err != nil {
		t.Fatal("refused rename moved the disk")
	}
	mustFail(t, call(t, n, "blockdev_assemble", sd, map[string]any{"name": "../../etc"}, true, 0), "Invalid instance name")
}

func TestBlockdevWipeImageConvert(t *testing.T) {
	n, file, _ := storageNode(t)
	src := fileDisk("file", filepath.Join(file, "src"), 4)
	dst := fileDisk("file", filepath.Join(file, "dst"), 4)
	mustOK(t, call(t, n, "blockdev_create", src, 4, "i", true, nil, false), nil)
	mustOK(t, call(t, n, "blockdev_create", dst, 4, "i", true, nil, false), nil)
	srcPath := filepath.Join(file, "src")

	image := filepath.Join(t.TempDir(), "image")
	os.WriteFile(image, bytes.Repeat([]byte("img!"), 1<<18), 0o644) // 1 MiB
	mustOK(t, call(t, n, "blockdev_image", src, image, 1), nil)
	data, _ := os.ReadFile(srcPath)
	if len(data) != 4<<20 || !bytes.Equal(data[:8], []byte("img!img!")) {
		t.Fatalf("after image: %d bytes, starts %q", len(data), data[:8])
	}
	mustFail(t, call(t, n, "blockdev_image", src, image+".missing", 1), "not found")
	mustFail(t, call(t, n, "blockdev_image", src, image, 5), "Image size is bigger than device size")

	// Served over HTTP on loopback.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("from the web")) }))
	defer srv.Close()
	mustOK(t, call(t, n, "blockdev_image", dst, srv.URL+"/disk.img", 1), nil)
	if data, _ := os.ReadFile(filepath.Join(file, "dst")); !bytes.HasPrefix(data, []byte("from the web")) || len(data) != 4<<20 {
		t.Fatalf("after URL image: %q…", data[:12])
	}

	mustOK(t, call(t, n, "blockdev_convert", src, dst), nil)
	a, _ := os.ReadFile(srcPath)
	b, _ := os.ReadFile(filepath.Join(file, "dst"))
	if !bytes.Equal(a, b) {
		t.Fatal("convert did not copy the disk")
	}

	mustOK(t, call(t, n, "blockdev_wipe", src, 0, 1), nil)
	data, _ = os.ReadFile(srcPath)
	if len(data) != 4<<20 || !bytes.Equal(data[:1<<20], make([]byte, 1<<20)) {
		t.Fatalf("wipe: %d bytes (must keep the size), first MiB zero: %v", len(data), bytes.Equal(data[:1<<20], make([]byte, 1<<20)))
	}
	for args, msg := range map[[2]int]string{{-1, 1}: "size in MiB -1 out of range", {0, -1}: "size in MiB -1 out of range", {5, 0}: "Wipe offset is bigger than device size", {3, 2}: "Wipe offset and size are bigger than device size"} {
		mustFail(t, call(t, n, "blockdev_wipe", src, args[0], args[1]), msg)
	}
	mustFail(t, call(t, n, "blockdev_wipe", fileDisk("file", filepath.Join(file, "none"), 4), 0, 1), "Cannot wipe device disk/0: device not found")

	var res [][]any
	mustOK(t, call(t, n, "blockdev_pause_resume_sync", []any{src, fileDisk("file", filepath.Join(file, "none"), 4)}, true), &res)
	if len(res) != 2 || res[0][0] != true || res[1][0] != false {
		t.Fatalf("pause %v", res)
	}
}

// refusingMirror is a mirror that refuses to pause; composite is a device
// built on it (DRBD over its volumes) that does not mirror itself.
type refusingMirror struct{ blockDevice }

func (refusingMirror) PauseResumeSync(bool) error { return errors.New("child refused") }

type composite struct {
	blockDevice
	kids []blockDevice
}

func (c composite) Children() []blockDevice { return c.kids }

// As Ganeti's BlockDev, a device that does not mirror pauses through its
// children, and fails when one does.
func TestPauseResumeSyncAsksChildren(t *testing.T) {
	got := pauseResumeSync(composite{kids: []blockDevice{refusingMirror{}}}, true)
	if got[0] != false || got[1] != "child refused" {
		t.Fatalf("pause of a device whose child refused: %v", got)
	}
	if got := pauseResumeSync(composite{}, true); got[0] != true {
		t.Fatalf("pause of a device without children: %v", got)
	}
}

// namedSnapshots records the names blockdev_snapshot hands a snapshotter.
type namedSnapshots struct {
	*fileDevice
	names *[]string
}

func (s namedSnapshots) Snapshot(name string, _ *mebibytes) (any, error) {
	*s.names = append(*s.names, name)
	return []string{"vg", name}, nil
}

// A snapshot name from the network is checked before any kind sees it.
func TestSnapshotNameChecked(t *testing.T) {
	n, file, _ := storageNode(t)
	var names []string
	deviceKinds["snapshot-test"] = func(n *node, d *disk) (blockDevice, error) {
		dev, err := newFileDevice(n, d)
		if err != nil {
			return nil, err
		}
		return namedSnapshots{dev.(*fileDevice), &names}, nil
	}
	defer delete(deviceKinds, "snapshot-test")
	d := fileDisk("snapshot-test", filepath.Join(file, "disk0"), 1)
	mustOK(t, call(t, n, "blockdev_create", d, 1, "i", true, nil, false), nil)
	for _, bad := range []string{"../x\n--force", "-x", "..", "a/b", strings.Repeat("a", 128)} {
		mustFailWith(t, call(t, n, "blockdev_snapshot", d, bad, 1), fmt.Sprintf("Invalid snapshot name %q", bad))
	}
	mustOK(t, call(t, n, "blockdev_snapshot", d, "disk0.snap", 1), nil)
	mustOK(t, call(t, n, "blockdev_snapshot", d, nil, nil), nil)
	if !slices.Equal(names, []string{"disk0.snap", ""}) {
		t.Fatalf("names the kind saw: %q", names)
	}
}
