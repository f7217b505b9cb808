package main

// Integration tests of the cluster runtime: they build the weir binary and
// start real processes (a JobManager with its embedded etcd, TaskManagers)
// on loopback, and drive them through the CLI and REST like a user.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weirflow/weir/internal/guesttest"

	"github.com/weirflow/weir/internal/certs"
)

var buildWeir = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "weir-it-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "weir")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

func weirBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts processes")
	}
	bin, err := buildWeir()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// proc is a started weir process whose output is kept (the drill's).
type proc = dproc

func startProc(t testing.TB, bin string, args ...string) *proc {
	t.Helper()
	return startProcIn(t, "", bin, args...)
}

// startProcIn is startProc with the process's working directory set to dir
// ("": the test's).
func startProcIn(t testing.TB, dir, bin string, args ...string) *proc {
	t.Helper()
	p, err := startDprocIn(args[0], dir, bin, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", strings.Join(args[:1], " "), tail(p.output(), 60))
		}
	})
	return p
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cluster is a JobManager and its TaskManagers.
type cluster struct {
	bin  string
	rest string // http://host:port
	etcd string
	jm   *proc
	tms  []*proc
	// token is sent with every request and weir command when set (a
	// cluster with auth on); client makes the requests (nil: the default).
	token  string
	client *http.Client
	// ca is the CA file of a cluster with TLS (weir commands trust it);
	// tmArgs are the TaskManagers' extra flags.
	ca     string
	tmArgs []string
}

// clusterOptions start a cluster with more than JobManager flags.
type clusterOptions struct {
	jm, tm []string // extra flags of the JobManager and the TaskManagers
	token  string   // bearer token of every request (a cluster with --auth-file)
	ca     string   // CA file trusted for the REST API (a cluster with TLS)
}

var leadingLine = regexp.MustCompile(`JobManager leading: REST (\S+), RPC (\S+), etcd (\S+)`)

func startCluster(t testing.TB, tms, slots int, jmArgs ...string) *cluster {
	t.Helper()
	return startClusterWith(t, tms, slots, clusterOptions{jm: jmArgs})
}

func startClusterWith(t testing.TB, tms, slots int, o clusterOptions) *cluster {
	t.Helper()
	c := &cluster{bin: weirBinary(t), token: o.token, ca: o.ca, tmArgs: o.tm}
	if o.ca != "" {
		tlsConfig, err := (certs.Files{CA: o.ca}).ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		c.client = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	}
	args := append([]string{"jobmanager", "--rest-addr", "127.0.0.1:0", "--rpc-addr", "127.0.0.1:0",
		"--etcd-listen", "http://127.0.0.1:0", "--data-dir", t.TempDir(), "--heartbeat-interval", "300ms",
		"--heartbeat-timeout", "2s"}, o.jm...)
	c.jm = startProc(t, c.bin, args...)
	waitFor(t, 60*time.Second, "the JobManager to lead", func() bool {
		m := leadingLine.FindStringSubmatch(c.jm.output())
		if m != nil {
			c.rest, c.etcd = m[1], m[3]
		}
		return m != nil
	})
	for range tms {
		c.addTaskManager(t, slots)
	}
	waitFor(t, 30*time.Second, "the TaskManagers to register", func() bool { return c.registered(t) == tms })
	return c
}

func (c *cluster) addTaskManager(t testing.TB, slots int) *proc {
	p := startProc(t, c.bin, append([]string{"taskmanager", "--etcd-endpoints", c.etcd, "--slots", strconv.Itoa(slots), "--data-addr", "127.0.0.1:0"}, c.tmArgs...)...)
	c.tms = append(c.tms, p)
	return p
}

func (c *cluster) registered(t testing.TB) int {
	var v struct {
		TaskManagers []struct{ ID string } `json:"taskmanagers"`
	}
	if c.get(t, "/taskmanagers", &v) != http.StatusOK {
		return -1
	}
	return len(v.TaskManagers)
}

// get fetches a JSON document into v and returns the status.
func (c *cluster) get(t testing.TB, path string, v any) int {
	t.Helper()
	status, body := c.request(t, http.MethodGet, path, "", nil)
	if v != nil && status == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	return status
}

// request makes a REST request with the cluster's token and returns the
// status and body.
func (c *cluster) request(t testing.TB, method, path, contentType string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, c.rest+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	client := c.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// weir runs a client command against the cluster.
func (c *cluster) weir(t testing.TB, args ...string) (string, string, error) {
	t.Helper()
	args = append([]string{args[0], "--jobmanager", c.rest}, args[1:]...)
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), tokenEnv+"="+c.token, tlsCAEnv+"="+c.ca)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

