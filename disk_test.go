package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// contractFixtures make, for each implemented kind of deviceKinds, a node
// that can hold disks of the kind, a 4 MiB disk object of it and a logical
// id to rename that disk to. A fixture skips where the machine cannot
// hold the kind (no LVM, no DRBD module).
var contractFixtures = map[string]func(t *testing.T) (n *node, d map[string]any, renamed any){
	"file": func(t *testing.T) (*node, map[string]any, any) {
		n, file, _ := storageNode(t)
		return n, fileDisk("file", filepath.Join(file, "contract-disk0"), 4), []string{"loop", filepath.Join(file, "contract-disk1")}
	},
	"sharedfile": func(t *testing.T) (*node, map[string]any, any) {
		n, _, shared := storageNode(t)
		return n, fileDisk("sharedfile", filepath.Join(shared, "contract-disk0"), 4), []string{"loop", filepath.Join(shared, "contract-disk1")}
	},
	"drbd": func(t *testing.T) (*node, map[string]any, any) {
		// A DRBD disk needs a peer to be healthy, which this contract's one
		// device does not have: storage_drbd_dev_test.go drives the kind
		// on a fake DRBD, the test bed on real pairs.
		t.Skip("DRBD is tested with a peer: storage_drbd_dev_test.go and the test bed")
		return nil, nil, nil
	},
	"plain": func(t *testing.T) (*node, map[string]any, any) {
		// Volumes need device-mapper, which this machine's kernel may lack;
		// the test bed's guests have it (e2e/cluster, plain-* scenarios).
		if _, err := os.Stat("/dev/mapper/control"); err != nil {
			t.Skip("no device-mapper here: plain volumes are exercised in the test bed's guests")
		}
		vg := os.Getenv("NODED_TEST_VG")
		if vg == "" {
			t.Skip("set NODED_TEST_VG to a scratch volume group to run the plain contract on real LVM")
		}
		n, _, _ := storageNode(t)
		return n, plainDisk(vg, "contract-disk0", 4), []string{vg, "contract-disk1"}
	},
}

// TestDeviceContract runs the blockdev_* life cycle on every implemented
// kind: a new kind in deviceKinds fails here until it has a fixture.
func TestDeviceContract(t *testing.T) {
	var kinds []string
	for kind, build := range deviceKinds {
		if build != nil {
			kinds = append(kinds, kind)
		}
	}
	slices.Sort(kinds)
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			fixture, ok := contractFixtures[kind]
			if !ok {
				t.Fatalf("kind %q has no contract fixture", kind)
			}
			n, d, renamed := fixture(t)
			testDeviceContract(t, n, kind, d, renamed)
		})
	}
}

