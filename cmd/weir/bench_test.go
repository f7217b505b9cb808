package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseBenchArgs(t *testing.T) {
	tests := []struct {
		args []string
		want benchConfig
		err  string
	}{
		{args: []string{"nexmark", "--query", "q5"}, want: benchConfig{query: "q5", events: 10_000_000, parallelism: 1,
			checkpointInterval: time.Second, timeout: 30 * time.Minute, warmup: true, moduleArgs: []string{}}},
		{args: []string{"nexmark", "--query", "q1", "--events", "500", "-p", "2", "--json", "--jobmanager", "h:1",
			"--module", "m.wasm", "--checkpoint-interval", "0", "--timeout", "1m", "--warmup=false", "--", "--gen", "seed=3"},
			want: benchConfig{query: "q1", events: 500, parallelism: 2, json: true, jobManager: "h:1", module: "m.wasm",
				timeout: time.Minute, moduleArgs: []string{"--gen", "seed=3"}}},
		{args: nil, err: "the only one is nexmark"},
		{args: []string{"tpch"}, err: "the only one is nexmark"},
		{args: []string{"nexmark"}, err: "--query is required"},
		{args: []string{"nexmark", "--query", "5"}, err: `--query "5"`},
		{args: []string{"nexmark", "--query", "q1", "--events", "0"}, err: "--events must be at least 1"},
		{args: []string{"nexmark", "--query", "q1", "-p", "0"}, err: "-p must be at least 1"},
		{args: []string{"nexmark", "--query", "q1", "--checkpoint-interval", "5ms"}, err: "at least 10ms"},
		{args: []string{"nexmark", "--query", "q1", "--checkpoint-interval", "-1s"}, err: "--checkpoint-interval"},
		{args: []string{"nexmark", "--query", "q1", "--timeout", "0"}, err: "--timeout must be positive"},
		{args: []string{"nexmark", "--query", "q1", "stray"}, err: `unexpected argument "stray"`},
		{args: []string{"nexmark", "--query", "q1", "--", "--events=5"}, err: "weir bench sets --events itself"},
		{args: []string{"nexmark", "--query", "q1", "--", "-output", "/x"}, err: "weir bench sets --output itself"},
		{args: []string{"nexmark", "--nope"}, err: "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, err := parseBenchArgs(tt.args, io.Discard)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, errUsage) {
					t.Errorf("error %v, want a usage error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.moduleArgs == nil {
				got.moduleArgs = []string{}
			}
			if got.query != tt.want.query || got.events != tt.want.events || got.parallelism != tt.want.parallelism ||
				got.json != tt.want.json || got.jobManager != tt.want.jobManager || got.module != tt.want.module ||
				got.checkpointInterval != tt.want.checkpointInterval || got.timeout != tt.want.timeout ||
				got.warmup != tt.want.warmup || !slices.Equal(got.moduleArgs, tt.want.moduleArgs) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if _, err := parseBenchArgs([]string{"nexmark", "-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestFindNexmarkModule(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "bin", "weir")
	module := filepath.Join(dir, "bin", "examples", "nexmark.wasm")
	if err := os.MkdirAll(filepath.Dir(module), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := findNexmarkModule("", exe); err == nil || !strings.Contains(err.Error(), "build:examples") {
		t.Errorf("no module: %v", err)
	}
	if err := os.WriteFile(module, []byte("\x00asm"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := findNexmarkModule("", exe); err != nil || got != module {
		t.Errorf("next to the binary: %q, %v", got, err)
	}
	if got, err := findNexmarkModule(module, ""); err != nil || got != module {
		t.Errorf("--module: %q, %v", got, err)
	}
	if _, err := findNexmarkModule(filepath.Join(dir, "nope.wasm"), exe); err == nil || !strings.Contains(err.Error(), "--module") {
		t.Errorf("missing --module: %v", err)
	}
}

func TestBenchResult(t *testing.T) {
	r := benchResult{Query: "q5", Events: 3_000_000, Parallelism: 2, Seconds: 1.5, Cores: 1.6, CoresFrom: coresProcessCPU,
		CPUSeconds: 2.4, CheckpointIntervalMs: 1000, CheckpointsCompleted: 2, JobID: "abc"}
	r.rate()
	if r.EventsPerSec != 2_000_000 || r.EventsPerSecPerCore != 1_250_000 {
		t.Fatalf("rates %v, %v", r.EventsPerSec, r.EventsPerSecPerCore)
	}
	var text strings.Builder
	if err := r.write(&text, false); err != nil {
		t.Fatal(err)
	}
	want := "nexmark q5: 3000000 events in 1.50 s at parallelism 2: 2,000,000 events/s, 1.60 cores (process CPU time), 1,250,000 events/s per core; 2 checkpoints every 1s\n"
	if text.String() != want {
		t.Errorf("text:\n got %q\nwant %q", text.String(), want)
	}
	var js strings.Builder
	if err := r.write(&js, true); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(js.String()), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"query": "q5", "events": 3e6, "parallelism": 2.0, "seconds": 1.5, "events_per_sec": 2e6,
		"cores": 1.6, "events_per_sec_per_core": 1.25e6, "cores_from": "process-cpu", "cpu_seconds": 2.4,
		"checkpoint_interval_ms": 1000.0, "checkpoints_completed": 2.0, "job_id": "abc"} {
		if m[k] != v {
			t.Errorf("JSON %s = %v, want %v", k, m[k], v)
		}
	}

	remote := benchResult{Query: "q0", Events: 10, Parallelism: 1, Seconds: 2, Cores: 8, CoresFrom: coresTaskManagers}
	remote.rate()
	text.Reset()
	if err := remote.write(&text, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "5 events/s, 8.00 cores (cores of the TaskManagers' machines, an upper bound), 1 events/s per core; checkpoints off") {
		t.Errorf("remote text %q", text.String())
	}
	js.Reset()
	_ = remote.write(&js, true)
	if strings.Contains(js.String(), "cpu_seconds") {
		t.Errorf("remote JSON has cpu_seconds: %s", js.String())
	}
}

func TestThousands(t *testing.T) {
	for x, want := range map[float64]string{0: "0", 999.4: "999", 999.5: "1,000", 1234567: "1,234,567", 100000: "100,000"} {
		if got := thousands(x); got != want {
			t.Errorf("thousands(%v) = %q, want %q", x, got, want)
		}
	}
}

func TestLineWatch(t *testing.T) {
	w := &lineWatch{re: localRESTLine, found: make(chan string, 1)}
	for _, s := range []string{"Weir local cluster: 1 TaskManager(s).\nDashboard and RE", "ST API: http://127.0.0.1:4242\n", "Dashboard and REST API: http://x\n"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	select {
	case got := <-w.found:
		if got != "http://127.0.0.1:4242" {
			t.Errorf("found %q", got)
		}
	default:
		t.Fatal("the address was not found")
	}
	if len(w.found) != 0 {
		t.Error("found twice")
	}
	if !queryName.MatchString("q12") || queryName.MatchString("q") || queryName.MatchString("Q1") {
		t.Error("queryName")
	}
}

func TestJobMachineCores(t *testing.T) {
	tms := `{"taskmanagers":[
	  {"id":"a","dataAddress":"10.0.0.1:6000","hardware":{"cpuCores":8}},
	  {"id":"b","dataAddress":"10.0.0.1:6001","hardware":{"cpuCores":8}},
	  {"id":"c","dataAddress":"10.0.0.2:6000","hardware":{"cpuCores":4}},
	  {"id":"d","dataAddress":"10.0.0.3:6000","hardware":{"cpuCores":16}}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/taskmanagers" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, tms)
	}))
	defer srv.Close()
	c, err := newRESTClient(endpoint{addr: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	job := func(ids ...string) benchJob {
		var j benchJob
		j.Vertices = make([]struct {
			Subtasks []struct {
				TaskManagerID string `json:"taskmanager-id"`
			} `json:"subtasks"`
		}, 1)
		for _, id := range ids {
			j.Vertices[0].Subtasks = append(j.Vertices[0].Subtasks, struct {
				TaskManagerID string `json:"taskmanager-id"`
			}{id})
		}
		return j
	}
	for _, tc := range []struct {
		ids  []string
		want float64
	}{
		{[]string{"a", "b", "a"}, 8}, // two TaskManagers on one machine
		{[]string{"a", "c"}, 12},
		{nil, 28}, // no subtask information: every machine
	} {
		got, err := c.jobMachineCores(context.Background(), job(tc.ids...))
		if err != nil || got != tc.want {
			t.Errorf("%v: %v, %v; want %v", tc.ids, got, err, tc.want)
		}
	}
	tms = `{"taskmanagers":[]}`
	if _, err := c.jobMachineCores(context.Background(), job("a")); err == nil {
		t.Error("no TaskManagers: no error")
	}
}
