package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/weirflow/weir/internal/certs"
	"github.com/weirflow/weir/internal/leader"
)

func TestLoopbackOnly(t *testing.T) {
	cases := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:8081", true},
		{"127.3.4.5:0", true},
		{"[::1]:8081", true},
		{"localhost:8081", true},
		{":8081", false},
		{"0.0.0.0:8081", false},
		{"[::]:8081", false},
		{"10.1.2.3:8081", false},
		{"example.com:8081", false},
		{"nonsense", false},
	}
	for _, tc := range cases {
		err := loopbackOnly(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("loopbackOnly(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
		if err != nil && !errors.Is(err, errUsage) {
			t.Errorf("loopbackOnly(%q): %v is not a usage error", tc.addr, err)
		}
	}
}

// tlsPair is a TLS identity from a weir certs directory; securePair its
// flags.
func tlsPair(dir, name string) certs.Files {
	return certs.Files{CA: filepath.Join(dir, certs.CAFile), Cert: certs.CertFile(dir, name), Key: certs.KeyFile(dir, name)}
}

func securePair(dir, name string) []string {
	f := tlsPair(dir, name)
	return []string{"--tls-ca", f.CA, "--tls-cert", f.Cert, "--tls-key", f.Key}
}

// TestClusterSecure runs a cluster with tokens, TLS for REST and mutual TLS
// for gRPC: requests without the right token are refused, a job runs end
// to end (JobManager and TaskManagers, and TaskManagers between them, over
// mutual TLS; modules fetched over gRPC), and a TaskManager whose
// certificate another CA signed, or that has none, never registers.
func TestClusterSecure(t *testing.T) {
	pki, rogue, allowed := t.TempDir(), t.TempDir(), t.TempDir()
	for _, dir := range []string{pki, rogue} {
		if _, err := certs.Generate(dir, certs.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	const viewer, submitter = "viewer-token-0123456789abcdef", "submitter-token-0123456789abcdef"
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("# test tokens\n"+viewer+" viewer\n"+submitter+" submitter\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startClusterWith(t, 2, 1, clusterOptions{
		jm:    append([]string{"--auth-file", tokens, "--allow-dir", allowed, "--etcd-listen", "https://127.0.0.1:0"}, securePair(pki, "jobmanager")...),
		tm:    securePair(pki, "taskmanager"),
		token: submitter, ca: filepath.Join(pki, certs.CAFile),
	})
	if !strings.HasPrefix(c.rest, "https://") || !strings.HasPrefix(c.etcd, "https://") {
		t.Fatalf("the REST API or etcd is not served over TLS: %s, %s", c.rest, c.etcd)
	}
	// etcd answers only clients with the cluster's certificates.
	for _, tc := range []struct {
		name  string
		files certs.Files
		ok    bool
	}{
		{"the cluster's certificate", tlsPair(pki, "client"), true},
		{"another CA's certificate", tlsPair(rogue, "client"), false},
		{"no certificate", certs.Files{CA: filepath.Join(pki, certs.CAFile)}, false},
	} {
		cfg, err := tc.files.ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		cli, err := leader.Dial([]string{c.etcd}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, _, err = leader.Current(ctx, cli, leader.DefaultCluster)
		cancel()
		cli.Close()
		if (err == nil) != tc.ok {
			t.Fatalf("etcd with %s: %v", tc.name, err)
		}
	}

	// Access: only /health and the dashboard's files without a token.
	as := func(token string) *cluster { d := *c; d.token = token; return &d }
	cases := []struct {
		name, token, method, path string
		want                      int
	}{
		{"health", "", "GET", "/health", 200},
		{"dashboard", "", "GET", "/", 200},
		{"jobs without a token", "", "GET", "/jobs", 401},
		{"openapi without a token", "", "GET", "/openapi.json", 401},
		{"a wrong token", "wrong-token-0123456789abcdef", "GET", "/jobs", 401},
		{"viewer reads", viewer, "GET", "/jobs", 200},
		{"viewer uploads", viewer, "POST", "/wasm/upload", 403},
		{"viewer resigns", viewer, "POST", "/cluster/leader/resign", 403},
		{"stream with access_token", "", "GET", "/events?watch=/overview&access_token=" + viewer, 200},
		{"stream without", "", "GET", "/events?watch=/overview", 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.path, "/events") {
				st := streamStatus(t, as(tc.token), tc.path)
				if st != tc.want {
					t.Fatalf("status %d, want %d", st, tc.want)
				}
				return
			}
			st, body := as(tc.token).request(t, tc.method, tc.path, "", nil)
			if st != tc.want {
				t.Fatalf("status %d, want %d: %s", st, tc.want, body)
			}
			if st >= 400 && (!json.Valid(body) || strings.Contains(string(body), "0123456789")) {
				t.Fatalf("the error is not JSON or shows a token: %s", body)
			}
		})
	}
	// The dashboard asks which role a token has.
	for token, want := range map[string]string{viewer: "viewer", submitter: "submitter"} {
		var who struct {
			Auth bool
			Role string
		}
		if st := as(token).get(t, "/whoami", &who); st != 200 || !who.Auth || who.Role != want {
			t.Fatalf("whoami as %s: %d %+v", want, st, who)
		}
	}
	// Plain HTTP to the TLS port gets nothing.
	if resp, err := http.Get("http://" + strings.TrimPrefix(c.rest, "https://") + "/jobs"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), "jobs") {
			t.Fatalf("plain HTTP answered %d: %s", resp.StatusCode, body)
		}
	}

	// A job end to end, with the CLI (token and CA from the environment):
	// two TaskManagers of one slot each, so the keyed exchange crosses them.
	input, want := wordcountInput(t, allowed, 300)
	out := filepath.Join(allowed, "out")
	stdout, stderr, err := c.weir(t, "run", "-p", "2", "--wait", "--timeout", "2m", exampleModule(t, "./wordcount"), "--input", input, "--output", out)
	if err != nil {
		t.Fatalf("weir run: %v\n%s%s", err, stdout, stderr)
	}
	checkWordcount(t, out, want)
	job := strings.TrimSpace(stdout)

	// The CLI without a token is refused with the JobManager's message.
	_, stderr, err = as("").weir(t, "list")
	if err == nil || !strings.Contains(stderr, "401") || !strings.Contains(stderr, "no bearer token") {
		t.Fatalf("weir list without a token: %v %s", err, stderr)
	}
	// A savepoint outside the allowed directories is refused.
	st, body := c.request(t, "POST", "/jobs/"+job+"/savepoints", "application/json", strings.NewReader(`{"target-directory":"/tmp/elsewhere"}`))
	if st != http.StatusBadRequest || !strings.Contains(string(body), "outside the allowed directories") {
		t.Fatalf("a savepoint to /tmp/elsewhere: %d %s", st, body)
	}

	// A standby checks tokens too and forwards to the leader over HTTPS.
	standby := startProc(t, c.bin, append([]string{"jobmanager", "--etcd-endpoints", c.etcd, "--data-dir", t.TempDir(),
		"--rest-addr", "127.0.0.1:0", "--rpc-addr", "127.0.0.1:0", "--auth-file", tokens}, securePair(pki, "jobmanager")...)...)
	serving := regexp.MustCompile(`serving: REST (https://\S+),`)
	var sb cluster
	waitFor(t, 30*time.Second, "the standby to serve", func() bool {
		m := serving.FindStringSubmatch(standby.output())
		if m != nil {
			sb = *c
			sb.rest = m[1]
		}
		return m != nil
	})
	var health struct{ Leading bool }
	if st := as("").get(t, "/health", nil); st != 200 {
		t.Fatalf("the leader's health: %d", st)
	}
	sb.token = ""
	if st, body := sb.request(t, "GET", "/health", "", nil); st != 200 || json.Unmarshal(body, &health) != nil || health.Leading {
		t.Fatalf("the standby's health: %d %s", st, body)
	}
	if st, _ := sb.request(t, "GET", "/jobs/"+job, "", nil); st != 401 {
		t.Fatalf("the standby answered %d without a token", st)
	}
	sb.token = viewer
	if d := sb.job(t, job); d.State != "FINISHED" {
		t.Fatalf("the job through the standby: %+v", d)
	}

	// TaskManagers with a certificate of another CA, or without TLS, do not
	// get past etcd.
	refuseIntruders(t, c, rogue, 2, "does it take this TaskManager's TLS settings", "does it take this TaskManager's TLS settings")
}

