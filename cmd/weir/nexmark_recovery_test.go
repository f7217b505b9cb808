package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirflow/weir/internal/nexmark"
	"github.com/weirflow/weir/internal/nexmark/reference"
)

// Event time across failures: Nexmark queries with open windows, joins and
// timers are killed or stopped in the middle and must still give exactly
// the rows of a run without failure (package reference).

const (
	recoveryEvents     = 60_000
	recoveryTPS        = 500 // 120 s of event time: many windows open at any moment
	recoveryOutOfOrder = 250
	recoveryRate       = 4000 // events/s of the stream: about 15 s of wall time
)

func recoveryArgs(q, out string) []string {
	return []string{"--query", q, "--events", strconv.Itoa(recoveryEvents), "--tps", strconv.Itoa(recoveryTPS),
		"--gen", "outOfOrderGroupSize=" + strconv.Itoa(recoveryOutOfOrder), "--rate", strconv.Itoa(recoveryRate), "--output", out}
}

// checkNexmark compares the committed output of query q with the reference.
func checkNexmark(t *testing.T, q, out string) {
	t.Helper()
	cfg := nexmark.DefaultConfig()
	cfg.NumEvents, cfg.FirstEventRate, cfg.OutOfOrderGroupSize = recoveryEvents, recoveryTPS, recoveryOutOfOrder
	stream, err := reference.Events(cfg, recoveryEvents)
	if err != nil {
		t.Fatal(err)
	}
	want, err := reference.Run(q, stream)
	if err != nil {
		t.Fatal(err)
	}
	rows := readNexmark(t, out, nexmarkColumns(nexmarkOutputs[q]))
	if q == "q4" {
		rows = lastPerCategory(rows)
	}
	got := nexmarkLines(rows)
	if len(got) != len(want) {
		t.Errorf("%s: %d rows, want %d", q, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("%s: first difference at sorted row %d:\n got %s\nwant %s", q, i, got[i], want[i])
		}
	}
	t.Logf("%s: %d rows as the reference", q, len(got))
}

// TestNexmarkKills kills a TaskManager (twice, time permitting) while
// windowed queries run
// with checkpoints every 200 ms: q5 (sliding windows, a second window, a
// window join), q4 (keyed timers in a guest process function, a rolling
// aggregate) and q8 (tumbling windows and a window join).
func TestNexmarkKills(t *testing.T) {
	wasm := exampleModule(t, "./nexmark")
	for _, q := range []string{"q5", "q4", "q8"} {
		t.Run(q, func(t *testing.T) {
			// Two slots per TaskManager: the job's two slots are on both, so
			// every kill hits it.
			c := startCluster(t, 2, 2)
			out := filepath.Join(t.TempDir(), "out")
			stdout, stderr, err := c.weir(t, append([]string{"run", "-p", "2", "-D", "checkpoint.interval=200ms",
				"-D", "restart-strategy.type=fixed-delay", "-D", "restart-strategy.fixed-delay.attempts=20",
				"-D", "restart-strategy.fixed-delay.delay=100ms", wasm, "--"}, recoveryArgs(q, out)...)...)
			if err != nil {
				t.Fatalf("weir run: %v\n%s", err, stderr)
			}
			id := strings.TrimSpace(stdout)
			completed := func() int { return c.checkpoints(t, id).Completed }
			// Every vertex shows its watermark while the job runs (the
			// event-time lag in the dashboard).
			waitFor(t, 60*time.Second, "watermarks on every vertex", func() bool {
				d := c.job(t, id)
				for _, v := range d.Vertices {
					if v.Metrics.Watermark == nil {
						if d.State != "RUNNING" && d.State != "CREATED" && d.State != "INITIALIZING" {
							t.Fatalf("job %s before every vertex showed a watermark", d.State)
						}
						return false
					}
				}
				return true
			})
			for kill := range 2 {
				before := completed()
				waitFor(t, 60*time.Second, "a checkpoint to complete", func() bool {
					return c.job(t, id).State != "RUNNING" || completed() > before
				})
				if c.job(t, id).State != "RUNNING" {
					break
				}
				c.killTaskManager(t, kill, 2)
			}
			c.waitFinished(t, id)
			// The second kill may come after the job's end on a slow machine;
			// the first must have restarted it.
			d := c.job(t, id)
			if d.Attempt < 1 {
				t.Errorf("attempt %d after the kills: they came too late", d.Attempt)
			}
			t.Logf("%s finished in attempt %d, %d checkpoints", q, d.Attempt, completed())
			checkNexmark(t, q, out)
		})
	}
}

