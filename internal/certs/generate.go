// Package certs provides Weir's TLS building blocks: Generate writes a
// development certificate authority and certificates signed by it (what
// `weir certs` runs), and Files loads a CA, certificate and key from PEM
// files into a *tls.Config for a server (TLS for the REST API, mutual TLS
// for gRPC) or a client.
//
// Files does not care where its files came from: a development CA made by
// Generate and certificates issued by an organisation's own CA load the
// same way. Generate is meant for development and test clusters; its CA key
// lies next to the certificates, unprotected but for the file mode.
package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names of the CA Generate writes into its directory; a name's
// certificate and key are NAME.pem and NAME-key.pem (CertFile, KeyFile).
const (
	CAFile    = "ca.pem"
	CAKeyFile = "ca-key.pem"
)

// DefaultValidity is how long Generate's certificates are valid unless
// Options.Validity says otherwise.
const DefaultValidity = 365 * 24 * time.Hour

// DefaultNames are the certificates Generate issues unless Options.Names
// says otherwise: one per role, each usable as a server and as a client.
var DefaultNames = []string{"jobmanager", "taskmanager", "client"}

// DefaultHosts are the subject alternative names of Generate's
// certificates unless Options.Hosts says otherwise.
var DefaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// maxNameLen is the upper bound on a common name (RFC 5280, ub-common-name).
const maxNameLen = 64

// ErrOptions marks an error caused by Generate's options: a bad name or
// host, a negative validity.
var ErrOptions = errors.New("certs: bad options")

// ErrExists marks Generate's refusal to overwrite a file without
// Options.Force. It wraps fs.ErrExist.
var ErrExists = fmt.Errorf("certs: %w", fs.ErrExist)

// Options configures Generate. The zero value issues DefaultNames for
// DefaultHosts, valid for DefaultValidity.
type Options struct {
	// Names are the certificates to issue, one per name: NAME.pem and
	// NAME-key.pem with common name NAME. A name is made of a-z, 0-9,
	// '-', '_' and '.', does not start with '.', does not end with "-key"
	// and is not "ca". Empty means DefaultNames.
	Names []string
	// Hosts are the subject alternative names of every certificate: IP
	// addresses become IP SANs, anything else a DNS name. Empty means
	// DefaultHosts.
	Hosts []string
	// Validity is how long the certificates are valid from now (a new CA
	// too). Zero means DefaultValidity. A certificate signed by a reused
	// CA never outlives that CA.
	Validity time.Duration
	// Force overwrites existing files and replaces the CA. Without it
	// Generate refuses to overwrite anything, and reuses ca.pem and
	// ca-key.pem when both exist, so certificates can be added later.
	Force bool
}

// Issued is one certificate Generate wrote, as the Files that load it.
type Issued struct {
	Name  string
	Files Files // CA, Cert and Key paths
}

// Written reports what Generate did.
type Written struct {
	// CA and CAKey are the paths of the CA's certificate and key.
	CA, CAKey string
	// ReusedCA is true when the CA already existed and signed the new
	// certificates; CA and CAKey were then left untouched.
	ReusedCA bool
	// Certs are the issued certificates in the order of Options.Names.
	Certs []Issued
	// Paths lists every file written, in the order written.
	Paths []string
	// NotAfter is when the issued certificates expire.
	NotAfter time.Time
}

// CertFile returns the path of name's certificate in dir.
func CertFile(dir, name string) string { return filepath.Join(dir, name+".pem") }

// KeyFile returns the path of name's private key in dir.
func KeyFile(dir, name string) string { return filepath.Join(dir, name+"-key.pem") }

// ValidateName reports whether name can be given to Generate; the error
// wraps ErrOptions.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty certificate name", ErrOptions)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w: certificate name %q is longer than %d characters", ErrOptions, name, maxNameLen)
	case strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != "":
		return fmt.Errorf("%w: certificate name %q: use only a-z, 0-9, '-', '_' and '.'", ErrOptions, name)
	case name[0] == '.':
		return fmt.Errorf("%w: certificate name %q starts with '.'", ErrOptions, name)
	case name == "ca" || strings.HasSuffix(name, "-key"):
		return fmt.Errorf("%w: certificate name %q would clash with the CA's or a key's file", ErrOptions, name)
	}
	return nil
}