// diskOf decodes a disk object as the daemon does.
func diskOf(t *testing.T, d map[string]any) *disk {
	t.Helper()
	var out disk
	if err := json.Unmarshal(mustJSON(d), &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// deviceOf is the device a disk object maps to.
func deviceOf(t *testing.T, n *node, d map[string]any) blockDevice {
	t.Helper()
	dev, err := n.deviceFor(diskOf(t, d))
	if err != nil {
		t.Fatalf("deviceFor: %v", err)
	}
	return dev
}

// mustFailWith checks the call failed with exactly want.
func mustFailWith(t *testing.T, r rpcReply, want string) {
	t.Helper()
	var msg string
	if r.OK || json.Unmarshal(r.Result, &msg) != nil || msg != want {
		t.Fatalf("reply %v %s, want failure %q", r.OK, r.Result, want)
	}
}

func testDeviceContract(t *testing.T, n *node, kind string, d map[string]any, renamed any) {
	const owner = "contract.example.com"
	inst := map[string]any{"name": owner}
	sizeOf := func(d map[string]any) int64 {
		t.Helper()
		var dims [][]any
		mustOK(t, call(t, n, "blockdev_getdimensions", []any{d}), &dims)
		if len(dims) != 1 || dims[0] == nil {
			t.Fatalf("dimensions %v", dims)
		}
		return int64(dims[0][0].(float64))
	}
	absent := func(d map[string]any) {
		t.Helper()
		var found any
		mustOK(t, call(t, n, "blockdev_find", d), &found)
		if found != nil || attached(deviceOf(t, n, d)) {
			t.Fatalf("device found: %v", found)
		}
	}

	// Create.
	dev := deviceOf(t, n, d)
	absent(d)
	var id any
	mustOK(t, call(t, n, "blockdev_create", d, 4, owner, true, nil, false), &id)
	if got, want := string(mustJSON(id)), string(mustJSON(d["logical_id"])); got != want {
		t.Fatalf("unique id %s, want %s", got, want)
	}
	if !attached(dev) {
		t.Fatal("created device not attached")
	}
	if size, err := dev.SizeBytes(); err != nil || size != 4<<20 {
		t.Fatalf("created size %d, %v", size, err)
	}
	mustFail(t, call(t, n, "blockdev_create", d, 4, owner, true, nil, false), "Can't create block device")

	// Assemble.
	var res []any
	mustOK(t, call(t, n, "blockdev_assemble", d, inst, true, 0), &res)
	link := n.paths.diskLinkPath(owner, 0)
	if len(res) != 3 || res[0] != dev.Path() || res[1] != link || res[2] != nil {
		t.Fatalf("assemble %v", res)
	}
	if target, _ := os.Readlink(link); target != dev.Path() {
		t.Fatalf("link %s -> %s, want %s", link, target, dev.Path())
	}
	if data, _ := os.ReadFile(n.paths.bdevCachePath(dev.Path())); string(data) != owner+" primary disk/0\n" {
		t.Fatalf("bdev cache %q", data)
	}

	// Find and status: every way of asking answers the same.
	var status blockDevStatus
	mustOK(t, call(t, n, "blockdev_find", d), &status)
	if status.DevPath != dev.Path() || status.LDiskStatus != ldiskOkay || status.IsDegraded {
		t.Fatalf("status %+v", status)
	}
	if _, mirrors := dev.(syncPauser); !mirrors && (status.SyncPercent != nil || status.EstimatedTime != nil) {
		t.Fatalf("a device that does not mirror is syncing: %+v", status)
	}
	// Compared as the master sees them: major and minor are pointers.
	same := func(a, b blockDevStatus) bool { return string(mustJSON(a)) == string(mustJSON(b)) }
	if want, err := dev.Status(); err != nil || !same(want, status) {
		t.Fatalf("Status() %+v, %v; blockdev_find %+v", want, err, status)
	}
	var all []blockDevStatus
	mustOK(t, call(t, n, "blockdev_getmirrorstatus", []any{d}), &all)
	var multi [][]json.RawMessage
	mustOK(t, call(t, n, "blockdev_getmirrorstatus_multi", []any{d}), &multi)
	if len(all) != 1 || !same(all[0], status) || len(multi) != 1 || string(multi[0][0]) != "true" || string(multi[0][1]) != string(mustJSON(status)) {
		t.Fatalf("mirror status %+v, multi %s", all, mustJSON(multi))
	}

	// Grow: a dry run or the logical layer alone changes no backing store.
	mustOK(t, call(t, n, "blockdev_grow", d, 2, true, true, false), nil)
	if size := sizeOf(d); size != 4<<20 {
		t.Fatalf("dry run grew to %d bytes", size)
	}
	mustOK(t, call(t, n, "blockdev_grow", d, 2, false, true, false), nil)
	// LVM grows by whole extents (4 MiB by default), files by the byte.
	grown := sizeOf(d)
	if grown < 6<<20 || grown >= 6<<20+4<<20 || grown%(1<<20) != 0 {
		t.Fatalf("size after growing by 2 MiB: %d bytes", grown)
	}

	// Snapshot, or the refusal of a kind that cannot.
	if _, ok := dev.(snapshotter); ok {
		mustOK(t, call(t, n, "blockdev_snapshot", d, "contract-snap", 1), nil)
	} else {
		mustFailWith(t, call(t, n, "blockdev_snapshot", d, "contract-snap", 1),
			"Cannot snapshot block device '"+pyLogicalID(mustJSON(d["logical_id"]))+"' of type '"+kind+"'")
	}
	mustOK(t, call(t, n, "blockdev_setinfo", d, "originstname+"+owner), nil)

	// Close drops the instance's link, open makes it again.
	mustOK(t, call(t, n, "blockdev_close", owner, []any{d}), nil)
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Fatal("close kept the disk link")
	}
	mustOK(t, call(t, n, "blockdev_open", owner, []any{d}, true), nil)
	if target, _ := os.Readlink(link); target != dev.Path() {
		t.Fatal("open did not link the disk")
	}

	// Rename: the device and its data move, the old owner record goes.
	oldPath := dev.Path()
	mustOK(t, call(t, n, "blockdev_rename", [][]any{{d, renamed}}), nil)
	nd := map[string]any{}
	for k, v := range d {
		nd[k] = v
	}
	nd["logical_id"] = renamed
	newDev := deviceOf(t, n, nd)
	if newDev.Path() == oldPath {
		t.Fatalf("renamed device keeps its path %s", oldPath)
	}
	if _, err := os.Stat(newDev.Path()); err != nil || !attached(newDev) {
		t.Fatalf("renamed device %s missing: %v", newDev.Path(), err)
	}
	if _, err := os.Stat(oldPath); !os.IsNotExist(err) {
		t.Fatalf("old path %s still there: %v", oldPath, err)
	}
	absent(d)
	if _, err := os.Stat(n.paths.bdevCachePath(oldPath)); !os.IsNotExist(err) {
		t.Fatal("rename kept the old bdev cache entry")
	}
	if size := sizeOf(nd); size != grown {
		t.Fatalf("size after rename: %d bytes, want %d", size, grown)
	}
	mustOK(t, call(t, n, "blockdev_find", nd), &status)
	if status.DevPath != newDev.Path() {
		t.Fatalf("status after rename %+v", status)
	}

	// Shutdown forgets the owner and keeps the device.
	mustOK(t, call(t, n, "blockdev_assemble", nd, inst, false, 0), nil)
	mustOK(t, call(t, n, "blockdev_shutdown", nd), nil)
	if _, err := os.Stat(n.paths.bdevCachePath(newDev.Path())); !os.IsNotExist(err) {
		t.Fatal("shutdown kept the bdev cache entry")
	}
	if !attached(newDev) {
		t.Fatal("shutdown removed the device")
	}

	// Remove, twice: a device already gone is fine.
	mustOK(t, call(t, n, "blockdev_remove", nd), nil)
	absent(nd)
	if _, err := os.Stat(newDev.Path()); !os.IsNotExist(err) {
		t.Fatalf("removed device %s still there: %v", newDev.Path(), err)
	}
	mustOK(t, call(t, n, "blockdev_remove", nd), nil)
}

// Kinds not implemented yet and unknown ones keep their texts.
func TestDeviceKindsRefused(t *testing.T) {
	n, file, _ := storageNode(t)
	path := filepath.Join(file, "disk0")
	for kind, want := range map[string]string{
		"blockdev": "Disk template 'blockdev' is not supported on this node yet",
		"rbd":      "Disk template 'rbd' is not supported on this node yet",
		"ext":      "Disk template 'ext' is not supported on this node yet",
		"gluster":  "Disk template 'gluster' is not supported on this node yet",
		"diskless": "Error while executing backend function: Invalid block device type 'diskless'",
		"tape":     "Error while executing backend function: Invalid block device type 'tape'",
	} {
		d := fileDisk(kind, path, 1)
		if _, err := n.deviceFor(diskOf(t, d)); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", kind, err, want)
		}
		mustFailWith(t, call(t, n, "blockdev_create", d, 1, "i", true, nil, false), "Can't create block device: "+want)
		mustFailWith(t, call(t, n, "blockdev_snapshot", d, "snap", nil), "Cannot snapshot block device '('loop', '"+path+"')' of type '"+kind+"'")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("a refused kind created a file")
	}
}

// A kind's refusal of exclusive storage is Ganeti's ProgrammerError,
// passed on without blockdev_create's prefix.
func TestCreateExclusiveStorage(t *testing.T) {
	n, file, _ := storageNode(t)
	d := fileDisk("file", filepath.Join(file, "disk0"), 1)
	mustFailWith(t, call(t, n, "blockdev_create", d, 1, "i", true, nil, true),
		"Error while executing backend function: FileStorage device requested with exclusive_storage")
	var pe *programmerError
	if err := deviceOf(t, n, d).Create(1, true); !errors.As(err, &pe) {
		t.Fatalf("Create with exclusive storage: %v", err)
	}
}

// attached tells whether a device is on the node, the node being sure.
func attached(dev blockDevice) bool {
	ok, err := dev.Attach()
	return ok && err == nil
}
