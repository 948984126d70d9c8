package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// clientCheck decides which client certificates may call the daemon: those
// chained to the cluster certificate whose digest is listed in
// ssconf_master_candidates_certs, or, while that file is missing or empty
// (cluster bootstrap), the daemon's own certificate. A map that cannot be
// read or parsed admits nobody.
type clientCheck struct {
	cluster    *x509.Certificate // the certificate given by -C, acting as CA
	candidates string            // path of ssconf_master_candidates_certs
	now        func() time.Time
}

// verifyConnection is tls.Config.VerifyConnection. Unlike
// VerifyPeerCertificate it also runs when a session is resumed, so no
// connection escapes the rules, whatever the TLS library does.
func (c *clientCheck) verifyConnection(cs tls.ConnectionState) error {
	raw := make([][]byte, len(cs.PeerCertificates))
	for i, cert := range cs.PeerCertificates {
		raw[i] = cert.Raw
	}
	return c.verify(raw)
}

// verify applies the certificate rules to a client's chain, leaf first.
// Go does not verify client chains itself under RequireAnyClientCert, so
// everything is checked here.
func (c *clientCheck) verify(rawCerts [][]byte) error {
	if len(rawCerts) == 0 {
		return errors.New("no client certificate")
	}
	leaf, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return fmt.Errorf("bad client certificate: %w", err)
	}
	if err := c.chains(leaf); err != nil {
		return err
	}
	// Certificates above the leaf may only be the cluster certificate.
	for _, raw := range rawCerts[1:] {
		if !bytes.Equal(raw, c.cluster.Raw) {
			return errors.New("client certificate chain holds a foreign certificate")
		}
	}
	digest := certDigest(leaf)
	allowed, err := c.allowedDigests()
	if err != nil {
		return err
	}
	if !slices.Contains(allowed, digest) {
		return fmt.Errorf("client certificate %s is not a master candidate's", digest)
	}
	return nil
}

// chains checks that leaf is the cluster certificate or signed by it, and
// valid now.
func (c *clientCheck) chains(leaf *x509.Certificate) error {
	return chainsTo(leaf, c.cluster, c.now(), "client certificate")
}

// chainsTo checks that leaf is anchor itself or signed by it, and valid at
// now. Ganeti's certificates are X509 v1 without CA extensions, so the
// signature is checked directly rather than through x509.Verify.
func chainsTo(leaf, anchor *x509.Certificate, now time.Time, what string) error {
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return fmt.Errorf("%s not valid at %s", what, now.UTC().Format(time.RFC3339))
	}
	if bytes.Equal(leaf.Raw, anchor.Raw) {
		return nil
	}
	if !bytes.Equal(leaf.RawIssuer, anchor.RawSubject) {
		return fmt.Errorf("%s not issued by %s", what, anchor.Subject.CommonName)
	}
	if err := anchor.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		return fmt.Errorf("%s not signed by %s: %w", what, anchor.Subject.CommonName, err)
	}
	return nil
}

// allowedDigests reads the candidate map on every handshake, as the Python
// daemon does, so a changed map takes effect without a restart. Only a
// missing or empty map (nothing but newlines) is bootstrap, where the cluster certificate (which
// every node holds) is accepted; any other problem refuses everybody.
func (c *clientCheck) allowedDigests() ([]string, error) {
	data, err := readFileLimited(c.candidates, 1<<20)
	if err != nil && !isNotExist(err) {
		return nil, fmt.Errorf("cannot read master candidate certificates: %w", err)
	}
	candidates, err := parseCandidateMap(data)
	if err != nil {
		return nil, fmt.Errorf("master candidate certificates %s: %w", c.candidates, err)
	}
	if len(candidates) == 0 {
		return []string{certDigest(c.cluster)}, nil
	}
	digests := make([]string, 0, len(candidates))
	for _, d := range candidates {
		digests = append(digests, d)
	}
	return digests, nil
}

// parseCandidateMap parses ssconf_master_candidates_certs: lines of
// "<node uuid>=<certificate digest>", as Ganeti writes and reads them
// (trailing newlines dropped, then every line one pair). An empty map is
// bootstrap; any other line, blank or whitespace included, without
// exactly one "=" or with an empty side, is an error, as it is for
// Ganeti. A uuid listed twice keeps its last digest, as Ganeti's dict does.
func parseCandidateMap(data []byte) (map[string]string, error) {
	m := map[string]string{}
	text := strings.TrimRight(string(data), "\n")
	if text == "" {
		return m, nil
	}
	for i, line := range strings.Split(text, "\n") {
		uuid, digest, ok := strings.Cut(strings.TrimSuffix(line, "\r"), "=")
		uuid, digest = strings.TrimSpace(uuid), strings.TrimSpace(digest)
		if !ok || uuid == "" || digest == "" || strings.Contains(digest, "=") {
			return nil, fmt.Errorf("line %d is not <uuid>=<digest>: %q", i+1, truncate(line, 80))
		}
		m[uuid] = digest
	}
	return m, nil
}

// loadKeyPair reads the key and certificate (in Ganeti both live in
// server.pem) and returns them with the parsed leaf certificate.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, *x509.Certificate, error) {
	certPEM, err := readFileLimited(certFile, 1<<20)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("cannot read SSL certificate: %w", err)
	}
	keyPEM, err := readFileLimited(keyFile, 1<<20)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("cannot read SSL key: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("cannot load SSL key pair (%s, %s): %w", keyFile, certFile, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("cannot parse SSL certificate %s: %w", certFile, err)
	}
	return pair, leaf, nil
}

// serverTLSConfig requires a client certificate and checks it with check.
func serverTLSConfig(pair tls.Certificate, check *clientCheck) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		Certificates:     []tls.Certificate{pair},
		ClientAuth:       tls.RequireAnyClientCert,
		VerifyConnection: check.verifyConnection,
		// Ganeti never resumes a session: every connection proves its
		// certificate against the current candidate map.
		SessionTicketsDisabled: true,
	}
}