type clusterJob struct {
	State    string `json:"state"`
	Attempt  int    `json:"attempt"`
	Vertices []struct {
		Name    string `json:"name"`
		Status  string `json:"status"`
		Metrics struct {
			WriteRecords  int64  `json:"write-records"`
			Backpressured int64  `json:"backpressured-ms-per-second"`
			Busy          int64  `json:"busy-ms-per-second"`
			Watermark     *int64 `json:"watermark"`
		} `json:"metrics"`
		Subtasks []struct {
			Status        string `json:"status"`
			TaskManagerID string `json:"taskmanager-id"`
		} `json:"subtasks"`
	} `json:"vertices"`
}

// killTaskManager kills one of the two newest TaskManagers (alternating
// with kill, the one that runs the most subtasks in these tests) with
// SIGKILL and starts a new one with slots.
func (c *cluster) killTaskManager(t testing.TB, kill, slots int) {
	t.Helper()
	victim := c.tms[len(c.tms)-1-kill%2]
	if victim.cmd.ProcessState != nil {
		victim = c.tms[len(c.tms)-1]
	}
	_ = victim.cmd.Process.Signal(syscall.SIGKILL)
	<-victim.done
	c.addTaskManager(t, slots)
}

// waitFinished waits for job id to finish; a failed or canceled job fails
// the test.
func (c *cluster) waitFinished(t testing.TB, id string) {
	t.Helper()
	waitFor(t, 3*time.Minute, "the job to finish", func() bool {
		s := c.job(t, id).State
		if s == "FAILED" || s == "CANCELED" {
			t.Fatalf("job %s", s)
		}
		return s == "FINISHED"
	})
}

func (c *cluster) job(t testing.TB, id string) clusterJob {
	t.Helper()
	var d clusterJob
	if st := c.get(t, "/jobs/"+id, &d); st != http.StatusOK {
		t.Fatalf("GET /jobs/%s: %d", id, st)
	}
	return d
}

// wordcountInput writes a text of n lines with known word counts.
func wordcountInput(t *testing.T, dir string, lines int) (string, map[string]int64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	counts := map[string]int64{}
	var b strings.Builder
	for range lines {
		for w := range 1 + rng.IntN(10) {
			// Zipf-like: a few words are very common.
			word := fmt.Sprintf("w%d", int(rng.ExpFloat64()*60)%3000)
			if w > 0 {
				b.WriteString([]string{" ", ", ", "; ", "  "}[rng.IntN(4)])
			}
			if rng.IntN(7) == 0 {
				word = strings.ToUpper(word)
			}
			b.WriteString(word)
			counts[strings.ToLower(word)]++
		}
		b.WriteByte('\n')
	}
	// The tokenizer splits on non-letters: "w12" is "w".
	letters := map[string]int64{}
	for w, n := range counts {
		letters[strings.TrimRight(w, "0123456789")] += n
	}
	path := filepath.Join(dir, "input.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, letters
}

// checkWordcount reads the committed output and checks it: every word's
// largest count is its true count, and no line is there twice.
func checkWordcount(t *testing.T, dir string, want map[string]int64) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "part-*"))
	if len(files) == 0 {
		t.Fatalf("no part files in %s", dir)
	}
	seen := map[string]bool{}
	got := map[string]int64{}
	var lines int64
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			line := sc.Text()
			if seen[line] {
				t.Fatalf("line %s is committed twice", line)
			}
			seen[line] = true
			lines++
			var rec struct {
				Word  string `json:"word"`
				Count int64  `json:"count"`
			}
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			got[rec.Word] = max(got[rec.Word], rec.Count)
		}
		fh.Close()
	}
	var total int64
	for w, n := range want {
		total += n
		if got[w] != n {
			t.Errorf("word %q: largest count %d, want %d", w, got[w], n)
		}
	}
	if len(got) != len(want) || lines != total {
		t.Errorf("%d words and %d lines, want %d and %d", len(got), lines, len(want), total)
	}
}

