package main

import (
	"os"
	"strconv"
	"testing"
	"time"
)

func TestWatcherPause(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	get := func() *int64 {
		var v *int64
		mustOK(t, call(t, n, "get_watcher_pause"), &v)
		return v
	}
	if get() != nil {
		t.Fatal("pause without a file")
	}
	until := time.Now().Unix() + 600
	mustOK(t, call(t, n, "set_watcher_pause", float64(until)+0.7), nil)
	if !fileHolds(t, n.paths.WatcherPauseFile, strconv.FormatInt(until, 10)+"\n") {
		t.FailNow()
	}
	if st, _ := os.Stat(n.paths.WatcherPauseFile); st.Mode().Perm() != 0o644 {
		t.Fatalf("pause file mode %v", st.Mode())
	}
	if v := get(); v == nil || *v != until {
		t.Fatalf("get_watcher_pause = %v, want %d", v, until)
	}
	mustFail(t, call(t, n, "set_watcher_pause", "tomorrow"), "Duration must be numeric")
	mustFail(t, call(t, n, "set_watcher_pause", true), "Duration must be numeric")
	mustOK(t, call(t, n, "set_watcher_pause", nil), nil)
	if _, err := os.Stat(n.paths.WatcherPauseFile); !os.IsNotExist(err) {
		t.Fatal("pause file not removed")
	}
	mustOK(t, call(t, n, "set_watcher_pause", nil), nil) // removing twice is fine

	// Past pauses read as null; long past or garbage ones are removed.
	past := time.Now().Unix() - 60
	os.WriteFile(n.paths.WatcherPauseFile, []byte(strconv.FormatInt(past, 10)), 0o644)
	if get() != nil {
		t.Fatal("expired pause reported")
	}
	if _, err := os.Stat(n.paths.WatcherPauseFile); err != nil {
		t.Fatal("recently expired pause file removed")
	}
	os.WriteFile(n.paths.WatcherPauseFile, []byte(strconv.FormatInt(past-7200, 10)), 0o644)
	get()
	if _, err := os.Stat(n.paths.WatcherPauseFile); !os.IsNotExist(err) {
		t.Fatal("long expired pause file kept")
	}
	os.WriteFile(n.paths.WatcherPauseFile, []byte("garbage"), 0o644)
	if get() != nil {
		t.Fatal("garbage pause reported")
	}
	if _, err := os.Stat(n.paths.WatcherPauseFile); !os.IsNotExist(err) {
		t.Fatal("garbage pause file kept")
	}
}
