package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

const (
	certValidity = 1825 * 24 * time.Hour // Ganeti's X509_CERT_DEFAULT_VALIDITY
	certFileMode = 0o440                 // NODED_CERT_MODE
	rsaKeyBits   = 2048
)

// cryptoRequest is one [token_type, action, options] of node_crypto_tokens.
type cryptoRequest struct {
	Type, Action string
	Options      map[string]any
}

func (r *cryptoRequest) UnmarshalJSON(b []byte) error {
	if err := decodeTuple(b, &r.Type, &r.Action, &r.Options); err != nil {
		return fmt.Errorf("token request must be [type, action, options]: %v", err)
	}
	return nil
}

// rpcNodeCryptoTokens answers [[type, action, options], ...] with
// [[type, token], ...]. For "ssl", "get" returns the digest of the node's
// client certificate and "create" first makes a new one, signed by the
// cluster certificate.
func rpcNodeCryptoTokens(n *node, args []json.RawMessage) (any, error) {
	var requests []cryptoRequest
	if err := decodeArgs(args, &requests); err != nil {
		return nil, err
	}
	var tokens [][2]string
	for _, req := range requests {
		if req.Type != "ssl" {
			return nil, fmt.Errorf("Token type '%s' not supported.", req.Type)
		}
		switch req.Action {
		case "get":
		case "create":
			if err := n.createClientCert(req.Options); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("Action '%s' is not supported.", req.Action)
		}
		digest, err := fileCertDigest(n.paths.NodedClientCertFile)
		if err != nil {
			return nil, err
		}
		tokens = append(tokens, [2]string{req.Type, digest})
	}
	return tokens, nil
}

// fileCertDigest is the digest of the first certificate in a PEM file.
func fileCertDigest(path string) (string, error) {
	data, err := readFileLimited(path, 1<<20)
	if err != nil {
		return "", err
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return "", fmt.Errorf("no certificate in %s", path)
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return "", fmt.Errorf("bad certificate in %s: %w", path, err)
			}
			return certDigest(c), nil
		}
	}
}

// createClientCert writes a new key and client certificate (common name:
// this node) signed by the cluster certificate. Only the node's own client
// certificate file may be written.
func (n *node) createClientCert(opts map[string]any) error {
	target := n.paths.NodedClientCertFile
	if f, ok := opts["cert_file"].(string); ok && n.paths.localize(f) != target {
		return fmt.Errorf("node_crypto_tokens: refusing to write a certificate to '%s'", f)
	}
	serial := time.Now().Unix()
	if v, ok := opts["serial_no"]; ok && v != nil {
		s, err := wholeParam(v, "serial_no", 0, 1<<53)
		if err != nil {
			return fmt.Errorf("node_crypto_tokens: %w", err)
		}
		if s > 0 {
			serial = s
		}
	}
	pair, signer, err := loadKeyPair(n.paths.NodedCertFile, n.paths.NodedCertFile)
	if err != nil {
		return fmt.Errorf("The signing certificate '%s' cannot be used: %w", n.paths.NodedCertFile, err)
	}
	key, err := rsa.GenerateKey(rand.Reader, rsaKeyBits)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: n.hostname()},
		NotBefore:    now,
		NotAfter:     now.Add(certValidity),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, pair.PrivateKey)
	if err != nil {
		return fmt.Errorf("cannot sign client certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	data := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	// Owned by gnt-masterd, which presents it when calling other nodes.
	opt := writeOptions{Mode: certFileMode, UID: n.ents.uid("gnt-masterd"), GID: n.ents.gid("gnt-masterd")}
	if err := writeFileAtomic(target, data, opt); err != nil {
		return fmt.Errorf("cannot write client certificate: %w", err)
	}
	n.log.Infof("created a new client certificate %s (serial %d)", target, serial)
	return nil
}

// hostname is the node's name: the virtual one in a virtual cluster.
func (n *node) hostname() string {
	if n.paths.Hostname != "" {
		return n.paths.Hostname
	}
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}

// maxX509Validity bounds the per-transfer certificates of imports and
// exports (Ganeti's week).
const maxX509Validity = 7 * 24 * time.Hour

func (l *layout) cryptoDir() string { return l.RunDir + "/crypto" }

// rpcX509CertCreate makes a self-signed certificate for one import or
// export: [validity seconds] → [name, certificate PEM]. The key and
// certificate live in crypto/<name>/ until x509_cert_remove.
func rpcX509CertCreate(n *node, args []json.RawMessage) (any, error) {
	var validity float64
	if err := decodeArgs(args, &validity); err != nil {
		return nil, err
	}
	if validity <= 0 {
		return nil, fmt.Errorf("Invalid certificate validity %v", validity)
	}
	// Capped in seconds: a large validity would overflow a Duration.
	valid := time.Duration(min(validity, maxX509Validity.Seconds()) * float64(time.Second))
	key, err := rsa.GenerateKey(rand.Reader, rsaKeyBits)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.Unix()), Subject: pkix.Name{CommonName: n.hostname()},
		NotBefore: now, NotAfter: now.Add(valid)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(n.paths.cryptoDir(), 0o700); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(n.paths.cryptoDir(), "x509-"+now.Format("2006-01-02_15_04_05")+"-")
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	err = writeFile(dir+"/key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o400)
	if err == nil {
		err = writeFile(dir+"/cert", certPEM, 0o400)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return []any{filepath.Base(dir), string(certPEM)}, nil
}

// rpcX509CertRemove deletes one certificate directory: [name].
func rpcX509CertRemove(n *node, args []json.RawMessage) (any, error) {
	var name string
	if err := decodeArgs(args, &name); err != nil {
		return nil, err
	}
	if !x509NamePattern.MatchString(name) {
		return nil, fmt.Errorf("Invalid certificate name '%s'", name)
	}
	dir := filepath.Join(n.paths.cryptoDir(), name)
	os.Remove(dir + "/key")
	os.Remove(dir + "/cert")
	if err := os.Remove(dir); err != nil {
		return nil, fmt.Errorf("Cannot remove certificate directory '%s': %v", dir, err)
	}
	return nil, nil
}
