package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNodeCryptoTokens(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	mustFail(t, call(t, n, "node_crypto_tokens", [][]any{{"ssl", "get", map[string]any{}}}), "no such file")
	copyFile(t, "testdata/certs/client.pem", n.paths.NodedClientCertFile)
	var tokens [][]string
	mustOK(t, call(t, n, "node_crypto_tokens", [][]any{{"ssl", "get", nil}}), &tokens)
	if len(tokens) != 1 || tokens[0][0] != "ssl" || tokens[0][1] != clientDigest {
		t.Fatalf("get: %v", tokens)
	}

	mustOK(t, call(t, n, "node_crypto_tokens", [][]any{{"ssl", "create", map[string]any{"cert_file": n.paths.NodedClientCertFile, "serial_no": 42}}}), &tokens)
	if tokens[0][1] == clientDigest {
		t.Fatal("create kept the old certificate")
	}
	if d, _ := fileCertDigest(n.paths.NodedClientCertFile); d != tokens[0][1] {
		t.Fatalf("returned digest %s, file has %s", tokens[0][1], d)
	}
	if st, _ := os.Stat(n.paths.NodedClientCertFile); st.Mode().Perm() != 0o440 {
		t.Fatalf("mode %v", st.Mode())
	}
	// The new certificate is accepted by the daemon's own client check.
	_, cluster, _ := loadKeyPair(n.paths.NodedCertFile, n.paths.NodedCertFile)
	_, leaf, err := loadKeyPair(n.paths.NodedClientCertFile, n.paths.NodedClientCertFile)
	if err != nil {
		t.Fatal(err)
	}
	if leaf.SerialNumber.Int64() != 42 || leaf.Subject.CommonName != testHost {
		t.Fatalf("serial %v, CN %q", leaf.SerialNumber, leaf.Subject.CommonName)
	}
	check := &clientCheck{cluster: cluster, candidates: n.paths.ssconfPath("master_candidates_certs"), now: time.Now}
	writeCandidates(t, n.paths, tokens[0][1])
	if err := check.verify([][]byte{leaf.Raw}); err != nil {
		t.Fatalf("new client certificate refused: %v", err)
	}

	mustFail(t, call(t, n, "node_crypto_tokens", [][]any{{"ssl", "create", map[string]any{"cert_file": n.paths.NodedCertFile}}}), "refusing to write")
	mustFail(t, call(t, n, "node_crypto_tokens", [][]any{{"ssh", "get", nil}}), "Token type 'ssh' not supported.")
	mustFail(t, call(t, n, "node_crypto_tokens", [][]any{{"ssl", "delete", nil}}), "Action 'delete' is not supported.")
	mustFail(t, call(t, n, "node_crypto_tokens", [][]any{{"ssl"}}), "[type, action, options]")
}

func TestX509Certificates(t *testing.T) {
	t.Parallel()
	n, _ := newTestNode(t)
	var res []string
	mustOK(t, call(t, n, "x509_cert_create", 30*24*3600), &res)
	if len(res) != 2 || !strings.HasPrefix(res[0], "x509-") || !strings.Contains(res[1], "BEGIN CERTIFICATE") {
		t.Fatalf("created %v", res)
	}
	dir := filepath.Join(n.paths.cryptoDir(), res[0])
	for _, f := range []string{"key", "cert"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Mode().Perm() != 0o400 {
			t.Fatalf("%s: %v %v", f, st, err)
		}
	}
	_, cert, err := loadKeyPair(filepath.Join(dir, "cert"), filepath.Join(dir, "key"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cert.NotAfter.Sub(cert.NotBefore); d != maxX509Validity {
		t.Fatalf("validity %s, want 30 days capped at a week", d)
	}
	var short []string
	mustOK(t, call(t, n, "x509_cert_create", 3600), &short)
	defer call(t, n, "x509_cert_remove", short[0])
	shortDir := filepath.Join(n.paths.cryptoDir(), short[0])
	if _, cert, err = loadKeyPair(filepath.Join(shortDir, "cert"), filepath.Join(shortDir, "key")); err != nil {
		t.Fatal(err)
	}
	if d := cert.NotAfter.Sub(cert.NotBefore); d != time.Hour {
		t.Fatalf("validity %s, want the hour asked for", d)
	}
	mustOK(t, call(t, n, "x509_cert_remove", res[0]), nil)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatal("certificate directory kept")
	}
	mustFail(t, call(t, n, "x509_cert_remove", "../../etc"), "Invalid certificate name")
	mustFail(t, call(t, n, "x509_cert_remove", res[0]), "Cannot remove certificate directory")
	mustFail(t, call(t, n, "x509_cert_create", -1), "Invalid certificate validity")

	// A validity beyond time.Duration's range is capped too, not wrapped.
	mustOK(t, call(t, n, "x509_cert_create", 1e10), &res)
	dir = filepath.Join(n.paths.cryptoDir(), res[0])
	if _, cert, err = loadKeyPair(filepath.Join(dir, "cert"), filepath.Join(dir, "key")); err != nil {
		t.Fatal(err)
	}
	if d := cert.NotAfter.Sub(cert.NotBefore); d < maxX509Validity-time.Minute || d > maxX509Validity+time.Minute {
		t.Fatalf("validity 1e10 s gave a certificate valid for %s", d)
	}
}
