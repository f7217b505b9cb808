package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// parseCertFile reads the first certificate of a PEM file.
func parseCertFile(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	certs, err := readCerts(path)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

// verifyLeaf checks that the certificate in leafPath chains to the CA in
// caPath for usage.
func verifyLeaf(t *testing.T, caPath, leafPath string, usage x509.ExtKeyUsage) error {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(parseCertFile(t, caPath))
	_, err := parseCertFile(t, leafPath).Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

func fileMode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestCertsGenerateDefaults(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs") // Generate creates it
	start := time.Now()
	w, err := Generate(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w.ReusedCA || w.CA != filepath.Join(dir, "ca.pem") || w.CAKey != filepath.Join(dir, "ca-key.pem") {
		t.Fatalf("written %+v", w)
	}
	wantPaths := []string{"ca-key.pem", "ca.pem", "jobmanager-key.pem", "jobmanager.pem",
		"taskmanager-key.pem", "taskmanager.pem", "client-key.pem", "client.pem"}
	for i, p := range wantPaths {
		wantPaths[i] = filepath.Join(dir, p)
	}
	if !slices.Equal(w.Paths, wantPaths) {
		t.Fatalf("paths %v, want %v", w.Paths, wantPaths)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(wantPaths) {
		t.Fatalf("%d files in %s, want %d", len(entries), dir, len(wantPaths))
	}
	if m := fileMode(t, dir); m != 0o700 {
		t.Errorf("directory mode %o, want 700", m)
	}
	for _, p := range wantPaths {
		want := fs.FileMode(0o644)
		if strings.HasSuffix(p, "-key.pem") {
			want = 0o600
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(data)
			if block == nil || block.Type != "PRIVATE KEY" {
				t.Fatalf("%s is not a PKCS#8 PEM key", p)
			}
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if ek, ok := k.(*ecdsa.PrivateKey); !ok || ek.Curve != elliptic.P256() {
				t.Fatalf("%s: key %T, want ECDSA P-256", p, k)
			}
		}
		if m := fileMode(t, p); m != want {
			t.Errorf("%s: mode %o, want %o", p, m, want)
		}
	}

	ca := parseCertFile(t, w.CA)
	if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 || ca.CheckSignatureFrom(ca) != nil {
		t.Fatalf("CA: IsCA %v, key usage %b, not self-signed", ca.IsCA, ca.KeyUsage)
	}
	if pub, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("CA key %T, want ECDSA P-256", ca.PublicKey)
	}
	wantNotAfter := start.Add(DefaultValidity)
	if d := ca.NotAfter.Sub(wantNotAfter); d < -time.Minute || d > time.Minute {
		t.Errorf("CA NotAfter %v, want about %v", ca.NotAfter, wantNotAfter)
	}

	serials := map[string]bool{ca.SerialNumber.String(): true}
	if len(w.Certs) != len(DefaultNames) {
		t.Fatalf("issued %v", w.Certs)
	}
	for i, iss := range w.Certs {
		name := DefaultNames[i]
		if iss.Name != name || iss.Files != (Files{CA: w.CA, Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}) {
			t.Fatalf("issued %+v", iss)
		}
		c := parseCertFile(t, iss.Files.Cert)
		if c.Subject.CommonName != name || c.IsCA {
			t.Errorf("%s: CN %q, IsCA %v", name, c.Subject.CommonName, c.IsCA)
		}
		if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
			t.Errorf("%s: ext key usage %v", name, c.ExtKeyUsage)
		}
		if !slices.Equal(c.DNSNames, []string{"localhost"}) || len(c.IPAddresses) != 2 ||
			!c.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) || !c.IPAddresses[1].Equal(net.IPv6loopback) {
			t.Errorf("%s: DNS names %v, IPs %v", name, c.DNSNames, c.IPAddresses)
		}
		if !c.NotAfter.Equal(w.NotAfter) {
			t.Errorf("%s: NotAfter %v, written %v", name, c.NotAfter, w.NotAfter)
		}
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if err := verifyLeaf(t, w.CA, iss.Files.Cert, usage); err != nil {
				t.Errorf("%s for %v: %v", name, usage, err)
			}
		}
		if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 || serials[c.SerialNumber.String()] {
			t.Errorf("%s: serial %v", name, c.SerialNumber)
		}
		serials[c.SerialNumber.String()] = true
	}
}

