// Command ganeti-noded is the Ganeti node daemon: the master calls it over
// HTTPS to change and query this node. It is a drop-in for Ganeti 3.0's
// Python daemon of the same name.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole daemon; it returns the exit code.
func run(argv []string, stdout, stderr io.Writer) int {
	if os.Getenv(transferEnv) == "1" {
		return runTransfer(argv, stderr)
	}
	if isDetachedChild() {
		// The parent checked the command line already; anything that still
		// goes wrong reaches it through the startup pipe.
		ready := startupPipe()
		cfg, code, ok := configure(argv, io.Discard, ready)
		if !ok {
			ready.Close()
			return code
		}
		os.Chdir("/")
		syscall.Umask(0o077)
		return serve(cfg, ready, nil)
	}
	cfg, code, ok := configure(argv, stdout, stderr)
	if !ok {
		return code
	}
	if cfg.opts.foreground {
		return serve(cfg, nil, stderr)
	}
	return detach(stderr)
}

// configure turns the command line into a daemonConfig; when ok is false
// the process exits with code (--help and --version exit 0).
func configure(argv []string, stdout, stderr io.Writer) (cfg *daemonConfig, code int, ok bool) {
	paths, err := layoutFromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", daemonName, err)
		return nil, 1, false
	}
	opts, err := parseOptions(argv, paths)
	if err != nil {
		if _, isUsage := err.(*usageError); isUsage {
			fmt.Fprintf(stderr, "%s\n\n%s: error: %v\n", usageLine, daemonName, err)
			return nil, 2, false
		}
		fmt.Fprintln(stderr, err)
		return nil, 1, false
	}
	family := primaryIPFamily(paths)
	port := daemonPort(opts, paths.ServicesFile)
	if opts.help {
		bind, _ := bindAddress(&options{}, family)
		fmt.Fprintf(stdout, "%s\n\n"+helpText, usageLine, port, bind, opts.sslKey, opts.sslCert)
		return nil, 0, false
	}
	if opts.version {
		fmt.Fprintf(stdout, "%s (ganeti) %s\n", daemonName, releaseVersion)
		return nil, 0, false
	}
	bind, err := bindAddress(opts, family)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, 1, false
	}
	opts.sslCert, opts.sslKey = absPath(opts.sslCert), absPath(opts.sslKey)
	if opts.ssl {
		for _, f := range []struct{ what, path string }{{"certificate", opts.sslCert}, {"key", opts.sslKey}} {
			if st, err := os.Stat(f.path); err != nil || !st.Mode().IsRegular() {
				fmt.Fprintf(stderr, "SSL %s file '%s' was not found\n", f.what, f.path)
				return nil, 1, false
			}
		}
	}
	return &daemonConfig{opts: opts, paths: paths, addr: net.JoinHostPort(bind, strconv.Itoa(port))}, 0, true
}

// daemonConfig is what the serving process needs from the command line.
type daemonConfig struct {
	opts  *options
	paths *layout
	addr  string
}

// drainLimit bounds how long calls in flight may run on after SIGTERM. The
// draining daemon holds neither the port nor the PID file, so it delays no
// restart; the bound is the master's longest RPC timeout (RPC_TMO_1DAY, as
// for instance_os_add), after which nobody waits for the answer.
const drainLimit = 24 * time.Hour

// drainingName is the process name while draining (see setProcessName).
const drainingName = "noded-draining"

// serve runs the daemon until SIGTERM or SIGINT. ready, when not nil, is the
// detached child's startup pipe: it is told "ready" once the daemon listens,
// or the reason it could not start. stderr is nil when detached.
func serve(cfg *daemonConfig, ready io.WriteCloser, stderr io.Writer) int {
	fail := func(format string, args ...any) int {
		msg := fmt.Sprintf(format, args...)
		if ready != nil {
			fmt.Fprintln(ready, msg)
			ready.Close()
		}
		if stderr != nil {
			fmt.Fprintln(stderr, msg)
		}
		return 1
	}
	opts, paths := cfg.opts, cfg.paths

	log, err := openLog(opts, paths, stderr)
	if err != nil {
		return fail("%v", err)
	}
	defer log.Close()

	pidFile, err := lockPidFile(paths.PidFile)
	if err != nil {
		return fail("Error while locking PID file:\n%v", err)
	}
	defer pidFile.release()

	log.Infof("%s daemon startup", daemonName)
	n := startNode(opts, paths, log)
	srv := newHTTPServer(n)
	ln, err := listen(cfg, log)
	if err != nil {
		return fail("%v", err)
	}
	stopping, leaving := watchSignals(n, log)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if ready != nil {
		fmt.Fprintln(ready, readyMessage)
		ready.Close()
	}

	select {
	case sig := <-stopping:
		log.Infof("Received %v, shutting down", sig)
	case <-leaving:
		log.Infof("Leaving the cluster, shutting down")
	case err := <-served:
		log.Errorf("server stopped: %v", err)
		return 1
	}
	// Hand over at once: the port and the PID file are free for the next
	// daemon, which may start while this one finishes its calls.
	ln.Close()
	pidFile.release()
	if err := setProcessName(drainingName); err != nil {
		log.Warningf("%v", err)
	}
	drain(srv, stopping, log)
	log.Infof("%s daemon shutdown", daemonName)
	return 0
}

