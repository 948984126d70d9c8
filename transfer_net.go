package main

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// clusterCertCN is the common name of Ganeti's cluster certificate; an
// exporter wants it (or the host it dials) from the importer.
const clusterCertCN = "ganeti.example.com"

// transferKeepAlive is the helper's socat keepalive setting.
var transferKeepAlive = net.KeepAliveConfig{Enable: true, Idle: 60 * time.Second, Interval: 10 * time.Second, Count: 5}

var errDataCommandEnded = errors.New("the data command ended before taking all data")

// tlsConfig loads the key pair and the certificates peers must chain to:
// both sides present a certificate and check the other's.
func (t *transfer) tlsConfig() (*tls.Config, error) {
	pair, _, err := loadKeyPair(t.opts.cert, t.opts.key)
	if err != nil {
		return nil, err
	}
	anchors, err := readCertificates(t.opts.ca)
	if err != nil {
		return nil, err
	}
	export := t.opts.mode == "export"
	verify := func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("peer sent no certificate")
		}
		leaf, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return fmt.Errorf("bad peer certificate: %w", err)
		}
		for _, anchor := range anchors {
			if err = chainsTo(leaf, anchor, time.Now(), "peer certificate"); err == nil {
				break
			}
		}
		if err != nil {
			return err
		}
		// Ganeti's certificates carry no subject alternative names, so the
		// name check is on the common name, done here.
		if cn := leaf.Subject.CommonName; export && cn != clusterCertCN && cn != t.opts.host {
			return fmt.Errorf("peer certificate's commonName %q matches neither %q nor %q", cn, clusterCertCN, t.opts.host)
		}
		return nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}, VerifyPeerCertificate: verify}
	if export {
		cfg.InsecureSkipVerify = true // the chain and name are checked by verify
	} else {
		cfg.ClientAuth = tls.RequireAnyClientCert
	}
	return cfg, nil
}

// readCertificates returns every certificate of a PEM file (keys skipped).
func readCertificates(path string) ([]*x509.Certificate, error) {
	data, err := readFileLimited(path, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("cannot read CA file: %w", err)
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CA file %s: %w", path, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("CA file %s holds no certificate", path)
	}
	return certs, nil
}

func (t *transfer) network() string {
	switch {
	case t.opts.ipv4:
		return "tcp4"
	case t.opts.ipv6:
		return "tcp6"
	}
	return "tcp"
}

func (t *transfer) setConnected(peer net.Addr) {
	fmt.Fprintf(t.log, "connected with %s\n", peer)
	yes := true
	t.mu.Lock()
	t.status.Connected = &yes
	t.mu.Unlock()
	t.writeStatus(true)
}

// eofConn notes whether the TCP stream itself ended, so that a TLS stream
// cut without close_notify is not mistaken for a complete one.
type eofConn struct {
	net.Conn
	sawEOF atomic.Bool
}

func (c *eofConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		c.sawEOF.Store(true)
	}
	return n, err
}

// cleanEOF reads a TLS stream whose only valid end is close_notify.
type cleanEOF struct {
	tls *tls.Conn
	raw *eofConn
}

func (r cleanEOF) Read(p []byte) (int, error) {
	n, err := r.tls.Read(p)
	if err == io.EOF && r.raw.sawEOF.Load() {
		return n, errors.New("connection closed without TLS close_notify, data may be truncated")
	}
	return n, err
}

