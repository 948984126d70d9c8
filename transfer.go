package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A disk transfer runs in its own process: this binary re-executed with
// transferEnv set and the command line of Ganeti's import-export helper, so
// that it outlives a daemon restart and can be swapped for the helper. On
// the wire it speaks the helper's protocol: TLS, then compress("M=" + magic
// + data), ended by a clean TLS close.

const transferEnv = "GANETI_NODED_TRANSFER"

const (
	transferBufSize      = 1 << 20 // the helper's socat and dd buffer
	transferStatsEvery   = 5 * time.Second
	transferSamples      = 12 // a minute of samples for the throughput
	transferHandshake    = 20 * time.Second
	maxRecentOutputLines = 20
)

// transferOptions is the helper's command line.
type transferOptions struct {
	statusFile, mode     string
	key, cert, ca        string
	bind, host           string
	port                 int
	ipv4, ipv6           bool
	compress, magic      string
	expectedSize         string // "", "fd" (the data command reports bytes) or MiB
	cmdPrefix, cmdSuffix string
	connectRetries       int
	connectTimeout       int
}

func parseTransferOptions(argv []string) (*transferOptions, error) {
	o := &transferOptions{}
	fs := flag.NewFlagSet("import-export", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.key, "key", "", "")
	fs.StringVar(&o.cert, "cert", "", "")
	fs.StringVar(&o.ca, "ca", "", "")
	fs.StringVar(&o.bind, "bind", "", "")
	fs.StringVar(&o.host, "host", "", "")
	fs.IntVar(&o.port, "port", 0, "")
	fs.BoolVar(&o.ipv4, "ipv4", false, "")
	fs.BoolVar(&o.ipv6, "ipv6", false, "")
	fs.StringVar(&o.compress, "compress", "gzip", "")
	fs.StringVar(&o.magic, "magic", "", "")
	fs.StringVar(&o.expectedSize, "expected-size", "", "")
	fs.StringVar(&o.cmdPrefix, "cmd-prefix", "", "")
	fs.StringVar(&o.cmdSuffix, "cmd-suffix", "", "")
	fs.IntVar(&o.connectRetries, "connect-retries", 0, "")
	fs.IntVar(&o.connectTimeout, "connect-timeout", 60, "")
	var debug bool
	fs.BoolVar(&debug, "d", false, "")
	fs.BoolVar(&debug, "debug", false, "")
	fs.BoolVar(&debug, "v", false, "")
	// Positional arguments may sit between options, as optparse allows.
	var positional []string
	for {
		if err := fs.Parse(argv); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		argv = fs.Args()[1:]
	}
	switch {
	case len(positional) != 2:
		return nil, errors.New("expected two arguments: status file and mode")
	case positional[1] != "import" && positional[1] != "export":
		return nil, fmt.Errorf("invalid mode: %s", positional[1])
	case o.ipv4 && o.ipv6:
		return nil, errors.New("can only use one of --ipv4 and --ipv6")
	case o.port < 0 || o.port > 65535:
		return nil, fmt.Errorf("invalid port: %d", o.port)
	case o.magic != "" && !transferMagicPattern.MatchString(o.magic):
		return nil, fmt.Errorf("magic value contains invalid characters")
	case o.compress != "none" && !compressToolPattern.MatchString(o.compress):
		return nil, fmt.Errorf("invalid compression tool: %s", o.compress)
	case o.key == "" || o.cert == "" || o.ca == "":
		return nil, errors.New("--key, --cert and --ca are required")
	case positional[1] == "export" && (o.host == "" || o.port == 0):
		return nil, errors.New("an export needs --host and --port")
	}
	if o.expectedSize != "" && o.expectedSize != "fd" {
		if _, err := strconv.ParseInt(o.expectedSize, 10, 64); err != nil {
			return nil, fmt.Errorf("invalid value for --expected-size: %s", o.expectedSize)
		}
	}
	o.statusFile, o.mode = positional[0], positional[1]
	return o, nil
}

// transferStatus is the status file, with the fields the master reads (it
// refuses any other) in the helper's order; unset fields are left out.
type transferStatus struct {
	RecentOutput       []string `json:"recent_output"`
	ListenPort         *int     `json:"listen_port,omitempty"`
	Connected          *bool    `json:"connected,omitempty"`
	ProgressMBytes     *int64   `json:"progress_mbytes,omitempty"`
	ProgressThroughput *float64 `json:"progress_throughput,omitempty"`
	ProgressETA        *float64 `json:"progress_eta,omitempty"`
	ProgressPercent    *float64 `json:"progress_percent,omitempty"`
	ExitStatus         *int     `json:"exit_status,omitempty"`
	ErrorMessage       *string  `json:"error_message,omitempty"`
	CTime              float64  `json:"ctime"`
	MTime              *float64 `json:"mtime,omitempty"`
}

// transfer is one running import or export.
type transfer struct {
	opts *transferOptions
	n    *node // for runCommand and logging
	log  io.Writer

	mu        sync.Mutex
	status    transferStatus
	lastWrite time.Time

	bytes       atomic.Int64
	expectedMiB atomic.Int64 // -1: unknown
	dataStart   time.Time
	samples     [][2]float64 // seconds since dataStart, MiB
}

