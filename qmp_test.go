package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// scriptedQMP serves one connection: a greeting, then for each expected
// command the given reply lines (events may come first).
func scriptedQMP(t *testing.T, replies map[string][]string) (string, <-chan string) {
	path := filepath.Join(t.TempDir(), "qmp.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	seen := make(chan string, 16)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte(`{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}` + "\n"))
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			var req struct {
				Execute string `json:"execute"`
			}
			json.Unmarshal([]byte(line), &req)
			seen <- strings.TrimSpace(line)
			for _, reply := range replies[req.Execute] {
				c.Write([]byte(reply + "\n"))
			}
		}
	}()
	return path, seen
}

func TestQMPClient(t *testing.T) {
	t.Parallel()
	path, seen := scriptedQMP(t, map[string][]string{
		"qmp_capabilities": {`{"return": {}}`},
		"query-status":     {`{"event": "RESUME", "timestamp": {"seconds": 1}}`, `{"return": {"status": "running", "running": true}}`},
		"balloon":          {`{"error": {"class": "DeviceNotActive", "desc": "No balloon device has been activated"}}`},
	})
	c, err := dialQMP(path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if <-seen != `{"execute":"qmp_capabilities"}` {
		t.Fatal("capabilities not negotiated first")
	}
	if v, _ := json.Marshal(c.Version["qemu"]); string(v) != `{"major":7,"micro":22,"minor":2}` {
		t.Fatalf("version %s", v)
	}
	ret, err := c.Execute("query-status", nil)
	if err != nil || !strings.Contains(string(ret), `"running": true`) {
		t.Fatalf("query-status: %s %v (events must be skipped)", ret, err)
	}
	_, err = c.Execute("balloon", map[string]any{"value": 128 << 20})
	var qe *qmpError
	if !errors.As(err, &qe) || qe.Class != "DeviceNotActive" || err.Error() != "QMP balloon: error DeviceNotActive: No balloon device has been activated" {
		t.Fatalf("balloon error %v", err)
	}
	<-seen
	if got := <-seen; got != `{"arguments":{"value":134217728},"execute":"balloon"}` {
		t.Fatalf("balloon request %s", got)
	}
	// A command QEMU never answers times out.
	c.timeout = 200 * time.Millisecond
	if _, err := c.Execute("query-migrate", nil); err == nil {
		t.Fatal("unanswered command did not time out")
	}
}

func TestQMPBadGreeting(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "qmp.sock")
	l, _ := net.Listen("unix", path)
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Write([]byte("not json\n"))
			time.Sleep(time.Second)
			c.Close()
		}
	}()
	if _, err := dialQMP(path, 2*time.Second); err == nil || !strings.Contains(err.Error(), "greeting") {
		t.Fatalf("bad greeting accepted: %v", err)
	}
	if _, err := dialQMP(path+".missing", time.Second); err == nil {
		t.Fatal("missing socket accepted")
	}
}

// TestQMPEventsDoNotDelayTimeout: events keep arriving, the answer never
// does; the command still ends after its timeout.
func TestQMPEventsDoNotDelayTimeout(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "qmp.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte(`{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": []}}` + "\n"))
		r := bufio.NewReader(c)
		r.ReadString('\n')
		c.Write([]byte(`{"return": {}}` + "\n"))
		r.ReadString('\n')
		for i := 0; i < 200; i++ {
			if _, err := c.Write([]byte(`{"event": "BALLOON_CHANGE", "data": {"actual": 1}}` + "\n")); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	// The handshake gets a generous timeout so a loaded machine cannot
	// fail it; only the command under test runs on the short one.
	c, err := dialQMP(path, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.timeout = 300 * time.Millisecond
	began := time.Now()
	_, err = c.Execute("query-status", nil)
	if took := time.Since(began); err == nil || took > 3*time.Second {
		t.Fatalf("got %v after %s; want a timeout after about 300ms", err, took)
	}
}
