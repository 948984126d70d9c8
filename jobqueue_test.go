package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestJobqueueUpdateAndRename(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	q := n.paths.QueueDir
	job := q + "/job-17"
	mustOK(t, call(t, n, "jobqueue_update", job, []any{1, zlibBase64(t, `{"id": 17}`)}), nil)
	if !fileHolds(t, job, `{"id": 17}`) {
		t.FailNow()
	}
	if st, _ := os.Stat(job); st.Mode().Perm() != 0o640 {
		t.Fatalf("job file mode %v", st.Mode())
	}
	// The queue was initialised on first use.
	if !fileHolds(t, n.paths.QueueVersionFile, "1\n") {
		t.FailNow()
	}
	if !fileHolds(t, n.paths.QueueSerialFile, "0\n") {
		t.FailNow()
	}

	// Virtual paths are localized.
	virt := virtualPathPrefix + "/var/lib/ganeti/queue/job-18"
	mustOK(t, call(t, n, "jobqueue_update", virt, []any{0, "18"}), nil)

	var res []any
	mustOK(t, call(t, n, "jobqueue_rename", [][2]string{{job, q + "/archive/0/job-17"}, {q + "/job-18", q + "/archive/0/job-18"}}), &res)
	if len(res) != 2 || res[0] != nil || res[1] != nil {
		t.Fatalf("rename result %v", res)
	}
	if _, err := os.Stat(q + "/archive/0/job-17"); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(q + "/archive/0"); st.Mode().Perm() != 0o750 {
		t.Fatalf("archive dir mode %v", st.Mode())
	}
	mustFail(t, call(t, n, "jobqueue_rename", [][2]string{{q + "/job-404", q + "/job-405"}}), "jobqueue_rename")
}

func TestJobqueueRefusesOutsidePaths(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	q := n.paths.QueueDir
	for _, bad := range []string{q, q + "/../config.data", q + "2/job-1", "/etc/passwd", "job-1", n.paths.DataDir + "/queue/../../../x"} {
		mustFail(t, call(t, n, "jobqueue_update", bad, []any{0, "x"}), "does not belong to the queue directory")
	}
	mustFail(t, call(t, n, "jobqueue_rename", [][2]string{{q + "/job-1", q + "/../escaped"}}), "does not belong to the queue directory")
	if _, err := os.Stat(n.paths.DataDir + "/config.data"); err == nil {
		t.Fatal("wrote outside the queue")
	}
	// A bad pair anywhere refuses the whole batch before any rename.
	os.WriteFile(q+"/job-1", []byte("1"), 0o640)
	mustFail(t, call(t, n, "jobqueue_rename", [][2]string{{q + "/job-1", q + "/job-2"}, {q + "/job-3", "/tmp/x"}}), "does not belong")
	if _, err := os.Stat(q + "/job-1"); err != nil {
		t.Fatal("first pair renamed although the batch was refused")
	}
}

func TestJobqueuePurgeAndDrain(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	q := n.paths.QueueDir
	mustOK(t, call(t, n, "jobqueue_set_drain_flag", true), nil)
	if _, err := os.Stat(n.paths.QueueDrainFile); err != nil {
		t.Fatal("drain flag not set")
	}
	mustOK(t, call(t, n, "jobqueue_set_drain_flag", false), nil)
	if _, err := os.Stat(n.paths.QueueDrainFile); !os.IsNotExist(err) {
		t.Fatal("drain flag not cleared")
	}
	mustOK(t, call(t, n, "jobqueue_set_drain_flag", false), nil)

	os.WriteFile(q+"/job-1", []byte("1"), 0o640)
	os.WriteFile(q+"/archive/job-2", []byte("2"), 0o640)
	os.MkdirAll(q+"/archive/0", 0o750)
	os.WriteFile(q+"/archive/0/job-3", []byte("3"), 0o640)
	os.Symlink("/etc/passwd", q+"/link")
	mustOK(t, call(t, n, "jobqueue_purge"), nil)
	for _, gone := range []string{q + "/job-1", q + "/archive/job-2", n.paths.QueueVersionFile, n.paths.QueueSerialFile} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s survived purge", gone)
		}
	}
	for _, kept := range []string{n.paths.QueueLockFile, q + "/archive/0/job-3", q + "/link"} {
		if _, err := os.Lstat(kept); err != nil {
			t.Errorf("%s removed by purge", filepath.Base(kept))
		}
	}
}

func TestJobqueueLockTimeout(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	n.waits.queueLock = 200 * time.Millisecond // Ganeti's 10 s, shortened
	n.prepareQueue()
	unlock, err := lockFile(n.paths.QueueLockFile, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	mustFail(t, call(t, n, "jobqueue_set_drain_flag", true), "Failed to lock")
}