// TestClusterRefusesStrangers: with etcd open (plain, as an external etcd
// may be), TaskManagers with a certificate of another CA, or without TLS,
// find the leader but the ResourceManager's mutual TLS refuses them.
func TestClusterRefusesStrangers(t *testing.T) {
	pki, rogue := t.TempDir(), t.TempDir()
	for _, dir := range []string{pki, rogue} {
		if _, err := certs.Generate(dir, certs.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	c := startClusterWith(t, 1, 1, clusterOptions{
		jm: securePair(pki, "jobmanager"), tm: securePair(pki, "taskmanager"), ca: filepath.Join(pki, certs.CAFile),
	})
	if !strings.HasPrefix(c.etcd, "http://") {
		t.Fatalf("etcd is not plain: %s", c.etcd)
	}
	refuseIntruders(t, c, rogue, 1, "certificate signed by unknown authority", "registration with the JobManager failed")
}

// refuseIntruders starts a TaskManager with rogue's certificate and one
// without TLS, waits for each to log its refusal, and checks that only the
// cluster's registered TaskManagers are.
func refuseIntruders(t *testing.T, c *cluster, rogue string, registered int, rogueSays, plainSays string) {
	t.Helper()
	intruders := []*proc{
		startProc(t, c.bin, append([]string{"taskmanager", "--etcd-endpoints", c.etcd, "--data-addr", "127.0.0.1:0", "--id", "rogue"}, securePair(rogue, "taskmanager")...)...),
		startProc(t, c.bin, "taskmanager", "--etcd-endpoints", c.etcd, "--data-addr", "127.0.0.1:0", "--id", "plain"),
	}
	waitFor(t, 30*time.Second, "the intruders to be refused", func() bool {
		return strings.Contains(intruders[0].output(), rogueSays) && strings.Contains(intruders[1].output(), plainSays)
	})
	if n := c.registered(t); n != registered {
		t.Fatalf("%d TaskManagers registered, want the %d with the cluster's certificates", n, registered)
	}
}

// streamStatus opens a live stream and returns its status.
func streamStatus(t *testing.T, c *cluster, path string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.rest+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A bad token file stops the JobManager at start, naming the line.
func TestJobManagerBadAuthFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("short viewer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"jobmanager", "--data-dir", t.TempDir(), "--auth-file", file, "--rest-addr", "127.0.0.1:0", "--rpc-addr", "127.0.0.1:0"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "line 1: a token needs at least 16 characters") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}
