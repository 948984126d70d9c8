// Command ganeti-noded is the Ganeti node daemon: the master calls it over
// HTTPS to change and query this node. It is a drop-in for Ganeti 3.0's
// Python daemon of the same name.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const usageLine = "Usage: ganeti-noded [-f] [-d] [-p port] [-b ADDRESS] [-i INTERFACE]"

// options are the command line of ganeti-noded(8) plus Ganeti's common
// daemon options.
type options struct {
	foreground bool
	debug      bool
	port       int
	portSet    bool
	bind       string
	bindSet    bool
	iface      string
	maxClients int
	mlock      bool
	syslog     string // "no", "yes" or "only"
	ssl        bool
	sslKey     string
	sslCert    string
	version    bool
	help       bool
}

// usageError is a command-line mistake: printed with the usage line, exit 2
// (as Python's optparse does).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// optionSpec describes one option; set receives the value ("" for flags).
type optionSpec struct {
	short, long string
	takesValue  bool
	set         func(o *options, v string) error
}

var optionSpecs = []optionSpec{
	{"f", "foreground", false, func(o *options, _ string) error { o.foreground = true; return nil }},
	{"d", "debug", false, func(o *options, _ string) error { o.debug = true; return nil }},
	{"p", "port", true, func(o *options, v string) error {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			return &usageError{fmt.Sprintf("option -p: invalid port value: %q", v)}
		}
		o.port, o.portSet = p, true
		return nil
	}},
	{"b", "bind", true, func(o *options, v string) error { o.bind, o.bindSet = v, true; return nil }},
	{"i", "interface", true, func(o *options, v string) error { o.iface = v; return nil }},
	{"", "max-clients", true, func(o *options, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return &usageError{fmt.Sprintf("option --max-clients: invalid integer value: %q", v)}
		}
		o.maxClients = n
		return nil
	}},
	{"", "no-mlock", false, func(o *options, _ string) error { o.mlock = false; return nil }},
	{"", "syslog", true, func(o *options, v string) error {
		switch v {
		case "no", "yes", "only":
			o.syslog = v
			return nil
		}
		return &usageError{fmt.Sprintf("option --syslog: invalid choice: %q (choose from 'no', 'yes', 'only')", v)}
	}},
	{"", "no-ssl", false, func(o *options, _ string) error { o.ssl = false; return nil }},
	{"K", "ssl-key", true, func(o *options, v string) error { o.sslKey = v; return nil }},
	{"C", "ssl-cert", true, func(o *options, v string) error { o.sslCert = v; return nil }},
	{"", "version", false, func(o *options, _ string) error { o.version = true; return nil }},
	{"h", "help", false, func(o *options, _ string) error { o.help = true; return nil }},
}

const helpText = `Ganeti node daemon

Options:
  --version             show program's version number and exit
  -h, --help            show this help message and exit
  --no-mlock            Do not mlock the node memory in ram
  --max-clients=MAX_CLIENTS
                        Number of simultaneous connections accepted by noded
  -f, --foreground      Don't detach from the current terminal
  -d, --debug           Enable some debug messages
  --syslog=SYSLOG       Enable logging to syslog (except debug messages); one
                        of 'no', 'yes' or 'only' [no]
  -p PORT, --port=PORT  Network port (default: %d)
  -b ADDRESS, --bind=ADDRESS
                        Bind address (default: '%s')
  -i INTERFACE, --interface=INTERFACE
                        Bind interface
  --no-ssl              Do not secure HTTP protocol with SSL
  -K SSL_KEY_PATH, --ssl-key=SSL_KEY_PATH
                        SSL key path (default: %s)
  -C SSL_CERT_PATH, --ssl-cert=SSL_CERT_PATH
                        SSL certificate path (default: %s)
`

// parseOptions parses argv (without the program name) as optparse does:
// short options combine (-fd, -p1811), long ones take --opt=value or
// --opt value and may be abbreviated to a unique prefix; "--" ends options.
func parseOptions(argv []string, paths *layout) (*options, error) {
	o := &options{maxClients: 20, mlock: true, syslog: "no", ssl: true,
		sslKey: paths.NodedCertFile, sslCert: paths.NodedCertFile}
	var positional []string
	for i := 0; i < len(argv); i++ {
		arg := argv[i]
		next := func(name string) (string, error) {
			if i+1 >= len(argv) {
				return "", &usageError{name + " option requires 1 argument"}
			}
			i++
			return argv[i], nil
		}
		switch {
		case arg == "--":
			positional = append(positional, argv[i+1:]...)
			i = len(argv)
		case strings.HasPrefix(arg, "--"):
			name, value, hasValue := strings.Cut(arg[2:], "=")
			spec, err := findLong(name)
			if err != nil {
				return nil, err
			}
			if !spec.takesValue {
				if hasValue {
					return nil, &usageError{fmt.Sprintf("--%s option does not take a value", spec.long)}
				}
			} else if !hasValue {
				if value, err = next("--" + spec.long); err != nil {
					return nil, err
				}
			}
			if err := spec.set(o, value); err != nil {
				return nil, err
			}
		case strings.HasPrefix(arg, "-") && len(arg) > 1:
			for j := 1; j < len(arg); j++ {
				spec := findShort(arg[j : j+1])
				if spec == nil {
					return nil, &usageError{fmt.Sprintf("no such option: -%c", arg[j])}
				}
				value := ""
				if spec.takesValue {
					if j+1 < len(arg) {
						value = arg[j+1:]
					} else {
						v, err := next("-" + spec.short)
						if err != nil {
							return nil, err
						}
						value = v
					}
					j = len(arg)
				}
				if err := spec.set(o, value); err != nil {
					return nil, err
				}
			}
		default:
			positional = append(positional, arg)
		}
	}
	if o.help || o.version {
		return o, nil
	}
	// The checks the Python daemon makes after parsing (exit 1, not 2).
	if len(positional) > 0 {
		return nil, fmt.Errorf("%s\nunexpected argument %q", usageLine, positional[0])
	}
	if o.maxClients < 1 {
		return nil, fmt.Errorf("%s --max-clients argument must be >= 1", daemonName)
	}
	if o.bindSet && o.iface != "" {
		return nil, fmt.Errorf("Can't specify both, bind address (%s) and bind interface (%s)", o.bind, o.iface)
	}
	return o, nil
}

