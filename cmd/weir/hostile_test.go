package main

// The cluster-level hostile guest suite (issue 9): hostile modules are
// uploaded and run through REST on a cluster of real processes while a
// well-behaved job streams; each must be refused with a message that names
// the problem, and the JobManager, the TaskManagers and the good job must
// not notice.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirflow/weir/internal/guesttest"
	"github.com/weirflow/weir/wasm"
)

// The TaskManagers' guest limits in the hostile suite: short and small, so
// that the loops and bombs are refused quickly.
const (
	hostileCallBudget  = 2 * time.Second
	hostileGuestMemory = 64 << 20
)

// hostileCluster is a cluster whose TaskManagers run with tmArgs, each in a
// working directory of its own (the hostile modules' plans write to the
// relative path "out"): ids and dirs are the TaskManagers' ids and working
// directories.
type hostileCluster struct {
	*cluster
	ids, dirs []string
}

func startHostileCluster(t *testing.T, tms, slots int, jmArgs, tmArgs []string) *hostileCluster {
	t.Helper()
	c := &hostileCluster{cluster: startCluster(t, 0, slots, jmArgs...)}
	for i := range tms {
		id, dir := fmt.Sprintf("hostile-tm-%d", i), t.TempDir()
		args := append([]string{"taskmanager", "--etcd-endpoints", c.etcd, "--slots", strconv.Itoa(slots),
			"--data-addr", "127.0.0.1:0", "--id", id}, tmArgs...)
		c.tms = append(c.tms, startProcIn(t, dir, c.bin, args...))
		c.ids, c.dirs = append(c.ids, id), append(c.dirs, dir)
	}
	waitFor(t, 30*time.Second, "the TaskManagers to register", func() bool { return c.registered(t) == tms })
	return c
}

// taskManagers returns the registered TaskManagers' ids (sorted) and their
// free slots.
func (c *hostileCluster) taskManagers(t *testing.T) ([]string, int) {
	t.Helper()
	var v struct {
		TaskManagers []struct {
			ID        string `json:"id"`
			FreeSlots int    `json:"freeSlots"`
		} `json:"taskmanagers"`
	}
	if st := c.get(t, "/taskmanagers", &v); st != http.StatusOK {
		t.Fatalf("GET /taskmanagers: %d", st)
	}
	var ids []string
	free := 0
	for _, tm := range v.TaskManagers {
		ids = append(ids, tm.ID)
		free += tm.FreeSlots
	}
	slices.Sort(ids)
	return ids, free
}

// post sends a JSON or multipart request and returns the status and body.
func post(t *testing.T, url, contentType string, body io.Reader) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, contentType, body)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return resp.StatusCode, b
}

// refusal checks a 4xx answer with a JSON {"errors": [...]} body whose
// messages contain every want.
func refusal(t *testing.T, what string, status int, body []byte, want []string) {
	t.Helper()
	var e struct{ Errors []string }
	if status < 400 || status >= 500 || json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 {
		t.Fatalf("%s: answered %d %s, want a 4xx with {\"errors\": [...]}", what, status, body)
	}
	msg := strings.Join(e.Errors, "\n")
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("%s: the refusal %q does not say %q", what, msg, w)
		}
	}
	t.Logf("%s refused (%d): %s", what, status, msg)
}

// jobProgress is a streaming job's record counters: rows its source wrote and
// rows its sink read.
type jobProgress struct{ source, sink int64 }

func (c *hostileCluster) progress(t *testing.T, id string) (string, jobProgress) {
	t.Helper()
	var j struct {
		State    string `json:"state"`
		Vertices []struct {
			Metrics struct {
				ReadRecords  int64 `json:"read-records"`
				WriteRecords int64 `json:"write-records"`
			} `json:"metrics"`
		} `json:"vertices"`
	}
	if st := c.get(t, "/jobs/"+id, &j); st != http.StatusOK {
		t.Fatalf("GET /jobs/%s: %d", id, st)
	}
	if len(j.Vertices) == 0 {
		return j.State, jobProgress{}
	}
	return j.State, jobProgress{source: j.Vertices[0].Metrics.WriteRecords, sink: j.Vertices[len(j.Vertices)-1].Metrics.ReadRecords}
}

