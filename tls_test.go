package main

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func rawCert(t testing.TB, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			t.Fatalf("%s: no certificate", file)
		}
		if b.Type == "CERTIFICATE" {
			return b.Bytes
		}
	}
}

func TestClientCheck(t *testing.T) {
	t.Parallel()
	l := newTestRoot(t)
	_, cluster, err := loadKeyPair(l.NodedCertFile, l.NodedCertFile)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := &clientCheck{cluster: cluster, candidates: l.ssconfPath("master_candidates_certs"), now: func() time.Time { return now }}
	client := rawCert(t, "testdata/certs/client.pem")
	clusterRaw := rawCert(t, "testdata/certs/cluster.pem")
	writeCandidates(t, l, clientDigest)

	if err := c.verify([][]byte{client}); err != nil {
		t.Fatalf("candidate refused: %v", err)
	}
	// The chain may carry the cluster certificate, nothing else.
	if err := c.verify([][]byte{client, clusterRaw}); err != nil {
		t.Fatalf("candidate with cluster cert in chain refused: %v", err)
	}
	if err := c.verify([][]byte{client, rawCert(t, "testdata/certs/foreign.pem")}); err == nil {
		t.Fatal("foreign certificate in chain accepted")
	}
	for name, raw := range map[string][][]byte{
		"none":    nil,
		"garbage": {[]byte("not a certificate")},
		"foreign": {rawCert(t, "testdata/certs/foreign-client.pem")},
		"client2": {rawCert(t, "testdata/certs/client2.pem")},
	} {
		if err := c.verify(raw); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	// Outside its validity the candidate is refused.
	now = time.Now().AddDate(200, 0, 0)
	if err := c.verify([][]byte{client}); err == nil || !strings.Contains(err.Error(), "not valid at") {
		t.Fatalf("expired certificate: %v", err)
	}
	now = time.Now()
	// Trailing newlines are dropped; a line without "=" refuses everybody.
	os.WriteFile(c.candidates, []byte("uuid="+clientDigest+"\n\n"), 0o444)
	if err := c.verify([][]byte{client}); err != nil {
		t.Fatalf("candidate refused with trailing newlines: %v", err)
	}
	os.WriteFile(c.candidates, []byte("bogus\nuuid="+clientDigest+"\n"), 0o444)
	if err := c.verify([][]byte{client}); err == nil || !strings.Contains(err.Error(), "line 1 is not <uuid>=<digest>") {
		t.Fatalf("malformed map: %v", err)
	}
}

// serverConfigForTest is the daemon's TLS configuration with the test
// cluster certificate and the given candidates.
func serverConfigForTest(t *testing.T, digests ...string) (*tls.Config, *layout) {
	t.Helper()
	l := newTestRoot(t)
	pair, leaf, err := loadKeyPair(l.NodedCertFile, l.NodedCertFile)
	if err != nil {
		t.Fatal(err)
	}
	if digests != nil {
		writeCandidates(t, l, digests...)
	}
	check := &clientCheck{cluster: leaf, candidates: l.ssconfPath("master_candidates_certs"), now: time.Now}
	return serverTLSConfig(pair, check), l
}

// Resuming a session must not skip the client check: the check runs on
// every connection, and the daemon does not resume at all.
func TestTLSResumptionChecksCandidates(t *testing.T) {
	t.Parallel()
	for _, tickets := range []bool{false, true} {
		t.Run(fmt.Sprintf("tickets=%v", tickets), func(t *testing.T) {
			cfg, paths := serverConfigForTest(t, clientDigest)
			cfg.SessionTicketsDisabled = !tickets // true: only VerifyConnection guards
			l, _ := gateForTest(t, cfg, 4)
			accepted := acceptInto(l)
			go func() {
				for c := range accepted {
					c.Write([]byte("x"))
					c.Close()
				}
			}()
			cache := tls.NewLRUClientSessionCache(4)
			dial := func(cert string) (resumed bool, err error) {
				ccfg := tlsConfigFor(t, cert)
				ccfg.ClientSessionCache = cache
				c, err := tls.Dial("tcp", l.Addr().String(), ccfg)
				if err != nil {
					return false, err
				}
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				if _, err := c.Read(make([]byte, 1)); err != nil {
					return false, err
				}
				return c.ConnectionState().DidResume, nil
			}
			if _, err := dial("testdata/certs/client.pem"); err != nil {
				t.Fatal(err)
			}
			resumed, err := dial("testdata/certs/client.pem")
			if err != nil {
				t.Fatal(err)
			}
			if resumed != tickets {
				t.Fatalf("resumed=%v with session tickets %v", resumed, tickets)
			}
			// The candidate is removed from the map: resuming, with the
			// certificate or without, must fail.
			writeCandidates(t, paths, client2Digest)
			for _, cert := range []string{"testdata/certs/client.pem", ""} {
				if _, err := dial(cert); err == nil {
					t.Errorf("removed candidate (cert %q) still served", cert)
				}
			}
		})
	}
}

// The same with OpenSSL's client and a saved session, as an attacker
// would try it.
func TestTLSResumptionWithOpenSSL(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl")
	}
	cfg, paths := serverConfigForTest(t, clientDigest)
	l, _ := gateForTest(t, cfg, 4)
	accepted := acceptInto(l)
	go func() {
		for c := range accepted {
			c.Write([]byte("HTTP/1.0 200 OK\r\n\r\nserved\n"))
			c.Close()
		}
	}()
	sess := t.TempDir() + "/session"
	sclient := func(args ...string) string {
		all := append([]string{"s_client", "-connect", l.Addr().String(), "-ign_eof"}, args...)
		cmd := exec.Command("openssl", all...)
		cmd.Stdin = strings.NewReader("")
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	out := sclient("-cert", "testdata/certs/client.pem", "-sess_out", sess)
	if !strings.Contains(out, "served") {
		t.Fatalf("candidate not served:\n%s", out)
	}
	writeCandidates(t, paths, client2Digest)
	for _, args := range [][]string{{"-sess_in", sess}, {"-sess_in", sess, "-cert", "testdata/certs/client.pem"}} {
		if out := sclient(args...); strings.Contains(out, "served") || strings.Contains(out, "Reused,") {
			t.Errorf("openssl %v: resumed or served after the candidate was removed:\n%s", args, out)
		}
	}
}

func TestParseCandidateMap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want map[string]string
		err  bool
	}{
		{"", map[string]string{}, false},
		{"\n\n", map[string]string{}, false}, // Ganeti drops trailing newlines
		{" ", nil, true},
		{"\t\n", nil, true},
		{"\r\n", nil, true},
		{" \n \n", nil, true},
		{"a=D1\nb=D2\n", map[string]string{"a": "D1", "b": "D2"}, false},
		{"a=D1\na=D2\n", map[string]string{"a": "D2"}, false}, // last wins
		{"a=D1\n\n", map[string]string{"a": "D1"}, false},
		{"\na=D1\n", nil, true}, // a blank line before a pair
		{"a=D1\r\nb=D2\r\n", map[string]string{"a": "D1", "b": "D2"}, false},
		{"bogus\n", nil, true},
		{clusterDigest + "\n", nil, true}, // a bare digest
		{"a=D1\nbogus\n", nil, true},
		{"=D1\n", nil, true},
		{"a=\n", nil, true},
		{"a=b=c\n", nil, true},
	} {
		got, err := parseCandidateMap([]byte(tc.in))
		if (err != nil) != tc.err {
			t.Errorf("%q: err %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if !tc.err && fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%q: %v, want %v", tc.in, got, tc.want)
		}
	}
}

