package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Request numbers near the integer limits, for the procedures' tables.
const (
	jsonMaxInt64 = "9223372036854775807"
	json2p62     = "4611686018427387904"
	json2p44MiB  = "17592186044416"
)

// diskJSON is a file disk object with its size written as given, so a
// test can send sizes no Go number marshals to (1e308, 1.5).
func diskJSON(t *testing.T, path, size string) string {
	t.Helper()
	b, err := json.Marshal(fileDisk("file", path, 0))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(string(b), `"size":0`, `"size":`+size, 1)
}

// stubDD puts a dd first in PATH that only records that it ran, so a
// wrongly accepted wipe or image cannot fill the test's file system; it
// returns the record's path.
func stubDD(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	record := filepath.Join(dir, "dd-ran")
	script := "#!/bin/sh\necho \"$@\" >> " + record + "\n"
	if err := os.WriteFile(filepath.Join(dir, "dd"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	return record
}

// TestBlockdevNumbersRefused sends sizes, offsets and indices at and past
// the limits to every block device procedure that takes one; each must
// fail and leave the disk (size and content) and the storage directory
// as they were, without running dd.
func TestBlockdevNumbersRefused(t *testing.T) {
	n, file, _ := storageNode(t)
	ddRecord := stubDD(t)
	path := filepath.Join(file, "disk0")
	newPath := filepath.Join(file, "disk1")
	mustOK(t, call(t, n, "blockdev_create", fileDisk("file", path, 4), 4, "i", true, nil, false), nil)
	payload := bytes.Repeat([]byte("instance data "), 1000)
	if f, err := os.OpenFile(path, os.O_WRONLY, 0); err != nil {
		t.Fatal(err)
	} else {
		f.WriteAt(payload, 1<<20)
		f.Close()
	}
	image := filepath.Join(t.TempDir(), "image")
	os.WriteFile(image, []byte("image"), 0o644)
	disk := diskJSON(t, path, "4")
	imageJSON, _ := json.Marshal(image)

	cases := []struct {
		name, proc, body, want string
	}{
		// blockdev_create sizes the file from the disk object.
		{"create 2^44 MiB", "blockdev_create", "[" + diskJSON(t, newPath, json2p44MiB) + `, 1, "i", true, null, false]`, "size in MiB 17592186044416 out of range"},
		{"create 2^62 MiB", "blockdev_create", "[" + diskJSON(t, newPath, json2p62) + `, 1, "i", true, null, false]`, "out of range"},
		{"create max int64", "blockdev_create", "[" + diskJSON(t, newPath, jsonMaxInt64) + `, 1, "i", true, null, false]`, "out of range"},
		{"create negative", "blockdev_create", "[" + diskJSON(t, newPath, "-1") + `, 1, "i", true, null, false]`, "out of range"},
		{"create 1e308", "blockdev_create", "[" + diskJSON(t, newPath, "1e308") + `, 1, "i", true, null, false]`, "out of range"},
		{"create fraction", "blockdev_create", "[" + diskJSON(t, newPath, "1.5") + `, 1, "i", true, null, false]`, "must be an integer"},
		{"create size argument", "blockdev_create", "[" + diskJSON(t, newPath, "1") + `, ` + json2p44MiB + `, "i", true, null, false]`, "out of range"},
		{"create spindles", "blockdev_create", "[" + strings.Replace(diskJSON(t, newPath, "1"), `"size":1`, `"size":1,"spindles":-1`, 1) + `, 1, "i", true, null, false]`, "count -1 out of range"},
		// blockdev_grow: a wrapped sum used to shrink the file.
		{"grow max int64", "blockdev_grow", "[" + disk + ", " + jsonMaxInt64 + ", false, true, false]", "out of range"},
		{"grow 2^62", "blockdev_grow", "[" + disk + ", " + json2p62 + ", false, true, false]", "out of range"},
		{"grow 2^44", "blockdev_grow", "[" + disk + ", " + json2p44MiB + ", false, true, false]", "out of range"},
		{"grow past the largest size", "blockdev_grow", "[" + disk + ", 1099511627776, false, true, false]", "the size would exceed"},
		{"grow negative", "blockdev_grow", "[" + disk + ", -1, false, true, false]", "out of range"},
		{"grow negative dry run", "blockdev_grow", "[" + disk + ", -1, true, true, false]", "out of range"},
		{"grow 1e308", "blockdev_grow", "[" + disk + ", 1e308, false, true, false]", "out of range"},
		{"grow fraction", "blockdev_grow", "[" + disk + ", 1.5, false, true, false]", "must be an integer"},
		// blockdev_wipe: offset+size used to wrap past the bounds check.
		{"wipe wrapping size", "blockdev_wipe", "[" + disk + ", 1, " + jsonMaxInt64 + "]", "out of range"},
		{"wipe wrapping offset", "blockdev_wipe", "[" + disk + ", " + jsonMaxInt64 + ", 1]", "out of range"},
		{"wipe 2^62", "blockdev_wipe", "[" + disk + ", 0, " + json2p62 + "]", "out of range"},
		{"wipe negative offset", "blockdev_wipe", "[" + disk + ", -1, 1]", "out of range"},
		{"wipe fraction", "blockdev_wipe", "[" + disk + ", 0, 1.5]", "must be an integer"},
		{"wipe past the real device", "blockdev_wipe", "[" + diskJSON(t, path, "1099511627776") + ", 0, 1099511627776]", "bigger than the device"},
		{"wipe disk size 2^44", "blockdev_wipe", "[" + diskJSON(t, path, json2p44MiB) + ", 0, 1]", "out of range"},
		// blockdev_image and blockdev_convert write as much as asked.
		{"image 2^62", "blockdev_image", "[" + disk + ", " + string(imageJSON) + ", " + json2p62 + "]", "out of range"},
		{"image negative", "blockdev_image", "[" + disk + ", " + string(imageJSON) + ", -1]", "out of range"},
		{"image past the real device", "blockdev_image", "[" + diskJSON(t, path, "1024") + ", " + string(imageJSON) + ", 1024]", "bigger than the device"},
		{"convert past the real device", "blockdev_convert", "[" + diskJSON(t, path, "1024") + ", " + disk + "]", "bigger than the destination"},
		// blockdev_assemble: the index names the instance-disks link.
		{"assemble negative index", "blockdev_assemble", "[" + disk + `, {"name": "i1"}, true, -1]`, "index -1 out of range"},
		{"assemble huge index", "blockdev_assemble", "[" + disk + `, {"name": "i1"}, true, ` + jsonMaxInt64 + "]", "out of range"},
		{"assemble fraction", "blockdev_assemble", "[" + disk + `, {"name": "i1"}, true, 0.5]`, "must be an integer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mustFail(t, callBody(t, n, c.proc, c.body), c.want)
			data, err := os.ReadFile(path)
			if err != nil || len(data) != 4<<20 || !bytes.Equal(data[1<<20:1<<20+len(payload)], payload) {
				t.Fatalf("the disk changed: %d bytes, %v", len(data), err)
			}
			entries, _ := os.ReadDir(file)
			if len(entries) != 1 {
				t.Fatalf("storage directory holds %d entries", len(entries))
			}
			if _, err := os.Stat(ddRecord); err == nil {
				t.Fatal("dd ran")
			}
			if _, err := os.Lstat(n.paths.diskLinkPath("i1", 0)); err == nil {
				t.Fatal("a disk link was made")
			}
		})
	}
	// Legitimate values still work (dd is the stub: only its call counts).
	mustOK(t, callBody(t, n, "blockdev_wipe", "["+disk+", 3, 1]"), nil)
	if data, _ := os.ReadFile(ddRecord); !strings.Contains(string(data), "seek=3") || !strings.Contains(string(data), "count=1") {
		t.Fatalf("dd arguments %q", data)
	}
}

// TestInstanceNumbersRefused sends memory, timeouts, indices and sizes
// past the limits to the instance procedures; each must fail and leave
// the running instance as it was.
func TestInstanceNumbersRefused(t *testing.T) {
	n, file, _ := storageNode(t)
	withProc(n)
	d := fileDisk("file", filepath.Join(file, "inst1-disk0"), 8)
	delete(d, "future_field")
	inst := fakeInstance("inst1.example.com", d)
	mustOK(t, call(t, n, "blockdev_create", d, 8, "inst1.example.com", true, nil, false), nil)
	mustOK(t, call(t, n, "instance_start", inst, false, testTrail), nil)
	state := filepath.Join(n.paths.RunDir, "fake-hypervisor", "inst1.example.com")
	before, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	instJSON, _ := json.Marshal(inst)
	diskJSON, _ := json.Marshal(d)
	trailJSON, _ := json.Marshal(testTrail)
	i, dj, tr := string(instJSON), string(diskJSON), string(trailJSON)
	huge := fakeInstance("inst2.example.com")
	huge["beparams"].(map[string]any)["maxmem"] = 1e308
	fraction := fakeInstance("inst2.example.com")
	fraction["beparams"].(map[string]any)["vcpus"] = 1.5

	cases := []struct {
		name, proc, body, want string
	}{
		{"balloon 2^62", "instance_balloon_memory", "[" + i + ", " + json2p62 + "]", "out of range"},
		{"balloon max int64", "instance_balloon_memory", "[" + i + ", " + jsonMaxInt64 + "]", "out of range"},
		{"balloon negative", "instance_balloon_memory", "[" + i + ", -1]", "out of range"},
		{"balloon fraction", "instance_balloon_memory", "[" + i + ", 64.5]", "must be an integer"},
		{"balloon 1e308", "instance_balloon_memory", "[" + i + ", 1e308]", "out of range"},
		{"shutdown 1e308", "instance_shutdown", "[" + i + ", 1e308, " + tr + "]", "Invalid shutdown timeout"},
		{"shutdown negative", "instance_shutdown", "[" + i + ", -1, " + tr + "]", "Invalid shutdown timeout"},
		{"reboot 1e308", "instance_reboot", "[" + i + `, "hard", 1e308, ` + tr + "]", "Invalid shutdown timeout"},
		{"reboot 2^63 seconds", "instance_reboot", "[" + i + `, "hard", 9223372036854775808, ` + tr + "]", "Invalid shutdown timeout"},
		{"reboot negative", "instance_reboot", "[" + i + `, "hard", -1, ` + tr + "]", "Invalid shutdown timeout"},
		{"hotplug negative seq", "hotplug_device", "[" + i + `, "hotadd", "disk", ` + dj + ", null, -1]", "index -1 out of range"},
		{"hotplug huge seq", "hotplug_device", "[" + i + `, "hotadd", "disk", ` + dj + ", null, " + jsonMaxInt64 + "]", "out of range"},
		{"resize max int64", "resize_disk", "[" + i + ", " + dj + ", " + jsonMaxInt64 + "]", "size in bytes"},
		{"resize negative", "resize_disk", "[" + i + ", " + dj + ", -1]", "size in bytes"},
		{"resize fraction", "resize_disk", "[" + i + ", " + dj + ", 1.5]", "must be an integer"},
		{"start maxmem 1e308", "instance_start", "[" + string(mustJSON(huge)) + ", false, " + tr + "]", "beparams maxmem"},
		{"start vcpus fraction", "instance_start", "[" + string(mustJSON(fraction)) + ", false, " + tr + "]", "beparams vcpus"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mustFail(t, callBody(t, n, c.proc, c.body), c.want)
			if now, err := os.ReadFile(state); err != nil || !bytes.Equal(now, before) {
				t.Fatalf("instance state %q, was %q (%v)", now, before, err)
			}
			if _, err := os.Stat(filepath.Join(n.paths.RunDir, "fake-hypervisor", "inst2.example.com")); err == nil {
				t.Fatal("inst2 started")
			}
		})
	}
	mustOK(t, call(t, n, "instance_balloon_memory", inst, 96), nil)
}

