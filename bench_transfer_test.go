package main

import (
	"bytes"
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The disk transfer rows of `make bench`: an export file streamed from one
// node's export directory into another's, driven over HTTPS RPC as the
// master drives `gnt-backup export` between two nodes (docs/reference/
// impexp.md §1): import_start on the destination, impexp_status until it
// has listen_port, export_start on the source towards 127.0.0.1:port,
// impexp_status on both until each has exit_status, impexp_cleanup.

// benchTransferMiB is the size of the transferred file;
// NODED_BENCH_TRANSFER_MIB changes it (0 leaves the rows out).
const benchTransferMiB = 1024

// benchTransferPoll is how often the bench polls impexp_status during a
// transfer. The master polls every 1 to 5 s; the measured time does not
// depend on it (see transferResult), but every call to the Python daemon
// costs it about 0.1 s of CPU, so polling much faster would slow the
// Python transfers down on a 2-core machine.
const benchTransferPoll = time.Second

// rpcClient calls a daemon's procedures over HTTPS, each call a new TLS
// connection as from the master.
type rpcClient struct {
	port   int
	client *http.Client
}

func newRPCClient(t *testing.T, port int) *rpcClient {
	t.Helper()
	cert, err := tls.LoadX509KeyPair("testdata/certs/cluster.pem", "testdata/certs/cluster.pem")
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true},
		DisableKeepAlives: true}
	return &rpcClient{port: port, client: &http.Client{Transport: tr, Timeout: 5 * time.Minute}}
}

// call posts the arguments to /proc and decodes the result into out.
func (c *rpcClient) call(out any, proc string, args ...any) error {
	body, err := json.Marshal(args)
	if err != nil {
		return err
	}
	resp, err := c.client.Post(fmt.Sprintf("https://127.0.0.1:%d/%s", c.port, proc), "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var reply []json.RawMessage
	if err := json.Unmarshal(data, &reply); err != nil || len(reply) != 2 {
		return fmt.Errorf("%s: HTTP %d, reply %.200q", proc, resp.StatusCode, data)
	}
	if string(reply[0]) != "true" {
		return fmt.Errorf("%s failed: %s", proc, reply[1])
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(reply[1], out)
}

// status is one impexp_status entry (nil until the transfer wrote one).
func (c *rpcClient) status(name string) (map[string]any, error) {
	var sts []map[string]any
	if err := c.call(&sts, "impexp_status", []string{name}); err != nil {
		return nil, err
	}
	if len(sts) != 1 {
		return nil, fmt.Errorf("impexp_status gave %d entries", len(sts))
	}
	return sts[0], nil
}

// transferResult is one measured transfer. elapsed runs from the
// export_start call to the later of the two final status writes (their
// mtime), so it does not depend on the poll interval; endToEnd runs from
// import_start until both transfers are cleaned up, as the master sees it.
type transferResult struct {
	server, compress  string
	mib               int
	elapsed, endToEnd time.Duration
	err               error
}

func (r transferResult) rate() float64 { return float64(r.mib) / r.elapsed.Seconds() }

// benchTransfer streams source (on src) to target (on dst) once.
func benchTransfer(src, dst *rpcClient, compress, source, target string) (elapsed, endToEnd time.Duration, err error) {
	inst := fakeInstance("inst1.example.com")
	inst["os"] = "debootstrap+default"
	// The master's magic: sha1("0" + 12 random hex digits + instance + disk index).
	sum := sha1.Sum([]byte("0" + "0123456789ab" + "inst1.example.com" + "0"))
	opts := map[string]any{"compress": compress, "magic": hex.EncodeToString(sum[:]), "connect_timeout": 60}
	began := time.Now()
	var impName, expName string
	if err := dst.call(&impName, "import_start", opts, inst, "disk0", []any{"file", []string{target}}); err != nil {
		return 0, 0, err
	}
	defer func() {
		if expName != "" {
			if cerr := src.call(nil, "impexp_cleanup", expName); err == nil {
				err = cerr
			}
		}
		if cerr := dst.call(nil, "impexp_cleanup", impName); err == nil {
			err = cerr
		}
		endToEnd = time.Since(began)
	}()
	port := 0
	for deadline := time.Now().Add(30 * time.Second); port == 0; time.Sleep(100 * time.Millisecond) {
		st, err := dst.status(impName)
		if err != nil {
			return 0, 0, err
		}
		if p, ok := st["listen_port"].(float64); ok {
			port = int(p)
		} else if _, ok := st["exit_status"]; ok || time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("import never listened: %v", st)
		}
	}
	started := time.Now()
	if err := src.call(&expName, "export_start", opts, "127.0.0.1", port, inst, "disk0", []any{"file", []string{source}}); err != nil {
		dst.call(nil, "impexp_abort", impName)
		return 0, 0, err
	}
	final := map[string]map[string]any{}
	for deadline := time.Now().Add(10 * time.Minute); len(final) < 2; {
		time.Sleep(benchTransferPoll)
		for _, side := range []struct {
			c    *rpcClient
			name string
		}{{src, expName}, {dst, impName}} {
			if final[side.name] != nil {
				continue
			}
			st, err := side.c.status(side.name)
			if err != nil {
				return 0, 0, err
			}
			if _, ok := st["exit_status"]; ok {
				final[side.name] = st
			}
		}
		if time.Now().After(deadline) {
			src.call(nil, "impexp_abort", expName)
			dst.call(nil, "impexp_abort", impName)
			return 0, 0, errors.New("the transfer did not end in 10 minutes")
		}
	}
	var end float64
	for name, st := range final {
		if st["exit_status"] != float64(0) {
			return 0, 0, fmt.Errorf("%s: %v", name, st)
		}
		m, ok := st["mtime"].(float64)
		if !ok {
			return 0, 0, fmt.Errorf("%s: final status without mtime: %v", name, st)
		}
		end = max(end, m)
	}
	elapsed = time.Unix(0, int64(end*1e9)).Sub(started)
	return elapsed, 0, nil
}

// writeBenchData writes mib MiB of pseudo-random data (incompressible, the
// worst case for gzip) to path.
func writeBenchData(t *testing.T, path string, mib int) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o750)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.NewChaCha8([32]byte{'g', 'a', 'n', 'e', 't', 'i'})
	buf := make([]byte, 1<<20)
	for i := 0; i < mib; i++ {
		rng.Read(buf)
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	// On disk before the clock starts, so that its writeback does not
	// slow down the first transfer.
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// sameContent compares two files chunk by chunk.
func sameContent(a, b string) error {
	fa, err := os.Open(a)
	if err != nil {
		return err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return err
	}
	defer fb.Close()
	ba, bb := make([]byte, 4<<20), make([]byte, 4<<20)
	for off := int64(0); ; {
		na, erra := io.ReadFull(fa, ba)
		nb, errb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return fmt.Errorf("%s differs from %s after byte %d", b, a, off)
		}
		off += int64(na)
		if erra != nil || errb != nil {
			if (erra == io.EOF || erra == io.ErrUnexpectedEOF) && (errb == io.EOF || errb == io.ErrUnexpectedEOF) {
				return nil
			}
			return errors.Join(erra, errb)
		}
	}
}

