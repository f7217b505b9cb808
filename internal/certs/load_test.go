package certs

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// handshake runs a TLS handshake over loopback TCP between a server with
// serverCfg and a client with clientCfg, then has the server send a byte
// (so that a client whose certificate the server refuses sees the refusal
// also in TLS 1.3, where its own handshake ends before the server checks).
func handshake(t *testing.T, serverCfg, clientCfg *tls.Config) (serverErr, clientErr error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := c.(*tls.Conn).Handshake(); err != nil {
			done <- err
			return
		}
		_, err = c.Write([]byte{'k'})
		done <- err
	}()
	conn, clientErr := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), clientCfg)
	if clientErr == nil {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, clientErr = io.ReadFull(conn, make([]byte, 1))
		conn.Close()
	}
	return <-done, clientErr
}

func TestCertsHandshake(t *testing.T) {
	dir, otherDir := t.TempDir(), t.TempDir()
	if _, err := Generate(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(otherDir, Options{Names: []string{"client"}}); err != nil {
		t.Fatal(err)
	}
	in := func(d, name string) Files {
		return Files{CA: filepath.Join(d, CAFile), Cert: CertFile(d, name), Key: KeyFile(d, name)}
	}
	jobManager := in(dir, "jobmanager")
	tests := []struct {
		name              string
		server            Files
		requireClientCert bool
		client            Files
		serverName        string // dialled name; empty: 127.0.0.1
		wantServerErr     string // empty: the handshake succeeds
		wantClientErr     string
	}{
		{name: "mutual TLS", server: jobManager, requireClientCert: true, client: in(dir, "taskmanager")},
		{name: "mutual TLS the other way", server: in(dir, "taskmanager"), requireClientCert: true, client: jobManager},
		{name: "mutual TLS by DNS name", server: jobManager, requireClientCert: true, client: in(dir, "client"), serverName: "localhost"},
		{name: "REST without a client certificate", server: jobManager, client: Files{CA: jobManager.CA}},
		{name: "REST with a client certificate", server: jobManager, client: in(dir, "client")},
		{
			name: "client certificate of another CA", server: jobManager, requireClientCert: true,
			client:        Files{CA: jobManager.CA, Cert: CertFile(otherDir, "client"), Key: KeyFile(otherDir, "client")},
			wantServerErr: "certificate signed by unknown authority", wantClientErr: "unknown certificate authority",
		},
		{
			name: "no client certificate", server: jobManager, requireClientCert: true, client: Files{CA: jobManager.CA},
			wantServerErr: "didn't provide a certificate", wantClientErr: "certificate required",
		},
		{
			name: "client trusts another CA", server: jobManager, requireClientCert: true, client: in(otherDir, "client"),
			wantServerErr: "bad certificate", wantClientErr: "certificate signed by unknown authority",
		},
		{
			name: "server name not in the certificate", server: jobManager, client: Files{CA: jobManager.CA}, serverName: "weir.example.com",
			wantServerErr: "bad certificate", wantClientErr: "not weir.example.com",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serverCfg, err := tt.server.ServerConfig(tt.requireClientCert)
			if err != nil {
				t.Fatal(err)
			}
			clientCfg, err := tt.client.ClientConfig()
			if err != nil {
				t.Fatal(err)
			}
			clientCfg.ServerName = tt.serverName
			serverErr, clientErr := handshake(t, serverCfg, clientCfg)
			check := func(side string, err error, want string) {
				switch {
				case want == "" && err != nil:
					t.Errorf("%s: %v", side, err)
				case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
					t.Errorf("%s: error %v, want one with %q", side, err, want)
				}
			}
			check("server", serverErr, tt.wantServerErr)
			check("client", clientErr, tt.wantClientErr)
		})
	}
}

func TestCertsConfigs(t *testing.T) {
	dir := t.TempDir()
	w, err := Generate(dir, Options{Names: []string{"jobmanager"}})
	if err != nil {
		t.Fatal(err)
	}
	files := w.Certs[0].Files

	mtls, err := files.ServerConfig(true)
	if err != nil {
		t.Fatal(err)
	}
	if mtls.MinVersion != tls.VersionTLS12 || mtls.ClientAuth != tls.RequireAndVerifyClientCert || mtls.ClientCAs == nil || len(mtls.Certificates) != 1 {
		t.Fatalf("mutual TLS server config %+v", mtls)
	}
	rest, err := files.ServerConfig(false)
	if err != nil {
		t.Fatal(err)
	}
	if rest.MinVersion != tls.VersionTLS12 || rest.ClientAuth != tls.NoClientCert || len(rest.Certificates) != 1 {
		t.Fatalf("REST server config %+v", rest)
	}
	client, err := files.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if client.MinVersion != tls.VersionTLS12 || client.RootCAs == nil || len(client.Certificates) != 1 || client.Certificates[0].Leaf.Subject.CommonName != "jobmanager" {
		t.Fatalf("client config %+v", client)
	}
	caOnly, err := Files{CA: files.CA}.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if caOnly.RootCAs == nil || len(caOnly.Certificates) != 0 {
		t.Fatalf("CA-only client config %+v", caOnly)
	}
	system, err := Files{}.ClientConfig()
	if err != nil || system.RootCAs != nil {
		t.Fatalf("no files: %+v, %v", system, err)
	}

	// An EC (SEC 1) key loads as well as PKCS#8.
	key, err := readKey(files.Key)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	sec1 := filepath.Join(dir, "sec1-key.pem")
	if err := os.WriteFile(sec1, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (Files{CA: files.CA, Cert: files.Cert, Key: sec1}).ServerConfig(true); err != nil {
		t.Fatalf("SEC 1 key: %v", err)
	}
}

func TestCertsFilesValidate(t *testing.T) {
	tests := []struct {
		name    string
		files   Files
		enabled bool
		want    string // empty: valid
	}{
		{name: "off", files: Files{}},
		{name: "CA only", files: Files{CA: "ca.pem"}, enabled: true},
		{name: "all three", files: Files{CA: "ca.pem", Cert: "jm.pem", Key: "jm-key.pem"}, enabled: true},
		{name: "cert without key", files: Files{CA: "ca.pem", Cert: "jm.pem"}, enabled: true, want: "--tls-cert jm.pem is given without --tls-key"},
		{name: "key without cert", files: Files{CA: "ca.pem", Key: "jm-key.pem"}, enabled: true, want: "--tls-key jm-key.pem is given without --tls-cert"},
		{name: "no CA", files: Files{Cert: "jm.pem", Key: "jm-key.pem"}, enabled: true, want: "need --tls-ca"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.files.Enabled(); got != tt.enabled {
				t.Errorf("Enabled() = %v", got)
			}
			err := tt.files.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want ErrTLS with %q", err, tt.want)
			}
			// The configs validate first.
			if _, err := tt.files.ServerConfig(false); !errors.Is(err, ErrTLS) {
				t.Errorf("ServerConfig: %v", err)
			}
			if _, err := tt.files.ClientConfig(); !errors.Is(err, ErrTLS) {
				t.Errorf("ClientConfig: %v", err)
			}
		})
	}
}

