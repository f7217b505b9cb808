package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeJM implements just enough of the JobManager's REST contract
// (docs/openapi.json) for the client verbs. A job's program arguments
// script it: its first argument names the states the job walks through,
// one per GET /jobs/{id} ("CREATED,RUNNING,FINISHED"; the last one stays).
// Savepoints are scripted by spPolls, spFailure and spFlaky.
type fakeJM struct {
	srv *httptest.Server

	mu       sync.Mutex
	modules  map[string]string // id → file name
	uploads  []string          // file names, in order
	runs     []map[string]any  // decoded run bodies
	rawRuns  []string
	jobs     map[string]*fakeJob
	order    []string
	flaky    int // GET /jobs/{id} answers 503 this many times first
	maxBody  int64
	requests int

	savepoints map[string]*fakeSavepoint // by trigger id
	spBodies   []string                  // "POST path body" of the triggers, in order
	spPolls    int                       // IN_PROGRESS answers before a savepoint completes (<0: never)
	spFailure  string                    // the failure cause of the savepoints ("": they succeed)
	spFlaky    int                       // GET .../savepoints/{trigger} answers 503 this many times first
}

// fakeSavepoint is a savepoint the fake took: it completes after a number
// of polls, then stops or cancels its job if asked to.
type fakeSavepoint struct {
	job          *fakeJob
	polls        int // IN_PROGRESS answers left (<0: never completes)
	location     string
	failure      string
	stop, cancel bool
}

type fakeJob struct {
	id, name string
	states   []string
	polls    int
	root     *string
	canceled bool
	start    int64
}

func (j *fakeJob) state() string {
	if j.canceled {
		return "CANCELED"
	}
	return j.states[min(j.polls, len(j.states)-1)]
}