// transferMiB is the size of the transfer rows' file.
func transferMiB() int {
	if s := os.Getenv("NODED_BENCH_TRANSFER_MIB"); s != "" {
		n, _ := strconv.Atoi(s)
		return n
	}
	return benchTransferMiB
}

// benchTransfers measures the transfer rows for each kind of daemon; argv
// starts another daemon of that kind (the destination node) on a root and
// port. The source node is the daemon already running on srcPort.
func benchTransfers(t *testing.T, kinds []transferKind) []transferResult {
	mib := transferMiB()
	if mib <= 0 {
		return nil
	}
	data := filepath.Join(t.TempDir(), "disk0")
	began := time.Now()
	writeBenchData(t, data, mib)
	t.Logf("wrote %d MiB of test data in %v", mib, time.Since(began).Round(time.Millisecond))
	var results []transferResult
	for _, k := range kinds {
		if k.unavailable != "" {
			for _, c := range []string{"none", "gzip"} {
				results = append(results, transferResult{server: k.name, compress: c, mib: mib, err: errors.New(k.unavailable)})
			}
			continue
		}
		for _, dir := range []string{k.src.RunDir + "/import-export", k.dst.RunDir + "/import-export",
			k.src.LogDir + "/os", k.dst.LogDir + "/os", k.src.ExportDir, k.dst.ExportDir} {
			os.MkdirAll(dir, 0o755)
		}
		source := filepath.Join(k.src.ExportDir, "inst1.example.com", "disk0")
		os.MkdirAll(filepath.Dir(source), 0o750)
		if err := os.Link(data, source); err != nil {
			t.Fatal(err)
		}
		// A first transfer, not counted, creates the target; the measured
		// ones overwrite it. Writing a new 1 GiB file costs this VM 1 to 2
		// s of kernel time more, whoever writes it: the guest hands free
		// pages back to the host (virtio-balloon free page reporting) and
		// getting them back is slow.
		target := filepath.Join(k.dst.ExportDir, "inst1.example.com.new", "disk0")
		src, dst := newRPCClient(t, k.srcPort), newRPCClient(t, k.dstPort)
		warm, _, err := benchTransfer(src, dst, "none", source, target)
		t.Logf("%s: first transfer (new file, compression none, not counted): %v, %v", k.name, warm.Round(10*time.Millisecond), err)
		for _, c := range []string{"none", "gzip"} {
			r := transferResult{server: k.name, compress: c, mib: mib}
			r.elapsed, r.endToEnd, r.err = benchTransfer(src, dst, c, source, target)
			if r.err == nil {
				r.err = sameContent(source, target)
			}
			if r.err != nil {
				for _, l := range append(logFiles(k.src), logFiles(k.dst)...) {
					out, _ := os.ReadFile(l)
					t.Logf("%s:\n%s", l, out)
				}
			}
			results = append(results, r)
		}
		os.Remove(target)
	}
	return results
}

func logFiles(l *layout) []string {
	files, _ := filepath.Glob(filepath.Join(l.LogDir, "os", "*.log"))
	return files
}

// transferKind is a pair of daemons of one kind: src is the daemon the
// other rows measure, dst another one started for the transfers.
type transferKind struct {
	name             string
	src, dst         *layout
	srcPort, dstPort int
	unavailable      string // why this kind cannot be measured
}

func printTransferRows(t *testing.T, results []transferResult) {
	if len(results) == 0 {
		return
	}
	fmt.Printf("\nexport file -> import file between two nodes, %d MiB of random data (incompressible), over loopback;\nelapsed: export_start until the later final status write\n", results[0].mib)
	fmt.Printf("%-16s %-9s %10s %9s %12s\n", "server", "compress", "elapsed", "MiB/s", "end to end")
	for _, r := range results {
		if r.err != nil {
			fmt.Printf("%-16s %-9s failed: %s\n", r.server, r.compress, strings.ReplaceAll(r.err.Error(), "\n", " "))
			if r.server == "this daemon" {
				t.Errorf("%s transfer: %v", r.compress, r.err)
			}
			continue
		}
		fmt.Printf("%-16s %-9s %10s %9.1f %12s\n", r.server, r.compress, r.elapsed.Round(10*time.Millisecond), r.rate(),
			r.endToEnd.Round(10*time.Millisecond))
	}
}
