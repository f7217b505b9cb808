package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/weirflow/weir/internal/certs"
)

// The client verbs talk to the JobManager's REST API (docs/openapi.json).
const (
	defaultJobManager = "http://127.0.0.1:8081"
	jobManagerEnv     = "WEIR_JOBMANAGER"
	// tokenEnv holds the bearer token when --token-file is not given;
	// tlsCAEnv the CA file for an https JobManager when --tls-ca is not.
	tokenEnv = "WEIR_TOKEN"
	tlsCAEnv = "WEIR_TLS_CA"

	// callTimeout bounds one small REST call; submitTimeout the run call,
	// during which the JobManager reads the plan in its sandbox.
	callTimeout   = 30 * time.Second
	submitTimeout = 2 * time.Minute
	// uploadStall aborts an upload that made no progress for this long;
	// the answer to a fully sent upload is bounded by submitTimeout.
	uploadStall = time.Minute
	// waitGiveUp is how long --wait keeps polling through network errors
	// and 5xx answers (a JobManager failover) before it gives up.
	waitGiveUp = 30 * time.Second
	// maxAnswer bounds the JSON answers the client reads.
	maxAnswer = 64 << 20
)

const (
	runArgs       = "[--jobmanager URL] [-p N] [-D key=value]... [-s PATH [-n]] [--wait] [--timeout DUR] JOB.wasm [-- ARGS...]"
	listArgs      = "[--jobmanager URL] [--all]"
	cancelArgs    = "[--jobmanager URL] JOBID"
	infoArgs      = "[--jobmanager URL] [--json] JOBID"
	savepointArgs = "[--jobmanager URL] [--cancel] [--timeout DUR] JOBID [DIR]"
	stopArgs      = "[--jobmanager URL] [--savepoint] [--timeout DUR] JOBID [DIR]"
)

// clientCommands are the REST client verbs: run, list, cancel, info,
// savepoint, stop.
func clientCommands() []command {
	return []command{
		{"run", runArgs, "upload a job module to the JobManager, submit it and print the job id (--wait: until it ends; -s: from a savepoint)", cmdRun},
		{"list", listArgs, "list the running jobs of the cluster (--all: ended ones too)", cmdList},
		{"cancel", cancelArgs, "cancel a job", cmdCancel},
		{"info", infoArgs, "print a job's state and its vertices with their metrics", cmdInfo},
		{"savepoint", savepointArgs, "take a savepoint of a running job and print its path (--cancel: then cancel the job)", cmdSavepoint},
		{"stop", stopArgs, "stop a job with a savepoint (its sources end, the job FINISHES) and print the savepoint's path", cmdStop},
	}
}

// clientIO is where the client verbs report progress (run's stdout is
// only the job id) and how fast they redraw and poll. The commands find
// it in their context; without one they use os.Stderr.
type clientIO struct {
	stderr io.Writer
	tty    bool          // stderr is a terminal: progress is redrawn in place
	redraw time.Duration // least time between two progress redraws
	poll   time.Duration // --wait polling interval
}

type clientIOKey struct{}

// withClientIO returns a context whose client verbs use cio.
func withClientIO(ctx context.Context, cio clientIO) context.Context {
	return context.WithValue(ctx, clientIOKey{}, cio)
}

func clientIOFrom(ctx context.Context) clientIO {
	if cio, ok := ctx.Value(clientIOKey{}).(clientIO); ok {
		return cio
	}
	return clientIO{stderr: os.Stderr, tty: isTerminal(os.Stderr), redraw: 100 * time.Millisecond, poll: 200 * time.Millisecond}
}

// isTerminal reports whether f is a character device (a terminal, or
// /dev/null, where redrawing is harmless).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// parseFlags parses a verb's flags; bad flags are usage errors, and -h
// prints the verb's usage to stderr.
func parseFlags(fs *flag.FlagSet, spec string, args []string, stderr io.Writer) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stderr, "usage: weir %s %s\n", fs.Name(), spec)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		return err
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return nil
}

// parseInterspersed parses flags that may also follow the positional
// arguments (weir cancel JOBID --jobmanager X) and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, spec string, args []string, stderr io.Writer) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, spec, args, stderr); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// jobIDArg is the single positional JOBID of cancel and info.
func jobIDArg(pos []string) (string, error) {
	if len(pos) != 1 {
		return "", fmt.Errorf("%w: want exactly one job id, got %d arguments", errUsage, len(pos))
	}
	return parseJobID(pos[0])
}