func findShort(s string) *optionSpec {
	for i := range optionSpecs {
		if optionSpecs[i].short == s {
			return &optionSpecs[i]
		}
	}
	return nil
}

func findLong(name string) (*optionSpec, error) {
	var matches []*optionSpec
	for i := range optionSpecs {
		spec := &optionSpecs[i]
		if spec.long == name {
			return spec, nil
		}
		if name != "" && strings.HasPrefix(spec.long, name) {
			matches = append(matches, spec)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return nil, &usageError{"no such option: --" + name}
	default:
		var names []string
		for _, m := range matches {
			names = append(names, "--"+m.long)
		}
		return nil, &usageError{fmt.Sprintf("ambiguous option: --%s (%s?)", name, strings.Join(names, ", "))}
	}
}

// primaryIPFamily reads ssconf_primary_ip_family (Python's socket family
// number: 2 for IPv4, 10 for IPv6); IPv4 when absent.
func primaryIPFamily(paths *layout) int {
	data, err := readFileLimited(paths.ssconfPath("primary_ip_family"), 4096)
	if err != nil {
		return 4
	}
	if strings.TrimSpace(string(data)) == "10" {
		return 6
	}
	return 4
}

// daemonPort is -p, else the services database's ganeti-noded/tcp, else 1811.
func daemonPort(o *options, servicesFile string) int {
	if o.portSet {
		return o.port
	}
	if f, err := os.Open(servicesFile); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(strings.SplitN(sc.Text(), "#", 2)[0])
			if len(fields) >= 2 && fields[0] == daemonName {
				if port, proto, ok := strings.Cut(fields[1], "/"); ok && proto == "tcp" {
					if n, err := strconv.Atoi(port); err == nil && n > 0 && n < 65536 {
						return n
					}
				}
			}
		}
	}
	return defaultNodedPort
}

// bindAddress resolves -b, -i or the family's wildcard address.
func bindAddress(o *options, family int) (string, error) {
	if o.bindSet {
		return o.bind, nil
	}
	if o.iface != "" {
		v4, v6, err := interfaceAddresses(o.iface)
		if err != nil {
			return "", fmt.Errorf("Failed to find IP for interface %s: %v", o.iface, err)
		}
		if family == 4 && len(v4) > 0 {
			return v4[0], nil
		}
		if family != 4 && len(v6) > 0 {
			return v6[0], nil
		}
		return "", fmt.Errorf("Failed to find IP for interface %s", o.iface)
	}
	if family == 6 {
		return "::", nil
	}
	return "0.0.0.0", nil
}

// interfaceAddresses lists an interface's IPv4 and IPv6 addresses, in
// the kernel's order.
func interfaceAddresses(name string) (v4, v6 []string, err error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, nil, err
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, nil, err
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ipn.IP.To4() != nil {
				v4 = append(v4, ipn.IP.String())
			} else {
				v6 = append(v6, ipn.IP.String())
			}
		}
	}
	return v4, v6, nil
}

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
	port := daemonPort(opts, "/etc/services")
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

// absPath makes a path given on the command line absolute, since the
// detached daemon changes its directory to /.
func absPath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
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
	srv := newHTTPServer(n)

	tcp, err := net.Listen(listenNetwork(cfg.addr), cfg.addr)
	if err != nil {
		return fail("Socket-related error: %v", err)
	}
	var tlsConfig *tls.Config
	if opts.ssl {
		pair, leaf, err := loadKeyPair(opts.sslCert, opts.sslKey)
		if err != nil {
			tcp.Close()
			return fail("%v", err)
		}
		check := &clientCheck{cluster: leaf, candidates: paths.ssconfPath("master_candidates_certs"), now: time.Now}
		tlsConfig = serverTLSConfig(pair, check)
	}
	ln := newGateListener(tcp, tlsConfig, opts.maxClients, clusterAddresses(paths), log)
	log.Infof("listening on %s (ssl=%v, max clients %d)", tcp.Addr(), opts.ssl, opts.maxClients)

	stopping := make(chan os.Signal, 1)
	signal.Notify(stopping, syscall.SIGTERM, syscall.SIGINT)
	// node_leave_cluster's stop has its own channel: only a signal may cut
	// the drain short, not a leave that finishes during it.
	leaving := make(chan struct{}, 1)
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
	log.Infof("%s daemon shutdown", daemonName)
	return 0
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