// resetConn closes a connection with a TCP reset.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// runImport listens, takes the first peer that passes the TLS checks,
// and writes what it sends, after the magic, into the data command.
func (t *transfer) runImport(ctx context.Context) (err error) {
	cfg, err := t.tlsConfig()
	if err != nil {
		return err
	}
	ln, err := t.listen(ctx)
	if err != nil {
		return err
	}
	defer ln.Close()
	conn, raw, err := t.acceptPeer(ctx, ln, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	// A failed import must not end the stream cleanly: its close_notify
	// would tell an exporter that has sent everything that all arrived. A
	// reset instead fails the exporter, as socat's does after a magic
	// mismatch.
	defer func() {
		if err != nil {
			resetConn(raw.Conn)
		}
	}()
	go func() { <-ctx.Done(); resetConn(raw.Conn) }()
	t.setConnected(conn.RemoteAddr())

	r, finish, err := t.decompressing(ctx, bufio.NewReaderSize(cleanEOF{conn, raw}, transferBufSize))
	if err != nil {
		return err
	}
	if err = t.checkMagic(r); err != nil {
		return err
	}
	t.measure(ctx)
	return finish(t.sink(ctx, r))
}

// listen opens the import's port and publishes it in the status file,
// whence the master tells the exporter.
func (t *transfer) listen(ctx context.Context) (net.Listener, error) {
	lc := net.ListenConfig{KeepAliveConfig: transferKeepAlive}
	ln, err := lc.Listen(ctx, t.network(), net.JoinHostPort(t.opts.bind, strconv.Itoa(t.opts.port)))
	if err != nil {
		return nil, fmt.Errorf("cannot listen: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	fmt.Fprintf(t.log, "listening on %s\n", ln.Addr())
	t.mu.Lock()
	t.status.ListenPort = &port
	t.mu.Unlock()
	t.writeStatus(true)
	return ln, nil
}

// acceptPeer waits, at most connect-timeout if one is set, for the first
// peer whose TLS handshake succeeds.
func (t *transfer) acceptPeer(ctx context.Context, ln net.Listener, cfg *tls.Config) (*tls.Conn, *eofConn, error) {
	acceptCtx, stopAccept := context.WithCancelCause(ctx)
	defer stopAccept(nil)
	if t.opts.connectTimeout > 0 {
		timer := time.AfterFunc(time.Duration(t.opts.connectTimeout)*time.Second, func() {
			if acceptCtx.Err() != nil {
				return // connected (or ending) already
			}
			t.output(fmt.Sprintf("Child process didn't establish connection in time (%ds), sending SIGTERM", t.opts.connectTimeout))
			stopAccept(exitSignal(syscall.SIGTERM))
		})
		defer timer.Stop()
	}
	go func() { <-acceptCtx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			if cause := context.Cause(acceptCtx); cause != nil && !errors.Is(cause, context.Canceled) {
				return nil, nil, cause
			}
			return nil, nil, fmt.Errorf("accept: %w", err)
		}
		raw := &eofConn{Conn: c}
		tc := tls.Server(raw, cfg)
		hctx, cancel := context.WithTimeout(acceptCtx, transferHandshake)
		err = tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			// Like the helper's listener, keep waiting for the right peer.
			t.output(fmt.Sprintf("TLS handshake with %s failed: %v", c.RemoteAddr(), err))
			c.Close()
			continue
		}
		stopAccept(nil)
		return tc, raw, nil
	}
}

// decompressing puts the decompressor in front of r. finish, once the
// data is read, ends an external one and returns err or, failing that,
// the decompressor's failure.
func (t *transfer) decompressing(ctx context.Context, r io.Reader) (io.Reader, func(error) error, error) {
	keep := func(err error) error { return err }
	switch c := t.opts.compress; {
	case c == "none":
		return r, keep, nil
	case isGzipMethod(c):
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, keep, nil
	default:
		out, done := t.filter(ctx, decompressArgs(c), r)
		return out, func(err error) error { return endFilter(out, done, err) }, nil
	}
}

// endFilter ends an external (de)compressor, which a reader or writer
// that stopped early leaves blocked on its output, and returns err or,
// failing that, the filter's own outcome.
func endFilter(out *io.PipeReader, done <-chan error, err error) error {
	out.CloseWithError(errDataCommandEnded)
	return cmp.Or(err, <-done)
}

// checkMagic reads the magic the exporter sends first, if one is set.
func (t *transfer) checkMagic(r io.Reader) error {
	magic := t.magicHeader()
	if magic == nil {
		return nil
	}
	got := make([]byte, len(magic))
	if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, magic) {
		t.output("Magic value mismatch")
		return errors.New("Magic value mismatch")
	}
	return nil
}