func newFakeJM(t *testing.T) *fakeJM {
	t.Helper()
	f := &fakeJM{modules: map[string]string{}, jobs: map[string]*fakeJob{}, maxBody: 8 << 20, savepoints: map[string]*fakeSavepoint{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /wasm/upload", f.upload)
	mux.HandleFunc("POST /wasm/{id}/run", f.run)
	mux.HandleFunc("GET /jobs/overview", f.overview)
	mux.HandleFunc("GET /jobs/{id}", f.job)
	mux.HandleFunc("PATCH /jobs/{id}", f.cancel)
	mux.HandleFunc("GET /jobs/{id}/exceptions", f.exceptions)
	mux.HandleFunc("POST /jobs/{id}/savepoints", f.triggerSavepoint)
	mux.HandleFunc("POST /jobs/{id}/stop", f.triggerSavepoint)
	mux.HandleFunc("GET /jobs/{id}/savepoints/{trigger}", f.savepointStatus)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests++
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func fail(w http.ResponseWriter, status int, msgs ...string) {
	reply(w, status, map[string][]string{"errors": msgs})
}

func (f *fakeJM) upload(w http.ResponseWriter, r *http.Request) {
	if f.maxBody > 0 && r.ContentLength > f.maxBody {
		// As the JobManager: refused on the Content-Length, before the body.
		fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes exceeds the limit of %d", r.ContentLength, f.maxBody))
		return
	}
	file, fh, err := r.FormFile("wasmfile")
	if err != nil {
		fail(w, http.StatusBadRequest, "a multipart form with the module in field \"wasmfile\" is required: "+err.Error())
		return
	}
	defer file.Close()
	bin, _ := io.ReadAll(file)
	if !bytes.HasPrefix(bin, []byte("\x00asm")) {
		fail(w, http.StatusBadRequest, "not a valid Weir module: wasm: invalid magic number")
		return
	}
	sum := sha256.Sum256(bin)
	id := hex.EncodeToString(sum[:])
	f.mu.Lock()
	f.modules[id] = fh.Filename
	f.uploads = append(f.uploads, fh.Filename)
	f.mu.Unlock()
	reply(w, http.StatusOK, map[string]any{"id": id, "sha256": id, "filename": fh.Filename, "size": len(bin), "uploaded": time.Now().UnixMilli(), "status": "success"})
}

func (f *fakeJM) run(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body struct {
		Parallelism *int              `json:"parallelism"`
		ProgramArgs []string          `json:"programArgs"`
		Config      map[string]string `json:"config"`
		Savepoint   string            `json:"savepointPath"`
		AllowNonRS  bool              `json:"allowNonRestoredState"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		fail(w, http.StatusBadRequest, "bad request body: "+err.Error())
		return
	}
	var generic map[string]any
	_ = json.Unmarshal(raw, &generic)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs = append(f.runs, generic)
	f.rawRuns = append(f.rawRuns, string(raw))
	name, ok := f.modules[r.PathValue("id")]
	switch {
	case !ok:
		fail(w, http.StatusNotFound, "no module "+r.PathValue("id"))
		return
	case body.Parallelism != nil && (*body.Parallelism < 1 || *body.Parallelism > 128):
		fail(w, http.StatusBadRequest, fmt.Sprintf("parallelism %d is outside 1..128", *body.Parallelism))
		return
	}
	states := []string{"CREATED", "RUNNING", "FINISHED"}
	if len(body.ProgramArgs) > 0 && strings.Contains(body.ProgramArgs[0], ",") {
		states = strings.Split(body.ProgramArgs[0], ",")
	}
	id := fmt.Sprintf("%032x", len(f.jobs)+1)
	job := &fakeJob{id: id, name: strings.TrimSuffix(name, ".wasm"), states: states, start: time.Now().UnixMilli()}
	if states[len(states)-1] == "FAILED" {
		root := "wasm: guest trapped: map to_eur: division by zero\n\tat to_eur (wasm function 12)"
		job.root = &root
	}
	f.jobs[id] = job
	f.order = append(f.order, id)
	reply(w, http.StatusOK, map[string]string{"jobid": id})
}

// addJob adds a job in a fixed state for list, cancel and info.
func (f *fakeJM) addJob(id, name, state string, start int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs[id] = &fakeJob{id: id, name: name, states: []string{state}, start: start}
	f.order = append(f.order, id)
}

func (f *fakeJM) overview(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	jobs := []map[string]any{}
	for _, id := range f.order {
		j := f.jobs[id]
		end, running := int64(-1), 2
		if terminal(j.state()) {
			end, running = j.start+61_000, 0
		}
		jobs = append(jobs, map[string]any{
			"jid": j.id, "name": j.name, "state": j.state(), "start-time": j.start, "end-time": end,
			"duration": 61_000, "last-modification": j.start,
			"tasks": map[string]int{"total": 4, "created": 0, "deploying": 0, "running": running, "finished": 4 - running, "canceling": 0, "canceled": 0, "failed": 0},
		})
	}
	reply(w, http.StatusOK, map[string]any{"jobs": jobs})
}

func (f *fakeJM) job(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.flaky > 0 {
		f.flaky--
		fail(w, http.StatusServiceUnavailable, "no leader yet")
		return
	}
	j, ok := f.jobs[r.PathValue("id")]
	if !ok {
		fail(w, http.StatusNotFound, "job "+r.PathValue("id")+" not found")
		return
	}
	state := j.state()
	j.polls++
	metrics := func(in, out int) map[string]int {
		return map[string]int{"read-bytes": in * 10, "read-records": in, "write-bytes": out * 10, "write-records": out,
			"busy-ms-per-second": 250, "idle-ms-per-second": 700, "backpressured-ms-per-second": 50}
	}
	reply(w, http.StatusOK, map[string]any{
		"jid": j.id, "name": j.name, "state": state, "start-time": j.start, "end-time": -1, "duration": 1500,
		"now": j.start + 1500, "maxParallelism": 128, "timestamps": map[string]int64{"CREATED": j.start},
		"status-counts": map[string]int{"RUNNING": 3},
		"vertices": []map[string]any{
			{"id": "src", "name": "Source: file", "parallelism": 1, "maxParallelism": 128, "status": "RUNNING",
				"start-time": j.start, "end-time": -1, "duration": 1500, "tasks": map[string]int{"RUNNING": 1},
				"metrics": metrics(0, 1000), "subtasks": []any{}},
			{"id": "map", "name": "Map: to_eur -> Sink: file", "parallelism": 2, "maxParallelism": 128, "status": "RUNNING",
				"start-time": j.start, "end-time": -1, "duration": 1500, "tasks": map[string]int{"RUNNING": 2},
				"metrics": metrics(1000, 998), "subtasks": []any{}},
		},
		"plan": map[string]any{"jid": j.id, "name": j.name, "nodes": []any{}}, "attempt": 1,
	})
}

func (f *fakeJM) cancel(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[r.PathValue("id")]
	switch {
	case !ok:
		fail(w, http.StatusNotFound, "job "+r.PathValue("id")+" not found")
	case r.URL.Query().Get("mode") != "cancel":
		fail(w, http.StatusBadRequest, "mode must be cancel")
	case terminal(j.state()):
		fail(w, http.StatusConflict, "job "+j.id+" is already "+j.state())
	default:
		j.canceled = true
		reply(w, http.StatusAccepted, map[string]any{})
	}
}

func (f *fakeJM) exceptions(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[r.PathValue("id")]
	if !ok {
		fail(w, http.StatusNotFound, "job "+r.PathValue("id")+" not found")
		return
	}
	entries := []map[string]any{}
	var ts any
	if j.root != nil {
		ts = j.start + 900
		entries = append(entries, map[string]any{"exceptionName": "wasm.TrapError", "stacktrace": *j.root, "timestamp": j.start + 900,
			"taskName": "Map: to_eur -> Sink: file (2/2)", "location": "127.0.0.1:6124", "taskManagerId": "tm-1",
			"guestLogs": []string{"opening to_eur", "rate is 0"}})
	}
	reply(w, http.StatusOK, map[string]any{"root-exception": j.root, "timestamp": ts,
		"exceptionHistory": map[string]any{"entries": entries, "truncated": false}})
}

// triggerSavepoint is POST /jobs/{id}/savepoints and POST /jobs/{id}/stop:
// the job must be RUNNING, and the body holds only the endpoint's fields.
func (f *fakeJM) triggerSavepoint(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	stop := strings.HasSuffix(r.URL.Path, "/stop")
	var body struct {
		Target     string `json:"target-directory"`
		Cancel     bool   `json:"cancel-job"`
		StopTarget string `json:"targetDirectory"`
		Drain      bool   `json:"drain"`
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		fail(w, http.StatusBadRequest, "bad request body: "+err.Error())
		return
	}
	allowed := map[bool][]string{false: {"target-directory", "cancel-job"}, true: {"targetDirectory", "drain"}}[stop]
	for k := range fields {
		if !slices.Contains(allowed, k) {
			fail(w, http.StatusBadRequest, "bad request body: unknown field "+k)
			return
		}
	}
	_ = json.Unmarshal(raw, &body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spBodies = append(f.spBodies, "POST "+r.URL.Path+" "+string(raw))
	j, ok := f.jobs[r.PathValue("id")]
	switch {
	case !ok:
		fail(w, http.StatusNotFound, "job "+r.PathValue("id")+" not found")
		return
	case j.state() != "RUNNING":
		fail(w, http.StatusConflict, "jobmaster: the job is not running: it is "+j.state())
		return
	case body.Drain:
		fail(w, http.StatusBadRequest, "drain is not supported")
		return
	}
	trigger := fmt.Sprintf("%016x", len(f.savepoints)+1)
	dir := cmp.Or(body.Target, body.StopTarget, "/data/savepoints")
	f.savepoints[trigger] = &fakeSavepoint{job: j, polls: f.spPolls, failure: f.spFailure, stop: stop, cancel: body.Cancel,
		location: dir + "/savepoint-" + j.id[:6] + "-" + trigger[4:]}
	reply(w, http.StatusAccepted, map[string]string{"request-id": trigger})
}

// savepointStatus is GET /jobs/{id}/savepoints/{trigger}.
func (f *fakeJM) savepointStatus(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.spFlaky > 0 {
		f.spFlaky--
		fail(w, http.StatusServiceUnavailable, "no leader yet")
		return
	}
	sp, ok := f.savepoints[r.PathValue("trigger")]
	switch {
	case !ok || sp.job.id != r.PathValue("id"):
		fail(w, http.StatusNotFound, fmt.Sprintf("unknown savepoint trigger %q", r.PathValue("trigger")))
		return
	case sp.polls != 0:
		sp.polls = max(sp.polls-1, -1)
		reply(w, http.StatusOK, map[string]any{"status": map[string]string{"id": "IN_PROGRESS"}, "operation": map[string]any{}})
		return
	case sp.failure != "":
		if sp.stop {
			sp.job.canceled = true // as the JobMaster: the sources had stopped at the barrier
		}
		reply(w, http.StatusOK, map[string]any{"status": map[string]string{"id": "COMPLETED"},
			"operation": map[string]any{"failure-cause": map[string]string{"stack-trace": sp.failure}}})
		return
	case sp.stop:
		sp.job.states = []string{"FINISHED"}
	case sp.cancel:
		sp.job.canceled = true
	}
	reply(w, http.StatusOK, map[string]any{"status": map[string]string{"id": "COMPLETED"}, "operation": map[string]any{"location": sp.location}})
}

// runClient runs the CLI as main does, with the client verbs' progress on
// the returned stderr.
func runClient(t *testing.T, tty bool, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx := withClientIO(context.Background(), clientIO{stderr: &errb, tty: tty, poll: 5 * time.Millisecond})
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// writeModule writes a file that passes the fake's validation (the Wasm
// magic number) followed by size-4 bytes.
func writeModule(t *testing.T, name string, size int) string {
	t.Helper()
	bin := make([]byte, size)
	copy(bin, "\x00asm\x01\x00\x00\x00")
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, bin, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var jobIDLine = regexp.MustCompile(`^[0-9a-f]{32}\n$`)

func TestClientRun(t *testing.T) {
	jm := newFakeJM(t)
	good := writeModule(t, "wordcount.wasm", 10_000)
	huge := writeModule(t, "huge.wasm", 16<<20)
	bad := filepath.Join(t.TempDir(), "wordcount.wasm")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	url := jm.srv.URL
	hostPort := strings.TrimPrefix(url, "http://")
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		body     string // the run request as the fake got it
		stderr   string // a substring of stderr
		noUpload bool
	}{
		{name: "plain", args: []string{"--jobmanager", url, good}, body: `{}`},
		{name: "all fields", args: []string{"--jobmanager", hostPort, "-p", "4", "-D", "a=b", "-D", "c=d=e", "-D", "empty=", good, "--", "--input", "x y"},
			body: `{"parallelism":4,"programArgs":["--input","x y"],"config":{"a":"b","c":"d=e","empty":""}}`},
		{name: "args without separator", args: []string{"--jobmanager", url + "/", good, "one"}, body: `{"programArgs":["one"]}`},
		{name: "p 0 is the plan's", args: []string{"--jobmanager", url, "-p", "0", good}, body: `{}`},
		{name: "from a savepoint", args: []string{"--jobmanager", url, "-s", "/sp/savepoint-000001-abc", "-p", "4", good},
			body: `{"parallelism":4,"savepointPath":"/sp/savepoint-000001-abc"}`},
		{name: "from a savepoint, long flags", args: []string{"--jobmanager", url, "--fromSavepoint", "/sp/x/_metadata", "--allowNonRestoredState", good, "--", "a"},
			body: `{"programArgs":["a"],"savepointPath":"/sp/x/_metadata","allowNonRestoredState":true}`},
		{name: "from a savepoint, -n", args: []string{"--jobmanager", url, "-s", "/sp/x", "-n", good}, body: `{"savepointPath":"/sp/x","allowNonRestoredState":true}`},
		{name: "-n without -s", args: []string{"--jobmanager", url, "-n", good}, code: 2, noUpload: true, stderr: "--allowNonRestoredState (-n) applies to a restore and needs -s"},
		{name: "empty -s", args: []string{"--jobmanager", url, "-s", "", good}, code: 2, noUpload: true, stderr: "-s: the savepoint path is empty"},
		{name: "invalid module", args: []string{"--jobmanager", url, bad}, code: 1,
			stderr: "weir run: upload wordcount.wasm: 400 Bad Request: not a valid Weir module: wasm: invalid magic number\n"},
		{name: "too large", args: []string{"--jobmanager", url, huge}, code: 1,
			stderr: "weir run: upload huge.wasm: 413 Request Entity Too Large: request body of 16777"},
		{name: "parallelism refused", args: []string{"--jobmanager", url, "-p", "1000", good}, code: 1, body: `{"parallelism":1000}`,
			stderr: "weir run: submit wordcount.wasm: 400 Bad Request: parallelism 1000 is outside 1..128\n"},
		{name: "-D without value", args: []string{"--jobmanager", url, "-D", "novalue", good}, code: 2, noUpload: true,
			stderr: `weir run: usage: invalid value "novalue" for flag -D: want key=value`},
		{name: "-D without key", args: []string{"--jobmanager", url, "-D", "=v", good}, code: 2, noUpload: true, stderr: "empty key"},
		{name: "negative parallelism", args: []string{"--jobmanager", url, "-p", "-1", good}, code: 2, noUpload: true, stderr: "parallelism must be at least 1"},
		{name: "no module", args: []string{"--jobmanager", url}, code: 2, noUpload: true, stderr: "usage: weir run [--jobmanager URL]"},
		{name: "unknown flag", args: []string{"--jobmanager", url, "--parallelism", "2", good}, code: 2, noUpload: true, stderr: "flag provided but not defined: -parallelism"},
		{name: "timeout without wait", args: []string{"--jobmanager", url, "--timeout", "1s", good}, code: 2, noUpload: true, stderr: "--timeout bounds --wait"},
		{name: "missing file", args: []string{"--jobmanager", url, filepath.Join(t.TempDir(), "none.wasm")}, code: 1, noUpload: true, stderr: "weir run: upload none.wasm: open "},
		{name: "directory", args: []string{"--jobmanager", url, t.TempDir()}, code: 1, noUpload: true, stderr: "is not a regular file"},
		{name: "bad address", args: []string{"--jobmanager", "ftp://x", good}, code: 2, noUpload: true, stderr: "the scheme must be http or https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jm.mu.Lock()
			uploads, runs := len(jm.uploads), len(jm.rawRuns)
			jm.mu.Unlock()
			code, out, errOut := runClient(t, false, append([]string{"run"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, errOut)
			}
			if !strings.Contains(errOut, tc.stderr) {
				t.Fatalf("stderr %q does not contain %q", errOut, tc.stderr)
			}
			jm.mu.Lock()
			defer jm.mu.Unlock()
			if tc.noUpload && len(jm.uploads) != uploads {
				t.Fatal("the module was uploaded")
			}
			if tc.body != "" {
				if len(jm.rawRuns) != runs+1 {
					t.Fatalf("%d run requests, want 1", len(jm.rawRuns)-runs)
				}
				if got := jm.rawRuns[runs]; got != tc.body {
					t.Fatalf("run body %s, want %s", got, tc.body)
				}
				if jm.uploads[len(jm.uploads)-1] != "wordcount.wasm" {
					t.Fatalf("uploaded as %q, want the base name", jm.uploads[len(jm.uploads)-1])
				}
			}
			if tc.code == 0 {
				if !jobIDLine.MatchString(out) {
					t.Fatalf("stdout %q is not one job id line", out)
				}
				// Not a terminal: one progress line, at the end.
				if want := "upload wordcount.wasm: 9.8 KiB / 9.8 KiB (100%)\n"; errOut != want {
					t.Fatalf("stderr %q, want %q", errOut, want)
				}
			} else if out != "" {
				t.Fatalf("stdout %q on failure", out)
			}
		})
	}
}

func TestClientRunWait(t *testing.T) {
	jm := newFakeJM(t)
	mod := writeModule(t, "currency.wasm", 100)
	for _, tc := range []struct {
		name   string
		script string
		extra  []string
		flaky  int
		code   int
		want   []string // lines of stderr, in order
		reject []string // not in stderr
	}{
		{name: "finished", script: "CREATED,CREATED,RUNNING,RUNNING,FINISHED", want: []string{": CREATED\n", ": RUNNING\n", ": FINISHED\n"}, reject: []string{"root exception"}},
		{name: "failed", script: "CREATED,RUNNING,FAILING,FAILED", code: 1, want: []string{
			": RUNNING\n", ": FAILING\n", ": FAILED\n",
			"root exception:\n  wasm: guest trapped: map to_eur: division by zero\n  \tat to_eur (wasm function 12)\n",
			"in task Map: to_eur -> Sink: file (2/2) on TaskManager tm-1\n",
			"guest log (last lines):\n  opening to_eur\n  rate is 0\n"},
			reject: []string{"weir run:"}}, // errFailed: the failure is printed once
		{name: "canceled", script: "RUNNING,CANCELED", code: 1, want: []string{": RUNNING\n", ": CANCELED\n"}, reject: []string{"root exception", "weir run:"}},
		{name: "through a failover", script: "RUNNING,FINISHED", flaky: 2, want: []string{"503 Service Unavailable: no leader yet (retrying for 30s)\n", ": RUNNING\n", ": FINISHED\n"}},
		{name: "timeout", script: "RUNNING,RUNNING", extra: []string{"--timeout", "100ms"}, code: 1,
			want: []string{": RUNNING\n", "weir run: job ", " is still RUNNING after 100ms; it goes on (weir cancel "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jm.mu.Lock()
			jm.flaky = tc.flaky
			jm.mu.Unlock()
			args := append([]string{"run", "--jobmanager", jm.srv.URL, "--wait"}, tc.extra...)
			code, out, errOut := runClient(t, false, append(args, mod, "--", tc.script)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, errOut)
			}
			if !jobIDLine.MatchString(out) {
				t.Fatalf("stdout %q is not one job id line", out)
			}
			id := strings.TrimSpace(out)
			rest := errOut
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("stderr lacks %q (in order); stderr:\n%s", w, errOut)
				}
				rest = rest[i+len(w):]
			}
			for _, r := range tc.reject {
				if strings.Contains(errOut, r) {
					t.Fatalf("stderr has %q:\n%s", r, errOut)
				}
			}
			if strings.Count(errOut, "job "+id+": RUNNING\n") > 1 {
				t.Fatalf("a state printed twice:\n%s", errOut)
			}
		})
	}
}

// TestClientUploadProgressTerminal checks that a terminal gets the
// progress redrawn in place, growing to 100% and ending its line.
func TestClientUploadProgressTerminal(t *testing.T) {
	jm := newFakeJM(t)
	mod := writeModule(t, "big.wasm", 3<<20)
	code, out, errOut := runClient(t, true, "run", "--jobmanager", jm.srv.URL, mod)
	if code != 0 || !jobIDLine.MatchString(out) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if !regexp.MustCompile(`\rupload big\.wasm: 3\.0 MiB / 3\.0 MiB \(100%\) *\n$`).MatchString(errOut) || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("stderr does not end in one final progress line: %q", errOut)
	}
	draws := strings.Split(strings.TrimSuffix(errOut, "\n"), "\r")[1:]
	if len(draws) < 3 {
		t.Fatalf("%d redraws of a 3 MiB upload, want several: %q", len(draws), errOut)
	}
	pct := regexp.MustCompile(`^upload big\.wasm: [0-9.]+ (B|KiB|MiB) / 3\.0 MiB \(([0-9]+)%\) *$`)
	last := -1
	for _, d := range draws {
		m := pct.FindStringSubmatch(d)
		if m == nil {
			t.Fatalf("bad progress line %q", d)
		}
		var p int
		fmt.Sscan(m[2], &p)
		if p < last {
			t.Fatalf("progress went back from %d%% to %d%%", last, p)
		}
		last = p
	}
}

func TestClientList(t *testing.T) {
	jm := newFakeJM(t)
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC).UnixMilli()
	ids := []string{strings.Repeat("a", 32), strings.Repeat("b", 32), strings.Repeat("c", 32)}

	code, out, errOut := runClient(t, false, "list", "--jobmanager", jm.srv.URL)
	if code != 0 || out != "No running jobs.\n" {
		t.Fatalf("empty: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, out, _ := runClient(t, false, "list", "--all", "--jobmanager", jm.srv.URL); out != "No jobs.\n" {
		t.Fatalf("empty --all: %q", out)
	}

	jm.addJob(ids[0], "wordcount", "RUNNING", t0)
	jm.addJob(ids[1], "currency", "FINISHED", t0+60_000)
	jm.addJob(ids[2], "nexmark-q5", "RESTARTING", t0+120_000)
	row := func(id, name, state string, start int64, tasks string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^` + id + ` +` + name + ` +` + state + ` +` + regexp.QuoteMeta(localTime(start)) + ` +1m1s +` + tasks + `$`)
	}
	for _, tc := range []struct {
		args   []string
		rows   []*regexp.Regexp // in order, newest first
		absent string
	}{
		{args: []string{"list"}, rows: []*regexp.Regexp{row(ids[2], "nexmark-q5", "RESTARTING", t0+120_000, "2/4"), row(ids[0], "wordcount", "RUNNING", t0, "2/4")}, absent: ids[1]},
		{args: []string{"list", "--all"}, rows: []*regexp.Regexp{
			row(ids[2], "nexmark-q5", "RESTARTING", t0+120_000, "2/4"), row(ids[1], "currency", "FINISHED", t0+60_000, "0/4"), row(ids[0], "wordcount", "RUNNING", t0, "2/4")}},
	} {
		code, out, errOut := runClient(t, false, append(tc.args, "--jobmanager", jm.srv.URL)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, errOut)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if !regexp.MustCompile(`^JOB ID +NAME +STATE +START +DURATION +TASKS$`).MatchString(lines[0]) {
			t.Fatalf("%v: header %q", tc.args, lines[0])
		}
		if len(lines) != len(tc.rows)+1 {
			t.Fatalf("%v: %d rows, want %d:\n%s", tc.args, len(lines)-1, len(tc.rows), out)
		}
		for i, r := range tc.rows {
			if !r.MatchString(lines[i+1]) {
				t.Fatalf("%v: row %d %q does not match %v", tc.args, i, lines[i+1], r)
			}
		}
		if tc.absent != "" && strings.Contains(out, tc.absent) {
			t.Fatalf("%v lists the ended job:\n%s", tc.args, out)
		}
	}
	if code, _, errOut := runClient(t, false, "list", "--jobmanager", jm.srv.URL, "extra"); code != 2 || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Fatalf("extra argument: exit %d: %s", code, errOut)
	}
}

func TestClientCancel(t *testing.T) {
	jm := newFakeJM(t)
	running, done, unknown := strings.Repeat("1", 32), strings.Repeat("2", 32), strings.Repeat("3", 32)
	jm.addJob(running, "wordcount", "RUNNING", time.Now().UnixMilli())
	jm.addJob(done, "wordcount", "FINISHED", time.Now().UnixMilli())
	for _, tc := range []struct {
		name        string
		args        []string
		code        int
		out, stderr string
	}{
		{name: "running", args: []string{"--jobmanager", jm.srv.URL, running}, out: "Cancelled job " + running + ".\n"},
		{name: "flag after id, upper case", args: []string{strings.ToUpper(done), "--jobmanager", jm.srv.URL}, code: 1,
			stderr: "weir cancel: cancel job " + done + ": 409 Conflict: job " + done + " is already FINISHED\n"},
		{name: "unknown", args: []string{"--jobmanager", jm.srv.URL, unknown}, code: 1,
			stderr: "weir cancel: cancel job " + unknown + ": 404 Not Found: job " + unknown + " not found\n"},
		{name: "not an id", args: []string{"--jobmanager", jm.srv.URL, "../../wasm/x"}, code: 2, stderr: `"../../wasm/x" is not a job id`},
		{name: "no id", args: []string{"--jobmanager", jm.srv.URL}, code: 2, stderr: "want exactly one job id, got 0"},
		{name: "two ids", args: []string{"--jobmanager", jm.srv.URL, running, done}, code: 2, stderr: "want exactly one job id, got 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runClient(t, false, append([]string{"cancel"}, tc.args...)...)
			if code != tc.code || out != tc.out || !strings.Contains(errOut, tc.stderr) {
				t.Fatalf("exit %d (want %d), stdout %q (want %q), stderr %q (want %q)", code, tc.code, out, tc.out, errOut, tc.stderr)
			}
		})
	}
	// The job is canceled now.
	if _, out, _ := runClient(t, false, "list", "--all", "--jobmanager", jm.srv.URL); !regexp.MustCompile(running + ` +wordcount +CANCELED`).MatchString(out) {
		t.Fatalf("after cancel:\n%s", out)
	}
}