// TestNodeNumbersRefused covers the other procedures taking durations,
// timestamps, modes and ports: each must fail and write nothing.
func TestNodeNumbersRefused(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	target := n.paths.ClusterConfFile
	targetJSON, _ := json.Marshal(target)
	upload := func(mode, atime, mtime string) string {
		return "[[" + string(targetJSON) + `, [0, "data"], ` + mode + `, "root", "root", ` + atime + ", " + mtime + "]]"
	}
	cases := []struct {
		name, proc, body, want string
		file                   string // must not exist afterwards
	}{
		{"delay 1e308", "test_delay", "[1e308]", "Invalid sleep duration", ""},
		{"delay 2^63", "test_delay", "[9223372036854775808]", "Invalid sleep duration", ""},
		{"delay negative", "test_delay", "[-1]", "Invalid sleep duration", ""},
		{"watcher pause 1e308", "set_watcher_pause", "[1e308]", "timestamp 1e308 out of range", n.paths.WatcherPauseFile},
		{"watcher pause -1e308", "set_watcher_pause", "[-1e308]", "out of range", n.paths.WatcherPauseFile},
		{"upload mode 2^62", "upload_file", upload(json2p62, "null", "null"), "file mode", target},
		{"upload mode negative", "upload_file", upload("-1", "null", "null"), "file mode", target},
		{"upload mode fraction", "upload_file", upload("420.5", "null", "null"), "must be an integer", target},
		{"upload atime 1e308", "upload_file", upload("420", "1e308", "1"), "timestamp", target},
		{"upload mtime -1e308", "upload_file", upload("420", "1", "-1e308"), "timestamp", target},
		{"oob timeout 1e308", "run_oob", `["/bin/true", "health", "node1", 1e308]`, "out of range", ""},
		{"oob timeout negative", "run_oob", `["/bin/true", "health", "node1", -1]`, "out of range", ""},
		{"netmask huge", "node_change_master_netmask", `[24, ` + json2p62 + `, "192.0.2.1", "lo"]`, "Invalid master netmask", ""},
		{"netmask fraction", "node_change_master_netmask", `[24, 24.5, "192.0.2.1", "lo"]`, "argument 2", ""},
		{"export port huge", "export_start", `[{}, "node2", ` + jsonMaxInt64 + `, {}, "disk0", ["file", ["/x"]]]`, "Invalid port", ""},
		{"export connect timeout", "export_start", `[{"connect_timeout": -1}, "node2", 1234, {}, "disk0", ["file", ["/x"]]]`, "Invalid connect timeout", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mustFail(t, callBody(t, n, c.proc, c.body), c.want)
			if c.file != "" {
				if _, err := os.Stat(c.file); err == nil {
					t.Fatalf("%s was written", c.file)
				}
			}
		})
	}
}