func exampleModule(t testing.TB, pkg string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), strings.TrimPrefix(pkg, "./")+".wasm")
	if err := os.WriteFile(path, guesttest.BuildGo(t, "examples", pkg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestClusterWordcount(t *testing.T) {
	c := startCluster(t, 2, 2)
	wasm := exampleModule(t, "./wordcount")
	dir := t.TempDir()
	input, want := wordcountInput(t, dir, 20000)
	out := filepath.Join(dir, "out")
	stdout, stderr, err := c.weir(t, "run", "-p", "4", "--wait", "--timeout", "2m", wasm, "--", "--input", input, "--output", out)
	if err != nil {
		t.Fatalf("weir run: %v\n%s", err, stderr)
	}
	id := strings.TrimSpace(stdout)
	checkWordcount(t, out, want)

	d := c.job(t, id)
	if d.State != "FINISHED" {
		t.Fatalf("job %s", d.State)
	}
	// The keyed counting runs at parallelism 4 in both TaskManagers.
	tms := map[string]int{}
	for _, v := range d.Vertices {
		if strings.Contains(v.Name, "count") {
			for _, st := range v.Subtasks {
				tms[st.TaskManagerID]++
			}
			if len(v.Subtasks) != 4 || v.Status != "FINISHED" {
				t.Errorf("vertex %s: %d subtasks, %s", v.Name, len(v.Subtasks), v.Status)
			}
		}
	}
	if len(tms) != 2 || tms[""] != 0 {
		t.Errorf("count subtasks per TaskManager: %v", tms)
	}
	if list, _, err := c.weir(t, "list", "--all"); err != nil || !strings.Contains(list, id) || !strings.Contains(list, "FINISHED") {
		t.Errorf("weir list --all: %v\n%s", err, list)
	}
}

func TestClusterTaskManagerKilled(t *testing.T) {
	c := startCluster(t, 2, 4)
	wasm := exampleModule(t, "./wordcount")
	dir := t.TempDir()
	input, want := wordcountInput(t, dir, 150000)
	out := filepath.Join(dir, "out")
	stdout, stderr, err := c.weir(t, "run", "-p", "4", "-D", "restart-strategy.type=fixed-delay",
		"-D", "restart-strategy.fixed-delay.attempts=5", "-D", "restart-strategy.fixed-delay.delay=200ms",
		wasm, "--", "--input", input, "--output", out)
	if err != nil {
		t.Fatalf("weir run: %v\n%s", err, stderr)
	}
	id := strings.TrimSpace(stdout)
	// Kill a TaskManager once the job is running and rows flow.
	waitFor(t, 60*time.Second, "the job to run with rows flowing", func() bool {
		d := c.job(t, id)
		return d.State == "RUNNING" && len(d.Vertices) > 0 && d.Vertices[0].Metrics.WriteRecords > 0
	})
	victim := c.tms[1]
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	defer func() {
		if t.Failed() {
			resp, err := http.Get(c.rest + "/jobs/" + id)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				t.Logf("job details: %s", b)
			}
		}
	}()
	waitFor(t, 120*time.Second, "the job to finish after the failover", func() bool {
		s := c.job(t, id).State
		if s == "FAILED" || s == "CANCELED" {
			t.Fatalf("job %s", s)
		}
		return s == "FINISHED"
	})
	if d := c.job(t, id); d.Attempt < 1 {
		t.Errorf("the job finished in attempt %d: the kill came too late to test a restart", d.Attempt)
	}
	var ex struct {
		History struct {
			Entries []struct {
				Stacktrace string `json:"stacktrace"`
			} `json:"entries"`
		} `json:"exceptionHistory"`
	}
	c.get(t, "/jobs/"+id+"/exceptions", &ex)
	if len(ex.History.Entries) == 0 {
		t.Error("no exception recorded for the failover")
	}
	checkWordcount(t, out, want)
}

// rss returns a process's resident set size in bytes.
func rss(t testing.TB, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func TestClusterBackpressure(t *testing.T) {
	c := startCluster(t, 2, 2)
	wasm := exampleModule(t, "./stream")
	// An unbounded source, and sinks that take 20,000 rows per second each.
	stdout, stderr, err := c.weir(t, "run", "-p", "2", wasm, "--", "--count", "0", "--sink-rate", "20000")
	if err != nil {
		t.Fatalf("weir run: %v\n%s", err, stderr)
	}
	id := strings.TrimSpace(stdout)
	var d clusterJob
	waitFor(t, 60*time.Second, "the source to report backpressure", func() bool {
		d = c.job(t, id)
		return d.State == "RUNNING" && d.Vertices[0].Metrics.Backpressured >= 500
	})
	// Memory stays bounded: sample the TaskManagers' RSS while the source
	// keeps being held back. The first seconds warm up (module compilation,
	// instances, the Go heap finding its size; 5 s, as a loaded machine
	// takes longer); after them it must stay flat while many times the
	// buffers' capacity streams through.
	var warm, peak int64
	for i := range 44 {
		var sum int64
		for _, p := range c.tms {
			sum += rss(t, p.cmd.Process.Pid)
		}
		if i < 20 {
			warm = max(warm, sum)
		} else {
			peak = max(peak, sum)
		}
		time.Sleep(250 * time.Millisecond)
	}
	d = c.job(t, id)
	if d.Vertices[0].Metrics.Backpressured < 500 {
		t.Errorf("source backpressured %d ms/s, want most of the time", d.Vertices[0].Metrics.Backpressured)
	}
	if peak > warm+32<<20 {
		t.Errorf("TaskManagers' RSS grew from %d MiB to %d MiB under backpressure", warm>>20, peak>>20)
	}
	t.Logf("source backpressured %d ms/s; TaskManagers' RSS %d MiB after warm-up, peak %d MiB later", d.Vertices[0].Metrics.Backpressured, warm>>20, peak>>20)
	if _, stderr, err := c.weir(t, "cancel", id); err != nil {
		t.Fatalf("cancel: %v %s", err, stderr)
	}
	waitFor(t, 30*time.Second, "the job to be canceled", func() bool { return c.job(t, id).State == "CANCELED" })
}

func TestClusterBadREST(t *testing.T) {
	c := startCluster(t, 1, 1, "--max-upload-bytes", strconv.Itoa(4<<20))
	wasm := exampleModule(t, "./wordcount")
	upload := func(name string, data []byte) (int, []byte) { return c.uploadBytes(t, name, data) }
	bin, _ := os.ReadFile(wasm)
	st, body := upload("wordcount.wasm", bin)
	if st != http.StatusOK {
		t.Fatalf("upload: %d %s", st, body)
	}
	var up struct{ ID string }
	_ = json.Unmarshal(body, &up)

	do := func(method, path, body string) (int, []byte) {
		return c.request(t, method, path, "application/json", strings.NewReader(body))
	}
	// A finished job, for the conflict case.
	dir := t.TempDir()
	input, _ := wordcountInput(t, dir, 10)
	st, body = do("POST", "/wasm/"+up.ID+"/run", fmt.Sprintf(`{"programArgs":["--input",%q,"--output",%q]}`, input, filepath.Join(dir, "out")))
	if st != http.StatusOK {
		t.Fatalf("run: %d %s", st, body)
	}
	var run struct{ JobID string }
	_ = json.Unmarshal(body, &run)
	waitFor(t, 60*time.Second, "the small job to finish", func() bool { return c.job(t, run.JobID).State == "FINISHED" })

	cases := []struct {
		name         string
		status       int
		method, path string
		body         string
		upload       []byte
		contains     string
	}{
		{name: "not a module", status: 400, upload: []byte("hello, I am not wasm"), contains: "not a valid Weir module"},
		{name: "too large", status: 413, upload: make([]byte, 5<<20), contains: "exceeds"},
		{name: "unknown job", status: 404, method: "GET", path: "/jobs/0123456789abcdef0123456789abcdef", contains: "unknown job"},
		{name: "unknown job exceptions", status: 404, method: "GET", path: "/jobs/nope/exceptions"},
		{name: "cancel unknown job", status: 404, method: "PATCH", path: "/jobs/nope?mode=cancel"},
		{name: "bad mode", status: 400, method: "PATCH", path: "/jobs/" + run.JobID + "?mode=explode", contains: "mode"},
		{name: "cancel finished job", status: 409, method: "PATCH", path: "/jobs/" + run.JobID + "?mode=cancel", contains: "FINISHED"},
		{name: "run unknown module", status: 404, method: "POST", path: "/wasm/" + strings.Repeat("0", 64) + "/run", body: `{}`},
		{name: "malformed body", status: 400, method: "POST", path: "/wasm/" + up.ID + "/run", body: `{"parallelism":`, contains: "JSON"},
		{name: "unknown field", status: 400, method: "POST", path: "/wasm/" + up.ID + "/run", body: `{"parallelsim":2}`, contains: "parallelsim"},
		{name: "negative parallelism", status: 400, method: "POST", path: "/wasm/" + up.ID + "/run", body: `{"parallelism":-2}`, contains: "parallelism"},
		{name: "parallelism above max", status: 400, method: "POST", path: "/wasm/" + up.ID + "/run", body: `{"parallelism":100000}`, contains: "parallelism"},
		{name: "plan refuses its args", status: 400, method: "POST", path: "/wasm/" + up.ID + "/run", body: `{"programArgs":[]}`, contains: "--input"},
		{name: "bad restart config", status: 400, method: "POST", path: "/wasm/" + up.ID + "/run", body: fmt.Sprintf(`{"programArgs":["--input",%q],"config":{"restart-strategy.type":"sometimes"}}`, input), contains: "restart-strategy"},
		{name: "unknown TaskManager", status: 404, method: "GET", path: "/taskmanagers/nope"},
		{name: "delete unknown module", status: 404, method: "DELETE", path: "/wasm/" + strings.Repeat("1", 64)},
		{name: "unknown path", status: 404, method: "GET", path: "/nothing/here"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var st int
			var body []byte
			if tc.upload != nil {
				st, body = upload("x.wasm", tc.upload)
			} else {
				st, body = do(tc.method, tc.path, tc.body)
			}
			var e struct{ Errors []string }
			if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) == 0 {
				t.Errorf("body is not a JSON error: %s", body)
			}
			if st != tc.status || !strings.Contains(string(body), tc.contains) {
				t.Errorf("status %d, want %d; body %s (want it to mention %q)", st, tc.status, body, tc.contains)
			}
		})
	}
	// The JobManager is still there and well.
	if st := c.get(t, "/overview", nil); st != http.StatusOK {
		t.Errorf("overview after bad input: %d", st)
	}
	select {
	case <-c.jm.done:
		t.Fatal("the JobManager exited")
	default:
	}
}

