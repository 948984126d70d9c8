package main

import (
	"encoding/pem"
	"os"
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
