package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The side-by-side benchmark behind `make bench`. It starts three servers
// with the same cluster certificate: a do-nothing Go TLS server (the
// handshake floor: every call is a new TLS connection, as from the master),
// this daemon, and Ganeti's Python daemon from Debian's package. It then
// measures calls per second and latency with 1 and 20 clients, and the
// memory each keeps locked.

const pythonNoded = "/usr/sbin/ganeti-noded"

// benchFloorEnv makes the test binary serve as the floor server.
const benchFloorEnv = "NODED_BENCH_FLOOR"

// runFloorServer answers every POST with [true,3000000] over TLS, requiring
// a client certificate like the daemons do, and nothing else.
func runFloorServer(addr string) {
	pair, err := tls.LoadX509KeyPair("testdata/certs/cluster.pem", "testdata/certs/cluster.pem")
	if err != nil {
		panic(err)
	}
	ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAnyClientCert})
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Connection", "close")
		w.Write([]byte("[true,3000000]"))
	})}
	srv.Serve(ln)
}

// benchServer is one server under test.
type benchServer struct {
	name string
	port int
	cmd  *exec.Cmd
}

func startBenchServer(t *testing.T, name string, argv []string, env []string, port int) *benchServer {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitListening(t, port, out)
	return &benchServer{name: name, port: port, cmd: cmd}
}

// loadResult is one measurement.
type loadResult struct {
	calls, errors int
	elapsed       time.Duration
	latencies     []time.Duration
}

func (r loadResult) rate() float64 { return float64(r.calls) / r.elapsed.Seconds() }

func (r loadResult) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[int(p*float64(len(r.latencies)-1))]
}

// load runs clients loops of calls for d, each call a new TLS connection
// that posts body to /proc and reads the reply to the end.
func load(t *testing.T, port, clients int, d time.Duration, proc, body string) loadResult {
	return loadOps(t, port, clients, d, func(int) [][2]string { return [][2]string{{proc, body}} })
}

// loadOps is load where one operation is a sequence of calls (each still
// its own TLS connection); ops gives a client's sequence.
func loadOps(t *testing.T, port, clients int, d time.Duration, ops func(client int) [][2]string) loadResult {
	cert, err := tls.LoadX509KeyPair("testdata/certs/cluster.pem", "testdata/certs/cluster.pem")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true}
	var mu sync.Mutex
	var res loadResult
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		var requests []string
		for _, op := range ops(i) {
			requests = append(requests, fmt.Sprintf("POST /%s HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", op[0], len(op[1]), op[1]))
		}
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				began := time.Now()
				ok := true
				for _, r := range requests {
					ok = ok && oneCall(cfg, port, r)
				}
				took := time.Since(began)
				mu.Lock()
				if ok {
					res.calls++
					res.latencies = append(res.latencies, took)
				} else {
					res.errors++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.latencies)
	return res
}

func oneCall(cfg *tls.Config, port int, request string) bool {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port), cfg)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return false
	}
	reply, err := io.ReadAll(resp.Body)
	return err == nil && resp.StatusCode == 200 && strings.HasPrefix(strings.TrimSpace(string(reply)), "[true")
}

// lockedKB is the memory a process has resident and locked (smaps_rollup's
// "Locked:"); VmLck would count reserved address space too.
func lockedKB(pid int) int { return procKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Locked:") }

func residentKB(pid int) int { return procKB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:") }

// procKB reads a "Field:   N kB" line of a /proc file; -1 when absent.
func procKB(path, field string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb
		}
	}
	return -1
}