func TestClientInfo(t *testing.T) {
	jm := newFakeJM(t)
	id := strings.Repeat("d", 32)
	start := time.Now().Add(-time.Minute).UnixMilli()
	jm.addJob(id, "currency", "RUNNING", start)

	code, out, errOut := runClient(t, false, "info", "--jobmanager", jm.srv.URL, id)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^Job: +` + id + `$`),
		regexp.MustCompile(`(?m)^Name: +currency$`),
		regexp.MustCompile(`(?m)^State: +RUNNING$`),
		regexp.MustCompile(`(?m)^Started: +` + regexp.QuoteMeta(localTime(start)) + `$`),
		regexp.MustCompile(`(?m)^Ended: +-$`),
		regexp.MustCompile(`(?m)^Duration: +1.5s$`),
		regexp.MustCompile(`(?m)^VERTEX +PARALLELISM +STATUS +RECORDS IN +RECORDS OUT +BUSY ms/s +BACKPRESSURED ms/s$`),
		regexp.MustCompile(`(?m)^Source: file +1 +RUNNING +0 +1000 +250 +50$`),
		regexp.MustCompile(`(?m)^Map: to_eur -> Sink: file +2 +RUNNING +1000 +998 +250 +50$`),
	} {
		if !want.MatchString(out) {
			t.Fatalf("output lacks %v:\n%s", want, out)
		}
	}

	code, out, _ = runClient(t, false, "info", "--json", id, "--jobmanager", jm.srv.URL)
	var doc map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || doc["jid"] != id || doc["plan"] == nil || !strings.HasSuffix(out, "}\n") {
		t.Fatalf("--json: exit %d, output %q", code, out)
	}

	unknown := strings.Repeat("e", 32)
	code, _, errOut = runClient(t, false, "info", "--jobmanager", jm.srv.URL, unknown)
	if want := "weir info: job " + unknown + ": 404 Not Found: job " + unknown + " not found\n"; code != 1 || errOut != want {
		t.Fatalf("unknown job: exit %d, stderr %q, want %q", code, errOut, want)
	}
}

// savepointCase is a case of TestClientSavepoint and TestClientStop. In
// args and stderr, JOBID_UPPER and JOBID stand for the case's job id.
type savepointCase struct {
	name   string
	state  string   // of the job: "" RUNNING, "-" no such job
	args   []string // after --jobmanager
	polls  int      // IN_PROGRESS answers before the savepoint completes (<0: never)
	fail   string   // the savepoint's failure cause
	flaky  int      // 503 answers to the first status polls
	code   int
	body   string   // the trigger's body ("": no trigger is sent)
	dir    string   // on success: the savepoint's directory
	stderr []string // substrings of stderr, in order
	after  string   // the job's state afterwards ("": not checked)
}

// runSavepointCases runs weir VERB for each case against a fake with one
// job per case.
func runSavepointCases(t *testing.T, verb, endpoint string, cases []savepointCase) {
	jm := newFakeJM(t)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("%032x", 0xa1+i)
			if tc.state != "-" {
				jm.addJob(id, "exactlyonce", cmp.Or(tc.state, "RUNNING"), time.Now().UnixMilli())
			}
			jm.mu.Lock()
			jm.spPolls, jm.spFailure, jm.spFlaky = tc.polls, tc.fail, tc.flaky
			triggers := len(jm.spBodies)
			jm.mu.Unlock()
			ids := strings.NewReplacer("JOBID_UPPER", strings.ToUpper(id), "JOBID", id)
			args := []string{verb, "--jobmanager", jm.srv.URL}
			for _, a := range tc.args {
				args = append(args, ids.Replace(a))
			}
			code, out, errOut := runClient(t, false, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q, stderr:\n%s", code, tc.code, out, errOut)
			}
			rest := errOut
			for _, w := range tc.stderr {
				w = ids.Replace(w)
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("stderr lacks %q (in order):\n%s", w, errOut)
				}
				rest = rest[i+len(w):]
			}
			if tc.code == 0 {
				want := regexp.MustCompile(`^Savepoint completed\. Path: ` + regexp.QuoteMeta(tc.dir+"/savepoint-"+id[:6]+"-") + `[0-9a-f]{12}\n$`)
				if !want.MatchString(out) {
					t.Fatalf("stdout %q does not match %v", out, want)
				}
			} else if out != "" {
				t.Fatalf("stdout %q on failure", out)
			}
			jm.mu.Lock()
			defer jm.mu.Unlock()
			switch got := jm.spBodies[triggers:]; {
			case tc.body == "" && len(got) > 0:
				t.Fatalf("triggered %q", got)
			case tc.body != "" && (len(got) != 1 || got[0] != "POST /jobs/"+id+endpoint+" "+tc.body):
				t.Fatalf("triggered %q, want POST /jobs/%s%s %s", got, id, endpoint, tc.body)
			}
			if j := jm.jobs[id]; tc.after != "" && j.state() != tc.after {
				t.Fatalf("the job is %s afterwards, want %s", j.state(), tc.after)
			}
		})
	}
}

func TestClientSavepoint(t *testing.T) {
	runSavepointCases(t, "savepoint", "/savepoints", []savepointCase{
		{name: "completes", args: []string{"JOBID"}, polls: 3, body: `{"cancel-job":false}`, dir: "/data/savepoints",
			stderr: []string{"Triggering savepoint for job JOBID.\n"}, after: "RUNNING"},
		{name: "into a directory, flags after", args: []string{"JOBID", "/backups/sp", "--timeout", "1m"}, polls: 1,
			body: `{"target-directory":"/backups/sp","cancel-job":false}`, dir: "/backups/sp", after: "RUNNING"},
		{name: "cancel, upper-case id", args: []string{"--cancel", "JOBID_UPPER"}, body: `{"cancel-job":true}`, dir: "/data/savepoints", after: "CANCELED"},
		{name: "through a failover", args: []string{"JOBID"}, flaky: 2, body: `{"cancel-job":false}`, dir: "/data/savepoints",
			stderr: []string{"Triggering savepoint for job JOBID.\n", "the savepoint of job JOBID: 503 Service Unavailable: no leader yet (retrying for 30s)\n"}},
		{name: "failure cause", args: []string{"--cancel", "JOBID"}, polls: 1, fail: "checkpoint 3 expired before completing", code: 1,
			body: `{"cancel-job":true}`, after: "RUNNING",
			stderr: []string{"weir savepoint: the savepoint of job JOBID failed: checkpoint 3 expired before completing\n"}},
		{name: "failure stack trace", args: []string{"JOBID"}, fail: "task Map (1/2) failed\n\tat snapshot\n", code: 1, body: `{"cancel-job":false}`,
			stderr: []string{"weir savepoint: the savepoint of job JOBID failed:\n  task Map (1/2) failed\n  \tat snapshot\n"}},
		{name: "not running (409)", state: "CREATED", args: []string{"JOBID"}, code: 1, body: `{"cancel-job":false}`,
			stderr: []string{"weir savepoint: trigger a savepoint of job JOBID: 409 Conflict: jobmaster: the job is not running: it is CREATED\n"}},
		{name: "unknown job (404)", state: "-", args: []string{"JOBID", "/backups/sp"}, code: 1, body: `{"target-directory":"/backups/sp","cancel-job":false}`,
			stderr: []string{"weir savepoint: trigger a savepoint of job JOBID: 404 Not Found: job JOBID not found\n"}},
		{name: "timeout", args: []string{"--timeout", "100ms", "JOBID"}, polls: -1, code: 1, body: `{"cancel-job":false}`, after: "RUNNING",
			stderr: []string{"weir savepoint: the savepoint of job JOBID is still in progress after 100ms; it goes on (GET /jobs/JOBID/savepoints/"}},
		{name: "no job id", code: 2, stderr: []string{"weir savepoint: usage: want a job id and an optional directory, got 0 arguments\nusage: weir savepoint [--jobmanager URL]"}},
		{name: "not a job id", args: []string{"../stop"}, code: 2, stderr: []string{`usage: "../stop" is not a job id (32 hexadecimal characters)`}},
		{name: "three arguments", args: []string{"JOBID", "/a", "/b"}, code: 2, stderr: []string{"want a job id and an optional directory, got 3 arguments"}},
		{name: "empty directory", args: []string{"JOBID", " "}, code: 2, stderr: []string{"the directory is empty"}},
		{name: "negative timeout", args: []string{"--timeout", "-1s", "JOBID"}, code: 2, stderr: []string{"--timeout -1s is negative"}},
		{name: "unknown flag", args: []string{"--drain", "JOBID"}, code: 2, stderr: []string{"flag provided but not defined: -drain"}},
	})
}

func TestClientStop(t *testing.T) {
	runSavepointCases(t, "stop", "/stop", []savepointCase{
		{name: "completes", args: []string{"JOBID"}, polls: 3, body: `{"drain":false}`, dir: "/data/savepoints",
			stderr: []string{"Suspending job JOBID with a savepoint.\n"}, after: "FINISHED"},
		{name: "--savepoint and a directory", args: []string{"--savepoint", "JOBID", "/backups/sp"}, polls: 1,
			body: `{"targetDirectory":"/backups/sp","drain":false}`, dir: "/backups/sp", after: "FINISHED"},
		{name: "flags after, upper-case id", args: []string{"JOBID_UPPER", "/backups/sp", "--savepoint", "--timeout", "1m"},
			body: `{"targetDirectory":"/backups/sp","drain":false}`, dir: "/backups/sp", after: "FINISHED"},
		{name: "failure cause", args: []string{"JOBID"}, polls: 1, fail: "checkpoint 9 declined by Source: sequence (1/2)", code: 1, body: `{"drain":false}`,
			after: "CANCELED", stderr: []string{"weir stop: the savepoint of job JOBID failed: checkpoint 9 declined by Source: sequence (1/2)\n"}},
		{name: "ended (409)", state: "FINISHED", args: []string{"JOBID"}, code: 1, body: `{"drain":false}`,
			stderr: []string{"weir stop: stop job JOBID: 409 Conflict: jobmaster: the job is not running: it is FINISHED\n"}},
		{name: "unknown job (404)", state: "-", args: []string{"JOBID"}, code: 1, body: `{"drain":false}`,
			stderr: []string{"weir stop: stop job JOBID: 404 Not Found: job JOBID not found\n"}},
		{name: "timeout", args: []string{"--timeout", "100ms", "JOBID"}, polls: -1, code: 1, body: `{"drain":false}`, after: "RUNNING",
			stderr: []string{"weir stop: the savepoint of job JOBID is still in progress after 100ms; it goes on and the job stops when it completes (GET /jobs/JOBID/savepoints/"}},
		{name: "no job id", args: []string{"--savepoint"}, code: 2, stderr: []string{"weir stop: usage: want a job id and an optional directory, got 0 arguments\nusage: weir stop [--jobmanager URL]"}},
		{name: "savepoint takes no value", args: []string{"--savepoint", "/backups/sp", "JOBID"}, code: 2, stderr: []string{`"/backups/sp" is not a job id`}},
		{name: "without a savepoint", args: []string{"--savepoint=false", "JOBID"}, code: 2, stderr: []string{"weir stop always takes a savepoint; weir cancel stops a job without one"}},
		{name: "negative timeout", args: []string{"JOBID", "--timeout", "-1s"}, code: 2, stderr: []string{"--timeout -1s is negative"}},
	})
}

// TestClientSavepointOddAnswers checks the answers a JobManager should
// not give: they end the verb with an error, not a hang.
func TestClientSavepointOddAnswers(t *testing.T) {
	id := strings.Repeat("a", 32)
	for _, tc := range []struct {
		name, trigger, status, want string
	}{
		{"no request id", `{}`, ``, "weir savepoint: trigger a savepoint of job " + id + ": the JobManager at URL answered without a request id\n"},
		{"unknown status", `{"request-id":"t1"}`, `{"status":{"id":"PAUSED"}}`, `the JobManager at URL answered with the unknown status "PAUSED"`},
		{"completed without a location", `{"request-id":"t1"}`, `{"status":{"id":"COMPLETED"},"operation":{}}`, "answered COMPLETED without a location"},
		{"failure without a cause", `{"request-id":"t1"}`, `{"status":{"id":"COMPLETED"},"operation":{"failure-cause":{}}}`, "failed: no cause given\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if r.Method == http.MethodPost {
					w.WriteHeader(http.StatusAccepted)
					io.WriteString(w, tc.trigger)
					return
				}
				io.WriteString(w, tc.status)
			}))
			defer srv.Close()
			code, out, errOut := runClient(t, false, "savepoint", "--jobmanager", srv.URL, id)
			if want := strings.ReplaceAll(tc.want, "URL", srv.URL); code != 1 || out != "" || !strings.Contains(errOut, want) {
				t.Fatalf("exit %d, stdout %q, stderr %q, want %q", code, out, errOut, want)
			}
		})
	}
}

// TestClientConnectionRefused points every verb at a closed port.
func TestClientConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	id := strings.Repeat("f", 32)
	mod := writeModule(t, "job.wasm", 100)
	for _, args := range [][]string{
		{"run", "--jobmanager", addr, mod},
		{"list", "--jobmanager", addr},
		{"cancel", "--jobmanager", addr, id},
		{"info", "--jobmanager", addr, id},
		{"savepoint", "--jobmanager", addr, id},
		{"stop", "--jobmanager", addr, id},
	} {
		code, out, errOut := runClient(t, false, args...)
		want := "cannot reach the JobManager at http://" + addr + ": connection refused (is it running?"
		// The error is the last line; savepoint and stop announce the trigger before it.
		last := errOut[strings.LastIndex(strings.TrimSuffix(errOut, "\n"), "\n")+1:]
		if code != 1 || out != "" || !strings.Contains(last, want) || !strings.HasPrefix(last, "weir "+args[0]+": ") && args[0] != "run" {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q, want %q", args, code, out, errOut, want)
		}
	}
}

// TestClientErrorAnswers checks what the client makes of error answers,
// the JobManager's JSON and whatever else a proxy may send.
func TestClientErrorAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		ctype  string
		body   string
		want   string
	}{
		{"several messages", 400, "application/json", `{"errors":["first","second"]}`, "400 Bad Request: first; second"},
		{"internal", 500, "application/json", `{"errors":["job store unavailable"]}`, "500 Internal Server Error: job store unavailable"},
		{"proxy page", 502, "text/html", "<html>Bad Gateway</html>\n<body>…</body>", "502 Bad Gateway: <html>Bad Gateway</html>"},
		{"empty", 503, "text/plain", "", "503 Service Unavailable\n"},
		{"not json on success", 200, "text/plain", "hello", "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			code, _, errOut := runClient(t, false, "list", "--jobmanager", srv.URL)
			if code != 1 || !strings.Contains(errOut, "weir list: list jobs: ") || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, errOut, tc.want)
			}
		})
	}
}

func TestClientJobManagerAddress(t *testing.T) {
	for _, tc := range []struct {
		flag, env, want, err string
	}{
		{want: "http://127.0.0.1:8081"},
		{env: "jm.example:9000", want: "http://jm.example:9000"},
		{flag: "10.0.0.5:8081", env: "jm.example:9000", want: "http://10.0.0.5:8081"},
		{flag: "localhost:8081", want: "http://localhost:8081"},
		{flag: "https://jm.example/weir/", want: "https://jm.example/weir"},
		{flag: "[::1]:8081", want: "http://[::1]:8081"},
		{flag: " http://jm:1 ", want: "http://jm:1"},
		{flag: "ftp://jm", err: "the scheme must be http or https"},
		{flag: "http://", err: "has no host"},
		{flag: ":8081", err: "has no host"},
		{flag: "http://jm:1/?x=1", err: "want scheme://host:port[/path] only"},
		{flag: "http://user:pw@jm:1", err: "want scheme://host:port[/path] only"},
		{env: "ftp://jm", err: "$WEIR_JOBMANAGER"},
	} {
		got, err := jobManagerURL(tc.flag, tc.env)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "usage: ") {
				t.Errorf("%q, env %q: error %v, want %q", tc.flag, tc.env, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q, env %q: %q, %v; want %q", tc.flag, tc.env, got, err, tc.want)
		}
	}

	// The environment variable reaches the verbs.
	jm := newFakeJM(t)
	t.Setenv(jobManagerEnv, strings.TrimPrefix(jm.srv.URL, "http://"))
	if code, out, errOut := runClient(t, false, "list"); code != 0 || out != "No running jobs.\n" {
		t.Fatalf("list with $%s: exit %d, %q, %q", jobManagerEnv, code, out, errOut)
	}
}

func TestClientHelp(t *testing.T) {
	verbs := []string{"run", "list", "cancel", "info", "savepoint", "stop"}
	for _, verb := range verbs {
		code, out, errOut := runClient(t, false, verb, "-h")
		if code != 0 || out != "" || !strings.HasPrefix(errOut, "usage: weir "+verb+" ") || !strings.Contains(errOut, "-jobmanager") {
			t.Fatalf("%s -h: exit %d, stdout %q, stderr %q", verb, code, out, errOut)
		}
	}
	_, out, _ := runClient(t, false, "help")
	for _, verb := range verbs {
		if !strings.Contains(out, "  weir "+verb+" ") {
			t.Fatalf("usage lacks %s:\n%s", verb, out)
		}
	}
}
