package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
)

// ErrTLS marks every error about TLS files: flags given inconsistently, a
// file missing or unreadable, not PEM, a key that does not match its
// certificate, a CA file without certificates. The message names the flag
// and the file.
var ErrTLS = errors.New("certs: bad TLS files")

// Names of the flags RegisterFlags defines, which error messages use to
// name a file.
const (
	FlagCA   = "tls-ca"
	FlagCert = "tls-cert"
	FlagKey  = "tls-key"
)

// Files are the PEM files of one process's TLS identity: the CA that
// verifies peers, and the process's own certificate and private key. The
// zero value is TLS off.
//
// Cert may hold intermediate certificates after the process's own; CA may
// hold several CA certificates. Keys may be PKCS#8, SEC 1 (EC) or PKCS#1
// (RSA). The files are read when a config is built, not watched.
type Files struct {
	CA   string // --tls-ca: CA certificates that verify peers
	Cert string // --tls-cert: this process's certificate (chain)
	Key  string // --tls-key: this process's private key
}

// RegisterFlags defines --tls-ca, --tls-cert and --tls-key on fs, filling f.
func (f *Files) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&f.CA, FlagCA, "", "PEM file of the CA certificates that verify peers (turns TLS on; weir certs makes a development CA)")
	fs.StringVar(&f.Cert, FlagCert, "", "PEM file of this process's certificate, for TLS and mutual TLS (with --"+FlagKey+")")
	fs.StringVar(&f.Key, FlagKey, "", "PEM file of this process's private key (with --"+FlagCert+")")
}

// Enabled reports whether any file is set, that is whether TLS is on.
func (f Files) Enabled() bool { return f.CA != "" || f.Cert != "" || f.Key != "" }

// Validate checks which files are set, without reading them: Cert and Key
// go together, and a certificate needs a CA, since a process with a
// certificate takes part in mutual TLS and verifies its peers against the
// CA. A CA alone is valid: a client that verifies servers and has no
// certificate of its own. No file at all is valid too (TLS off).
func (f Files) Validate() error {
	switch {
	case f.Cert != "" && f.Key == "":
		return fmt.Errorf("%w: --%s %s is given without --%s", ErrTLS, FlagCert, f.Cert, FlagKey)
	case f.Key != "" && f.Cert == "":
		return fmt.Errorf("%w: --%s %s is given without --%s", ErrTLS, FlagKey, f.Key, FlagCert)
	case f.Cert != "" && f.CA == "":
		return fmt.Errorf("%w: --%s and --%s need --%s, the CA that verifies peers in mutual TLS", ErrTLS, FlagCert, FlagKey, FlagCA)
	}
	return nil
}

// ServerConfig returns the TLS configuration of a server presenting Cert
// and Key (TLS 1.2 or later). With requireClientCert (gRPC between
// JobManagers and TaskManagers) every client must present a certificate
// that CA verifies; without it (the REST API) clients are not asked for
// one. It reads the files and fails, with an error wrapping ErrTLS that
// names the file, if one is missing or bad.
func (f Files) ServerConfig(requireClientCert bool) (*tls.Config, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if f.Cert == "" {
		return nil, fmt.Errorf("%w: a TLS server needs --%s and --%s", ErrTLS, FlagCert, FlagKey)
	}
	pair, err := f.keyPair()
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if requireClientCert {
		if cfg.ClientCAs, err = f.pool(); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ClientConfig returns the TLS configuration of a client (TLS 1.2 or
// later) that verifies servers against CA, or against the system's roots
// when CA is not set, and presents Cert and Key when they are set (mutual
// TLS). The server name is left to the dialer (gRPC and net/http take it
// from the address). Errors wrap ErrTLS and name the file.
func (f Files) ClientConfig() (*tls.Config, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pool, err := f.pool()
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if f.Cert != "" {
		pair, err := f.keyPair()
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// pool reads CA into a certificate pool.
func (f Files) pool() (*x509.CertPool, error) {
	if f.CA == "" {
		return nil, fmt.Errorf("%w: mutual TLS needs --%s to verify peers", ErrTLS, FlagCA)
	}
	cas, err := readCerts(f.CA)
	if err != nil {
		return nil, fmt.Errorf("%w: --%s: %w", ErrTLS, FlagCA, err)
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	return pool, nil
}

// keyPair reads Cert and Key and checks that they belong together.
func (f Files) keyPair() (tls.Certificate, error) {
	chain, err := readCerts(f.Cert)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: --%s: %w", ErrTLS, FlagCert, err)
	}
	key, err := readKey(f.Key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: --%s: %w", ErrTLS, FlagKey, err)
	}
	if !belongs(key, chain[0]) {
		return tls.Certificate{}, fmt.Errorf("%w: --%s %s does not match the certificate in --%s %s", ErrTLS, FlagKey, f.Key, FlagCert, f.Cert)
	}
	pair := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		pair.Certificate = append(pair.Certificate, c.Raw)
	}
	return pair, nil
}