// checkSurvived checks, after a hostile job, that every process is alive,
// the same TaskManagers are registered, the hostile job's slot is free
// again (only the good job's are taken), and the good job is RUNNING with
// its counters still increasing past *last.
func (c *hostileCluster) checkSurvived(t *testing.T, good string, free int, last *jobProgress) {
	t.Helper()
	for i, p := range append([]*proc{c.jm}, c.tms...) {
		if !p.alive() {
			t.Fatalf("process %d (%s) exited:\n%s", i, p.name, tail(p.output(), 40))
		}
	}
	waitFor(t, 20*time.Second, "the hostile job's slots to be free", func() bool {
		ids, n := c.taskManagers(t)
		if !slices.Equal(ids, c.ids) {
			t.Fatalf("registered TaskManagers %v, want %v", ids, c.ids)
		}
		return n == free
	})
	waitFor(t, 20*time.Second, "the good job to make progress", func() bool {
		st, p := c.progress(t, good)
		if st != "RUNNING" {
			t.Fatalf("the good job is %s", st)
		}
		if p.source > last.source && p.sink > last.sink {
			*last = p
			return true
		}
		return false
	})
}

// finishedOutput reads the y column of the rows the file sink of job wrote
// into the TaskManagers' "out" directories.
func (c *hostileCluster) finishedOutput(t *testing.T, job string) []int64 {
	t.Helper()
	var ys []int64
	for _, dir := range c.dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "out", "part-"+job+"-*"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(bytes.NewReader(data))
			for sc.Scan() {
				var row struct{ Y *int64 }
				if err := json.Unmarshal(sc.Bytes(), &row); err != nil || row.Y == nil {
					t.Fatalf("%s: row %q", f, sc.Text())
				}
				ys = append(ys, *row.Y)
			}
		}
	}
	return ys
}

