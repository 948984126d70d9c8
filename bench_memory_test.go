package main

import (
	"bytes"
	"compress/zlib"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// memoryRow is the peak resident memory of a fresh daemon around one call.
type memoryRow struct {
	what             string
	bodyBytes        int
	status           int
	baseKB, peakKB   int
	replyHead        string
	elapsed          time.Duration
	withinBodyFactor float64 // (peak - base) / body
}

// configUploadBody is upload_file_single of a configuration whose
// compressed form is about 5 MB, the largest legitimate call: hex text
// (as JSON of random UUIDs and keys compresses) to the cluster's config.
func configUploadBody(t *testing.T, path string) []byte {
	t.Helper()
	raw := make([]byte, 3700<<10)
	rand.Read(raw)
	text := hex.EncodeToString(raw) // 7.4 MB, compresses to about 5 MB
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	io.WriteString(zw, text)
	zw.Close()
	body, err := json.Marshal([]any{path, []any{1, base64.StdEncoding.EncodeToString(z.Bytes())},
		0o640, "root", "root", nil, nil})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// hostileListBody is a 64 MiB body (just under the limit) listing 33
// million zeros.
func hostileListBody() []byte {
	n := (maxRequestBody - 2) / 2
	return []byte("[" + strings.Repeat("0,", n-1) + "0]")
}

// measureMemory starts a fresh daemon, sends one body and reads VmHWM
// before and after.
func measureMemory(t *testing.T, what, proc string, body func(root *layout) []byte) memoryRow {
	t.Helper()
	root := newTestRoot(t)
	port := freePort(t)
	s := startBenchServer(t, "memory "+what, []string{builtDaemonExe(t), "-f", "-b", "127.0.0.1", "-p", strconv.Itoa(port)}, daemonEnv(root), port)
	defer func() { s.cmd.Process.Kill(); s.cmd.Wait() }()
	client := httpClient(tlsConfigFor(t, "testdata/certs/cluster.pem"))
	// One small call first, so the baseline includes a served request.
	if resp, err := client.Post(fmt.Sprintf("https://127.0.0.1:%d/version", port), "application/json", strings.NewReader("[]")); err == nil {
		resp.Body.Close()
	}
	pid := s.cmd.Process.Pid
	data := body(root)
	row := memoryRow{what: what, bodyBytes: len(data), baseKB: procKB(fmt.Sprintf("/proc/%d/status", pid), "VmHWM:")}
	began := time.Now()
	resp, err := client.Post(fmt.Sprintf("https://127.0.0.1:%d/%s", port, proc), "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	row.elapsed = time.Since(began)
	row.status = resp.StatusCode
	row.replyHead = truncate(strings.TrimSpace(string(reply)), 60)
	row.peakKB = procKB(fmt.Sprintf("/proc/%d/status", pid), "VmHWM:")
	row.withinBodyFactor = float64(row.peakKB-row.baseKB) * 1024 / float64(len(data))
	return row
}

// benchMemoryRows measures the largest legitimate call and a hostile body.
func benchMemoryRows(t *testing.T) []memoryRow {
	return []memoryRow{
		measureMemory(t, "5 MB compressed config upload", "upload_file_single",
			func(root *layout) []byte { return configUploadBody(t, root.ClusterConfFile) }),
		measureMemory(t, "64 MiB body of 33M zeros", "test_delay", func(*layout) []byte { return hostileListBody() }),
	}
}

func printMemoryRows(rows []memoryRow) {
	fmt.Printf("\n%-32s %10s %6s %10s %10s %8s %9s  %s\n", "call (fresh daemon)", "body (MB)", "status", "base (MB)", "peak (MB)", "x body", "time", "reply")
	for _, r := range rows {
		fmt.Printf("%-32s %10.1f %6d %10.1f %10.1f %8.2f %9s  %s\n", r.what, float64(r.bodyBytes)/(1<<20), r.status,
			float64(r.baseKB)/1024, float64(r.peakKB)/1024, r.withinBodyFactor, r.elapsed.Round(time.Millisecond), r.replyHead)
	}
}

// TestMemoryPerCall runs the memory rows outside make bench too, so a
// decoding change that multiplies memory fails make test.
func TestMemoryPerCall(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("sends 70 MB")
	}
	rows := benchMemoryRows(t)
	printMemoryRows(rows)
	checkMemoryRows(t, rows, func(ok bool, format string, args ...any) {
		if !ok {
			t.Errorf(format, args...)
		}
	})
}

func checkMemoryRows(t *testing.T, rows []memoryRow, check func(ok bool, format string, args ...any)) {
	legit, hostile := rows[0], rows[1]
	check(legit.status == http.StatusOK && strings.HasPrefix(legit.replyHead, "[true"), "config upload answered %d %s", legit.status, legit.replyHead)
	check(hostile.status == http.StatusBadRequest, "hostile body answered %d (want 400)", hostile.status)
	// The upload expands to 7.4 MB of text, so its factor counts that too.
	check(legit.withinBodyFactor <= 12, "config upload: peak %.2f times the body (<= 12)", legit.withinBodyFactor)
	check(hostile.withinBodyFactor <= 3, "hostile body: peak %.2f times the body (<= 3)", hostile.withinBodyFactor)
	check(hostile.elapsed < 5*time.Second, "hostile body refused in %s (< 5 s)", hostile.elapsed)
}