func TestBenchReport(t *testing.T) {
	if os.Getenv("NODED_BENCH") == "" {
		t.Skip("set NODED_BENCH=1 (make bench)")
	}
	duration := 5 * time.Second
	if s := os.Getenv("NODED_BENCH_SECONDS"); s != "" {
		n, _ := strconv.Atoi(s)
		duration = time.Duration(n) * time.Second
	}
	self, _ := os.Executable()
	floorPort := freePort(t)
	servers := []*benchServer{startBenchServer(t, "floor (Go TLS)", []string{self}, append(os.Environ(), benchFloorEnv+"=127.0.0.1:"+strconv.Itoa(floorPort)), floorPort)}

	// Both daemons run LVM commands against the same fake tools (this
	// machine's kernel cannot activate volumes): what is measured is each
	// daemon's own work around the commands.
	newFakeTools(t, lvmCommands, benchLVMReplies())

	daemonBin := builtDaemonExe(t) // the real binary is measured
	ours := newTestRoot(t)
	roots := map[string]*layout{"this daemon": ours}
	port := freePort(t)
	servers = append(servers, startBenchServer(t, "this daemon",
		[]string{daemonBin, "-f", "-b", "127.0.0.1", "-p", strconv.Itoa(port)}, daemonEnv(ours), port))

	if _, err := os.Stat(pythonNoded); err == nil {
		py := newTestRoot(t)
		roots["Python 3.0.2"] = py
		port := freePort(t)
		servers = append(servers, startBenchServer(t, "Python 3.0.2",
			[]string{pythonNoded, "-f", "-b", "127.0.0.1", "-p", strconv.Itoa(port)}, daemonEnv(py), port))
	} else {
		t.Logf("%s not installed (apt-get install ganeti): Python column left out", pythonNoded)
	}

	type row struct {
		server  *benchServer
		clients int
		res     loadResult
	}
	var rows, diskRows []row
	for _, clients := range []int{1, 20} {
		for _, s := range servers {
			rows = append(rows, row{s, clients, load(t, s.port, clients, duration, "version", "[]")})
		}
	}

	// File disks: each operation creates a 1 GiB (sparse) disk and removes it.
	for _, s := range servers[1:] {
		l := roots[s.name]
		dir := filepath.Join(l.Root, "srv/ganeti/file-storage")
		os.MkdirAll(dir, 0o755)
		os.MkdirAll(filepath.Join(l.RunDir, "bdev-cache"), 0o755)
		os.WriteFile(l.FileStoragePathsFile, []byte(dir+"\n"), 0o644)
		res := loadOps(t, s.port, 4, duration, func(client int) [][2]string {
			disk := fileDisk("file", filepath.Join(dir, fmt.Sprintf("bench-disk%d", client)), 1024)
			delete(disk, "future_field") // Ganeti 3.0 refuses unknown fields
			d, _ := json.Marshal(disk)
			return [][2]string{
				{"blockdev_create", fmt.Sprintf("[%s, 1024, \"bench\", true, null, false]", d)},
				{"blockdev_remove", fmt.Sprintf("[%s]", d)},
			}
		})
		diskRows = append(diskRows, row{s, 4, res})
	}

	// Logical volumes: each operation creates a 1 GiB volume and removes
	// it; then node_info with a volume group.
	var lvRows, nodeInfoRows []row
	for _, s := range servers[1:] {
		res := loadOps(t, s.port, 4, duration, func(client int) [][2]string {
			d := mustJSON(benchLVDisk(client))
			return [][2]string{
				{"blockdev_create", fmt.Sprintf(`[%s, 1024, "bench", true, "originstname+bench", false]`, d)},
				{"blockdev_remove", fmt.Sprintf("[%s]", d)},
			}
		})
		lvRows = append(lvRows, row{s, 4, res})
		args := `[[["lvm-vg", "xenvg", [false]]], [["fake", {}]]]`
		res = loadOps(t, s.port, 4, duration, func(int) [][2]string { return [][2]string{{"node_info", args}} })
		nodeInfoRows = append(nodeInfoRows, row{s, 4, res})
	}

	// Instance listings with 100 fake instances.
	var instRows []row
	for _, s := range servers[1:] {
		dir := filepath.Join(roots[s.name].RunDir, "fake-hypervisor")
		os.MkdirAll(dir, 0o775)
		for i := 0; i < 100; i++ {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("inst%03d.example.com", i)), []byte("0\n128\n1\n"), 0o600)
		}
		args := `[["fake"], {"fake": {"migration_mode": "live"}}]`
		for _, proc := range []string{"all_instances_info", "instance_list"} {
			res := loadOps(t, s.port, 4, duration, func(int) [][2]string { return [][2]string{{proc, args}} })
			instRows = append(instRows, row{&benchServer{name: s.name + " " + proc, port: s.port, cmd: s.cmd}, 4, res})
		}
	}

	// Disk transfers between two daemons of each kind.
	var kinds []transferKind
	for _, s := range servers[1:] {
		dst := newTestRoot(t)
		port := freePort(t)
		argv := []string{daemonBin, "-f", "-b", "127.0.0.1", "-p", strconv.Itoa(port)}
		if s.name != "this daemon" {
			argv[0] = pythonNoded
		}
		startBenchServer(t, s.name+" (destination)", argv, daemonEnv(dst), port)
		kind := transferKind{name: s.name, src: roots[s.name], dst: dst, srcPort: s.port, dstPort: port}
		if s.name != "this daemon" {
			// Python's transfers run Ganeti's helper, which runs socat.
			for _, f := range []string{ganetiHelper, "/usr/bin/socat"} {
				if _, err := os.Stat(f); err != nil {
					kind.unavailable = fmt.Sprintf("%s is missing, so the Python daemon cannot transfer disks", f)
				}
			}
		}
		kinds = append(kinds, kind)
	}
	transferRows := benchTransfers(t, kinds)

	fmt.Printf("\n%-16s %-8s %10s %9s %9s %9s %7s\n", "server", "clients", "calls/s", "p50", "p90", "p99", "errors")
	for _, r := range rows {
		fmt.Printf("%-16s %-8d %10.1f %9s %9s %9s %7d\n", r.server.name, r.clients, r.res.rate(),
			r.res.percentile(0.5).Round(100*time.Microsecond), r.res.percentile(0.9).Round(100*time.Microsecond),
			r.res.percentile(0.99).Round(100*time.Microsecond), r.res.errors)
	}
	fmt.Printf("\nblockdev_create + blockdev_remove of a 1 GiB file disk (one operation = both calls)\n")
	fmt.Printf("%-16s %-8s %10s %9s %9s %9s %7s\n", "server", "clients", "ops/s", "p50", "p90", "p99", "errors")
	for _, r := range diskRows {
		fmt.Printf("%-16s %-8d %10.1f %9s %9s %9s %7d\n", r.server.name, r.clients, r.res.rate(),
			r.res.percentile(0.5).Round(100*time.Microsecond), r.res.percentile(0.9).Round(100*time.Microsecond),
			r.res.percentile(0.99).Round(100*time.Microsecond), r.res.errors)
		if r.server.name == "this daemon" && r.res.errors > 0 {
			t.Errorf("%d failed disk operations", r.res.errors)
		}
	}
	for _, table := range []struct {
		title string
		rows  []row
	}{
		{"blockdev_create + blockdev_remove of a 1 GiB logical volume (fake LVM tools; one operation = both calls)", lvRows},
		{"node_info with a volume group (fake LVM tools)", nodeInfoRows},
	} {
		fmt.Printf("\n%s\n%-16s %-8s %10s %9s %9s %9s %7s\n", table.title, "server", "clients", "ops/s", "p50", "p90", "p99", "errors")
		for _, r := range table.rows {
			fmt.Printf("%-16s %-8d %10.1f %9s %9s %9s %7d\n", r.server.name, r.clients, r.res.rate(),
				r.res.percentile(0.5).Round(100*time.Microsecond), r.res.percentile(0.9).Round(100*time.Microsecond),
				r.res.percentile(0.99).Round(100*time.Microsecond), r.res.errors)
			if r.server.name == "this daemon" && r.res.errors > 0 {
				t.Errorf("%s: %d failed operations", table.title, r.res.errors)
			}
		}
	}
	fmt.Printf("\nwith 100 fake instances\n%-36s %-8s %10s %9s %9s %9s %7s\n", "server and procedure", "clients", "calls/s", "p50", "p90", "p99", "errors")
	for _, r := range instRows {
		fmt.Printf("%-36s %-8d %10.1f %9s %9s %9s %7d\n", r.server.name, r.clients, r.res.rate(),
			r.res.percentile(0.5).Round(100*time.Microsecond), r.res.percentile(0.9).Round(100*time.Microsecond),
			r.res.percentile(0.99).Round(100*time.Microsecond), r.res.errors)
		if strings.HasPrefix(r.server.name, "this daemon") && r.res.errors > 0 {
			t.Errorf("%s: %d failed calls", r.server.name, r.res.errors)
		}
	}
	printTransferRows(t, transferRows)
	memoryRows := benchMemoryRows(t)
	printMemoryRows(memoryRows)
	fmt.Printf("\n%-16s %12s %12s\n", "server", "locked (MB)", "resident (MB)")
	locked := map[string]float64{}
	for _, s := range servers {
		pid := s.cmd.Process.Pid
		locked[s.name] = float64(lockedKB(pid)) / 1024
		fmt.Printf("%-16s %12.1f %12.1f\n", s.name, locked[s.name], float64(residentKB(pid))/1024)
	}

	// Targets of the daemon-core issue.
	rate := func(name string, clients int) float64 {
		for _, r := range rows {
			if r.server.name == name && r.clients == clients {
				return r.res.rate()
			}
		}
		return 0
	}
	fmt.Println()
	check := func(ok bool, format string, args ...any) {
		verdict := "met"
		if !ok {
			verdict = "MISSED"
			t.Errorf(format, args...)
		}
		fmt.Printf("target %-6s "+format+"\n", append([]any{verdict}, args...)...)
	}
	for _, c := range []int{1, 20} {
		ratio := rate("this daemon", c) / rate("floor (Go TLS)", c)
		check(ratio >= 0.8, "%d client(s): %.2f of the TLS floor (>= 0.80)", c, ratio)
		if py := rate("Python 3.0.2", c); py > 0 {
			check(rate("this daemon", c)/py >= 20, "%d client(s): %.1f times the Python daemon (>= 20)", c, rate("this daemon", c)/py)
		}
	}
	check(locked["this daemon"] < 15, "locked memory %.1f MB (< 15)", locked["this daemon"])
	checkMemoryRows(t, memoryRows, check)
	for _, r := range rows {
		if r.server.name == "this daemon" && r.res.errors > 0 {
			t.Errorf("%d failed calls with %d clients", r.res.errors, r.clients)
		}
	}
}