// uploadBytes posts a module to /wasm/upload and returns the answer.
func (c *cluster) uploadBytes(t testing.TB, name string, data []byte) (int, []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("wasmfile", name)
	_, _ = fw.Write(data)
	_ = mw.Close()
	return c.request(t, http.MethodPost, "/wasm/upload", mw.FormDataContentType(), &body)
}

// upload stores a module through REST and returns its id.
func (c *cluster) upload(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, body := c.uploadBytes(t, filepath.Base(path), data)
	var up struct{ ID string }
	if err := json.Unmarshal(body, &up); err != nil || st != http.StatusOK {
		t.Fatalf("upload: %d %s", st, body)
	}
	return up.ID
}

// submit runs a stored module and returns the job id.
func (c *cluster) submit(t testing.TB, id string, req string) string {
	t.Helper()
	status, body := c.request(t, http.MethodPost, "/wasm/"+id+"/run", "application/json", strings.NewReader(req))
	var run struct{ JobID string }
	if err := json.Unmarshal(body, &run); err != nil || status != http.StatusOK {
		t.Fatalf("run: %d %v: %s", status, err, body)
	}
	return run.JobID
}

// checkpointCounts are the counts of GET /jobs/:id/checkpoints.
type checkpointCounts struct{ Completed, Failed int }