// TestNexmarkStopAndRescale stops q8 and q5 with a savepoint at parallelism
// 2 in the middle of their windows and resumes them at parallelism 3: window
// and join state, watermarks and source positions are redistributed, and
// the two runs' output together is the reference's.
func TestNexmarkStopAndRescale(t *testing.T) {
	c := startCluster(t, 2, 4)
	wasm := exampleModule(t, "./nexmark")
	module := c.upload(t, wasm)
	for _, q := range []string{"q8", "q5"} {
		t.Run(q, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := recoveryArgs(q, out)
			stdout, stderr, err := c.weir(t, append([]string{"run", "-p", "2", "-D", "checkpoint.interval=300ms", wasm, "--"}, args...)...)
			if err != nil {
				t.Fatalf("weir run: %v\n%s", err, stderr)
			}
			id := strings.TrimSpace(stdout)
			waitFor(t, 60*time.Second, "a checkpoint while running", func() bool {
				return c.job(t, id).State == "RUNNING" && c.allRunning(t, id) && c.checkpoints(t, id).Completed > 2
			})
			location := stopWithSavepoint(t, c, id)
			waitFor(t, 60*time.Second, "the stopped job to finish", func() bool { return c.job(t, id).State == "FINISHED" })
			run := resume(t, c, module, 3, location, append(args[:len(args)-2:len(args)-2], "--parallelism", "3", "--output", out),
				map[string]string{"checkpoint.interval": "300ms"})
			waitFor(t, 2*time.Minute, "the resumed job to finish", func() bool {
				s := c.job(t, run).State
				if s == "FAILED" {
					t.Fatal("the resumed job failed")
				}
				return s == "FINISHED"
			})
			checkNexmark(t, q, out)
		})
	}
}

// stopWithSavepoint stops job id with a savepoint and returns its location.
func stopWithSavepoint(t *testing.T, c *cluster, id string) string {
	t.Helper()
	resp, err := http.Post(c.rest+"/jobs/"+id+"/stop", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	var trig struct {
		ID string `json:"request-id"`
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_ = json.Unmarshal(b, &trig)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("stop: %d %s", resp.StatusCode, b)
	}
	var sp struct {
		Status    struct{ ID string } `json:"status"`
		Operation struct {
			Location string `json:"location"`
		} `json:"operation"`
	}
	waitFor(t, 60*time.Second, "the savepoint", func() bool {
		c.get(t, "/jobs/"+id+"/savepoints/"+trig.ID, &sp)
		return sp.Status.ID == "COMPLETED"
	})
	if sp.Operation.Location == "" {
		t.Fatalf("savepoint failed: %+v", sp)
	}
	return sp.Operation.Location
}

// resume runs uploaded module id from a savepoint and returns the new job's
// id.
func resume(t *testing.T, c *cluster, module string, p int, savepoint string, args []string, config map[string]string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"parallelism": p, "savepointPath": savepoint, "programArgs": args, "config": config})
	resp, err := http.Post(c.rest+"/wasm/"+module+"/run", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var run struct{ JobID string }
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_ = json.Unmarshal(b, &run)
	if run.JobID == "" {
		t.Fatalf("resume: %d %s", resp.StatusCode, b)
	}
	return run.JobID
}