// TestHostileGuests runs the hostile modules of wasm/testdata/hostile as
// jobs (source sequence → the hostile map → file sink) on a cluster of two
// TaskManagers with a 2 s call budget and 64 MiB of guest memory (and a
// JobManager reading plans with a 1 s budget), one at a time, while
// examples/stream runs unbounded on both TaskManagers. Each is refused: at upload or
// run with a 400 naming the problem, or the job FAILS (no restarts) with the
// limit's or guest's message as its root exception, or (the WASI file and
// socket probes) the sandbox refuses every call and the job FINISHES with
// the errno it saw. After each, every process is up, the same TaskManagers
// are registered, the slot is free again and the good job still makes
// progress; at the end a job on every remaining slot runs to completion.
func TestHostileGuests(t *testing.T) {
	start := time.Now()
	const tms, slotsPerTM = 2, 2
	slots := tms * slotsPerTM
	c := startHostileCluster(t, tms, slotsPerTM, []string{"--plan-call-budget", "1s"},
		[]string{"--call-budget", hostileCallBudget.String(), "--guest-memory-bytes", strconv.Itoa(hostileGuestMemory)})
	for i, p := range c.tms {
		// The flags reached the TaskManagers' wasm runtimes.
		for _, want := range []string{"guest_memory=67108864", "call_budget=2s", "guest_output=1048576"} {
			if !strings.Contains(p.output(), want) {
				t.Errorf("TaskManager %d does not log %s:\n%s", i, want, tail(p.output(), 20))
			}
		}
	}

	stream := c.upload(t, exampleModule(t, "./stream"))
	// The good job's two slots are spread over both TaskManagers: every
	// hostile job runs next to one of its tasks.
	const goodSlots = 2
	good := c.submit(t, stream, fmt.Sprintf(`{"parallelism":%d,"programArgs":["--count","0","--source-rate","2000"]}`, goodSlots))
	var last jobProgress
	waitFor(t, time.Minute, "the good job to stream", func() bool {
		st, p := c.progress(t, good)
		last = p
		return st == "RUNNING" && p.source > 0 && p.sink > 0
	})
	goodTMs := map[string]bool{}
	for _, v := range c.job(t, good).Vertices {
		for _, st := range v.Subtasks {
			goodTMs[st.TaskManagerID] = true
		}
	}
	if len(goodTMs) != tms {
		t.Fatalf("the good job runs on %v, want every TaskManager", goodTMs)
	}
	t.Logf("cluster and good job up after %s", time.Since(start).Round(time.Millisecond))

	root := guesttest.RepoRoot(t)
	type outcome int
	const (
		refusedUpload outcome = iota // POST /wasm/upload answers 400
		refusedRun                   // POST /wasm/:id/run answers 400
		failed                       // the job FAILS; want in its root exception
		sandboxed                    // the job FINISHES; every y is the errno
	)
	cases := []struct {
		module string
		how    outcome
		want   []string // in the refusal or the root exception
		logs   string   // failed: in the guest logs of the exception history
		errno  int64    // sandboxed: the y the guest reports
	}{
		{"infinite_loop", failed, []string{"weir_map (hostile): wasm: exceeded time budget of 2s"}, "", 0},
		{"memory_creep", failed, []string{"weir_map (hostile): wasm: memory limit exceeded: memory.grow past the limit of 64 MiB was refused"}, "", 0},
		{"memory_bomb", failed, []string{"weir_map (hostile): wasm: memory limit exceeded: memory.grow past the limit of 64 MiB was refused"}, "", 0},
		{"recursion", failed, []string{"weir_map (hostile): wasm: guest trapped: call stack exhausted", "stack overflow"}, "", 0},
		{"stdout_flood", failed, []string{"weir_map (hostile): wasm: output flood: more than 1048576 bytes of output in one call"}, "flood flood", 0},
		{"proc_exit", failed, []string{"weir_map (hostile): wasm: guest exited with code 3: fatal: giving up"}, "fatal: giving up", 0},
		{"unknown_import", refusedUpload, []string{"not a valid Weir module", "import not allowed: env.system"}, "", 0},
		{"wasi_fs", sandboxed, nil, "", 0},   // path_open refused: no file opened
		{"wasi_sock", sandboxed, nil, "", 8}, // every sock_* call refused with EBADF
		{"oob_pointer", failed, []string{"weir_map (hostile): wasm: invalid guest output", "[0xffffff00, +60) is outside memory"}, "", 0},
		{"lying_lengths", failed, []string{"weir_map (hostile): wasm: invalid guest output", "+8589934592) is outside memory"}, "", 0},
		{"table_bomb", refusedUpload, []string{"not a valid Weir module", "the tables may hold 400000000 elements, over the limit of 1048576"}, "", 0},
		{"table_grow", failed, []string{"weir_map (hostile)", "table.grow refused"}, "", 0},
		{"plan_loop", refusedRun, []string{"reading the job's plan", "weir_plan: wasm: exceeded time budget of 1s"}, "", 0},
		{"plan_garbage", refusedRun, []string{"reading the job's plan", "invalid plan", "invalid character '<'"}, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.module, func(t *testing.T) {
			began := time.Now()
			bin, err := os.ReadFile(filepath.Join(root, "wasm", "testdata", "hostile", tc.module+".wasm"))
			if err != nil {
				t.Fatal(err)
			}
			st, body := c.uploadBytes(t, tc.module+".wasm", bin)
			if tc.how == refusedUpload {
				refusal(t, "upload", st, body, tc.want)
				c.checkSurvived(t, good, slots-goodSlots, &last)
				return
			}
			var up struct{ ID string }
			if err := json.Unmarshal(body, &up); err != nil || st != http.StatusOK {
				t.Fatalf("upload: %d %s", st, body)
			}
			st, body = post(t, c.rest+"/wasm/"+up.ID+"/run", "application/json",
				strings.NewReader(`{"parallelism":1,"config":{"restart-strategy.type":"none"}}`))
			if tc.how == refusedRun {
				refusal(t, "run", st, body, tc.want)
				c.checkSurvived(t, good, slots-goodSlots, &last)
				return
			}
			var run struct{ JobID string }
			if err := json.Unmarshal(body, &run); err != nil || st != http.StatusOK {
				t.Fatalf("run: %d %s", st, body)
			}
			var state string
			waitFor(t, 30*time.Second, "the hostile job to end", func() bool {
				state = c.job(t, run.JobID).State
				return state == "FAILED" || state == "FINISHED" || state == "CANCELED"
			})
			var ex struct {
				Root    *string `json:"root-exception"`
				History struct {
					Entries []struct {
						TaskManagerID string   `json:"taskManagerId"`
						GuestLogs     []string `json:"guestLogs"`
					} `json:"entries"`
				} `json:"exceptionHistory"`
			}
			if st := c.get(t, "/jobs/"+run.JobID+"/exceptions", &ex); st != http.StatusOK {
				t.Fatalf("GET exceptions: %d", st)
			}
			switch tc.how {
			case failed:
				if state != "FAILED" || ex.Root == nil {
					t.Fatalf("the job is %s with root exception %v, want FAILED", state, ex.Root)
				}
				for _, w := range tc.want {
					if !strings.Contains(*ex.Root, w) {
						t.Errorf("the root exception %q does not say %q", *ex.Root, w)
					}
				}
				if len(ex.History.Entries) != 1 {
					t.Fatalf("%d exceptions in the history, want 1 (no restarts)", len(ex.History.Entries))
				}
				if logs := ex.History.Entries[0].GuestLogs; tc.logs != "" && (len(logs) == 0 || len(logs) > wasm.DefaultLogLines || !strings.Contains(strings.Join(logs, "\n"), tc.logs)) {
					t.Errorf("%d guest log lines, want 1..%d with %q: %q", len(logs), wasm.DefaultLogLines, tc.logs, logs)
				}
				if tm := ex.History.Entries[0].TaskManagerID; !goodTMs[tm] {
					t.Errorf("the hostile job failed on %q, want one of the good job's TaskManagers %v", tm, goodTMs)
				}
				t.Logf("FAILED after %s on %s: %s", time.Since(began).Round(time.Millisecond), ex.History.Entries[0].TaskManagerID, *ex.Root)
			case sandboxed:
				if state != "FINISHED" {
					root := "none"
					if ex.Root != nil {
						root = *ex.Root
					}
					t.Fatalf("the job is %s (root exception: %s), want FINISHED: the sandbox let the guest through", state, root)
				}
				ys := c.finishedOutput(t, run.JobID)
				if len(ys) != 1000 {
					t.Errorf("%d output rows, want the sequence's 1000", len(ys))
				}
				for i, y := range ys {
					if y != tc.errno {
						t.Fatalf("row %d: y = %d, want %d", i, y, tc.errno)
					}
				}
				t.Logf("FINISHED after %s: %d rows, y = %d in each", time.Since(began).Round(time.Millisecond), len(ys), tc.errno)
			}
			c.checkSurvived(t, good, slots-goodSlots, &last)
		})
	}

	// Every slot but the good job's is free: a job on all of them finishes.
	runFinished(t, c.cluster, stream, slots-goodSlots, "--count", "1000")
	if _, stderr, err := c.weir(t, "cancel", good); err != nil {
		t.Fatalf("cancel the good job: %v\n%s", err, stderr)
	}
	waitFor(t, 30*time.Second, "the good job to be canceled", func() bool { return c.job(t, good).State == "CANCELED" })
	t.Logf("good job: %d rows from the source, %d into the sink; suite took %s", last.source, last.sink, time.Since(start).Round(time.Millisecond))
}