// jobIDDirArgs are the positional JOBID [DIR] of savepoint and stop.
func jobIDDirArgs(pos []string) (id, dir string, err error) {
	if len(pos) < 1 || len(pos) > 2 {
		return "", "", fmt.Errorf("%w: want a job id and an optional directory, got %d arguments", errUsage, len(pos))
	}
	if id, err = parseJobID(pos[0]); err != nil {
		return "", "", err
	}
	if len(pos) == 2 {
		if dir = pos[1]; strings.TrimSpace(dir) == "" {
			return "", "", fmt.Errorf("%w: the directory is empty (leave it out for the JobManager's default)", errUsage)
		}
	}
	return id, dir, nil
}

// parseJobID checks a job id (32 hexadecimal characters) and lowers its case.
func parseJobID(id string) (string, error) {
	if len(id) != 32 || strings.Trim(strings.ToLower(id), "0123456789abcdef") != "" {
		return "", fmt.Errorf("%w: %q is not a job id (32 hexadecimal characters)", errUsage, id)
	}
	return strings.ToLower(id), nil
}

// endpoint is how a client reaches the JobManager: its address, the token
// to send and the CA that signed its REST certificate.
type endpoint struct {
	addr, tokenFile, tlsCA string
}

func jobManagerFlag(fs *flag.FlagSet) *endpoint {
	e := &endpoint{}
	fs.StringVar(&e.addr, "jobmanager", "", "JobManager REST address, http(s)://host:port or host:port (default $"+jobManagerEnv+", else "+defaultJobManager+")")
	fs.StringVar(&e.tokenFile, "token-file", "", "file holding the bearer token for a JobManager with auth on (default: the token in $"+tokenEnv+")")
	fs.StringVar(&e.tlsCA, "tls-ca", "", "CA certificate (PEM) that signed an https JobManager's certificate (default $"+tlsCAEnv+", else the system's roots)")
	return e
}

// keyValues is the repeatable -D key=value flag.
type keyValues map[string]string

func (kv keyValues) String() string {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		keys[i] = k + "=" + kv[k]
	}
	return strings.Join(keys, ",")
}

func (kv keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	switch {
	case !ok:
		return errors.New("want key=value")
	case strings.TrimSpace(k) == "":
		return errors.New("empty key")
	}
	kv[strings.TrimSpace(k)] = v
	return nil
}