// Generate writes a development CA and one certificate and key per name
// into dir, creating dir (mode 0700) if it is missing. The CA is an ECDSA
// P-256 key and a self-signed certificate allowed to sign certificates
// (ca.pem, ca-key.pem); each certificate (NAME.pem, NAME-key.pem) is an
// ECDSA P-256 key certified by the CA for both server and client
// authentication, so one certificate serves and dials in mutual TLS. Keys
// are PKCS#8 PEM files of mode 0600, certificates mode 0644.
//
// Without opts.Force, Generate writes nothing if a file it would write
// exists (the error wraps ErrExists and names the file), and signs
// with the existing CA when ca.pem and ca-key.pem both exist. With
// opts.Force it makes a new CA and overwrites every file; certificates the
// old CA signed then no longer verify against ca.pem.
func Generate(dir string, opts Options) (Written, error) {
	names, hosts, validity, err := opts.resolve()
	if err != nil {
		return Written{}, err
	}
	if dir == "" {
		return Written{}, fmt.Errorf("%w: no directory", ErrOptions)
	}
	w := Written{CA: filepath.Join(dir, CAFile), CAKey: filepath.Join(dir, CAKeyFile)}

	// Decide before writing anything: reuse the CA or make one, and refuse
	// to overwrite any file.
	caExists, err := exists(w.CA)
	if err != nil {
		return Written{}, err
	}
	caKeyExists, err := exists(w.CAKey)
	if err != nil {
		return Written{}, err
	}
	w.ReusedCA = !opts.Force && caExists && caKeyExists
	if !opts.Force && !w.ReusedCA {
		switch {
		case caExists:
			return Written{}, fmt.Errorf("%w: %s, but not %s, so the CA cannot sign new certificates", ErrExists, w.CA, w.CAKey)
		case caKeyExists:
			return Written{}, fmt.Errorf("%w: %s, but not %s, so the CA cannot sign new certificates", ErrExists, w.CAKey, w.CA)
		}
	}
	for _, name := range names {
		for _, p := range []string{CertFile(dir, name), KeyFile(dir, name)} {
			if opts.Force {
				continue
			}
			if ok, err := exists(p); err != nil {
				return Written{}, err
			} else if ok {
				return Written{}, fmt.Errorf("%w: %s", ErrExists, p)
			}
		}
	}

	now := time.Now()
	// NotBefore tolerates clocks a little behind; NotAfter is rounded as
	// the certificate holds it.
	notBefore := now.Add(-time.Hour)
	w.NotAfter = now.Add(validity).UTC().Truncate(time.Second)

	var ca *x509.Certificate
	var caKey crypto.Signer
	if w.ReusedCA {
		if ca, caKey, err = loadCA(w.CA, w.CAKey); err != nil {
			return Written{}, err
		}
		if !now.Before(ca.NotAfter) {
			return Written{}, fmt.Errorf("certs: the CA %s expired on %s", w.CA, ca.NotAfter.Format(time.DateOnly))
		}
		if ca.NotAfter.Before(w.NotAfter) {
			w.NotAfter = ca.NotAfter
		}
	} else {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return Written{}, fmt.Errorf("certs: creating %s: %w", dir, err)
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return Written{}, fmt.Errorf("certs: generating the CA key: %w", err)
		}
		serial, err := randomSerial()
		if err != nil {
			return Written{}, err
		}
		tmpl := &x509.Certificate{
			SerialNumber:          serial,
			Subject:               pkix.Name{Organization: []string{"Weir"}, CommonName: "Weir development CA"},
			NotBefore:             notBefore,
			NotAfter:              w.NotAfter,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
			IsCA:                  true,
			MaxPathLenZero:        true, // it signs leaves only
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			return Written{}, fmt.Errorf("certs: creating the CA certificate: %w", err)
		}
		if ca, err = x509.ParseCertificate(der); err != nil {
			return Written{}, fmt.Errorf("certs: parsing the new CA certificate: %w", err)
		}
		caKey = key
		if err := writeKey(w.CAKey, key, opts.Force); err != nil {
			return w, err
		}
		w.Paths = append(w.Paths, w.CAKey)
		if err := writeCert(w.CA, der, opts.Force); err != nil {
			return w, err
		}
		w.Paths = append(w.Paths, w.CA)
	}

	var ips []net.IP
	var dnsNames []string
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			dnsNames = append(dnsNames, h)
		}
	}
	for _, name := range names {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return w, fmt.Errorf("certs: generating the key of %s: %w", name, err)
		}
		serial, err := randomSerial()
		if err != nil {
			return w, err
		}
		tmpl := &x509.Certificate{
			SerialNumber:          serial,
			Subject:               pkix.Name{Organization: []string{"Weir"}, CommonName: name},
			NotBefore:             notBefore,
			NotAfter:              w.NotAfter,
			KeyUsage:              x509.KeyUsageDigitalSignature,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			BasicConstraintsValid: true,
			DNSNames:              dnsNames,
			IPAddresses:           ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
		if err != nil {
			return w, fmt.Errorf("certs: creating the certificate of %s: %w", name, err)
		}
		iss := Issued{Name: name, Files: Files{CA: w.CA, Cert: CertFile(dir, name), Key: KeyFile(dir, name)}}
		if err := writeKey(iss.Files.Key, key, opts.Force); err != nil {
			return w, err
		}
		w.Paths = append(w.Paths, iss.Files.Key)
		if err := writeCert(iss.Files.Cert, der, opts.Force); err != nil {
			return w, err
		}
		w.Paths = append(w.Paths, iss.Files.Cert)
		w.Certs = append(w.Certs, iss)
	}
	return w, nil
}