// sink writes the received data to the import file or the data command.
func (t *transfer) sink(ctx context.Context, r io.Reader) error {
	buf := make([]byte, transferBufSize)
	if path, ok := t.plainFile(); ok {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			t.output(err.Error())
			return err
		}
		out := newWriteBehind(f) // decrypting on one core, writing on another
		if _, err = io.CopyBuffer(countingWriter{out, &t.bytes}, r, buf); err != nil {
			err = fmt.Errorf("receiving data: %w", err)
		}
		if err = cmp.Or(err, out.Close()); err == nil {
			err = f.Sync()
		}
		return cmp.Or(err, f.Close())
	}
	pr, pw := io.Pipe()
	done := t.runData(ctx, pr, t.log)
	var cmdErr error
	finished := make(chan struct{})
	go func() {
		cmdErr = <-done
		pr.CloseWithError(errDataCommandEnded)
		close(finished)
	}()
	_, copyErr := io.CopyBuffer(countingWriter{pw, &t.bytes}, r, buf)
	if copyErr != nil {
		copyErr = fmt.Errorf("receiving data: %w", copyErr)
	}
	pw.CloseWithError(copyErr)
	<-finished
	return firstTransferError(cmdErr, copyErr)
}

// firstTransferError prefers a data command's own failure to the copy
// errors it causes.
func firstTransferError(cmdErr, copyErr error) error {
	var ce *commandError
	if errors.As(cmdErr, &ce) && ce.Result.ExitCode > 0 {
		return cmdErr
	}
	if copyErr != nil {
		return copyErr
	}
	return cmdErr
}

// runExport connects to the importer and sends the magic and the data.
func (t *transfer) runExport(ctx context.Context) error {
	cfg, err := t.tlsConfig()
	if err != nil {
		return err
	}
	conn, err := t.dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	go func() { <-ctx.Done(); conn.Close() }()
	t.setConnected(conn.RemoteAddr())

	src, produced, err := t.exportSource(ctx)
	if err != nil {
		return err
	}
	defer src.Close()
	// Encrypting and sending run behind the compression, on another core.
	wire := newWriteBehind(conn)
	defer wire.Close()
	sink, compressed := t.compressing(ctx, wire, conn)
	t.measure(ctx)
	err = cmp.Or(t.send(sink, src), sink.Close(), wire.Close())
	if compressed != nil {
		err = cmp.Or(err, <-compressed)
	}
	if produced != nil {
		err = firstTransferError(<-produced, err)
	}
	if err != nil {
		return err
	}
	return endCleanly(conn)
}

// exportSource opens the data to send: the export file, or the data
// command's output, whose outcome then comes on the channel.
func (t *transfer) exportSource(ctx context.Context) (io.ReadCloser, <-chan error, error) {
	if path, ok := t.plainFile(); ok {
		f, err := os.Open(path)
		if err != nil {
			t.output(err.Error())
			return nil, nil, err
		}
		// Read in transferBufSize pieces, not by os.File.WriteTo's 32 KiB.
		return struct {
			io.Reader
			io.Closer
		}{f, f}, nil, nil
	}
	pr, pw := io.Pipe()
	done := t.runData(ctx, nil, pw)
	produced := make(chan error, 1)
	go func() {
		err := <-done
		pw.CloseWithError(err)
		produced <- err
	}()
	return pr, produced, nil
}

// compressing is the compression in front of the connection; an
// external compressor's outcome comes on the channel (nil otherwise).
func (t *transfer) compressing(ctx context.Context, wire io.Writer, conn *tls.Conn) (io.WriteCloser, <-chan error) {
	switch c := t.opts.compress; {
	case c == "none":
		return nopWriteCloser{wire}, nil
	case isGzipMethod(c):
		zw, _ := gzip.NewWriterLevel(wire, gzipLevel(c))
		return zw, nil
	default:
		pr, pw := io.Pipe()
		out, done := t.filter(ctx, compressArgs(c), pr)
		finished := make(chan error, 1)
		go func() {
			_, err := io.Copy(conn, out)
			err = endFilter(out, done, err)
			// Writes still coming fail with the reason, not a closed pipe.
			pr.CloseWithError(cmp.Or(err, errDataCommandEnded))
			finished <- err
		}()
		return pw, finished
	}
}

// send writes the magic, then the data.
func (t *transfer) send(sink io.Writer, src io.Reader) error {
	_, err := sink.Write(t.magicHeader())
	if err == nil {
		_, err = io.CopyBuffer(countingWriter{sink, &t.bytes}, src, make([]byte, transferBufSize))
	}
	if err != nil {
		return fmt.Errorf("sending data: %w", err)
	}
	return nil
}