// checkpoints returns a job's checkpoint counts.
func (c *cluster) checkpoints(t testing.TB, id string) checkpointCounts {
	t.Helper()
	var s struct {
		Counts checkpointCounts `json:"counts"`
	}
	c.get(t, "/jobs/"+id+"/checkpoints", &s)
	return s.Counts
}

// allRunning reports whether every subtask of the job runs.
func (c *cluster) allRunning(t testing.TB, id string) bool {
	var d struct {
		Counts map[string]int `json:"status-counts"`
	}
	c.get(t, "/jobs/"+id, &d)
	total := 0
	for _, n := range d.Counts {
		total += n
	}
	return total > 0 && d.Counts["RUNNING"] == total
}

// BenchmarkSubmission measures upload → every subtask RUNNING for a Go job
// module (examples/stream, ~3.6 MB) with warm compilation caches: the first
// submission (not timed) compiles the module in the JobManager's plan
// reader and in the TaskManagers.
func BenchmarkSubmission(b *testing.B) {
	c := startCluster(b, 2, 2)
	wasm := exampleModule(b, "./stream")
	req := `{"parallelism":2,"programArgs":["--count","0","--sink-rate","1000"]}`
	run := func() string {
		id := c.submit(b, c.upload(b, wasm), req)
		waitFor(b, time.Minute, "every subtask to run", func() bool { return c.allRunning(b, id) })
		return id
	}
	stop := func(id string) {
		if _, _, err := c.weir(b, "cancel", id); err != nil {
			b.Fatal(err)
		}
		waitFor(b, time.Minute, "the job to be canceled", func() bool { return c.job(b, id).State == "CANCELED" })
	}
	start := time.Now()
	stop(run()) // warm the caches
	cold := time.Since(start)
	fi, _ := os.Stat(wasm)
	b.ResetTimer()
	for range b.N {
		id := run()
		b.StopTimer()
		stop(id)
		b.StartTimer()
	}
	b.ReportMetric(float64(fi.Size())/1e6, "module-MB")
	b.ReportMetric(float64(cold.Milliseconds()), "cold-ms")
}