// openLog opens the daemon's log as the options ask: the log file, syslog
// too or only, and stderr in the foreground.
func openLog(opts *options, paths *layout, stderr io.Writer) (*logger, error) {
	logPath := paths.LogFile
	if opts.syslog == "only" {
		logPath = ""
	}
	log, err := newLogger(logPath, opts.debug, stderr, opts.syslog != "no")
	if err != nil && opts.syslog == "yes" {
		// The log file still records everything; syslog was an extra.
		log, err = newLogger(logPath, opts.debug, stderr, false)
		if err == nil {
			log.Warningf("cannot connect to syslog, logging to %s only", logPath)
		}
	}
	if err != nil && stderr != nil && logPath != "" {
		// In the foreground stderr still carries the log, as with Ganeti.
		fmt.Fprintf(stderr, "Failed to enable logging to file '%s': %v\n", logPath, err)
		log, err = newLogger("", opts.debug, stderr, false)
	}
	return log, err
}

// startNode does the startup housekeeping (stale temporary files, memory
// lock, job queue) and returns the node the procedures share.
func startNode(opts *options, paths *layout, log *logger) *node {
	for _, d := range paths.tempDirs() {
		removed, err := removeStaleTemps(d.Dir, d.Only)
		if len(removed) > 0 {
			log.Infof("removed stale temporary files from %s: %s", d.Dir, strings.Join(removed, ", "))
		}
		if err != nil {
			log.Warningf("%v", err)
		}
	}
	if !opts.ssl {
		log.Warningf("SSL disabled: the daemon accepts unauthenticated plain HTTP calls")
	}
	if opts.mlock {
		if err := lockMemory(); err != nil {
			log.Warningf("Cannot set memory lock: %v", err)
		}
		// Locked pages stay resident for good (the kernel will not let the
		// runtime give them back), so collect earlier to keep the peak low.
		if os.Getenv("GOGC") == "" {
			debug.SetGCPercent(50)
		}
	}
	n := &node{paths: paths, log: log, ents: lookupEnts()}
	if err := n.prepareQueue(); err != nil {
		// The job queue is not needed for the node's other duties.
		log.Errorf("Can't init/verify the queue, proceeding anyway: %v", err)
	}
	return n
}

// listen opens the daemon's port behind the gate that authenticates
// clients (TLS with the cluster certificate unless --no-ssl).
func listen(cfg *daemonConfig, log *logger) (*gateListener, error) {
	opts, paths := cfg.opts, cfg.paths
	tcp, err := net.Listen(listenNetwork(cfg.addr), cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("Socket-related error: %v", err)
	}
	var tlsConfig *tls.Config
	if opts.ssl {
		pair, leaf, err := loadKeyPair(opts.sslCert, opts.sslKey)
		if err != nil {
			tcp.Close()
			return nil, err
		}
		check := &clientCheck{cluster: leaf, candidates: paths.ssconfPath("master_candidates_certs"), now: time.Now}
		tlsConfig = serverTLSConfig(pair, check)
	}
	ln := newGateListener(tcp, tlsConfig, opts.maxClients, clusterAddresses(paths), log).start()
	log.Infof("listening on %s (ssl=%v, max clients %d)", tcp.Addr(), opts.ssl, opts.maxClients)
	return ln, nil
}

// watchSignals reopens the log on SIGHUP and returns the channels that end
// the daemon: SIGTERM or SIGINT, and node_leave_cluster's n.stop.
func watchSignals(n *node, log *logger) (stopping chan os.Signal, leaving chan struct{}) {
	stopping = make(chan os.Signal, 1)
	signal.Notify(stopping, syscall.SIGTERM, syscall.SIGINT)
	// node_leave_cluster's stop has its own channel: only a signal may cut
	// the drain short, not a leave that finishes during it.
	leaving = make(chan struct{}, 1)
	n.stop = func() {
		select {
		case leaving <- struct{}{}:
		default: // a stop is pending already
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			log.Infof("Reopening log files after receiving SIGHUP")
			if err := log.Reopen(); err != nil {
				log.Errorf("%v", err)
			}
		}
	}()
	return stopping, leaving
}

// drain lets the calls in flight finish, for up to drainLimit or until a
// second signal, and then closes what is left.
func drain(srv *http.Server, stopping <-chan os.Signal, log *logger) {
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), drainLimit)
		defer cancel()
		drained <- srv.Shutdown(ctx)
	}()
	select {
	case err := <-drained:
		// Shutdown closes the listener again, which says ErrClosed: only
		// the deadline means calls were still running.
		if errors.Is(err, context.DeadlineExceeded) {
			log.Warningf("calls still running after %s, closing them: %v", drainLimit, err)
			srv.Close()
		}
	case sig := <-stopping:
		log.Warningf("Received %v while finishing calls in flight, closing them", sig)
		srv.Close()
	}
}

// listenNetwork keeps an IPv4 bind address IPv4-only, as Ganeti binds it
// (Go would otherwise serve the IPv4 wildcard on a dual-stack socket).
func listenNetwork(addr string) string {
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); ip != nil {
		if ip.To4() != nil {
			return "tcp4"
		}
		return "tcp6"
	}
	return "tcp"
}