// exitSignal is how an ended transfer reports a signal, as the helper
// reports its child killed by one.
type exitSignal syscall.Signal

func (s exitSignal) Error() string { return fmt.Sprintf("Exited due to signal %d", int(s)) }

// runTransfer is the transfer process; it returns the exit code.
func runTransfer(argv []string, stderr io.Writer) int {
	// fd 3 holds the lock on the pid file while this process lives; the
	// commands it runs must not inherit it.
	syscall.CloseOnExec(3)
	syscall.Umask(0o077)
	// Nor the transfer mode: a data command that runs the daemon gets the daemon.
	os.Unsetenv(transferEnv)
	opts, err := parseTransferOptions(argv)
	if err != nil {
		fmt.Fprintf(stderr, "Usage: import-export <status-file> {import|export} [options]\n\nerror: %v\n", err)
		return 2
	}
	lg, _ := newLogger("", true, stderr, false)
	t := &transfer{opts: opts, log: stderr, n: &node{log: lg}}
	t.status = transferStatus{RecentOutput: []string{}, CTime: epoch(time.Now())}
	t.expectedMiB.Store(-1)
	if n, err := strconv.ParseInt(opts.expectedSize, 10, 64); err == nil {
		t.expectedMiB.Store(n)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-sigs
		t.output(fmt.Sprintf("Received signal %d, stopping", sig.(syscall.Signal)))
		cancel(exitSignal(sig.(syscall.Signal)))
	}()
	err = t.run(ctx)
	if cause := context.Cause(ctx); err != nil && cause != nil {
		err = cause // the first reason wins over the errors it caused
	}
	return t.finish(err)
}

func (t *transfer) run(ctx context.Context) error {
	if err := checkCompressor(t.opts.compress); err != nil {
		return err
	}
	t.writeStatus(true) // the master gives up on a status still missing after 10 s
	if t.opts.mode == "import" {
		return t.runImport(ctx)
	}
	return t.runExport(ctx)
}

// finish records the outcome and returns the process exit code.
func (t *transfer) finish(err error) int {
	code, msg := 0, ""
	var sig exitSignal
	var cmdErr *commandError
	switch {
	case err == nil:
	case errors.As(err, &sig):
		code, msg = -int(sig), sig.Error()
	case errors.As(err, &cmdErr) && cmdErr.Result.ExitCode > 0 && !cmdErr.Result.TimedOut:
		code, msg = cmdErr.Result.ExitCode, fmt.Sprintf("Exited with status %d", cmdErr.Result.ExitCode)
	default:
		code, msg = 1, err.Error()
	}
	t.sample()
	t.mu.Lock()
	t.status.ExitStatus = &code
	if msg != "" {
		t.status.ErrorMessage = &msg
	}
	t.mu.Unlock()
	if msg != "" {
		fmt.Fprintf(t.log, "%s transfer failed: %s\n", t.opts.mode, msg)
	}
	t.writeStatus(true)
	if code != 0 {
		return 1
	}
	return 0
}

// output records one line for recent_output and the log.
func (t *transfer) output(line string) {
	line = strings.TrimRight(line, "\r")
	fmt.Fprintln(t.log, line)
	t.mu.Lock()
	t.status.RecentOutput = append(t.status.RecentOutput, line)
	if n := len(t.status.RecentOutput); n > maxRecentOutputLines {
		t.status.RecentOutput = t.status.RecentOutput[n-maxRecentOutputLines:]
	}
	t.mu.Unlock()
	t.writeStatus(false)
}

// lineWriter hands complete lines of a command's standard error to fn.
type lineWriter struct {
	mu  sync.Mutex
	buf []byte
	fn  func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		w.fn(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 4096 { // a line without end: pass it on anyway
		w.fn(string(w.buf))
		w.buf = nil
	}
	return len(p), nil
}

// writeStatus replaces the status file; unless forced, at most every 5 s.
func (t *transfer) writeStatus(force bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if !force && now.Sub(t.lastWrite) < transferStatsEvery {
		return
	}
	mtime := epoch(now)
	t.status.MTime = &mtime
	data, err := json.Marshal(t.status)
	if err == nil {
		err = writeFileAtomic(t.opts.statusFile, append(data, '\n'), writeOptions{Mode: 0o400, UID: -1, GID: -1})
	}
	if err != nil {
		fmt.Fprintf(t.log, "cannot write status file %s: %v\n", t.opts.statusFile, err)
		return
	}
	t.lastWrite = now
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// sample takes one progress measurement: MiB so far, throughput over the
// last minute, and with a known size the percentage and time left.
func (t *transfer) sample() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dataStart.IsZero() {
		return
	}
	mib := float64(t.bytes.Load()) / (1 << 20)
	t.samples = append(t.samples, [2]float64{time.Since(t.dataStart).Seconds(), mib})
	if len(t.samples) > transferSamples {
		t.samples = t.samples[len(t.samples)-transferSamples:]
	}
	mbytes := int64(math.RoundToEven(mib))
	t.status.ProgressMBytes = &mbytes
	var throughput float64
	if first, last := t.samples[0], t.samples[len(t.samples)-1]; len(t.samples) > 1 && last[0] > first[0] {
		throughput = (last[1] - first[1]) / (last[0] - first[0])
		t.status.ProgressThroughput = &throughput
	}
	if exp := t.expectedMiB.Load(); exp > 0 {
		percent := max(0, min(100, 100*float64(mbytes)/float64(exp)))
		t.status.ProgressPercent = &percent
		if throughput > 0 {
			eta := max(0, (float64(exp)-float64(mbytes))/throughput)
			t.status.ProgressETA = &eta
		}
	}
}

// measure starts counting payload bytes and sampling them every 5 s.
func (t *transfer) measure(ctx context.Context) {
	t.mu.Lock()
	t.dataStart = time.Now()
	t.mu.Unlock()
	go func() {
		tick := time.NewTicker(transferStatsEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				t.sample()
				t.writeStatus(true)
			}
		}
	}()
}