func TestCertsFilesBad(t *testing.T) {
	dir := t.TempDir()
	if _, err := Generate(dir, Options{Names: []string{"jobmanager", "taskmanager"}}); err != nil {
		t.Fatal(err)
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	write := func(name, content string) string {
		if err := os.WriteFile(p(name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p(name)
	}
	garbage := write("garbage.pem", "hello, not a certificate\n")
	empty := write("empty.pem", "")
	badKey := write("bad-key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("nope")})))
	good := Files{CA: p("ca.pem"), Cert: p("jobmanager.pem"), Key: p("jobmanager-key.pem")}
	with := func(f func(*Files)) Files {
		files := good
		f(&files)
		return files
	}
	tests := []struct {
		name     string
		files    Files
		onlyMTLS bool     // the server fails only when it requires client certificates
		want     []string // in the error
	}{
		{name: "CA missing", files: with(func(f *Files) { f.CA = p("nope.pem") }), onlyMTLS: true, want: []string{"--tls-ca", p("nope.pem"), "no such file"}},
		{name: "certificate missing", files: with(func(f *Files) { f.Cert = p("nope.pem") }), want: []string{"--tls-cert", p("nope.pem"), "no such file"}},
		{name: "key missing", files: with(func(f *Files) { f.Key = p("nope-key.pem") }), want: []string{"--tls-key", p("nope-key.pem"), "no such file"}},
		{name: "CA not PEM", files: with(func(f *Files) { f.CA = garbage }), onlyMTLS: true, want: []string{"--tls-ca", garbage, "not PEM"}},
		{name: "CA empty", files: with(func(f *Files) { f.CA = empty }), onlyMTLS: true, want: []string{"--tls-ca", empty, "empty file"}},
		{name: "CA file with a key only", files: with(func(f *Files) { f.CA = p("ca-key.pem") }), onlyMTLS: true, want: []string{"--tls-ca", p("ca-key.pem"), "no CERTIFICATE"}},
		{name: "certificate not PEM", files: with(func(f *Files) { f.Cert = garbage }), want: []string{"--tls-cert", garbage, "not PEM"}},
		{name: "key and certificate swapped", files: with(func(f *Files) { f.Cert, f.Key = f.Key, f.Cert }), want: []string{"--tls-cert", p("jobmanager-key.pem"), "no CERTIFICATE"}},
		{name: "key not PEM", files: with(func(f *Files) { f.Key = garbage }), want: []string{"--tls-key", garbage, "not PEM"}},
		{name: "key not a key", files: with(func(f *Files) { f.Key = badKey }), want: []string{"--tls-key", badKey, "not a PKCS#8"}},
		{name: "key of another certificate", files: with(func(f *Files) { f.Key = p("taskmanager-key.pem") }),
			want: []string{"--tls-key " + p("taskmanager-key.pem") + " does not match the certificate in --tls-cert " + p("jobmanager.pem")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, ErrTLS) {
					t.Fatalf("%s: error %v, want ErrTLS", what, err)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q lacks %q", what, err, w)
					}
				}
			}
			_, err := tt.files.ServerConfig(true)
			check("mutual TLS server", err)
			_, err = tt.files.ClientConfig()
			check("client", err)
			_, err = tt.files.ServerConfig(false)
			if tt.onlyMTLS {
				if err != nil {
					t.Errorf("REST server: %v", err)
				}
			} else {
				check("REST server", err)
			}
		})
	}

	// A server needs a certificate; mutual TLS needs a CA.
	if _, err := (Files{CA: good.CA}).ServerConfig(false); !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "needs --tls-cert and --tls-key") {
		t.Errorf("server without a certificate: %v", err)
	}
}

func TestCertsRegisterFlags(t *testing.T) {
	var files Files
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	files.RegisterFlags(fs)
	if err := fs.Parse([]string{"--tls-ca", "a.pem", "--tls-cert", "b.pem", "--tls-key", "c.pem"}); err != nil {
		t.Fatal(err)
	}
	if files != (Files{CA: "a.pem", Cert: "b.pem", Key: "c.pem"}) {
		t.Fatalf("%+v", files)
	}
}
