package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// lineFormat is Ganeti's log line: "2026-11-24 13:15:06,277: ganeti-noded pid=4349 INFO message".
var lineFormat = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}: ganeti-noded pid=\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) .+$`)

func TestLogLine(t *testing.T) {
	buf := &syncBuffer{}
	l, _ := newLogger("", false, buf, false)
	l.pid = 4349
	l.nowFunc = func() time.Time { return time.Date(2026, 11, 24, 13, 15, 6, 277e6, time.Local) }
	l.Infof("hello %d", 1)
	l.Debugf("hidden")
	if got := buf.String(); got != "2026-11-24 13:15:06,277: ganeti-noded pid=4349 INFO hello 1\n" {
		t.Fatalf("line %q", got)
	}
	l.debug = true
	l.Debugf("shown")
	if !strings.Contains(buf.String(), "DEBUG shown") {
		t.Fatal("debug line missing with -d")
	}
}
