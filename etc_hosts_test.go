package main

import (
	"os"
	"strings"
	"testing"
)

func TestEtcHostsModify(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	hosts := n.paths.EtcHosts
	os.WriteFile(hosts, []byte("# comment 10.0.0.5\n127.0.0.1\tlocalhost\n10.0.0.5 old.example.com old\n10.0.0.5 dup\n10.0.0.9 other"), 0o640)
	os.Chmod(hosts, 0o640)
	read := func() string { b, _ := os.ReadFile(hosts); return string(b) }

	var ok bool
	mustOK(t, call(t, n, "etc_hosts_modify", "add", "node2.example.com", "10.0.0.5"), &ok)
	if !ok {
		t.Fatal("etc_hosts_modify did not return true")
	}
	want := "# comment 10.0.0.5\n127.0.0.1\tlocalhost\n10.0.0.5\tnode2.example.com node2\n10.0.0.9 other\n"
	if got := read(); got != want {
		t.Fatalf("after add:\n%q\nwant\n%q", got, want)
	}
	mustOK(t, call(t, n, "etc_hosts_modify", "add", "node3", "10.0.0.6"), nil)
	if !strings.HasSuffix(read(), "10.0.0.6\tnode3\n") {
		t.Fatalf("append: %q", read())
	}
	mustOK(t, call(t, n, "etc_hosts_modify", "remove", "node2.example.com", nil), nil)
	if strings.Contains(read(), "node2") || strings.Contains(read(), "10.0.0.5\t") {
		t.Fatalf("after remove: %q", read())
	}
	if st, _ := os.Stat(hosts); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode not kept: %v", st.Mode())
	}

	before := read()
	mustFail(t, call(t, n, "etc_hosts_modify", "add", "x.example.com", nil), "Mode 'add' needs 'ip' parameter")
	mustFail(t, call(t, n, "etc_hosts_modify", "remove", "x.example.com", "10.0.0.1"), "Mode 'remove' does not allow 'ip' parameter")
	mustFail(t, call(t, n, "etc_hosts_modify", "replace", "x.example.com", nil), "Mode not supported")
	mustFail(t, call(t, n, "etc_hosts_modify", "add", "evil\n0.0.0.0 bank.com", "10.0.0.1"), "Invalid host name")
	mustFail(t, call(t, n, "etc_hosts_modify", "add", "x.example.com", "10.0.0.1\n1.2.3.4"), "Invalid IP address")
	if read() != before {
		t.Fatal("a refused call changed /etc/hosts")
	}
}
