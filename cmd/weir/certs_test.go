package main

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirflow/weir/internal/certs"
)

func TestCertsCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	code, out, errOut := runCLI(t, "certs", "--dir", dir, "--hosts", "localhost,10.0.0.1", "--days", "30")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, name := range []string{"ca", "jobmanager", "taskmanager", "client"} {
		for _, f := range []string{name + ".pem", name + "-key.pem"} {
			p := filepath.Join(dir, f)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(f, "-key.pem") && fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %o", f, fi.Mode().Perm())
			}
			if !strings.Contains(out, "wrote "+p+"\n") {
				t.Errorf("output does not list %s:\n%s", p, out)
			}
		}
	}
	for _, want := range []string{
		"--tls-ca " + filepath.Join(dir, "ca.pem") + " --tls-cert " + filepath.Join(dir, "jobmanager.pem") + " --tls-key " + filepath.Join(dir, "jobmanager-key.pem"),
		"--tls-ca " + filepath.Join(dir, "ca.pem") + " --tls-cert " + filepath.Join(dir, "taskmanager.pem") + " --tls-key " + filepath.Join(dir, "taskmanager-key.pem"),
		"https://",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	data, err := os.ReadFile(filepath.Join(dir, "taskmanager.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("taskmanager.pem is not PEM")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject.CommonName != "taskmanager" || len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(net.ParseIP("10.0.0.1")) || len(c.DNSNames) != 1 || c.DNSNames[0] != "localhost" {
		t.Errorf("CN %q, IPs %v, DNS names %v", c.Subject.CommonName, c.IPAddresses, c.DNSNames)
	}
	if d := time.Until(c.NotAfter) - 30*24*time.Hour; d < -time.Minute || d > time.Minute {
		t.Errorf("NotAfter %v, want in 30 days", c.NotAfter)
	}
	files := certs.Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "jobmanager.pem"), Key: filepath.Join(dir, "jobmanager-key.pem")}
	if _, err := files.ServerConfig(true); err != nil {
		t.Fatal(err)
	}

	// Again: refused, naming the file and --force; nothing changes.
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	code, _, errOut = runCLI(t, "certs", "--dir", dir)
	if code != 1 || !strings.Contains(errOut, filepath.Join(dir, "jobmanager.pem")) || !strings.Contains(errOut, "--force") {
		t.Fatalf("second run: exit %d: %s", code, errOut)
	}
	// A new name: signed by the same CA.
	code, out, errOut = runCLI(t, "certs", "--dir", dir, "--names", "tm-2", "--hosts", "tm-2.internal")
	if code != 0 || !strings.Contains(out, "existing CA") || !strings.Contains(out, "wrote "+filepath.Join(dir, "tm-2.pem")) || strings.Contains(out, "wrote "+filepath.Join(dir, "ca.pem")) {
		t.Fatalf("new name: exit %d: %s%s", code, out, errOut)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); string(now) != string(ca) {
		t.Fatal("ca.pem changed")
	}
	// --force replaces the CA.
	code, _, errOut = runCLI(t, "certs", "--dir", dir, "--force")
	if code != 0 {
		t.Fatalf("--force: exit %d: %s", code, errOut)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); string(now) == string(ca) {
		t.Fatal("--force kept ca.pem")
	}
}

func TestCertsCommandUsage(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no --dir", nil, "--dir is required"},
		{"empty --dir", []string{"--dir", " "}, "--dir is required"},
		{"zero days", []string{"--dir", dir, "--days", "0"}, "--days"},
		{"bad days", []string{"--dir", dir, "--days", "x"}, "invalid value"},
		{"bad name", []string{"--dir", dir, "--names", "JobManager"}, `"JobManager"`},
		{"escaping name", []string{"--dir", dir, "--names", "../x"}, `"../x"`},
		{"no names", []string{"--dir", dir, "--names", ","}, "--names is empty"},
		{"no hosts", []string{"--dir", dir, "--hosts", ""}, "--hosts is empty"},
		{"argument", []string{"--dir", dir, "extra"}, "unexpected arguments"},
		{"unknown flag", []string{"--dir", dir, "--bogus"}, "bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, append([]string{"certs"}, tt.args...)...)
			if code != 2 || !strings.Contains(errOut, tt.want) || !strings.Contains(errOut, "usage: weir certs --dir DIR") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2 with %q", code, out, errOut, tt.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("usage errors wrote %v", entries)
	}
}