// BenchmarkStreamMemory streams bounded jobs of growing size (rows through a
// rebalance exchange between the TaskManagers) and reports the TaskManagers'
// peak RSS: with credit-based flow control it must not grow with the data.
func BenchmarkStreamMemory(b *testing.B) {
	c := startCluster(b, 2, 2)
	wasm := exampleModule(b, "./stream")
	id := c.upload(b, wasm)
	for _, count := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("rows=%d", 16*count), func(b *testing.B) {
			var peak int64
			for range b.N {
				job := c.submit(b, id, fmt.Sprintf(`{"parallelism":2,"programArgs":["--count","%d"]}`, count))
				for c.job(b, job).State == "RUNNING" {
					var sum int64
					for _, p := range c.tms {
						sum += rss(b, p.cmd.Process.Pid)
					}
					peak = max(peak, sum)
					time.Sleep(50 * time.Millisecond)
				}
				if s := c.job(b, job).State; s != "FINISHED" {
					b.Fatalf("job %s", s)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
			b.ReportMetric(float64(16*count*24*b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
		})
	}
}

// TestClusterJobManagerRestart restarts the JobManager (same data dir and
// etcd address, new RPC and REST ports): the TaskManager finds the new
// leader in etcd, registers again, and runs its jobs.
func TestClusterJobManagerRestart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	etcdURL := "http://" + l.Addr().String()
	l.Close()
	dataDir := t.TempDir()
	c := startCluster(t, 1, 2, "--etcd-listen", etcdURL, "--data-dir", dataDir)
	oldREST := c.rest
	if err := c.jm.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.jm.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the JobManager did not stop on SIGTERM")
	}
	c.jm = startProc(t, c.bin, "jobmanager", "--rest-addr", "127.0.0.1:0", "--rpc-addr", "127.0.0.1:0",
		"--etcd-listen", etcdURL, "--data-dir", dataDir, "--heartbeat-interval", "300ms", "--heartbeat-timeout", "2s")
	waitFor(t, 60*time.Second, "the new JobManager to lead", func() bool {
		m := leadingLine.FindStringSubmatch(c.jm.output())
		if m != nil {
			c.rest = m[1]
		}
		return m != nil
	})
	if c.rest == oldREST {
		t.Fatalf("the new JobManager reuses %s", oldREST)
	}
	waitFor(t, 30*time.Second, "the TaskManager to register with the new JobManager", func() bool { return c.registered(t) == 1 })
	if !strings.Contains(c.tms[0].output(), "epoch=") || strings.Count(c.tms[0].output(), "registered with the JobManager") < 2 {
		t.Errorf("TaskManager output:\n%s", c.tms[0].output())
	}
	// The uploaded module survived in the data dir; a job runs.
	dir := t.TempDir()
	input, want := wordcountInput(t, dir, 200)
	out := filepath.Join(dir, "out")
	if _, stderr, err := c.weir(t, "run", "-p", "2", "--wait", "--timeout", "1m", exampleModule(t, "./wordcount"), "--", "--input", input, "--output", out); err != nil {
		t.Fatalf("run after the restart: %v\n%s", err, stderr)
	}
	checkWordcount(t, out, want)
}

// TestClusterGuestFailure runs a job whose Wasm map fails on a poison
// record: it restarts once (fixed-delay, 1 attempt), then fails for good;
// the client and the exceptions endpoint show the guest's message and logs.
func TestClusterGuestFailure(t *testing.T) {
	c := startCluster(t, 1, 2)
	wasm := exampleModule(t, "./stream")
	stdout, stderr, err := c.weir(t, "run", "-p", "2", "--wait", "--timeout", "2m",
		"-D", "restart-strategy.type=fixed-delay", "-D", "restart-strategy.fixed-delay.attempts=1",
		"-D", "restart-strategy.fixed-delay.delay=100ms", wasm, "--", "--count", "1000", "--fail-at", "500")
	if err == nil {
		t.Fatalf("weir run --wait succeeded for a failing job:\n%s", stderr)
	}
	if !strings.Contains(stderr, "refusing the poison record seq=500") {
		t.Errorf("weir run does not show the guest's message:\n%s", stderr)
	}
	id := strings.TrimSpace(stdout)
	d := c.job(t, id)
	if d.State != "FAILED" || d.Attempt != 1 {
		t.Errorf("job %s after attempt %d, want FAILED after attempt 1", d.State, d.Attempt)
	}
	var ex struct {
		Root    *string `json:"root-exception"`
		History struct {
			Entries []struct {
				Name      string   `json:"exceptionName"`
				Trace     string   `json:"stacktrace"`
				TaskName  string   `json:"taskName"`
				GuestLogs []string `json:"guestLogs"`
			} `json:"entries"`
		} `json:"exceptionHistory"`
	}
	if st := c.get(t, "/jobs/"+id+"/exceptions", &ex); st != http.StatusOK {
		t.Fatalf("exceptions: %d", st)
	}
	if ex.Root == nil || !strings.Contains(*ex.Root, "poison record seq=500") {
		t.Errorf("root exception %v", ex.Root)
	}
	guest := 0
	for _, e := range ex.History.Entries {
		if strings.Contains(e.Trace, "poison record seq=500") {
			guest++
			if e.Name != "GuestError" || !strings.Contains(e.TaskName, "Map: scale") || !strings.Contains(strings.Join(e.GuestLogs, "\n"), "poison record at seq 500") {
				t.Errorf("exception entry %+v", e)
			}
		}
	}
	if guest != 2 {
		t.Errorf("%d guest failures in the history, want one per attempt: %+v", guest, ex.History.Entries)
	}
}

