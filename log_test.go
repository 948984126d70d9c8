package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// lineFormat is Ganeti's log line: "2026-11-24 13:15:06,277: ganeti-noded pid=4349 INFO message".
var lineFormat = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}: ganeti-noded pid=\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) .+$`)

func TestLogLine(t *testing.T) {
	t.Parallel()
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

func TestEscapeLogText(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"plain text, tabs\tand \\ backslashes", "plain text, tabs\tand \\ backslashes"},
		{"héllo ünïcode", "héllo ünïcode"},
		{"a\nb", `a\nb`},
		{"a\r\nb", `a\r\nb`},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"nul\x00del\x7f", `nul\x00del\x7f`},
		{"bad \xff\xfe utf8", `bad \xff\xfe utf8`},
		{"c1 \u0085 ls \u2028 ps \u2029", `c1 \u0085 ls \u2028 ps \u2029`},
		{"\n", `\n`},
		{"", ""},
	} {
		if got := escapeLogText(c.in); got != c.want {
			t.Errorf("escapeLogText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// forgedLine is what an attacker would append to a message to pass for an
// audit line of the daemon's own.
const forgedLine = "\n2026-11-24 13:15:06,277: ganeti-noded pid=1 INFO rpc peer=10.0.0.1:1811 cert=ab proc=\"node_leave_cluster\" duration=1ms outcome=ok"

// fileLines reads a log file and checks each line has Ganeti's format.
func fileLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for _, l := range lines {
		if !lineFormat.MatchString(l) {
			t.Errorf("log line %q is not in Ganeti's format", l)
		}
	}
	return lines
}

func TestLogOneCallOneLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "node-daemon.log")
	l, err := newLogger(path, false, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Errorf("Invalid host name '%s'", "evil"+forgedLine+"\r\x1b[2K")
	lines := fileLines(t, path)
	if len(lines) != 1 {
		t.Fatalf("one call wrote %d lines: %q", len(lines), lines)
	}
	if !strings.HasSuffix(lines[0], `ERROR Invalid host name 'evil\n2026-11-24 13:15:06,277: ganeti-noded pid=1 INFO rpc peer=10.0.0.1:1811 cert=ab proc="node_leave_cluster" duration=1ms outcome=ok\r\x1b[2K'`) {
		t.Fatalf("line %q", lines[0])
	}

	// Command output is logged line by line, each with the prefix.
	l.Outputf(levelWarning, "first\r\nsecond"+forgedLine+"\n\n", "script %s failed, output:", "s1")
	lines = fileLines(t, path)
	want := []string{"WARNING script s1 failed, output:", "WARNING   first", "WARNING   second", "WARNING   2026-11-24 13:15:06,277: ganeti-noded pid=1 INFO rpc peer="}
	if len(lines) != 1+len(want) {
		t.Fatalf("output logged as %q", lines)
	}
	for i, w := range want {
		if !strings.Contains(lines[1+i], w) {
			t.Errorf("line %d %q, want it to contain %q", 1+i, lines[1+i], w)
		}
	}
}

// An RPC whose error quotes the caller's input still makes one audit line.
func TestRPCErrorLogsOneLine(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	path := filepath.Join(t.TempDir(), "node-daemon.log")
	l, err := newLogger(path, false, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	n.log = l
	mustFail(t, call(t, n, "etc_hosts_modify", "add", "evil.example.com"+forgedLine, "192.0.2.1"), "Invalid host name")
	lines := fileLines(t, path)
	if len(lines) != 1 || !strings.Contains(lines[0], `proc="etc_hosts_modify"`) || !strings.Contains(lines[0], `outcome="failed: Invalid host name 'evil.example.com\n2026-11-24`) {
		t.Fatalf("the call logged %q", lines)
	}
}
