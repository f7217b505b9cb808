package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// `weir bench nexmark` runs one Nexmark query of the nexmark example module
// (examples/nexmark) to the end and reports its throughput: events per
// second of wall time and per core used. See docs/nexmark.md.

const benchArgs = "nexmark --query qN [--events N] [-p P] [--json] [--jobmanager URL] [--module PATH] [--checkpoint-interval D] [--timeout D] [--warmup=false] [-- MODULE ARGS...]"

func benchCommand() command {
	return command{"bench", benchArgs,
		"run a Nexmark query with the blackhole sink on a local cluster in this process (or on --jobmanager's) and print events/s and events/s per core",
		runBench}
}

// benchConfig is what `weir bench nexmark` was asked to run.
type benchConfig struct {
	query              string
	events             int64
	parallelism        int
	json               bool
	jobManager         string
	module             string
	checkpointInterval time.Duration
	timeout            time.Duration
	warmup             bool
	moduleArgs         []string // after "--", passed to the module
}

// benchWarmupEvents is the size of the warm-up run, which fills the
// compilation caches before the measured run.
const benchWarmupEvents = 10_000

// parseBenchArgs reads the arguments of `weir bench`.
func parseBenchArgs(args []string, stderr io.Writer) (benchConfig, error) {
	var cfg benchConfig
	if len(args) == 0 || args[0] != "nexmark" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintf(stderr, "usage: weir bench %s\n", benchArgs)
			return cfg, flag.ErrHelp
		}
		return cfg, fmt.Errorf("%w: the benchmark to run comes first; the only one is nexmark", errUsage)
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&cfg.query, "query", "", "the Nexmark query: q0, q1, q2, q3, q4, q5, q7 or q8 (required)")
	fs.Int64Var(&cfg.events, "events", 10_000_000, "events the generator produces (persons, auctions and bids together)")
	fs.IntVar(&cfg.parallelism, "p", 1, "parallelism of the job; the local cluster gets that many slots")
	fs.BoolVar(&cfg.json, "json", false, "print one JSON object instead of a line of text")
	fs.StringVar(&cfg.jobManager, "jobmanager", "", "run on this JobManager (http://host:port) instead of a local cluster in this process")
	fs.StringVar(&cfg.module, "module", "", "the nexmark job module (default: examples/nexmark.wasm next to the weir binary, else bin/examples/nexmark.wasm)")
	fs.DurationVar(&cfg.checkpointInterval, "checkpoint-interval", time.Second, "checkpoint interval of the job (0 turns checkpoints off)")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Minute, "give up if the job has not finished after this long")
	fs.BoolVar(&cfg.warmup, "warmup", true, fmt.Sprintf("first run the query on %d events, not measured, to warm the compilation caches", benchWarmupEvents))
	own, moduleArgs := args[1:], []string{}
	if i := slices.Index(own, "--"); i >= 0 {
		own, moduleArgs = own[:i], own[i+1:]
	}
	if err := parseFlags(fs, benchArgs, own, stderr); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("%w: unexpected argument %q (module arguments follow --)", errUsage, fs.Arg(0))
	}
	cfg.moduleArgs = moduleArgs
	switch {
	case cfg.query == "":
		return cfg, fmt.Errorf("%w: --query is required", errUsage)
	case !queryName.MatchString(cfg.query):
		return cfg, fmt.Errorf("%w: --query %q: want q0, q1, ... (the module knows which it runs)", errUsage, cfg.query)
	case cfg.events < 1:
		return cfg, fmt.Errorf("%w: --events must be at least 1 (the benchmark runs a bounded stream)", errUsage)
	case cfg.parallelism < 1:
		return cfg, fmt.Errorf("%w: -p must be at least 1", errUsage)
	case cfg.checkpointInterval < 0 || cfg.checkpointInterval > 0 && cfg.checkpointInterval < 10*time.Millisecond:
		return cfg, fmt.Errorf("%w: --checkpoint-interval %v: want 0 (off) or at least 10ms", errUsage, cfg.checkpointInterval)
	case cfg.timeout <= 0:
		return cfg, fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	for _, a := range cfg.moduleArgs {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "query", "events", "parallelism", "output":
			return cfg, fmt.Errorf("%w: module argument %q: weir bench sets --%s itself", errUsage, a, name)
		}
	}
	return cfg, nil
}