// Only a missing or empty map is bootstrap; a malformed or unreadable one
// admits nobody, not even the cluster certificate.
func TestClientCheckFailsClosed(t *testing.T) {
	t.Parallel()
	l := newTestRoot(t)
	_, cluster, err := loadKeyPair(l.NodedCertFile, l.NodedCertFile)
	if err != nil {
		t.Fatal(err)
	}
	c := &clientCheck{cluster: cluster, candidates: l.ssconfPath("master_candidates_certs"), now: time.Now}
	clusterRaw := [][]byte{rawCert(t, "testdata/certs/cluster.pem")}
	for _, tc := range []struct {
		name, content string
		admitted      bool
	}{
		{"missing", "", true},
		{"empty", "-", true},
		{"newlines only", "\n\n", true},
		{"whitespace only", " \n \n", false},
		{"line without =", "bogus\n", false},
		{"bare digest", clusterDigest + "\n", false},
		{"unreadable", "dir", false},
	} {
		os.RemoveAll(c.candidates)
		switch tc.content {
		case "":
		case "-":
			os.WriteFile(c.candidates, nil, 0o444)
		case "dir":
			os.Mkdir(c.candidates, 0o755)
		default:
			os.WriteFile(c.candidates, []byte(tc.content), 0o444)
		}
		err := c.verify(clusterRaw)
		if (err == nil) != tc.admitted {
			t.Errorf("%s: err %v, want admitted %v", tc.name, err, tc.admitted)
		}
	}
}