// countingWriter counts what passes into the transfer's progress.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// magicHeader is what precedes the data ("M=" keeps the helper's echo from
// reading the value as an option).
func (t *transfer) magicHeader() []byte {
	if t.opts.magic == "" {
		return nil
	}
	return []byte("M=" + t.opts.magic)
}

// dataCommand is the shell command around the transfer's data, as the
// helper runs it: "<prefix> cat <suffix>" gives the data (export) or takes
// it (import).
func (t *transfer) dataCommand() string {
	parts := []string{}
	if t.opts.cmdPrefix != "" {
		parts = append(parts, t.opts.cmdPrefix)
	}
	parts = append(parts, "cat")
	if t.opts.cmdSuffix != "" {
		parts = append(parts, t.opts.cmdSuffix)
	}
	return strings.Join(parts, " ")
}

// plainFile recognises the data command "< file" (export) or "> file"
// (import) that the daemon writes for export files, so that the transfer
// opens the file itself instead of running a shell.
func (t *transfer) plainFile() (string, bool) {
	if t.opts.cmdPrefix != "" {
		return "", false
	}
	redirect := "< "
	if t.opts.mode == "import" {
		redirect = "> "
	}
	word, ok := strings.CutPrefix(t.opts.cmdSuffix, redirect)
	if !ok {
		return "", false
	}
	return unquoteShellWord(word)
}

// unquoteShellWord reverses shellQuote and refuses anything else.
func unquoteShellWord(s string) (string, bool) {
	if shellSafe.MatchString(s) {
		return s, true
	}
	if len(s) < 2 || s[0] != '\'' || s[len(s)-1] != '\'' {
		return "", false
	}
	inner := s[1 : len(s)-1]
	plain := strings.ReplaceAll(inner, `'\''`, "'")
	if shellQuote(plain) != s {
		return "", false
	}
	return plain, true
}

// runData runs the data command with the given streams, in the
// background; the returned channel yields its outcome.
func (t *transfer) runData(ctx context.Context, stdin io.Reader, stdout io.Writer) <-chan error {
	done := make(chan error, 1)
	env := []string{}
	var extra []*os.File
	var sizeRead *os.File
	if t.opts.expectedSize == "fd" {
		r, w, err := os.Pipe()
		if err != nil {
			done <- fmt.Errorf("cannot make the pipe for the size: %w", err)
			return done
		}
		sizeRead, extra = r, []*os.File{w}
		env = append(env, "EXP_SIZE_FD=3")
	}
	go func() {
		_, err := t.n.runCommand(command{
			Args: []string{"bash", "-o", "errexit", "-o", "pipefail", "-c", t.dataCommand()},
			Env:  env, ExtraFiles: extra, Ctx: ctx, TermGrace: 5 * time.Second, Timeout: 72 * time.Hour,
			StdinFrom: stdin, StdoutTo: stdout, StderrTo: &lineWriter{fn: t.output},
		})
		for _, f := range extra {
			f.Close() // ends the size reader if the command never wrote
		}
		done <- err
	}()
	if sizeRead != nil {
		go func() {
			defer sizeRead.Close()
			line, _ := bufio.NewReader(sizeRead).ReadString('\n')
			if size, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64); err == nil && size >= 0 {
				t.expectedMiB.Store(int64(math.RoundToEven(float64(size) / (1 << 20))))
			}
		}()
	}
	return done
}

// checkCompressor refuses a compression tool that is not installed, with
// the helper's message; gzip is built in.
func checkCompressor(name string) error {
	if name == "none" || isGzipMethod(name) {
		return nil
	}
	if _, err := exec.LookPath(name); err != nil {
		return fmt.Errorf("Unhandled error occurred: Verification attempt of selected compression method %s failed - check that %s is present and can be invoked safely with the -h switch", name, name)
	}
	return nil
}

func isGzipMethod(name string) bool {
	return name == "gzip" || name == "gzip-fast" || name == "gzip-slow"
}

// gzipLevel is the level the helper's gzip uses to send: -1 except for
// gzip-slow.
func gzipLevel(name string) int {
	if name == "gzip-slow" {
		return gzip.DefaultCompression
	}
	return gzip.BestSpeed
}