// queryName is the form of a Nexmark query's name.
var queryName = regexp.MustCompile(`^q[0-9]+$`)

// findNexmarkModule returns the module to run: the flag's, else
// examples/nexmark.wasm next to the running binary (bin/weir →
// bin/examples/nexmark.wasm), else bin/examples/nexmark.wasm under the
// working directory.
func findNexmarkModule(flagValue, executable string) (string, error) {
	if flagValue != "" {
		if _, err := os.Stat(flagValue); err != nil {
			return "", fmt.Errorf("--module: %w", err)
		}
		return flagValue, nil
	}
	var tried []string
	if executable != "" {
		tried = append(tried, filepath.Join(filepath.Dir(executable), "examples", "nexmark.wasm"))
	}
	tried = append(tried, filepath.Join("bin", "examples", "nexmark.wasm"))
	for _, p := range tried {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("no nexmark module at %s: build it with `go tool task build:examples` or give --module", strings.Join(tried, " or "))
}

// benchResult is what `weir bench nexmark` reports.
type benchResult struct {
	Query       string `json:"query"`
	Events      int64  `json:"events"`
	Parallelism int    `json:"parallelism"`
	// Seconds is the job's run time as the JobManager measured it
	// (submitted to FINISHED).
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_sec"`
	// Cores is how many cores the job kept busy; CoresFrom says how it was
	// counted (see coresProcessCPU and coresTaskManagers).
	Cores               float64 `json:"cores"`
	CoresFrom           string  `json:"cores_from"`
	EventsPerSecPerCore float64 `json:"events_per_sec_per_core"`
	// CPUSeconds is the process's CPU time (user and system) during the
	// job, when the cluster runs in this process.
	CPUSeconds           float64 `json:"cpu_seconds,omitempty"`
	CheckpointIntervalMs int64   `json:"checkpoint_interval_ms"`
	CheckpointsCompleted int     `json:"checkpoints_completed"`
	JobID                string  `json:"job_id"`
}

// How benchResult.Cores is counted.
const (
	// coresProcessCPU: the cluster runs in this process, and cores is its
	// CPU time (getrusage, user + system) during the job divided by the
	// wall time of the same span.
	coresProcessCPU = "process-cpu"
	// coresTaskManagers: the cluster is elsewhere and its CPU time unknown;
	// cores is the number of CPU cores of the machines that ran the job's
	// subtasks (each machine, told apart by the host of its TaskManagers'
	// data addresses, counted once), an upper bound, so events/s per core
	// is a lower bound.
	coresTaskManagers = "taskmanager-cores"
)

// rate fills the figures derived from the measurements.
func (r *benchResult) rate() {
	if r.Seconds > 0 {
		r.EventsPerSec = float64(r.Events) / r.Seconds
	}
	if r.Cores > 0 {
		r.EventsPerSecPerCore = r.EventsPerSec / r.Cores
	}
}

func (r benchResult) write(w io.Writer, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	cp := "checkpoints off"
	if r.CheckpointIntervalMs > 0 {
		cp = fmt.Sprintf("%d checkpoints every %v", r.CheckpointsCompleted, time.Duration(r.CheckpointIntervalMs)*time.Millisecond)
	}
	how := "process CPU time"
	if r.CoresFrom == coresTaskManagers {
		how = "cores of the TaskManagers' machines, an upper bound"
	}
	_, err := fmt.Fprintf(w, "nexmark %s: %d events in %.2f s at parallelism %d: %s events/s, %.2f cores (%s), %s events/s per core; %s\n",
		r.Query, r.Events, r.Seconds, r.Parallelism, thousands(r.EventsPerSec), r.Cores, how, thousands(r.EventsPerSecPerCore), cp)
	return err
}

// thousands formats x rounded, with thin groups of three digits.
func thousands(x float64) string {
	s := strconv.FormatInt(int64(x+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func runBench(ctx context.Context, args []string, stdout io.Writer) error {
	cio := clientIOFrom(ctx)
	cfg, err := parseBenchArgs(args, cio.stderr)
	if err != nil {
		return err
	}
	exe, _ := os.Executable()
	module, err := findNexmarkModule(cfg.module, exe)
	if err != nil {
		return err
	}
	base := cfg.jobManager
	if base == "" {
		local, err := startBenchCluster(ctx, cfg.parallelism)
		if err != nil {
			return err
		}
		defer func() {
			if err := local.stop(); err != nil {
				fmt.Fprintf(cio.stderr, "weir bench: stopping the local cluster: %v\n", err)
			}
		}()
		base = local.rest
	}
	c, err := newRESTClient(endpoint{addr: base})
	if err != nil {
		return err
	}
	quiet := clientIO{stderr: io.Discard, redraw: time.Second, poll: 50 * time.Millisecond}
	up, err := c.upload(ctx, module, quiet)
	if err != nil {
		return fmt.Errorf("upload %s: %w", module, err)
	}
	if cfg.warmup {
		w := cfg
		w.events = min(cfg.events, benchWarmupEvents)
		if _, _, err := c.benchRun(ctx, up.ID, w, cio.stderr); err != nil {
			return fmt.Errorf("warm-up run: %w", err)
		}
	}
	before, err := processCPU()
	if err != nil {
		return err
	}
	start := time.Now()
	id, job, err := c.benchRun(ctx, up.ID, cfg, cio.stderr)
	if err != nil {
		return err
	}
	wall := time.Since(start)
	after, err := processCPU()
	if err != nil {
		return err
	}
	r := benchResult{Query: cfg.query, Events: cfg.events, Parallelism: cfg.parallelism, JobID: id,
		Seconds: float64(job.Duration) / 1e3, CheckpointIntervalMs: cfg.checkpointInterval.Milliseconds()}
	if r.Seconds <= 0 {
		r.Seconds = wall.Seconds()
	}
	if cfg.jobManager == "" {
		r.CoresFrom = coresProcessCPU
		r.CPUSeconds = (after - before).Seconds()
		r.Cores = r.CPUSeconds / wall.Seconds()
	} else {
		r.CoresFrom = coresTaskManagers
		if r.Cores, err = c.jobMachineCores(ctx, job); err != nil {
			return err
		}
	}
	var cps struct {
		Counts struct {
			Completed int `json:"completed"`
		} `json:"counts"`
	}
	if err := c.call(ctx, http.MethodGet, "/jobs/"+url.PathEscape(id)+"/checkpoints", nil, callTimeout, &cps); err != nil {
		return fmt.Errorf("job %s: checkpoints: %w", id, err)
	}
	r.CheckpointsCompleted = cps.Counts.Completed
	r.rate()
	return r.write(stdout, cfg.json)
}

// benchJob is the part of GET /jobs/:id that weir bench reads.
type benchJob struct {
	State    string `json:"state"`
	Duration int64  `json:"duration"`
	Vertices []struct {
		Subtasks []struct {
			TaskManagerID string `json:"taskmanager-id"`
		} `json:"subtasks"`
	} `json:"vertices"`
}

// benchRun runs the query on the stored module with the blackhole sink and
// waits until the job ends; an end other than FINISHED is an error, after
// the job's root exception went to stderr.
func (c *restClient) benchRun(ctx context.Context, module string, cfg benchConfig, stderr io.Writer) (string, benchJob, error) {
	args := append([]string{"--query", cfg.query, "--events", strconv.FormatInt(cfg.events, 10),
		"--parallelism", strconv.Itoa(cfg.parallelism)}, cfg.moduleArgs...)
	req := runRequest{Parallelism: cfg.parallelism, ProgramArgs: args,
		Config: map[string]string{"checkpoint.interval": cfg.checkpointInterval.String()}}
	body, err := json.Marshal(req)
	if err != nil {
		return "", benchJob{}, err
	}
	var ans struct {
		JobID string `json:"jobid"`
	}
	if err := c.call(ctx, http.MethodPost, "/wasm/"+url.PathEscape(module)+"/run", bytes.NewReader(body), submitTimeout, &ans); err != nil {
		return "", benchJob{}, fmt.Errorf("submit nexmark %s: %w", cfg.query, err)
	}
	id := ans.JobID
	deadline := time.NewTimer(cfg.timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var job benchJob
		if err := c.call(ctx, http.MethodGet, "/jobs/"+url.PathEscape(id), nil, callTimeout, &job); err != nil {
			return id, job, fmt.Errorf("job %s: %w", id, err)
		}
		switch job.State {
		case "FINISHED":
			return id, job, nil
		case "FAILED", "CANCELED":
			c.printExceptions(ctx, id, stderr)
			return id, job, fmt.Errorf("nexmark %s: job %s is %s", cfg.query, id, job.State)
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return id, job, fmt.Errorf("nexmark %s: job %s is still %s after %v (weir cancel %s stops it)", cfg.query, id, job.State, cfg.timeout, id)
		case <-ctx.Done():
			return id, job, ctx.Err()
		}
	}
}

// jobMachineCores counts the CPU cores of the machines that ran the job's
// subtasks (coresTaskManagers).
func (c *restClient) jobMachineCores(ctx context.Context, job benchJob) (float64, error) {
	var tms struct {
		TaskManagers []struct {
			ID          string `json:"id"`
			DataAddress string `json:"dataAddress"`
			Hardware    struct {
				CPUCores int `json:"cpuCores"`
			} `json:"hardware"`
		} `json:"taskmanagers"`
	}
	if err := c.call(ctx, http.MethodGet, "/taskmanagers", nil, callTimeout, &tms); err != nil {
		return 0, fmt.Errorf("taskmanagers: %w", err)
	}
	used := map[string]bool{}
	for _, v := range job.Vertices {
		for _, st := range v.Subtasks {
			used[st.TaskManagerID] = true
		}
	}
	machines := map[string]int{}
	for _, tm := range tms.TaskManagers {
		if !used[tm.ID] && len(used) > 0 {
			continue
		}
		host, _, err := net.SplitHostPort(tm.DataAddress)
		if err != nil {
			host = tm.DataAddress
		}
		machines[host] = max(machines[host], tm.Hardware.CPUCores)
	}
	total := 0
	for _, n := range machines {
		total += n
	}
	if total == 0 {
		return 0, errors.New("the TaskManagers that ran the job report no CPU cores")
	}
	return float64(total), nil
}

// processCPU returns the CPU time (user and system) this process has used.
func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// benchCluster is a `weir local` cluster run in this process.
type benchCluster struct {
	rest string
	stop func() error
}

// localRESTLine is how runLocal announces its REST address.
var localRESTLine = regexp.MustCompile(`Dashboard and REST API: (http://\S+)`)

// startBenchCluster runs `weir local` (runLocal: etcd, a JobManager and one
// TaskManager with a slot per subtask) in this process, on free ports and
// a temporary data directory, and returns its REST address once it serves.
// It logs errors only: a failed job is reported from its exceptions, and
// the cluster's warnings as it stops (the end of the last job not yet
// recorded, say) are of no interest to a benchmark.
func startBenchCluster(ctx context.Context, slots int) (*benchCluster, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &lineWatch{re: localRESTLine, found: make(chan string, 1)}
	done := make(chan error, 1)
	go func() {
		done <- runLocal(ctx, []string{"--rest-addr", "127.0.0.1:0", "--task-managers", "1",
			"--slots", strconv.Itoa(slots), "--log-level", "error"}, w)
	}()
	select {
	case rest := <-w.found:
		return &benchCluster{rest: rest, stop: func() error {
			cancel()
			return <-done
		}}, nil
	case err := <-done:
		cancel()
		if err == nil {
			err = errors.New("it stopped before serving")
		}
		return nil, fmt.Errorf("local cluster: %w", err)
	}
}

// lineWatch is an io.Writer that sends the first submatch of re found in
// the lines written to it.
type lineWatch struct {
	re    *regexp.Regexp
	found chan string
	mu    sync.Mutex
	buf   []byte
	sent  bool
}

func (l *lineWatch) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sent {
		return len(p), nil
	}
	l.buf = append(l.buf, p...)
	if m := l.re.FindSubmatch(l.buf); m != nil {
		l.sent = true
		l.found <- string(m[1])
		l.buf = nil
	}
	return len(p), nil
}
