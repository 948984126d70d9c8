package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseOptions(t *testing.T) {
	t.Parallel()
	l := newLayout("", "")
	for _, tc := range []struct {
		argv  []string
		check func(*options) bool
	}{
		{[]string{"-fd"}, func(o *options) bool { return o.foreground && o.debug }},
		{[]string{"-fdp1812"}, func(o *options) bool { return o.foreground && o.debug && o.port == 1812 && o.portSet }},
		{[]string{"-p", "1813"}, func(o *options) bool { return o.port == 1813 }},
		{[]string{"--port=1814"}, func(o *options) bool { return o.port == 1814 }},
		{[]string{"--port", "1815"}, func(o *options) bool { return o.port == 1815 }},
		{[]string{"--fore", "--deb"}, func(o *options) bool { return o.foreground && o.debug }}, // optparse abbreviations
		{[]string{"-b", "::1"}, func(o *options) bool { return o.bind == "::1" && o.bindSet }},
		{[]string{"-ilo"}, func(o *options) bool { return o.iface == "lo" }},
		{[]string{"--max-clients", "5"}, func(o *options) bool { return o.maxClients == 5 }},
		{[]string{}, func(o *options) bool {
			return o.maxClients == 20 && o.mlock && o.ssl && o.syslog == "no" &&
				o.sslCert == "/var/lib/ganeti/server.pem" && o.sslKey == "/var/lib/ganeti/server.pem"
		}},
		{[]string{"--no-mlock", "--no-ssl", "--syslog", "yes"}, func(o *options) bool { return !o.mlock && !o.ssl && o.syslog == "yes" }},
		{[]string{"-K", "k.pem", "-Cc.pem"}, func(o *options) bool { return o.sslKey == "k.pem" && o.sslCert == "c.pem" }},
		{[]string{"--ssl-key=k", "--ssl-cert=c"}, func(o *options) bool { return o.sslKey == "k" && o.sslCert == "c" }},
	} {
		o, err := parseOptions(tc.argv, l)
		if err != nil || !tc.check(o) {
			t.Errorf("%v: %+v, %v", tc.argv, o, err)
		}
	}
	for _, argv := range [][]string{{"--s"}, {"--no"}, {"-b"}, {"--max-clients=x"}, {"-p", "70000"}} {
		if _, err := parseOptions(argv, l); err == nil {
			t.Errorf("%v accepted", argv)
		}
	}
}

func TestDaemonPortAndBind(t *testing.T) {
	t.Parallel()
	services := filepath.Join(t.TempDir(), "services")
	os.WriteFile(services, []byte("# comment\nganeti-noded 1999/udp\nganeti-noded\t1911/tcp # node daemon\n"), 0o644)
	if p := daemonPort(&options{}, services); p != 1911 {
		t.Errorf("port from services = %d", p)
	}
	if p := daemonPort(&options{port: 7, portSet: true}, services); p != 7 {
		t.Errorf("-p did not win: %d", p)
	}
	if p := daemonPort(&options{}, services+".missing"); p != 1811 {
		t.Errorf("default port = %d", p)
	}

	l := newTestRoot(t)
	if f := primaryIPFamily(l); f != 4 {
		t.Errorf("family without ssconf = %d", f)
	}
	os.WriteFile(l.ssconfPath("primary_ip_family"), []byte("10\n"), 0o444)
	if f := primaryIPFamily(l); f != 6 {
		t.Errorf("family with AF_INET6 = %d", f)
	}
	for family, want := range map[int]string{4: "0.0.0.0", 6: "::"} {
		if got, _ := bindAddress(&options{}, family); got != want {
			t.Errorf("default bind for IPv%d = %q", family, got)
		}
	}
	if got, err := bindAddress(&options{iface: "lo"}, 6); err != nil || got != "::1" {
		t.Errorf("-i lo on IPv6 = %q, %v", got, err)
	}
}

func TestLayoutFromEnv(t *testing.T) {
	for _, tc := range []struct {
		root, host string
		ok         bool
	}{
		{"", "", true},
		{"/tmp/vc/node1", "node1", true},
		{"/tmp/vc/node1/", "node1", true},
		{"/tmp/vc/node1", "", false},
		{"", "node1", false},
		{"relative/node1", "node1", false},
		{"/tmp/vc/node1", "node2", false},
		{"/tmp/vc/a/b", "a/b", false},
	} {
		t.Setenv("GANETI_ROOTDIR", tc.root)
		t.Setenv("GANETI_HOSTNAME", tc.host)
		l, err := layoutFromEnv()
		if (err == nil) != tc.ok {
			t.Errorf("%q %q: %v", tc.root, tc.host, err)
			continue
		}
		if err == nil && tc.root != "" && l.DataDir != "/tmp/vc/node1/var/lib/ganeti" {
			t.Errorf("DataDir = %s", l.DataDir)
		}
	}
	l := newLayout("", "")
	if l.ExportDir != "/var/lib/ganeti/export" || l.PidFile != "/var/run/ganeti/ganeti-noded.pid" || l.LogFile != "/var/log/ganeti/node-daemon.log" {
		t.Errorf("Debian paths wrong: %+v", l)
	}
	if got := l.localize(virtualPathPrefix + "/var/lib/ganeti/config.data"); got != "/var/lib/ganeti/config.data" {
		t.Errorf("localize on a real node = %s", got)
	}
}

func TestListenNetwork(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{"0.0.0.0:1811": "tcp4", "[::]:1811": "tcp6", "127.0.0.1:1": "tcp4", "localhost:1": "tcp"} {
		if got := listenNetwork(addr); got != want {
			t.Errorf("%s: %s, want %s", addr, got, want)
		}
	}
}