// benchLVDisk is bench client i's logical volume.
func benchLVDisk(i int) map[string]any {
	return plainDisk("xenvg", fmt.Sprintf("bench-disk%d", i), 1024)
}

// benchLVMReplies answer every LVM command of the LV bench as if each
// client's volume were there (LVM's real answers, with Ganeti's argv).
func benchLVMReplies() []fakeReply {
	lvs := ""
	var replies []fakeReply
	for i := range 4 {
		lv := fmt.Sprintf("bench-disk%d", i)
		path := "/dev/xenvg/" + lv
		lvs += fmt.Sprintf("  xenvg|%s|-wi-a-----|253|%d|4096.00|1|/dev/vda(%d)\n", lv, i+1, 256*i)
		replies = append(replies,
			fakeReply{Argv: []string{"lvcreate", "-Wn", "-L1024m", "-n" + lv, "-i1", "xenvg", "/dev/vda"}, Stdout: fmt.Sprintf("  Logical volume \"%s\" created.\n", lv)},
			fakeReply{Argv: []string{"lvchange", "-ay", path}},
			fakeReply{Argv: []string{"lvs", "-o", "tags", "--noheadings", "--nosuffix", path}, Stdout: "\n"},
			fakeReply{Argv: []string{"lvchange", "--addtag", "originstname+bench", path}, Stdout: fmt.Sprintf("  Logical volume xenvg/%s changed.\n", lv)},
			fakeReply{Argv: []string{"lvremove", "-f", "xenvg/" + lv}, Stdout: fmt.Sprintf("  Logical volume \"%s\" successfully removed.\n", lv)})
	}
	return append(replies,
		fakeReply{Argv: []string{"lvs", "--noheadings", "--separator=|", "--units=k", "--nosuffix", "-o" + lvsFields}, Stdout: lvs},
		fakeReply{Argv: []string{"pvs", "--noheadings", "--nosuffix", "--units=m", "--unbuffered", "--separator=|",
			"-opv_name,vg_name,pv_free,pv_attr,pv_size,pv_name"}, Stdout: "  /dev/vda|xenvg|26620.00|a--|30716.00|/dev/vda\n"},
		fakeReply{Argv: []string{"vgs", "--noheadings", "--nosuffix", "--units=m", "--unbuffered", "--separator=|",
			"-ovg_name,vg_free,vg_attr,vg_size"}, Stdout: "  xenvg|26620.00|wz--n-|30716.00\n"})
}