func TestCertsGenerateOptions(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		wantDNS  []string
		wantIPs  []string
		validity time.Duration
	}{
		{
			name:     "hosts and validity",
			opts:     Options{Names: []string{"jm-0.prod"}, Hosts: []string{"jm.example.com", "10.0.0.5", "*.weir.internal", "fd00::1"}, Validity: 48 * time.Hour},
			wantDNS:  []string{"jm.example.com", "*.weir.internal"},
			wantIPs:  []string{"10.0.0.5", "fd00::1"},
			validity: 48 * time.Hour,
		},
		{
			name:     "only a DNS name",
			opts:     Options{Names: []string{"tm_1", "tm_2"}, Hosts: []string{"tm.local"}},
			wantDNS:  []string{"tm.local"},
			validity: DefaultValidity,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			w, err := Generate(t.TempDir(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(w.Certs) != len(tt.opts.Names) {
				t.Fatalf("issued %v", w.Certs)
			}
			for i, iss := range w.Certs {
				c := parseCertFile(t, iss.Files.Cert)
				if iss.Name != tt.opts.Names[i] || c.Subject.CommonName != iss.Name {
					t.Errorf("issued %q with CN %q, want %q", iss.Name, c.Subject.CommonName, tt.opts.Names[i])
				}
				if !slices.Equal(c.DNSNames, tt.wantDNS) {
					t.Errorf("DNS names %v, want %v", c.DNSNames, tt.wantDNS)
				}
				var ips []string
				for _, ip := range c.IPAddresses {
					ips = append(ips, ip.String())
				}
				if !slices.Equal(ips, tt.wantIPs) {
					t.Errorf("IPs %v, want %v", ips, tt.wantIPs)
				}
				want := start.Add(tt.validity)
				if d := c.NotAfter.Sub(want); d < -time.Minute || d > time.Minute {
					t.Errorf("NotAfter %v, want about %v", c.NotAfter, want)
				}
			}
		})
	}
}

func TestCertsGenerateBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"empty name", Options{Names: []string{"jobmanager", ""}}, "empty certificate name"},
		{"upper case", Options{Names: []string{"JobManager"}}, `"JobManager"`},
		{"path escape", Options{Names: []string{"../evil"}}, `"../evil"`},
		{"slash", Options{Names: []string{"a/b"}}, `"a/b"`},
		{"dot dot", Options{Names: []string{".."}}, `".."`},
		{"hidden", Options{Names: []string{".x"}}, "starts with '.'"},
		{"space", Options{Names: []string{"job manager"}}, `"job manager"`},
		{"the CA's name", Options{Names: []string{"ca"}}, "clash"},
		{"a key's name", Options{Names: []string{"ca-key"}}, "clash"},
		{"another key's name", Options{Names: []string{"jobmanager", "jobmanager-key"}}, "clash"},
		{"twice", Options{Names: []string{"client", "client"}}, "given twice"},
		{"too long", Options{Names: []string{strings.Repeat("a", 65)}}, "longer than 64"},
		{"empty host", Options{Hosts: []string{"localhost", ""}}, `bad host ""`},
		{"host with a space", Options{Hosts: []string{"local host"}}, `bad host "local host"`},
		{"negative validity", Options{Validity: -time.Hour}, "negative validity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "certs")
			_, err := Generate(dir, tt.opts)
			if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want ErrOptions with %q", err, tt.want)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Fatalf("wrote %v", entries)
			}
		})
	}
	if _, err := Generate("", Options{}); !errors.Is(err, ErrOptions) {
		t.Fatalf("no directory: %v", err)
	}
}

func TestCertsGenerateRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	first, err := Generate(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := readAll(t, first.Paths)

	// The CA is reusable, but the leaves exist: nothing is written.
	_, err = Generate(dir, Options{Names: []string{"other", "taskmanager"}})
	if !errors.Is(err, ErrExists) || !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), filepath.Join(dir, "taskmanager.pem")) {
		t.Fatalf("error %v, want ErrExists naming taskmanager.pem", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("other.pem written before the refusal: %v", err)
	}
	// Only the key of a leaf exists.
	if err := os.Remove(filepath.Join(dir, "client.pem")); err != nil {
		t.Fatal(err)
	}
	_, err = Generate(dir, Options{Names: []string{"client"}})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), filepath.Join(dir, "client-key.pem")) {
		t.Fatalf("error %v, want ErrExists naming client-key.pem", err)
	}
	if !bytes.Equal(mustRead(t, first.CA), before[first.CA]) {
		t.Fatal("ca.pem changed")
	}

	// Force replaces everything, the CA too, and restores the key modes.
	if err := os.Chmod(filepath.Join(dir, "jobmanager-key.pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	forced, err := Generate(dir, Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if forced.ReusedCA || len(forced.Paths) != len(first.Paths) {
		t.Fatalf("forced: %+v", forced)
	}
	for _, p := range forced.Paths {
		if bytes.Equal(mustRead(t, p), before[p]) {
			t.Errorf("%s not replaced", p)
		}
	}
	if m := fileMode(t, filepath.Join(dir, "jobmanager-key.pem")); m != 0o600 {
		t.Errorf("jobmanager-key.pem mode %o after Force, want 600", m)
	}
	if err := verifyLeaf(t, forced.CA, filepath.Join(dir, "client.pem"), x509.ExtKeyUsageClientAuth); err != nil {
		t.Errorf("client.pem after Force: %v", err)
	}
}

func TestCertsGenerateReusesCA(t *testing.T) {
	dir := t.TempDir()
	first, err := Generate(dir, Options{Validity: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ca, caKey := mustRead(t, first.CA), mustRead(t, first.CAKey)

	// A certificate for a new host, later: signed by the same CA, which
	// stays as it is; it does not outlive the CA.
	second, err := Generate(dir, Options{Names: []string{"tm-7"}, Hosts: []string{"tm-7.internal", "10.1.2.7"}, Validity: 10 * DefaultValidity})
	if err != nil {
		t.Fatal(err)
	}
	if !second.ReusedCA || !slices.Equal(second.Paths, []string{filepath.Join(dir, "tm-7-key.pem"), filepath.Join(dir, "tm-7.pem")}) {
		t.Fatalf("second: %+v", second)
	}
	if !bytes.Equal(mustRead(t, first.CA), ca) || !bytes.Equal(mustRead(t, first.CAKey), caKey) {
		t.Fatal("the CA files changed")
	}
	if err := verifyLeaf(t, first.CA, second.Certs[0].Files.Cert, x509.ExtKeyUsageServerAuth); err != nil {
		t.Fatalf("new leaf against the old ca.pem: %v", err)
	}
	caCert := parseCertFile(t, first.CA)
	if leaf := parseCertFile(t, second.Certs[0].Files.Cert); leaf.NotAfter.After(caCert.NotAfter) {
		t.Errorf("leaf NotAfter %v outlives the CA's %v", leaf.NotAfter, caCert.NotAfter)
	}

	// A CA whose key is gone cannot sign: refused, naming the file.
	if err := os.Remove(first.CAKey); err != nil {
		t.Fatal(err)
	}
	_, err = Generate(dir, Options{Names: []string{"tm-8"}})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), first.CA) || !strings.Contains(err.Error(), first.CAKey) {
		t.Fatalf("error %v, want ErrExists naming ca.pem and ca-key.pem", err)
	}

	// A key that is not the CA's is refused.
	other, err := Generate(t.TempDir(), Options{Names: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(first.CAKey, mustRead(t, other.CAKey), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(dir, Options{Names: []string{"tm-8"}}); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("error %v, want a key mismatch", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func readAll(t *testing.T, paths []string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, p := range paths {
		out[p] = mustRead(t, p)
	}
	return out
}
