package main

// weir drill: a failover drill on a cluster of real processes started from
// this binary (etcd, JobManagers, TaskManagers on loopback). It runs the
// exactly-once job, injects faults one at a time, measures how long the
// cluster takes to have a leader serving REST again and the job processing
// again, and at the end checks the job's committed output for lost and
// duplicated records.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Fault kinds.
const (
	faultKillLeader = "kill-leader"
	faultPause      = "pause-leader"
	faultKillTM     = "kill-taskmanager"
	faultResign     = "resign"
	faultPartition  = "partition-leader"
)

var allFaults = []string{faultKillLeader, faultPause, faultKillTM, faultResign, faultPartition}

// drillConfig configures a drill.
type drillConfig struct {
	Binary        string
	Module        string // the exactly-once job module
	Dir           string
	EtcdEndpoints []string
	JobManagers   int
	TaskManagers  int
	Slots         int
	Parallelism   int
	Faults        int
	Kinds         []string
	Seed          uint64
	Duration      time.Duration // how long the job runs without faults
	LeaseTTL      time.Duration
	Rate          int // records per second of the job
	Keys          int
	Log           io.Writer // progress lines
}

// faultResult is one injected fault in the report.
type faultResult struct {
	N      int    `json:"n"`
	Kind   string `json:"kind"`
	Target string `json:"target"`
	// At is when the fault was injected, in ms since the job started.
	At int64 `json:"atMs"`
	// NewLeaderMs is the time from the fault to a new leader serving REST
	// (-1 where the leader does not change).
	NewLeaderMs int64 `json:"newLeaderMs"`
	// ProcessingMs is the time from the fault to every task of the job
	// running again and the sink receiving records.
	ProcessingMs int64 `json:"processingMs"`
	Epoch        int64 `json:"epoch,omitempty"`
	// StaleSteppedDownMs (pause-leader) is the time from the resumption of
	// the paused leader to it standing by.
	StaleSteppedDownMs int64 `json:"staleSteppedDownMs,omitempty"`
	// CutOffSteppedDownMs (partition-leader) is the time from cutting the
	// leader off from etcd to it standing by: under the lease.
	CutOffSteppedDownMs int64  `json:"cutOffSteppedDownMs,omitempty"`
	Note                string `json:"note,omitempty"`
}

// drillReport is the drill's outcome.
type drillReport struct {
	Seed         uint64        `json:"seed"`
	JobManagers  int           `json:"jobManagers"`
	TaskManagers int           `json:"taskManagers"`
	LeaseTTLMs   int64         `json:"leaseTtlMs"`
	Faults       []faultResult `json:"faults"`
	// NewLeader and Processing summarise the faults' times (ms).
	NewLeader  percentiles `json:"newLeaderMs"`
	Processing percentiles `json:"processingMs"`
	Records    int64       `json:"records"`
	Expected   int64       `json:"expected"`
	Lost       int64       `json:"lost"`
	Duplicated int64       `json:"duplicated"`
	// StaleCallsRefused counts calls of deposed leaders the TaskManagers
	// refused (their logs).
	StaleCallsRefused int    `json:"staleCallsRefused"`
	Passed            bool   `json:"passed"`
	Failure           string `json:"failure,omitempty"`
	DurationMs        int64  `json:"durationMs"`
}

type percentiles struct {
	Count int   `json:"count"`
	P50   int64 `json:"p50"`
	P90   int64 `json:"p90"`
	Max   int64 `json:"max"`
}

// summarize returns the percentiles of the non-negative values (nearest
// rank).
func summarize(values []int64) percentiles {
	var v []int64
	for _, x := range values {
		if x >= 0 {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return percentiles{}
	}
	slices.Sort(v)
	rank := func(p float64) int64 {
		i := int(p*float64(len(v))+0.999999) - 1
		return v[min(max(i, 0), len(v)-1)]
	}
	return percentiles{Count: len(v), P50: rank(0.5), P90: rank(0.9), Max: v[len(v)-1]}
}

// schedule picks n fault kinds from kinds with the seed: every kind once
// before any repeats (so a short drill covers them all), in a shuffled
// order.
func schedule(n int, kinds []string, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var out []string
	for len(out) < n {
		round := slices.Clone(kinds)
		rng.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		out = append(out, round...)
	}
	return out[:n]
}

// dproc is a process of the drill's cluster, its output kept in a log file
// and in memory (for the lines the drill waits for).
type dproc struct {
	name string
	args []string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	log  *os.File
	done chan struct{}
}

// startDproc starts bin with args; its output goes to log (if not nil)
// and is kept for output().
func startDproc(name, bin string, log *os.File, args ...string) (*dproc, error) {
	return startDprocIn(name, "", bin, log, args...)
}

// startDprocIn is startDproc with the process's working directory set to
// dir ("": this process's).
func startDprocIn(name, dir, bin string, log *os.File, args ...string) (*dproc, error) {
	p := &dproc{name: name, args: args, cmd: exec.Command(bin, args...), log: log, done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		if log != nil {
			log.Close()
		}
		close(p.done)
	}()
	return p, nil
}

func (p *dproc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out.Len() > 8<<20 { // keep memory bounded; the file has it all
		p.out.Reset()
	}
	p.out.Write(b)
	if p.log == nil {
		return len(b), nil
	}
	return p.log.Write(b)
}

func (p *dproc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *dproc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *dproc) signal(s syscall.Signal) { _ = p.cmd.Process.Signal(s) }

func (p *dproc) kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// stop ends the process (SIGTERM, SIGKILL after 10 s).
func (p *dproc) stop() {
	if !p.alive() {
		return
	}
	p.signal(syscall.SIGCONT)
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.kill()
	}
}