// TestClusterExactlyOnceKills runs examples/exactlyonce with checkpoints
// every 200 ms and kills a TaskManager with SIGKILL three times while it
// runs (a new one joins each time): the committed output has every record
// exactly once, with count == seq.
func TestClusterExactlyOnceKills(t *testing.T) {
	c := startCluster(t, 2, 4)
	wasm := exampleModule(t, "./exactlyonce")
	out := filepath.Join(t.TempDir(), "out")
	const keys, count = 8, 3000
	stdout, stderr, err := c.weir(t, "run", "-p", "2", "-D", "checkpoint.interval=200ms",
		"-D", "restart-strategy.type=fixed-delay", "-D", "restart-strategy.fixed-delay.attempts=20",
		"-D", "restart-strategy.fixed-delay.delay=100ms",
		wasm, "--", "--keys", strconv.Itoa(keys), "--count", strconv.Itoa(count), "--rate", "3000", "--output", out)
	if err != nil {
		t.Fatalf("weir run: %v\n%s", err, stderr)
	}
	id := strings.TrimSpace(stdout)
	completed := func() int { return c.checkpoints(t, id).Completed }
	for kill := range 3 {
		before := completed()
		waitFor(t, 60*time.Second, "a checkpoint to complete", func() bool {
			return c.job(t, id).State == "RUNNING" && completed() > before
		})
		c.killTaskManager(t, kill, 4)
	}
	c.waitFinished(t, id)
	rep, err := verifyDir(out, keys, count)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("lost %d, duplicated %d, count mismatches %d (records %d of %d)", rep.Lost, rep.Duplicated, rep.CountMismatches, rep.Records, rep.Expected)
	}
	if d := c.job(t, id); d.Attempt < 3 {
		t.Errorf("attempt %d after three kills", d.Attempt)
	}
	t.Logf("%d records exactly once after 3 kills; %d checkpoints completed", rep.Records, completed())
}

// TestClusterStopAndRescale stops a job with a savepoint at parallelism 2
// and resumes it from the savepoint at parallelism 4: the output of both
// runs together is exactly once.
func TestClusterStopAndRescale(t *testing.T) {
	c := startCluster(t, 2, 4)
	wasm := exampleModule(t, "./exactlyonce")
	out := filepath.Join(t.TempDir(), "out")
	const keys, count = 8, 2000
	args := []string{wasm, "--", "--keys", strconv.Itoa(keys), "--count", strconv.Itoa(count), "--rate", "4000", "--output", out}
	stdout, stderr, err := c.weir(t, append([]string{"run", "-p", "2", "-D", "checkpoint.interval=300ms"}, args...)...)
	if err != nil {
		t.Fatalf("weir run: %v\n%s", err, stderr)
	}
	id := strings.TrimSpace(stdout)
	waitFor(t, 60*time.Second, "every task to run and rows to flow", func() bool {
		d := c.job(t, id)
		return d.State == "RUNNING" && c.allRunning(t, id) && d.Vertices[0].Metrics.WriteRecords > 1000
	})
	location := stopWithSavepoint(t, c, id)
	waitFor(t, 60*time.Second, "the stopped job to finish", func() bool { return c.job(t, id).State == "FINISHED" })
	if rep, _ := verifyDir(out, keys, count); rep.Records == 0 || rep.Records >= int64(keys*count) || rep.Duplicated != 0 {
		t.Fatalf("after the stop: %d records, %d duplicated", rep.Records, rep.Duplicated)
	}
	run := resume(t, c, c.upload(t, wasm), 4, location, args[2:], map[string]string{"checkpoint.interval": "300ms"})
	waitFor(t, 2*time.Minute, "the resumed job to finish", func() bool {
		s := c.job(t, run).State
		if s == "FAILED" {
			t.Fatal("the resumed job failed")
		}
		return s == "FINISHED"
	})
	rep, err := verifyDir(out, keys, count)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("joined output: lost %d, duplicated %d, count mismatches %d", rep.Lost, rep.Duplicated, rep.CountMismatches)
	}
}

