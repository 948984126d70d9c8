package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