// cmdRun uploads a module, submits it and prints the job id; with --wait
// it follows the job until it ends.
func cmdRun(ctx context.Context, args []string, stdout io.Writer) error {
	cio := clientIOFrom(ctx)
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	jm := jobManagerFlag(fs)
	par := fs.Int("p", 0, "parallelism (0: the plan's own)")
	conf := keyValues{}
	fs.Var(conf, "D", "configuration `key=value` for the job, repeatable")
	var savepoint string
	fs.StringVar(&savepoint, "s", "", "restore the job from this savepoint or checkpoint `PATH` (its directory or _metadata file, on the JobManager)")
	fs.StringVar(&savepoint, "fromSavepoint", "", "the same as -s")
	var allowNonRestored bool
	fs.BoolVar(&allowNonRestored, "n", false, "with -s: skip the state of operators the job does not have")
	fs.BoolVar(&allowNonRestored, "allowNonRestoredState", false, "the same as -n")
	wait := fs.Bool("wait", false, "wait until the job ends; exit non-zero unless it FINISHED")
	timeout := fs.Duration("timeout", 0, "give up waiting after this long (with --wait; 0: never)")
	if err := parseFlags(fs, runArgs, args, cio.stderr); err != nil {
		return err
	}
	savepointSet := false
	fs.Visit(func(f *flag.Flag) {
		savepointSet = savepointSet || f.Name == "s" || f.Name == "fromSavepoint"
	})
	module, progArgs, err := splitArgs(fs)
	switch {
	case err != nil:
		return err
	case *par < 0:
		return fmt.Errorf("%w: -p %d: parallelism must be at least 1 (0: the plan's own)", errUsage, *par)
	case *timeout < 0:
		return fmt.Errorf("%w: --timeout %v is negative", errUsage, *timeout)
	case *timeout > 0 && !*wait:
		return fmt.Errorf("%w: --timeout bounds --wait and needs it", errUsage)
	case savepointSet && strings.TrimSpace(savepoint) == "":
		return fmt.Errorf("%w: -s: the savepoint path is empty", errUsage)
	case allowNonRestored && savepoint == "":
		return fmt.Errorf("%w: --allowNonRestoredState (-n) applies to a restore and needs -s", errUsage)
	}
	c, err := newRESTClient(*jm)
	if err != nil {
		return err
	}
	name := filepath.Base(module)
	up, err := c.upload(ctx, module, cio)
	if err != nil {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	req := runRequest{Parallelism: *par, ProgramArgs: progArgs, SavepointPath: savepoint, AllowNonRestoredState: allowNonRestored}
	if len(conf) > 0 {
		req.Config = conf
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	var ans struct {
		JobID string `json:"jobid"`
	}
	if err := c.call(ctx, http.MethodPost, "/wasm/"+url.PathEscape(up.ID)+"/run", bytes.NewReader(body), submitTimeout, &ans); err != nil {
		return fmt.Errorf("submit %s: %w", name, err)
	}
	if ans.JobID == "" {
		return fmt.Errorf("submit %s: the JobManager at %s answered without a job id", name, c.base)
	}
	if _, err := fmt.Fprintln(stdout, ans.JobID); err != nil {
		return err
	}
	if !*wait {
		return nil
	}
	return c.wait(ctx, ans.JobID, *timeout, cio)
}

// runRequest is the body of POST /wasm/{id}/run.
type runRequest struct {
	Parallelism int               `json:"parallelism,omitempty"`
	ProgramArgs []string          `json:"programArgs,omitempty"`
	Config      map[string]string `json:"config,omitempty"`
	// SavepointPath is the savepoint or checkpoint the job restores from.
	SavepointPath string `json:"savepointPath,omitempty"`
	// AllowNonRestoredState skips the state of operators the job lacks.
	AllowNonRestoredState bool `json:"allowNonRestoredState,omitempty"`
}

// uploadAnswer is the answer to POST /wasm/upload.
type uploadAnswer struct {
	ID       string `json:"id"`
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
}

// terminal reports whether a job state is final.
func terminal(state string) bool {
	return state == "FINISHED" || state == "CANCELED" || state == "FAILED"
}

// wait polls the job until it ends; it returns errFailed, after printing
// the root exception, unless the job FINISHED.
func (c *restClient) wait(ctx context.Context, id string, timeout time.Duration, cio clientIO) error {
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		wctx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	path := "/jobs/" + url.PathEscape(id)
	state := ""
	var result error
	err := poll(wctx, cio, "job "+id, "wait for job "+id, func(wctx context.Context) (bool, error) {
		var job struct {
			State string `json:"state"`
		}
		if err := c.call(wctx, http.MethodGet, path, nil, callTimeout, &job); err != nil {
			return false, err
		}
		if job.State != state {
			state = job.State
			fmt.Fprintf(cio.stderr, "job %s: %s\n", id, state)
		}
		if !terminal(state) {
			return false, nil
		}
		if state != "FINISHED" {
			c.printExceptions(ctx, id, cio.stderr)
			result = errFailed
		}
		return true, nil
	})
	if errors.Is(err, errWaitEnded) {
		was := cmp.Or(state, "in an unknown state")
		if ctx.Err() != nil {
			return fmt.Errorf("stopped waiting for job %s (%s); it goes on (weir cancel %s stops it): %w", id, was, id, ctx.Err())
		}
		return fmt.Errorf("job %s is still %s after %v; it goes on (weir cancel %s stops it)", id, was, timeout, id)
	}
	if err != nil {
		return err
	}
	return result
}

// errWaitEnded is poll's answer when the waiting context ended first.
var errWaitEnded = errors.New("the wait ended")

// poll calls fetch every cio.poll until it reports done. Failed calls
// (the network, a 5xx: a JobManager failover) are retried for waitGiveUp,
// with one notice on stderr naming what; a 4xx ends the wait with an error
// prefixed by failed. When wctx ends first, poll returns errWaitEnded for
// the caller to word.
func poll(wctx context.Context, cio clientIO, what, failed string, fetch func(context.Context) (bool, error)) error {
	tick := time.NewTicker(cio.poll)
	defer tick.Stop()
	var failing time.Time // since when polls fail
	for {
		done, err := fetch(wctx)
		var ae *apiError
		switch {
		case err == nil:
			if done {
				return nil
			}
			failing = time.Time{}
		case wctx.Err() != nil:
		case errors.As(err, &ae) && ae.Code < 500:
			return fmt.Errorf("%s: %w", failed, err)
		case failing.IsZero():
			failing = time.Now()
			fmt.Fprintf(cio.stderr, "%s: %v (retrying for %v)\n", what, err, waitGiveUp)
		case time.Since(failing) > waitGiveUp:
			return fmt.Errorf("%s: %w", failed, err)
		}
		select {
		case <-wctx.Done():
			return errWaitEnded
		case <-tick.C:
		}
	}
}

// jobExceptions is the answer to GET /jobs/{id}/exceptions.
type jobExceptions struct {
	Root    *string `json:"root-exception"`
	History struct {
		Entries []exceptionEntry `json:"entries"`
	} `json:"exceptionHistory"`
}

// exceptionEntry is one failure in the exception history of a job.
type exceptionEntry struct {
	ExceptionName string   `json:"exceptionName"`
	Timestamp     int64    `json:"timestamp"`
	TaskName      string   `json:"taskName"`
	Location      string   `json:"location"`
	TaskManagerID string   `json:"taskManagerId"`
	GuestLogs     []string `json:"guestLogs"`
}

// maxGuestLogLines bounds the guest log lines printed after a failure.
const maxGuestLogLines = 20

// printExceptions prints the root exception of an ended job and where the
// latest failure happened, with the guest's last log lines.
func (c *restClient) printExceptions(ctx context.Context, id string, w io.Writer) {
	var ex jobExceptions
	if err := c.call(ctx, http.MethodGet, "/jobs/"+url.PathEscape(id)+"/exceptions", nil, callTimeout, &ex); err != nil {
		fmt.Fprintf(w, "job %s: cannot read its exceptions: %v\n", id, err)
		return
	}
	if ex.Root == nil {
		return
	}
	fmt.Fprintf(w, "root exception:\n%s\n", indent(strings.TrimRight(*ex.Root, "\n")))
	if len(ex.History.Entries) == 0 {
		return
	}
	latest := slices.MaxFunc(ex.History.Entries, func(a, b exceptionEntry) int {
		return cmp.Compare(a.Timestamp, b.Timestamp)
	})
	if latest.TaskName != "" {
		fmt.Fprintf(w, "in task %s", latest.TaskName)
		if latest.TaskManagerID != "" || latest.Location != "" {
			fmt.Fprintf(w, " on TaskManager %s", cmp.Or(latest.TaskManagerID, latest.Location))
		}
		fmt.Fprintln(w)
	}
	if logs := latest.GuestLogs; len(logs) > 0 {
		fmt.Fprintln(w, "guest log (last lines):")
		fmt.Fprintln(w, indent(strings.Join(logs[max(0, len(logs)-maxGuestLogLines):], "\n")))
	}
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// jobOverview is the part of a GET /jobs/overview entry that weir list prints.
type jobOverview struct {
	JID       string `json:"jid"`
	Name      string `json:"name"`
	State     string `json:"state"`
	StartTime int64  `json:"start-time"`
	Duration  int64  `json:"duration"`
	Tasks     struct {
		Total   int `json:"total"`
		Running int `json:"running"`
	} `json:"tasks"`
}

// cmdList prints the jobs of GET /jobs/overview.
func cmdList(ctx context.Context, args []string, stdout io.Writer) error {
	cio := clientIOFrom(ctx)
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	jm := jobManagerFlag(fs)
	all := fs.Bool("all", false, "list ended jobs (FINISHED, CANCELED, FAILED) too")
	pos, err := parseInterspersed(fs, listArgs, args, cio.stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	c, err := newRESTClient(*jm)
	if err != nil {
		return err
	}
	var ans struct {
		Jobs []jobOverview `json:"jobs"`
	}
	if err := c.call(ctx, http.MethodGet, "/jobs/overview", nil, callTimeout, &ans); err != nil {
		return fmt.Errorf("list jobs: %w", err)
	}
	jobs := ans.Jobs
	if !*all {
		jobs = slices.DeleteFunc(jobs, func(j jobOverview) bool {
			return terminal(j.State)
		})
	}
	if len(jobs) == 0 {
		msg := "No running jobs."
		if *all {
			msg = "No jobs."
		}
		_, err := fmt.Fprintln(stdout, msg)
		return err
	}
	slices.SortStableFunc(jobs, func(a, b jobOverview) int {
		return cmp.Or(cmp.Compare(b.StartTime, a.StartTime), strings.Compare(a.JID, b.JID))
	})
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB ID\tNAME\tSTATE\tSTART\tDURATION\tTASKS")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\n", j.JID, j.Name, j.State, localTime(j.StartTime), millis(j.Duration), j.Tasks.Running, j.Tasks.Total)
	}
	return tw.Flush()
}

// localTime formats epoch milliseconds in the local time zone; "-" for
// unset (≤ 0, as Flink's -1 end time of a running job).
func localTime(ms int64) string {
	if ms <= 0 {
		return "-"
	}
	return time.UnixMilli(ms).Local().Format("2006-01-02 15:04:05")
}

// millis formats a duration in milliseconds: 850ms, 1.5s, 12m3s.
func millis(ms int64) string {
	if ms < 0 {
		return "-"
	}
	switch d := time.Duration(ms) * time.Millisecond; {
	case d < time.Second:
		return d.String()
	case d < time.Minute:
		return d.Truncate(100 * time.Millisecond).String()
	default:
		return d.Truncate(time.Second).String()
	}
}

// cmdCancel cancels a job with PATCH /jobs/{id}?mode=cancel.
func cmdCancel(ctx context.Context, args []string, stdout io.Writer) error {
	cio := clientIOFrom(ctx)
	fs := flag.NewFlagSet("cancel", flag.ContinueOnError)
	jm := jobManagerFlag(fs)
	pos, err := parseInterspersed(fs, cancelArgs, args, cio.stderr)
	if err != nil {
		return err
	}
	id, err := jobIDArg(pos)
	if err != nil {
		return err
	}
	c, err := newRESTClient(*jm)
	if err != nil {
		return err
	}
	if err := c.call(ctx, http.MethodPatch, "/jobs/"+url.PathEscape(id)+"?mode=cancel", nil, callTimeout, nil); err != nil {
		return fmt.Errorf("cancel job %s: %w", id, err)
	}
	_, err = fmt.Fprintf(stdout, "Cancelled job %s.\n", id)
	return err
}

// jobDetails is the part of GET /jobs/{id} that weir info prints.
type jobDetails struct {
	JID       string `json:"jid"`
	Name      string `json:"name"`
	State     string `json:"state"`
	StartTime int64  `json:"start-time"`
	EndTime   int64  `json:"end-time"`
	Duration  int64  `json:"duration"`
	Vertices  []struct {
		Name        string `json:"name"`
		Parallelism int    `json:"parallelism"`
		Status      string `json:"status"`
		Metrics     struct {
			ReadRecords   int64 `json:"read-records"`
			WriteRecords  int64 `json:"write-records"`
			Busy          int64 `json:"busy-ms-per-second"`
			Backpressured int64 `json:"backpressured-ms-per-second"`
		} `json:"metrics"`
	} `json:"vertices"`
}

// cmdInfo prints GET /jobs/{id}, as a summary or (--json) as it came.
func cmdInfo(ctx context.Context, args []string, stdout io.Writer) error {
	cio := clientIOFrom(ctx)
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	jm := jobManagerFlag(fs)
	raw := fs.Bool("json", false, "print the JobManager's JSON answer as it is")
	pos, err := parseInterspersed(fs, infoArgs, args, cio.stderr)
	if err != nil {
		return err
	}
	id, err := jobIDArg(pos)
	if err != nil {
		return err
	}
	c, err := newRESTClient(*jm)
	if err != nil {
		return err
	}
	var body json.RawMessage
	if err := c.call(ctx, http.MethodGet, "/jobs/"+url.PathEscape(id), nil, callTimeout, &body); err != nil {
		return fmt.Errorf("job %s: %w", id, err)
	}
	if *raw {
		_, err := fmt.Fprintf(stdout, "%s\n", bytes.TrimSpace(body))
		return err
	}
	var job jobDetails
	if err := json.Unmarshal(body, &job); err != nil {
		return fmt.Errorf("job %s: the JobManager at %s answered with an unexpected JSON: %w", id, c.base, err)
	}
	fmt.Fprintf(stdout, "Job:       %s\nName:      %s\nState:     %s\nStarted:   %s\nEnded:     %s\nDuration:  %s\n",
		job.JID, job.Name, job.State, localTime(job.StartTime), localTime(job.EndTime), millis(job.Duration))
	if len(job.Vertices) == 0 {
		return nil
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERTEX\tPARALLELISM\tSTATUS\tRECORDS IN\tRECORDS OUT\tBUSY ms/s\tBACKPRESSURED ms/s")
	for _, v := range job.Vertices {
		m := v.Metrics
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%d\n", v.Name, v.Parallelism, v.Status, m.ReadRecords, m.WriteRecords, m.Busy, m.Backpressured)
	}
	return tw.Flush()
}

// savepointRequest is the body of POST /jobs/{id}/savepoints.
type savepointRequest struct {
	Target string `json:"target-directory,omitempty"`
	Cancel bool   `json:"cancel-job"`
}

// stopRequest is the body of POST /jobs/{id}/stop.
type stopRequest struct {
	Target string `json:"targetDirectory,omitempty"`
	Drain  bool   `json:"drain"`
}

// savepointStatus is the answer to GET /jobs/{id}/savepoints/{trigger}.
type savepointStatus struct {
	Status struct {
		ID string `json:"id"`
	} `json:"status"`
	Operation struct {
		Location     string `json:"location"`
		FailureCause *struct {
			StackTrace string `json:"stack-trace"`
		} `json:"failure-cause"`
	} `json:"operation"`
}

// savepointTimeoutFlag is the --timeout of savepoint and stop.
func savepointTimeoutFlag(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("timeout", 0, "give up waiting for the savepoint after this long (0: never); it goes on")
}

// cmdSavepoint takes a savepoint with POST /jobs/{id}/savepoints, waits
// for it and prints its path, as flink savepoint does; --cancel cancels
// the job once it is complete (flink cancel -s).
func cmdSavepoint(ctx context.Context, args []string, stdout io.Writer) error {
	cio := clientIOFrom(ctx)
	fs := flag.NewFlagSet("savepoint", flag.ContinueOnError)
	jm := jobManagerFlag(fs)
	cancelJob := fs.Bool("cancel", false, "cancel the job once the savepoint is complete")
	timeout := savepointTimeoutFlag(fs)
	pos, err := parseInterspersed(fs, savepointArgs, args, cio.stderr)
	if err != nil {
		return err
	}
	id, dir, err := jobIDDirArgs(pos)
	if err != nil {
		return err
	}
	if *timeout < 0 {
		return fmt.Errorf("%w: --timeout %v is negative", errUsage, *timeout)
	}
	c, err := newRESTClient(*jm)
	if err != nil {
		return err
	}
	fmt.Fprintf(cio.stderr, "Triggering savepoint for job %s.\n", id)
	return c.savepoint(ctx, savepointTrigger{
		job: id, path: "/jobs/" + url.PathEscape(id) + "/savepoints", body: savepointRequest{Target: dir, Cancel: *cancelJob},
		failed: "trigger a savepoint of job " + id, goesOn: "it goes on",
	}, *timeout, cio, stdout)
}

// cmdStop stops a job with a savepoint with POST /jobs/{id}/stop: the
// sources end after it and the job FINISHES. It waits for the savepoint
// and prints its path, as flink stop does.
func cmdStop(ctx context.Context, args []string, stdout io.Writer) error {
	cio := clientIOFrom(ctx)
	fs := flag.NewFlagSet("stop", flag.ContinueOnError)
	jm := jobManagerFlag(fs)
	withSavepoint := fs.Bool("savepoint", true, "take a savepoint before the job stops (always: weir cancel stops a job without one)")
	timeout := savepointTimeoutFlag(fs)
	pos, err := parseInterspersed(fs, stopArgs, args, cio.stderr)
	if err != nil {
		return err
	}
	id, dir, err := jobIDDirArgs(pos)
	switch {
	case err != nil:
		return err
	case !*withSavepoint:
		return fmt.Errorf("%w: weir stop always takes a savepoint; weir cancel stops a job without one", errUsage)
	case *timeout < 0:
		return fmt.Errorf("%w: --timeout %v is negative", errUsage, *timeout)
	}
	c, err := newRESTClient(*jm)
	if err != nil {
		return err
	}
	fmt.Fprintf(cio.stderr, "Suspending job %s with a savepoint.\n", id)
	return c.savepoint(ctx, savepointTrigger{
		job: id, path: "/jobs/" + url.PathEscape(id) + "/stop", body: stopRequest{Target: dir},
		failed: "stop job " + id, goesOn: "it goes on and the job stops when it completes",
	}, *timeout, cio, stdout)
}

// savepointTrigger is one savepoint for savepoint and stop to trigger.
type savepointTrigger struct {
	job    string // job id
	path   string // of the POST that triggers it
	body   any    // of that POST
	failed string // prefix of an error answer to the POST
	goesOn string // what happens when the client gives up waiting
}

// savepoint triggers a savepoint and polls its status every cio.poll until
// it completes; it prints "Savepoint completed. Path: LOCATION" on stdout,
// or returns the failure cause. Polls go on through network errors and 5xx
// answers (a JobManager failover) for waitGiveUp; timeout (0: none) bounds
// the whole.
func (c *restClient) savepoint(ctx context.Context, t savepointTrigger, timeout time.Duration, cio clientIO, stdout io.Writer) error {
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		wctx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	body, err := json.Marshal(t.body)
	if err != nil {
		return err
	}
	// The JobManager answers once a checkpoint in progress has ended.
	var ans struct {
		RequestID string `json:"request-id"`
	}
	if err := c.call(wctx, http.MethodPost, t.path, bytes.NewReader(body), submitTimeout, &ans); err != nil {
		if ctx.Err() == nil && wctx.Err() != nil {
			return fmt.Errorf("%s: no answer after %v; the savepoint may have been triggered all the same", t.failed, timeout)
		}
		return fmt.Errorf("%s: %w", t.failed, err)
	}
	if ans.RequestID == "" {
		return fmt.Errorf("%s: the JobManager at %s answered without a request id", t.failed, c.base)
	}
	what := "the savepoint of job " + t.job
	path := "/jobs/" + url.PathEscape(t.job) + "/savepoints/" + url.PathEscape(ans.RequestID)
	var result error
	err = poll(wctx, cio, what, what, func(wctx context.Context) (bool, error) {
		var st savepointStatus
		if err := c.call(wctx, http.MethodGet, path, nil, callTimeout, &st); err != nil {
			return false, err
		}
		switch op := st.Operation; {
		case st.Status.ID == "IN_PROGRESS":
			return false, nil
		case st.Status.ID != "COMPLETED":
			result = fmt.Errorf("%s: the JobManager at %s answered with the unknown status %q", what, c.base, st.Status.ID)
		case op.FailureCause != nil:
			cause := cmp.Or(strings.TrimSpace(op.FailureCause.StackTrace), "no cause given")
			if strings.Contains(cause, "\n") {
				result = fmt.Errorf("%s failed:\n%s", what, indent(cause))
			} else {
				result = fmt.Errorf("%s failed: %s", what, cause)
			}
		case op.Location == "":
			result = fmt.Errorf("%s: the JobManager at %s answered COMPLETED without a location", what, c.base)
		default:
			_, result = fmt.Fprintf(stdout, "Savepoint completed. Path: %s\n", op.Location)
		}
		return true, nil
	})
	if errors.Is(err, errWaitEnded) {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped waiting for %s (%s; GET %s polls it): %w", what, t.goesOn, path, ctx.Err())
		}
		return fmt.Errorf("%s is still in progress after %v; %s (GET %s polls it)", what, timeout, t.goesOn, path)
	}
	if err != nil {
		return err
	}
	return result
}

// restClient calls one JobManager's REST API.
type restClient struct {
	base  string // scheme://host[:port][/prefix], no trailing slash
	http  *http.Client
	token string // sent as "Authorization: Bearer" when not empty
}

// newRESTClient resolves the JobManager address: the flag, else
// $WEIR_JOBMANAGER, else the local default; "host:port" means http. The
// token comes from --token-file, else $WEIR_TOKEN.
func newRESTClient(e endpoint) (*restClient, error) {
	base, err := jobManagerURL(e.addr, os.Getenv(jobManagerEnv))
	if err != nil {
		return nil, err
	}
	token := strings.TrimSpace(os.Getenv(tokenEnv))
	if e.tokenFile != "" {
		b, err := os.ReadFile(e.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("%w: --token-file: %w", errUsage, err)
		}
		if token = strings.TrimSpace(string(b)); token == "" || strings.ContainsAny(token, " \t\r\n") {
			return nil, fmt.Errorf("%w: --token-file %s must hold one token and nothing else", errUsage, e.tokenFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = submitTimeout
	ca := e.tlsCA
	if ca == "" {
		ca = os.Getenv(tlsCAEnv)
	}
	if ca != "" {
		if tr.TLSClientConfig, err = (certs.Files{CA: ca}).ClientConfig(); err != nil {
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
	}
	return &restClient{base: base, http: &http.Client{Transport: tr}, token: token}, nil
}

// jobManagerURL normalises a JobManager address.
func jobManagerURL(flagValue, env string) (string, error) {
	addr, from := flagValue, "--jobmanager"
	if addr == "" {
		addr, from = env, "$"+jobManagerEnv
	}
	if addr == "" {
		return defaultJobManager, nil
	}
	addr = strings.TrimSpace(addr)
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: %s: %w", errUsage, from, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%w: %s %q: the scheme must be http or https", errUsage, from, addr)
	case u.Host == "" || u.Hostname() == "":
		return "", fmt.Errorf("%w: %s %q has no host", errUsage, from, addr)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("%w: %s %q: want scheme://host:port[/path] only", errUsage, from, addr)
	}
	u.Path, u.RawPath = strings.TrimRight(u.Path, "/"), ""
	return u.String(), nil
}

// apiError is an error answer of the JobManager: its status and the
// messages of its {"errors": [...]} body.
type apiError struct {
	Code     int
	Messages []string
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%d %s", e.Code, http.StatusText(e.Code))
	if len(e.Messages) > 0 {
		s += ": " + strings.Join(e.Messages, "; ")
	}
	return s
}

// call makes a request with a JSON body (or none) and decodes a 2xx JSON
// answer into out (nil: discard it).
func (c *restClient) call(ctx context.Context, method, path string, body io.Reader, timeout time.Duration, out any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.do(req, out)
}

// do sends a request and decodes the answer; errors name the JobManager.
func (c *restClient) do(req *http.Request, out any) error {
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "weir/"+version)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(req.Context(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return c.transportError(req.Context(), err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return answerError(resp.StatusCode, data)
	}
	if len(data) > maxAnswer {
		return fmt.Errorf("the JobManager at %s answered %s %s with more than %d bytes", c.base, req.Method, req.URL.Path, maxAnswer)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the JobManager at %s answered %s %s with invalid JSON: %w", c.base, req.Method, req.URL.Path, err)
	}
	return nil
}

// answerError reads an error answer: the JSON {"errors": [...]} of the
// JobManager, or the start of whatever a proxy on the way sent instead.
func answerError(code int, data []byte) error {
	var body struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal(data, &body) == nil && len(body.Errors) > 0 {
		return &apiError{Code: code, Messages: body.Errors}
	}
	text := strings.TrimSpace(string(data))
	if line, _, _ := strings.Cut(text, "\n"); len(line) > 200 {
		text = line[:200] + "…"
	} else {
		text = line
	}
	e := &apiError{Code: code}
	if text != "" {
		e.Messages = []string{text}
	}
	return e
}

// transportError explains a failed exchange, naming the JobManager.
func (c *restClient) transportError(ctx context.Context, err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot reach the JobManager at %s: %w (is it running? --jobmanager or $%s names another)", c.base, syscall.ECONNREFUSED, jobManagerEnv)
	case ctx.Err() != nil && context.Cause(ctx) != nil && errors.Is(err, context.Canceled):
		return fmt.Errorf("JobManager at %s: %w", c.base, context.Cause(ctx))
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("the JobManager at %s did not answer in time: %w", c.base, err)
	}
	return fmt.Errorf("JobManager at %s: %w", c.base, err)
}

// upload sends a module as the multipart field "wasmfile", reporting
// progress on cio.stderr.
func (c *restClient) upload(ctx context.Context, path string, cio clientIO) (uploadAnswer, error) {
	f, err := os.Open(path)
	if err != nil {
		return uploadAnswer{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return uploadAnswer{}, err
	}
	if !fi.Mode().IsRegular() {
		return uploadAnswer{}, fmt.Errorf("%s is not a regular file", path)
	}
	name, size := filepath.Base(path), fi.Size()

	// The multipart framing around the file is built up front so that the
	// request has a Content-Length: the JobManager refuses a module over
	// its limit before it is sent.
	var frame bytes.Buffer
	mw := multipart.NewWriter(&frame)
	if _, err := mw.CreateFormFile("wasmfile", name); err != nil {
		return uploadAnswer{}, err
	}
	headLen := frame.Len()
	if err := mw.Close(); err != nil {
		return uploadAnswer{}, err
	}
	head, tail := frame.Bytes()[:headLen], frame.Bytes()[headLen:]

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p := &progress{w: cio.stderr, tty: cio.tty, every: cio.redraw, name: name, total: size}
	p.stall = time.AfterFunc(uploadStall, func() {
		cancel(fmt.Errorf("upload stalled: no progress for %v", uploadStall))
	})
	body := io.MultiReader(bytes.NewReader(head), &progressReader{r: io.LimitReader(f, size), p: p}, bytes.NewReader(tail))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/wasm/upload", body)
	if err != nil {
		return uploadAnswer{}, err
	}
	req.ContentLength = int64(len(head)) + size + int64(len(tail))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var ans uploadAnswer
	err = c.do(req, &ans)
	p.finish()
	if err != nil {
		return uploadAnswer{}, err
	}
	if ans.ID == "" {
		return uploadAnswer{}, fmt.Errorf("the JobManager at %s answered without an id", c.base)
	}
	return ans, nil
}

// progress draws "upload NAME: SENT / TOTAL (P%)" on stderr: redrawn in
// place on a terminal, else once when the upload ends. The HTTP transport
// reads the body on its own goroutine, hence the lock.
type progress struct {
	w     io.Writer
	tty   bool
	every time.Duration
	name  string
	total int64
	stall *time.Timer

	mu    sync.Mutex
	sent  int64
	drawn time.Time
	width int  // longest line drawn, to blank it on redraw
	done  bool // finish was called: no more drawing
}

func (p *progress) add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent += int64(n)
	if p.sent >= p.total {
		p.stall.Stop() // the answer is bounded by the transport's timeout
	} else {
		p.stall.Reset(uploadStall)
	}
	if p.tty && !p.done && time.Since(p.drawn) >= p.every {
		p.draw("\r")
		p.drawn = time.Now()
	}
}

// finish draws the last line; nothing is drawn after it.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stall.Stop()
	if p.done {
		return
	}
	p.done = true
	p.draw("\r")
	fmt.Fprintln(p.w)
}

func (p *progress) draw(prefix string) {
	pct := int64(100)
	if p.total > 0 {
		pct = p.sent * 100 / p.total
	}
	line := fmt.Sprintf("upload %s: %s / %s (%d%%)", p.name, byteSize(p.sent), byteSize(p.total), pct)
	pad := max(0, p.width-len(line))
	p.width = max(p.width, len(line))
	if !p.tty {
		prefix = ""
	}
	fmt.Fprintf(p.w, "%s%s%s", prefix, line, strings.Repeat(" ", pad))
}

type progressReader struct {
	r io.Reader
	p *progress
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if n > 0 {
		r.p.add(n)
	}
	return n, err
}

// byteSize formats a byte count: 512 B, 1.5 KiB, 3.2 MiB.
func byteSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if v < 1024 {
			break
		}
		v, unit = v/1024, u
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}