// TestClusterCheckpointTimeouts: checkpoints that time out do not fail the
// job while under the tolerable limit; over it, the job fails.
func TestClusterCheckpointTimeouts(t *testing.T) {
	c := startCluster(t, 1, 2)
	wasm := exampleModule(t, "./exactlyonce")
	const keys, count = 4, 1500
	run := func(tolerable string) (string, string) {
		out := filepath.Join(t.TempDir(), "out")
		stdout, stderr, err := c.weir(t, "run", "-p", "1", "-D", "checkpoint.interval=100ms", "-D", "checkpoint.timeout=1ms",
			"-D", "checkpoint.tolerable-failures="+tolerable, "-D", "restart-strategy.type=none",
			wasm, "--", "--keys", strconv.Itoa(keys), "--count", strconv.Itoa(count), "--rate", "3000", "--output", out)
		if err != nil {
			t.Fatalf("weir run: %v\n%s", err, stderr)
		}
		return strings.TrimSpace(stdout), out
	}
	failedCheckpoints := func(id string) int { return c.checkpoints(t, id).Failed }
	id, out := run("1000")
	waitFor(t, 2*time.Minute, "the job to finish", func() bool {
		s := c.job(t, id).State
		if s == "FAILED" {
			t.Fatal("the job failed under the tolerable limit")
		}
		return s == "FINISHED"
	})
	if n := failedCheckpoints(id); n == 0 {
		t.Error("no checkpoint failed with a 1ms timeout")
	}
	if rep, err := verifyDir(out, keys, count); err != nil || !rep.OK {
		t.Errorf("output: %+v %v", rep, err)
	}
	id, _ = run("2")
	waitFor(t, 2*time.Minute, "the job to fail", func() bool { return c.job(t, id).State == "FAILED" })
	if n := failedCheckpoints(id); n < 3 {
		t.Errorf("failed after %d failed checkpoints, want 3 (2 tolerated)", n)
	}
}

// BenchmarkExactlyOnce runs examples/exactlyonce (64 keys, keyed count
// state, two-phase file sink) to the end without checkpoints and with a
// checkpoint every second, and reports records per second.
func BenchmarkExactlyOnce(b *testing.B) {
	c := startCluster(b, 2, 2)
	wasm := c.upload(b, exampleModule(b, "./exactlyonce"))
	const keys, count = 64, 300_000
	// Warm up: the TaskManagers compile the module once.
	warm := c.submit(b, wasm, fmt.Sprintf(`{"parallelism":2,"programArgs":["--keys","2","--count","10","--output",%q]}`, b.TempDir()))
	waitFor(b, 5*time.Minute, "the warm-up job", func() bool { return c.job(b, warm).State == "FINISHED" })
	for _, interval := range []string{"0s", "1s"} {
		b.Run("checkpoint.interval="+interval, func(b *testing.B) {
			var completed int
			for range b.N {
				out := filepath.Join(b.TempDir(), "out")
				req, _ := json.Marshal(map[string]any{"parallelism": 2, "config": map[string]string{"checkpoint.interval": interval},
					"programArgs": []string{"--keys", strconv.Itoa(keys), "--count", strconv.Itoa(count), "--output", out}})
				id := c.submit(b, wasm, string(req))
				waitFor(b, 5*time.Minute, "the job to finish", func() bool { return c.job(b, id).State == "FINISHED" })
				completed += c.checkpoints(b, id).Completed
			}
			b.ReportMetric(float64(keys*count*b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(completed)/float64(b.N), "checkpoints/run")
		})
	}
}

// BenchmarkRecovery measures a TaskManager kill → every subtask RUNNING
// again in the next attempt (restored from the latest checkpoint), with the
// default restart strategy and checkpoints every 500 ms.
func BenchmarkRecovery(b *testing.B) {
	c := startCluster(b, 2, 4)
	wasm := c.upload(b, exampleModule(b, "./exactlyonce"))
	for range b.N {
		b.StopTimer()
		out := filepath.Join(b.TempDir(), "out")
		req, _ := json.Marshal(map[string]any{"parallelism": 2, "config": map[string]string{"checkpoint.interval": "500ms"},
			"programArgs": []string{"--keys", "16", "--count", "10000000", "--rate", "20000", "--output", out}})
		id := c.submit(b, wasm, string(req))
		waitFor(b, time.Minute, "a completed checkpoint", func() bool {
			return c.allRunning(b, id) && c.checkpoints(b, id).Completed > 0
		})
		before := c.job(b, id).Attempt
		victim := c.tms[len(c.tms)-1]
		b.StartTimer()
		_ = victim.cmd.Process.Signal(syscall.SIGKILL)
		waitFor(b, time.Minute, "the job to run again", func() bool {
			return c.job(b, id).Attempt > before && c.allRunning(b, id)
		})
		b.StopTimer()
		<-victim.done
		c.tms = c.tms[:len(c.tms)-1]
		if _, _, err := c.weir(b, "cancel", id); err != nil {
			b.Fatal(err)
		}
		waitFor(b, time.Minute, "the job to be canceled", func() bool { return c.job(b, id).State == "CANCELED" })
		c.addTaskManager(b, 4)
		waitFor(b, time.Minute, "the new TaskManager", func() bool { return c.registered(b) == 2 })
		b.StartTimer()
	}
}