// endCleanly sends close_notify, then waits for the importer's own
// close, so that a clean end means the importer has taken everything.
func endCleanly(conn *tls.Conn) error {
	if err := conn.CloseWrite(); err != nil {
		return fmt.Errorf("closing the connection: %w", err)
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.Copy(io.Discard, conn); err != nil {
		return fmt.Errorf("waiting for the importer to close: %w", err)
	}
	return nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// dial connects as the helper's socat does: connect-retries more attempts
// a second apart, each bounded by connect-timeout; a TLS failure is final.
func (t *transfer) dial(ctx context.Context, cfg *tls.Config) (*tls.Conn, error) {
	addr := net.JoinHostPort(t.opts.host, strconv.Itoa(t.opts.port))
	d := net.Dialer{Timeout: time.Duration(t.opts.connectTimeout) * time.Second, KeepAliveConfig: transferKeepAlive}
	if t.opts.bind != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(t.opts.bind)}
	}
	var err error
	for attempt := 0; attempt <= t.opts.connectRetries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			case <-time.After(time.Second):
			}
		}
		var c net.Conn
		c, err = d.DialContext(ctx, t.network(), addr)
		if err != nil {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			t.output(fmt.Sprintf("connecting to %s: %v", addr, err))
			continue
		}
		tc := tls.Client(c, cfg)
		hctx, cancel := context.WithTimeout(ctx, transferHandshake)
		err = tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			t.output(fmt.Sprintf("TLS handshake with %s failed: %v", addr, err))
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		return tc, nil
	}
	return nil, fmt.Errorf("cannot connect to %s: %w", addr, err)
}

// compressArgs and decompressArgs are the helper's commands for a
// compression tool other than gzip.
func compressArgs(tool string) []string {
	if tool == "lzop" {
		return []string{"lzop", "-c"}
	}
	return []string{tool}
}

func decompressArgs(tool string) []string {
	if tool == "lzop" {
		return []string{"lzop", "-d", "-c"}
	}
	return []string{tool, "-d"}
}

// filter runs an external (de)compressor over in; its output is the
// returned reader, and its outcome comes on the channel.
func (t *transfer) filter(ctx context.Context, args []string, in io.Reader) (*io.PipeReader, <-chan error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := t.n.runCommand(command{Args: args, Ctx: ctx, Timeout: 72 * time.Hour,
			StdinFrom: in, StdoutTo: pw, StderrTo: &lineWriter{fn: t.output}})
		pw.CloseWithError(err)
		done <- err
	}()
	return pr, done
}

// writeBehind passes what is written to it on to w from a goroutine of its
// own, in transferBufSize pieces, so that producing the data (reading the
// connection, decrypting, decompressing; or reading the disk and
// compressing) and consuming it (writing the file; or encrypting and
// sending) use two cores. Close flushes, waits, and returns the first error.
type writeBehind struct {
	w     io.Writer
	buf   []byte
	free  chan []byte
	full  chan []byte
	done  chan struct{}
	err   atomic.Pointer[error]
	close sync.Once
}

const writeBehindBuffers = 4

func newWriteBehind(w io.Writer) *writeBehind {
	b := &writeBehind{w: w, free: make(chan []byte, writeBehindBuffers), full: make(chan []byte, writeBehindBuffers), done: make(chan struct{})}
	for range writeBehindBuffers - 1 {
		b.free <- make([]byte, 0, transferBufSize)
	}
	b.buf = make([]byte, 0, transferBufSize)
	go func() {
		defer close(b.done)
		for p := range b.full {
			if b.err.Load() == nil {
				if _, err := w.Write(p); err != nil {
					b.err.Store(&err)
				}
			}
			b.free <- p[:0]
		}
	}()
	return b
}

func (b *writeBehind) failed() error {
	if e := b.err.Load(); e != nil {
		return *e
	}
	return nil
}

func (b *writeBehind) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if err := b.failed(); err != nil {
			return written, err
		}
		n := copy(b.buf[len(b.buf):cap(b.buf)], p)
		b.buf = b.buf[:len(b.buf)+n]
		p, written = p[n:], written+n
		if len(b.buf) == cap(b.buf) {
			b.full <- b.buf
			b.buf = <-b.free
		}
	}
	return written, nil
}

func (b *writeBehind) Close() error {
	b.close.Do(func() {
		if len(b.buf) > 0 {
			b.full <- b.buf
		}
		close(b.full)
	})
	<-b.done
	return b.failed()
}