// whenLine reports (once) when a line matching re appeared in the output,
// watching for up to a minute.
func (p *dproc) whenLine(ctx context.Context, re *regexp.Regexp) <-chan time.Time {
	ch := make(chan time.Time, 1)
	go func() {
		defer close(ch)
		if _, err := p.waitLine(ctx, re, time.Minute); err == nil {
			ch <- time.Now()
		}
	}()
	return ch
}

// waitLine waits for a line matching re in the process's output.
func (p *dproc) waitLine(ctx context.Context, re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(p.output()); m != nil {
			return m, nil
		}
		if !p.alive() {
			return nil, fmt.Errorf("%s exited: %s", p.name, tail(p.output(), 10))
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: no %q after %s", p.name, re, timeout)
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// drill is a running drill.
type drill struct {
	cfg   drillConfig
	ctx   context.Context
	http  *http.Client
	etcd  string
	jms   []*drillJM
	tms   []*dproc
	nTM   int
	procs []*dproc
	links []*etcdLink
	start time.Time
	// jobStart is when the job was submitted (faults' times count from it).
	jobStart time.Time
}

type drillJM struct {
	*dproc
	id, rest string
	paused   atomic.Bool // stopped, or cut off from etcd: it would not answer
	// etcd is the JobManager's way to etcd, which the drill can cut.
	etcd *etcdLink
}

// usable reports whether the JobManager can answer requests.
func (jm *drillJM) usable() bool { return jm.alive() && !jm.paused.Load() }

var (
	etcdLine    = regexp.MustCompile(`etcd serving: (\S+)`)
	servingLine = regexp.MustCompile(`JobManager (\S+) serving: REST (\S+),`)
)

func (d *drill) spawn(name string, args ...string) (*dproc, error) {
	f, err := os.OpenFile(filepath.Join(d.cfg.Dir, "logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	p, err := startDproc(name, d.cfg.Binary, f, args...)
	if err != nil {
		f.Close()
		return nil, err
	}
	d.procs = append(d.procs, p)
	return p, nil
}

func (d *drill) close() {
	defer func() {
		for _, l := range d.links {
			l.close()
		}
	}()
	var wg sync.WaitGroup
	for _, p := range d.procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
}

func (d *drill) progress(format string, args ...any) {
	if d.cfg.Log != nil {
		fmt.Fprintf(d.cfg.Log, "[%6.1fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
	}
}

// startJobManager starts (or restarts) JobManager i.
func (d *drill) startJobManager(i int) error {
	name := fmt.Sprintf("jm-%d", i)
	link, err := newEtcdLink(d.etcd)
	if err != nil {
		return err
	}
	d.links = append(d.links, link)
	p, err := d.spawn(name, "jobmanager", "--id", name, "--rest-addr", "127.0.0.1:0", "--rpc-addr", "127.0.0.1:0",
		"--data-dir", filepath.Join(d.cfg.Dir, name), "--storage-dir", filepath.Join(d.cfg.Dir, "storage"),
		"--etcd-endpoints", link.endpoints(), "--cluster-id", d.clusterID(), "--lease-ttl", d.cfg.LeaseTTL.String(),
		"--heartbeat-interval", "250ms", "--heartbeat-timeout", "3s")
	if err != nil {
		return err
	}
	m, err := p.waitLine(d.ctx, servingLine, time.Minute)
	if err != nil {
		return err
	}
	jm := &drillJM{dproc: p, id: m[1], rest: m[2], etcd: link}
	if i < len(d.jms) {
		d.jms[i] = jm
	} else {
		d.jms = append(d.jms, jm)
	}
	return nil
}

func (d *drill) startTaskManager() error {
	name := fmt.Sprintf("tm-%d", d.nTM)
	d.nTM++
	p, err := d.spawn(name, "taskmanager", "--id", name, "--etcd-endpoints", d.etcd, "--cluster-id", d.clusterID(),
		"--slots", strconv.Itoa(d.cfg.Slots), "--data-addr", "127.0.0.1:0", "--data-dir", filepath.Join(d.cfg.Dir, name))
	if err != nil {
		return err
	}
	d.tms = append(d.tms, p)
	return nil
}

func (d *drill) clusterID() string { return fmt.Sprintf("drill-%d", d.cfg.Seed) }

// leaderView is GET /cluster/leader.
type leaderView struct {
	Self   string `json:"self"`
	Leader *struct {
		ID    string `json:"id"`
		REST  string `json:"restAddress"`
		Epoch int64  `json:"epoch"`
	} `json:"leader"`
	Standbys []struct {
		ID string `json:"id"`
	} `json:"standbys"`
	History []struct {
		ID    string `json:"id"`
		Epoch int64  `json:"epoch"`
	} `json:"history"`
}

// checkHistory compares the cluster's failover history with the leaders
// the drill saw: each fault's new leader must be in it, newest first.
func (d *drill) checkHistory(rep *drillReport) string {
	l, _ := d.leader(nil)
	if l == nil {
		return "no leader to read the failover history from"
	}
	var v leaderView
	if d.getJSON(l.rest+"/cluster/leader", &v) != http.StatusOK {
		return "the failover history could not be read"
	}
	recorded := map[int64]string{}
	for i, h := range v.History {
		if i > 0 && h.Epoch >= v.History[i-1].Epoch {
			return fmt.Sprintf("the failover history is not newest first: epoch %d after %d", h.Epoch, v.History[i-1].Epoch)
		}
		recorded[h.Epoch] = h.ID
	}
	if len(v.History) == 0 {
		return "the failover history is empty"
	}
	oldest := v.History[len(v.History)-1].Epoch // older entries were pruned
	for _, f := range rep.Faults {
		if f.Epoch == 0 || f.Epoch < oldest {
			continue
		}
		if _, ok := recorded[f.Epoch]; !ok {
			return fmt.Sprintf("the failover history lacks the leadership of epoch %d (fault %d)", f.Epoch, f.N)
		}
	}
	return ""
}

// getJSON fetches url into v; it returns the status (0 on a transport
// error).
func (d *drill) getJSON(url string, v any) int {
	ctx, cancel := context.WithTimeout(d.ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := d.http.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode == http.StatusOK && v != nil {
		if json.Unmarshal(body, v) != nil {
			return 0
		}
	}
	return resp.StatusCode
}

// leader finds the leader by asking the usable JobManagers (not skip) at
// once and taking the first answer that names a usable one.
func (d *drill) leader(skip *drillJM) (*drillJM, int64) {
	type found struct {
		jm    *drillJM
		epoch int64
	}
	jms := slices.Clone(d.jms)
	answers := make(chan found, len(jms))
	asked := 0
	for _, jm := range jms {
		if jm == skip || !jm.usable() {
			continue
		}
		asked++
		go func() {
			var v leaderView
			if d.getJSON(jm.rest+"/cluster/leader", &v) == http.StatusOK && v.Leader != nil {
				for _, l := range jms {
					if l.id == v.Leader.ID && l.usable() {
						answers <- found{l, v.Leader.Epoch}
						return
					}
				}
			}
			answers <- found{}
		}()
	}
	for range asked {
		if f := <-answers; f.jm != nil {
			return f.jm, f.epoch
		}
	}
	return nil, 0
}

// drillJob is what the drill reads of the job.
type drillJob struct {
	State    string `json:"state"`
	Vertices []struct {
		Name     string `json:"name"`
		Subtasks []struct {
			Status  string `json:"status"`
			Attempt int    `json:"attempt"`
			TM      string `json:"taskmanager-id"`
			Metrics struct {
				ReadRecords int64 `json:"read-records"`
			} `json:"metrics"`
		} `json:"subtasks"`
	} `json:"vertices"`
}

// processing reports whether every task of the job runs in an attempt
// after minAttempt and the last vertex (the sink) has received records.
func (j drillJob) processing(minAttempt int) (bool, int) {
	if j.State != "RUNNING" || len(j.Vertices) == 0 {
		return false, -1
	}
	attempt := -1
	for _, v := range j.Vertices {
		for _, s := range v.Subtasks {
			if s.Status != "RUNNING" || s.Attempt <= minAttempt {
				return false, -1
			}
			attempt = s.Attempt
		}
	}
	var in int64
	for _, s := range j.Vertices[len(j.Vertices)-1].Subtasks {
		in += s.Metrics.ReadRecords
	}
	return in > 0, attempt
}

func (d *drill) job(via *drillJM, id string) (drillJob, bool) {
	var j drillJob
	if via == nil {
		return j, false
	}
	return j, d.getJSON(via.rest+"/jobs/"+id, &j) == http.StatusOK
}

// runDrill starts the cluster, runs the job through the faults and returns
// the report. The cluster is stopped before it returns.
func runDrill(ctx context.Context, cfg drillConfig) (*drillReport, error) {
	d := &drill{cfg: cfg, ctx: ctx, http: &http.Client{}, start: time.Now()}
	rep := &drillReport{Seed: cfg.Seed, JobManagers: cfg.JobManagers, TaskManagers: cfg.TaskManagers, LeaseTTLMs: cfg.LeaseTTL.Milliseconds(), Faults: []faultResult{}}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	defer d.close()
	if len(cfg.EtcdEndpoints) > 0 {
		d.etcd = strings.Join(cfg.EtcdEndpoints, ",")
	} else {
		p, err := d.spawn("etcd", "etcd", "--data-dir", filepath.Join(cfg.Dir, "etcd"), "--listen", "http://127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		m, err := p.waitLine(ctx, etcdLine, time.Minute)
		if err != nil {
			return nil, err
		}
		d.etcd = m[1]
	}
	d.progress("etcd at %s; starting %d JobManagers and %d TaskManagers (logs in %s)", d.etcd, cfg.JobManagers, cfg.TaskManagers, filepath.Join(cfg.Dir, "logs"))
	for i := range cfg.JobManagers {
		if err := d.startJobManager(i); err != nil {
			return nil, err
		}
	}
	for range cfg.TaskManagers {
		if err := d.startTaskManager(); err != nil {
			return nil, err
		}
	}
	lead, epoch := d.waitLeader(nil, 0, time.Minute)
	if lead == nil {
		return nil, errors.New("no JobManager leads after a minute")
	}
	d.progress("%s leads (epoch %d)", lead.id, epoch)

	id, total, err := d.submit(lead)
	if err != nil {
		return nil, err
	}
	d.jobStart = time.Now()
	d.progress("job %s submitted: %d keys × %d records at %d/s", id[:8], cfg.Keys, total/int64(cfg.Keys), cfg.Rate)
	attempt := -1
	if attempt, err = d.waitProcessing(id, attempt, 2*time.Minute); err != nil {
		return nil, fmt.Errorf("the job never ran: %w", err)
	}
	faults := schedule(cfg.Faults, cfg.Kinds, cfg.Seed)
	gap := cfg.Duration / time.Duration(cfg.Faults+1)
	for n, kind := range faults {
		if err := sleepCtx(ctx, max(gap/2, 500*time.Millisecond)); err != nil {
			return nil, err
		}
		d.waitCheckpoint(id)
		fr, next, err := d.inject(n+1, kind, id, attempt)
		rep.Faults = append(rep.Faults, fr)
		if err != nil {
			rep.Failure = err.Error()
			d.progress("fault %d (%s): %v", n+1, kind, err)
			return d.finish(rep, id, total, false)
		}
		attempt = next
		d.progress("fault %d: %s %s: new leader %s, processing again after %d ms%s", n+1, kind, fr.Target, msOrNA(fr.NewLeaderMs), fr.ProcessingMs, noteSuffix(fr.Note))
	}
	return d.finish(rep, id, total, true)
}

func msOrNA(ms int64) string {
	if ms < 0 {
		return "n/a"
	}
	return fmt.Sprintf("after %d ms", ms)
}

func noteSuffix(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// finish waits for the job to end, checks its output and completes the
// report.
func (d *drill) finish(rep *drillReport, id string, total int64, wait bool) (*drillReport, error) {
	var nl, pr []int64
	for _, f := range rep.Faults {
		nl = append(nl, f.NewLeaderMs)
		pr = append(pr, f.ProcessingMs)
	}
	rep.NewLeader, rep.Processing = summarize(nl), summarize(pr)
	if wait {
		d.progress("faults done; waiting for the job to finish")
		deadline := time.Now().Add(d.cfg.Duration*2 + 3*time.Minute)
		for {
			l, _ := d.leader(nil)
			j, ok := d.job(l, id)
			if ok && j.State == "FINISHED" {
				break
			}
			if ok && (j.State == "FAILED" || j.State == "CANCELED") {
				rep.Failure = "the job ended " + j.State
				break
			}
			if time.Now().After(deadline) {
				rep.Failure = "the job did not finish in time"
				break
			}
			if err := sleepCtx(d.ctx, 200*time.Millisecond); err != nil {
				return nil, err
			}
		}
	}
	vr, err := verifyDir(filepath.Join(d.cfg.Dir, "out"), d.cfg.Keys, int(total/int64(d.cfg.Keys)))
	if err != nil {
		return nil, err
	}
	rep.Records, rep.Expected, rep.Lost, rep.Duplicated = vr.Records, vr.Expected, vr.Lost, vr.Duplicated
	for _, tm := range d.tms {
		rep.StaleCallsRefused += strings.Count(tm.output(), "stale JobManager")
	}
	if why := d.checkHistory(rep); why != "" && rep.Failure == "" {
		rep.Failure = why
	}
	rep.DurationMs = time.Since(d.start).Milliseconds()
	rep.Passed = rep.Failure == "" && vr.OK
	if !vr.OK && rep.Failure == "" {
		rep.Failure = fmt.Sprintf("the output is not exactly once: %d lost, %d duplicated, %d count mismatches", vr.Lost, vr.Duplicated, vr.CountMismatches)
	}
	return rep, nil
}

// submit uploads the module and runs the exactly-once job.
func (d *drill) submit(via *drillJM) (string, int64, error) {
	cfg := d.cfg
	count := max(1, cfg.Rate*int(cfg.Duration/time.Second)/cfg.Keys)
	total := int64(count) * int64(cfg.Keys)
	data, err := os.ReadFile(cfg.Module)
	if err != nil {
		return "", 0, fmt.Errorf("the exactly-once job module: %w (go tool task build writes bin/examples/exactlyonce.wasm)", err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("wasmfile", filepath.Base(cfg.Module))
	_, _ = fw.Write(data)
	_ = mw.Close()
	var up struct {
		ID string `json:"id"`
	}
	if err := d.post(via.rest+"/wasm/upload", mw.FormDataContentType(), &body, &up); err != nil {
		return "", 0, fmt.Errorf("upload: %w", err)
	}
	run := map[string]any{
		"parallelism": cfg.Parallelism,
		"programArgs": []string{"--keys", strconv.Itoa(cfg.Keys), "--count", strconv.Itoa(count), "--rate", strconv.Itoa(cfg.Rate), "--output", filepath.Join(cfg.Dir, "out")},
		"config": map[string]string{
			"checkpoint.interval":                   "500ms",
			"restart-strategy.type":                 "fixed-delay",
			"restart-strategy.fixed-delay.attempts": "1000",
			"restart-strategy.fixed-delay.delay":    "100ms",
		},
	}
	b, _ := json.Marshal(run)
	var job struct {
		ID string `json:"jobid"`
	}
	if err := d.post(via.rest+"/wasm/"+up.ID+"/run", "application/json", bytes.NewReader(b), &job); err != nil {
		return "", 0, fmt.Errorf("run: %w", err)
	}
	return job.ID, total, nil
}

func (d *drill) post(url, ctype string, body io.Reader, out any) error {
	ctx, cancel := context.WithTimeout(d.ctx, time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	req.Header.Set("Content-Type", ctype)
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// waitLeader waits for a leader other than old with an epoch above
// minEpoch whose REST API serves; nil after timeout.
func (d *drill) waitLeader(old *drillJM, minEpoch int64, timeout time.Duration) (*drillJM, int64) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && d.ctx.Err() == nil {
		if l, e := d.leader(old); l != nil && l != old && e > minEpoch && d.getJSON(l.rest+"/overview", nil) == http.StatusOK {
			return l, e
		}
		_ = sleepCtx(d.ctx, 10*time.Millisecond)
	}
	return nil, 0
}

// waitProcessing waits until the job runs an attempt after minAttempt and
// records reach its sink; it returns that attempt.
func (d *drill) waitProcessing(id string, minAttempt int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		l, _ := d.leader(nil)
		j, ok := d.job(l, id)
		if ok {
			if ready, attempt := j.processing(minAttempt); ready {
				return attempt, nil
			}
			if j.State == "FAILED" || j.State == "CANCELED" || j.State == "FINISHED" {
				return 0, fmt.Errorf("the job is %s", j.State)
			}
		}
		if err := sleepCtx(d.ctx, 10*time.Millisecond); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("the job was not processing again within %s", timeout)
}

// waitCheckpoint waits (a few seconds at most) for a checkpoint to
// complete, so that each fault finds the job in its steady state.
func (d *drill) waitCheckpoint(id string) {
	var cp struct {
		Counts struct {
			Completed int `json:"completed"`
		} `json:"counts"`
	}
	l, _ := d.leader(nil)
	if l == nil || d.getJSON(l.rest+"/jobs/"+id+"/checkpoints", &cp) != http.StatusOK {
		return
	}
	before := cp.Counts.Completed
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if d.getJSON(l.rest+"/jobs/"+id+"/checkpoints", &cp) == http.StatusOK && cp.Counts.Completed > before {
			return
		}
		_ = sleepCtx(d.ctx, 50*time.Millisecond)
	}
}

// inject applies one fault and measures the recovery; it returns the
// job's new attempt.
func (d *drill) inject(n int, kind, job string, attempt int) (faultResult, int, error) {
	fr := faultResult{N: n, Kind: kind, NewLeaderMs: -1, ProcessingMs: -1}
	old, oldEpoch := d.leader(nil)
	if old == nil {
		return fr, attempt, errors.New("no leader before the fault")
	}
	idx := slices.Index(d.jms, old)
	var t0, resumed time.Time
	var stoodBy <-chan time.Time
	switch kind {
	case faultKillLeader:
		fr.Target = old.id
		t0 = time.Now()
		old.signal(syscall.SIGKILL)
	case faultPause:
		fr.Target = old.id
		t0 = time.Now()
		old.paused.Store(true)
		old.signal(syscall.SIGSTOP)
	case faultPartition:
		fr.Target = old.id
		t0 = time.Now()
		old.paused.Store(true) // its API cannot read the election
		old.etcd.cut(true)
		stoodBy = old.whenLine(d.ctx, regexp.MustCompile(fmt.Sprintf(`standing by \(epoch %d ended\)`, oldEpoch)))
	case faultResign:
		fr.Target = old.id
		t0 = time.Now()
		if err := d.post(old.rest+"/cluster/leader/resign", "application/json", nil, nil); err != nil {
			return fr, attempt, fmt.Errorf("resign: %w", err)
		}
	case faultKillTM:
		// A TaskManager that runs some of the job's tasks.
		j, _ := d.job(old, job)
		busy := map[string]bool{}
		for _, v := range j.Vertices {
			for _, s := range v.Subtasks {
				busy[s.TM] = true
			}
		}
		var live []*dproc
		for _, tm := range d.tms {
			if tm.alive() && busy[tm.name] {
				live = append(live, tm)
			}
		}
		if len(live) == 0 {
			return fr, attempt, errors.New("no TaskManager runs the job's tasks")
		}
		victim := live[(n*7+int(d.cfg.Seed))%len(live)]
		fr.Target = victim.name
		t0 = time.Now()
		victim.kill()
		// A replacement comes up at once, as under a supervisor.
		if err := d.startTaskManager(); err != nil {
			return fr, attempt, err
		}
	default:
		return fr, attempt, fmt.Errorf("unknown fault %q", kind)
	}
	fr.At = t0.Sub(d.jobStart).Milliseconds()
	if kind != faultKillTM {
		l, e := d.waitLeader(old, oldEpoch, 30*time.Second)
		if l == nil {
			return fr, attempt, fmt.Errorf("no new leader within 30 s of %s", kind)
		}
		fr.NewLeaderMs, fr.Epoch = time.Since(t0).Milliseconds(), e
	}
	next, err := d.waitProcessing(job, attempt, time.Minute)
	if err != nil {
		return fr, attempt, err
	}
	fr.ProcessingMs = time.Since(t0).Milliseconds()
	switch kind {
	case faultKillLeader:
		// The dead JobManager comes back as a standby.
		if err := d.startJobManager(idx); err != nil {
			return fr, next, err
		}
	case faultPause:
		// Resume the deposed leader past its lease: it must stand by.
		resumed = time.Now()
		old.signal(syscall.SIGCONT)
		old.paused.Store(false)
		standing := regexp.MustCompile(fmt.Sprintf(`standing by \(epoch %d ended\)`, oldEpoch))
		if _, err := old.waitLine(d.ctx, standing, 10*time.Second); err != nil {
			return fr, next, fmt.Errorf("the resumed leader did not step down: %w", err)
		}
		fr.StaleSteppedDownMs = time.Since(resumed).Milliseconds()
	case faultPartition:
		// Heal the partition: the cut-off leader must have stood by.
		old.etcd.cut(false)
		old.paused.Store(false)
		at, ok := <-stoodBy
		if !ok {
			return fr, next, errors.New("the leader cut off from etcd did not step down")
		}
		fr.CutOffSteppedDownMs = at.Sub(t0).Milliseconds()
		// It must stop before its lease ends, so before anyone else leads.
		if fr.CutOffSteppedDownMs >= fr.NewLeaderMs {
			return fr, next, fmt.Errorf("the leader cut off from etcd stood by %d ms after the cut, after the new leader (%d ms)", fr.CutOffSteppedDownMs, fr.NewLeaderMs)
		}
	}
	if kind != faultKillTM {
		if note := d.taskManagersKept(); note != "" {
			fr.Note = note
		}
	}
	return fr, next, nil
}

// taskManagersKept checks that every live TaskManager is registered with
// the new leader with all its slots; it returns what is wrong.
func (d *drill) taskManagersKept() string {
	l, _ := d.leader(nil)
	if l == nil {
		return "no leader to ask"
	}
	var v struct {
		TaskManagers []struct {
			ID    string `json:"id"`
			Slots int    `json:"slotsNumber"`
		} `json:"taskmanagers"`
	}
	live := 0
	for _, tm := range d.tms {
		if tm.alive() {
			live++
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if d.getJSON(l.rest+"/taskmanagers", &v) == http.StatusOK && len(v.TaskManagers) == live {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Sprintf("%d of %d TaskManagers registered with the new leader", len(v.TaskManagers), live)
		}
		_ = sleepCtx(d.ctx, 50*time.Millisecond)
	}
	for _, tm := range v.TaskManagers {
		if tm.Slots != d.cfg.Slots {
			return fmt.Sprintf("TaskManager %s registered %d slots, not %d", tm.ID, tm.Slots, d.cfg.Slots)
		}
	}
	return ""
}

func (r *drillReport) text(w io.Writer) {
	fmt.Fprintf(w, "Failover drill: %d JobManagers, %d TaskManagers, lease %s, seed %d\n\n", r.JobManagers, r.TaskManagers, time.Duration(r.LeaseTTLMs)*time.Millisecond, r.Seed)
	fmt.Fprintf(w, "%3s  %-17s %-8s %9s %12s %12s  %s\n", "#", "fault", "target", "at", "new leader", "processing", "note")
	for _, f := range r.Faults {
		nl := "-"
		if f.NewLeaderMs >= 0 {
			nl = fmt.Sprintf("%d ms", f.NewLeaderMs)
		}
		note := f.Note
		if f.StaleSteppedDownMs > 0 {
			note = strings.TrimSpace(fmt.Sprintf("stale leader stood by %d ms after resuming %s", f.StaleSteppedDownMs, note))
		}
		if f.CutOffSteppedDownMs > 0 {
			note = strings.TrimSpace(fmt.Sprintf("cut-off leader stood by %d ms after the cut %s", f.CutOffSteppedDownMs, note))
		}
		fmt.Fprintf(w, "%3d  %-17s %-8s %8.1fs %12s %9d ms  %s\n", f.N, f.Kind, f.Target, float64(f.At)/1000, nl, f.ProcessingMs, note)
	}
	fmt.Fprintf(w, "\nnew leader serving REST: p50 %d ms, p90 %d ms, max %d ms (%d faults)\n", r.NewLeader.P50, r.NewLeader.P90, r.NewLeader.Max, r.NewLeader.Count)
	fmt.Fprintf(w, "job processing again:    p50 %d ms, p90 %d ms, max %d ms (%d faults)\n", r.Processing.P50, r.Processing.P90, r.Processing.Max, r.Processing.Count)
	fmt.Fprintf(w, "records: %d of %d; lost %d, duplicated %d; stale calls refused by TaskManagers: %d\n", r.Records, r.Expected, r.Lost, r.Duplicated, r.StaleCallsRefused)
	if r.Passed {
		fmt.Fprintf(w, "PASSED in %.1fs\n", float64(r.DurationMs)/1000)
	} else {
		fmt.Fprintf(w, "FAILED: %s\n", r.Failure)
	}
}

// errDrillFailed makes weir drill exit non-zero after printing its report.
var errDrillFailed = errors.New("the drill failed")

func drillCommand() command {
	return command{"drill", "[--faults N] [--seed S] [--duration D] [--kinds K,...] [--job exactlyonce.wasm] [--json] [--etcd-endpoints URLS]",
		"run a failover drill on a cluster of local processes: faults, recovery times, lost and duplicated records", runDrillCmd}
}

func runDrillCmd(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	cfg := drillConfig{}
	fs.IntVar(&cfg.Faults, "faults", 10, "faults to inject, one at a time")
	seed := fs.Uint64("seed", 0, "seed of the fault schedule (0: from the clock)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "how long the job would run without faults (default: 6s per fault)")
	kinds := fs.String("kinds", strings.Join(allFaults, ","), "fault kinds to draw from: "+strings.Join(allFaults, ", "))
	fs.StringVar(&cfg.Module, "job", filepath.Join("bin", "examples", "exactlyonce.wasm"), "the exactly-once job module")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	endpoints := fs.String("etcd-endpoints", "", "an external etcd (default: a single-node etcd the drill starts)")
	fs.IntVar(&cfg.JobManagers, "jobmanagers", 3, "JobManagers (2 or 3)")
	fs.IntVar(&cfg.TaskManagers, "taskmanagers", 2, "TaskManagers")
	fs.IntVar(&cfg.Slots, "slots", 2, "slots per TaskManager")
	fs.IntVar(&cfg.Parallelism, "p", 2, "the job's parallelism")
	fs.IntVar(&cfg.Rate, "rate", 2000, "records per second of the job")
	fs.IntVar(&cfg.Keys, "keys", 8, "keys of the job")
	fs.DurationVar(&cfg.LeaseTTL, "lease-ttl", 2*time.Second, "the JobManagers' leadership lease")
	dir := fs.String("dir", "", "work directory (default: temporary, removed unless the drill fails)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Seed = *seed
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano() % 1_000_000)
	}
	cfg.Kinds = splitList(*kinds)
	for _, k := range cfg.Kinds {
		if !slices.Contains(allFaults, k) {
			return fmt.Errorf("%w: unknown fault kind %q (known: %s)", errUsage, k, strings.Join(allFaults, ", "))
		}
	}
	switch {
	case cfg.Faults < 1 || cfg.Faults > 1000:
		return fmt.Errorf("%w: --faults must be 1..1000", errUsage)
	case cfg.JobManagers < 2 || cfg.JobManagers > 5:
		return fmt.Errorf("%w: --jobmanagers must be 2..5", errUsage)
	case cfg.TaskManagers < 1 || cfg.Slots < 1 || cfg.Parallelism < 1 || cfg.Parallelism > cfg.TaskManagers*cfg.Slots:
		return fmt.Errorf("%w: --p must be 1..taskmanagers×slots", errUsage)
	case cfg.Rate < 1 || cfg.Keys < 1 || len(cfg.Kinds) == 0:
		return fmt.Errorf("%w: --rate, --keys and --kinds must be positive", errUsage)
	}
	if cfg.Duration <= 0 {
		cfg.Duration = time.Duration(cfg.Faults) * 6 * time.Second
	}
	cfg.EtcdEndpoints = splitList(*endpoints)
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.Binary = bin
	cfg.Dir = *dir
	keep := cfg.Dir != ""
	if keep {
		// The job's output is checked at the end: a used directory would
		// hold an earlier drill's records.
		if entries, err := os.ReadDir(cfg.Dir); err == nil && len(entries) > 0 {
			return fmt.Errorf("%w: --dir %s is not empty", errUsage, cfg.Dir)
		}
	}
	if cfg.Dir == "" {
		if cfg.Dir, err = os.MkdirTemp("", "weir-drill-"); err != nil {
			return err
		}
	}
	cfg.Log = os.Stderr
	rep, err := runDrill(ctx, cfg)
	if err != nil {
		return fmt.Errorf("drill (logs in %s): %w", filepath.Join(cfg.Dir, "logs"), err)
	}
	if *asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		rep.text(w)
	}
	if !rep.Passed {
		fmt.Fprintf(os.Stderr, "logs kept in %s\n", filepath.Join(cfg.Dir, "logs"))
		return errDrillFailed
	}
	if !keep {
		_ = os.RemoveAll(cfg.Dir)
	}
	return nil
}

// etcdLink is a JobManager's own TCP path to etcd: a proxy per endpoint
// that the drill can cut (new connections are closed at once, open ones
// dropped) and heal, partitioning that JobManager from etcd alone while it
// stays reachable by TaskManagers and clients.
type etcdLink struct {
	proxies []*linkProxy
}

type linkProxy struct {
	lis    net.Listener
	target string
	mu     sync.Mutex
	cutOff bool
	conns  map[net.Conn]bool
}

func newEtcdLink(endpoints string) (*etcdLink, error) {
	l := &etcdLink{}
	for _, ep := range splitList(endpoints) {
		u, err := url.Parse(ep)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("etcd endpoint %q: want http://host:port", ep)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			l.close()
			return nil, err
		}
		p := &linkProxy{lis: lis, target: u.Host, conns: map[net.Conn]bool{}}
		go p.serve()
		l.proxies = append(l.proxies, p)
	}
	return l, nil
}

func (l *etcdLink) endpoints() string {
	var eps []string
	for _, p := range l.proxies {
		eps = append(eps, "http://"+p.lis.Addr().String())
	}
	return strings.Join(eps, ",")
}

func (l *etcdLink) cut(off bool) {
	for _, p := range l.proxies {
		p.mu.Lock()
		p.cutOff = off
		if off {
			for c := range p.conns {
				c.Close()
			}
		}
		p.mu.Unlock()
	}
}

func (l *etcdLink) close() {
	for _, p := range l.proxies {
		p.lis.Close()
		l.cut(true)
	}
}

func (p *linkProxy) serve() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		off := p.cutOff
		p.mu.Unlock()
		if off {
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}