// resolve applies the defaults and checks the options.
func (o Options) resolve() (names, hosts []string, validity time.Duration, err error) {
	names, hosts, validity = o.Names, o.Hosts, o.Validity
	if len(names) == 0 {
		names = DefaultNames
	}
	if len(hosts) == 0 {
		hosts = DefaultHosts
	}
	if validity == 0 {
		validity = DefaultValidity
	}
	if validity < 0 {
		return nil, nil, 0, fmt.Errorf("%w: negative validity %s", ErrOptions, validity)
	}
	for i, name := range names {
		if err := ValidateName(name); err != nil {
			return nil, nil, 0, err
		}
		if slices.Contains(names[:i], name) {
			return nil, nil, 0, fmt.Errorf("%w: certificate name %q given twice", ErrOptions, name)
		}
	}
	for _, h := range hosts {
		if h == "" || strings.TrimSpace(h) != h || strings.ContainsAny(h, " /,") {
			return nil, nil, 0, fmt.Errorf("%w: bad host %q", ErrOptions, h)
		}
	}
	return names, hosts, validity, nil
}

// randomSerial returns a random positive 128-bit serial number.
func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certs: generating a serial number: %w", err)
	}
	if serial.Sign() == 0 {
		serial.SetInt64(1)
	}
	return serial, nil
}

// exists reports whether path exists; errors other than not-existing are
// returned.
func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("certs: %w", err)
}

// loadCA reads a CA certificate and its key for signing.
func loadCA(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	certs, err := readCerts(certPath)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: reusing the CA: %w", err)
	}
	ca := certs[0]
	if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, nil, fmt.Errorf("certs: reusing the CA: %s is not a CA certificate allowed to sign certificates", certPath)
	}
	key, err := readKey(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: reusing the CA: %w", err)
	}
	if !belongs(key, ca) {
		return nil, nil, fmt.Errorf("certs: reusing the CA: the key %s does not belong to %s", keyPath, certPath)
	}
	return ca, key, nil
}

// belongs tells whether key is the private key of cert.
func belongs(key crypto.Signer, cert *x509.Certificate) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// readCerts parses the certificates of a PEM file; it fails if there are
// none.
func readCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %s", path, noPEM(data, "CERTIFICATE"))
	}
	return out, nil
}

// readKey parses the first private key of a PEM file (PKCS#8, SEC 1 or
// PKCS#1).
func readKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if !strings.HasSuffix(block.Type, "PRIVATE KEY") {
			continue
		}
		key, err := parseKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return key, nil
	}
	return nil, fmt.Errorf("%s: %s", path, noPEM(data, "PRIVATE KEY"))
}

// parseKey parses a DER private key usable for signing.
func parseKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKCS#8, EC or RSA private key")
}

// noPEM describes why a file has no PEM block of the wanted type.
func noPEM(data []byte, want string) string {
	if block, _ := pem.Decode(data); block != nil {
		return fmt.Sprintf("no %s PEM block in it", want)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return "empty file, not PEM"
	}
	return "not PEM"
}

// writeKey writes key as a PKCS#8 PEM file of mode 0600.
func writeKey(path string, key *ecdsa.PrivateKey, force bool) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("certs: encoding %s: %w", path, err)
	}
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600, force)
}

// writeCert writes a DER certificate as a PEM file of mode 0644.
func writeCert(path string, der []byte, force bool) error {
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644, force)
}

// writeFile creates path with exactly mode perm; an existing file is an
// error unless force, when it is replaced (so it gets perm too).
func writeFile(path string, data []byte, perm fs.FileMode, force bool) error {
	if force {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("certs: replacing %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s", ErrExists, path)
	}
	if err != nil {
		return fmt.Errorf("certs: writing %s: %w", path, err)
	}
	err = f.Chmod(perm) // whatever the umask
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("certs: writing %s: %w", path, err)
	}
	return nil
}
