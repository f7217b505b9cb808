// Package dispatcher is the JobManager's job front desk: it turns a stored
// module and a run request into a JobMaster (reading the plan in the tight
// sandbox), keeps every job, routes TaskManager reports and losses to the
// JobMasters, and gives JobMasters their slots (from the ResourceManager's
// registry) and their TaskExecutor gateway (gRPC clients with the leader's
// fence).
package dispatcher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/control/internal/artifact"
	"github.com/weirflow/weir/control/internal/checkpoint"
	"github.com/weirflow/weir/control/internal/execgraph"
	"github.com/weirflow/weir/control/internal/jobmaster"
	"github.com/weirflow/weir/control/internal/jobstore"
	"github.com/weirflow/weir/control/internal/planread"
	"github.com/weirflow/weir/control/internal/resources"
	"github.com/weirflow/weir/control/internal/restart"
	"github.com/weirflow/weir/control/internal/rmserver"
	"github.com/weirflow/weir/internal/connector"
	"github.com/weirflow/weir/internal/rpcpb"
)

// Sentinel errors of job requests; the REST layer maps them to statuses.
var (
	ErrUnknownJob = errors.New("dispatcher: unknown job")
	ErrBadRequest = errors.New("dispatcher: bad request")
	// ErrNotLeader means the request could not be recorded in etcd: this
	// JobManager no longer leads.
	ErrNotLeader = errors.New("dispatcher: not the leading JobManager")
	// ErrTooManyJobs means a submission past MaxActiveJobs.
	ErrTooManyJobs = errors.New("dispatcher: too many jobs")
)

// Defaults of the job limits.
const (
	DefaultMaxActiveJobs   = 100
	DefaultMaxRetainedJobs = 1000
)

// Config wires the dispatcher.
type Config struct {
	Artifacts *artifact.Store
	Plans     *planread.Reader
	RM        *rmserver.Server
	Fence     *rpcpb.Fence
	// SlotTimeout bounds a job's wait for slots (default 5 minutes);
	// "slot.request.timeout" in a job's config overrides it.
	SlotTimeout time.Duration
	// CheckpointRoot holds jobs' checkpoints (<root>/<job>/chk-<n>); it must
	// be a directory every TaskManager can write (local or shared).
	CheckpointRoot string
	// Checkpoints are the cluster's checkpoint defaults; jobs override them.
	Checkpoints checkpoint.Config
	// Store records jobs, attempts, checkpoint ids and pointers in etcd
	// (nil: nothing is recorded, as in tests without etcd).
	Store *jobstore.Store
	// Savepoints is where savepoints may be written and read (the target
	// directories of savepoints and stops, the savepointPath a job starts
	// from); the zero value allows every path.
	Savepoints connector.FileAccess
	// MaxActiveJobs bounds the jobs not yet finished, canceled or failed
	// (default 100): a submission past it is refused with ErrTooManyJobs.
	MaxActiveJobs int
	// MaxRetainedJobs bounds the ended jobs kept for GET /jobs (default
	// 1000); the oldest are forgotten first.
	MaxRetainedJobs int
	// Dial are the credentials of calls to TaskManagers (nil: plain).
	Dial credentials.TransportCredentials
	// Valid reports whether this JobManager still leads; TaskExecutor calls
	// are not sent once it does not (nil: always).
	Valid  func() bool
	Logger *slog.Logger
}

// Dispatcher keeps the jobs.
type Dispatcher struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	jobs  map[string]*jobmaster.JobMaster
	order []string // submission order

	connMu sync.Mutex
	conns  map[string]*grpc.ClientConn // by TaskExecutor address
}

// New returns a dispatcher with no jobs.
func New(cfg Config) *Dispatcher {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SlotTimeout <= 0 {
		cfg.SlotTimeout = 5 * time.Minute
	}
	if cfg.Dial == nil {
		cfg.Dial = insecure.NewCredentials()
	}
	if cfg.MaxActiveJobs <= 0 {
		cfg.MaxActiveJobs = DefaultMaxActiveJobs
	}
	if cfg.MaxRetainedJobs <= 0 {
		cfg.MaxRetainedJobs = DefaultMaxRetainedJobs
	}
	return &Dispatcher{cfg: cfg, log: cfg.Logger, jobs: map[string]*jobmaster.JobMaster{}, conns: map[string]*grpc.ClientConn{}}
}

// RunRequest is the body of POST /wasm/:id/run.
type RunRequest struct {
	Parallelism int               `json:"parallelism,omitempty"`
	ProgramArgs []string          `json:"programArgs,omitempty"`
	Config      map[string]string `json:"config,omitempty"`
	// SavepointPath restores the job from a savepoint or checkpoint;
	// AllowNonRestoredState skips state of operators the job lacks.
	SavepointPath         string `json:"savepointPath,omitempty"`
	AllowNonRestoredState bool   `json:"allowNonRestoredState,omitempty"`
}

// Submit reads the plan of a stored module with the request's arguments and
// starts the job. Errors of the user's making wrap ErrBadRequest or
// artifact.ErrNotFound.
func (d *Dispatcher) Submit(ctx context.Context, artifactID string, req RunRequest) (string, error) {
	if req.Parallelism < 0 || req.Parallelism > abi.MaxParallelism {
		return "", fmt.Errorf("%w: parallelism %d is outside 1..%d", ErrBadRequest, req.Parallelism, abi.MaxParallelism)
	}
	if err := d.CheckSavepointPath("savepointPath", req.SavepointPath); err != nil {
		return "", err
	}
	if n := d.active(); n >= d.cfg.MaxActiveJobs {
		return "", fmt.Errorf("%w: %d jobs are running or restarting, the limit of the cluster (--max-jobs %d); cancel one or wait for one to end", ErrTooManyJobs, n, d.cfg.MaxActiveJobs)
	}
	info, err := d.cfg.Artifacts.Info(artifactID)
	if err != nil {
		return "", err
	}
	bin, err := d.cfg.Artifacts.Bytes(artifactID)
	if err != nil {
		return "", err
	}
	plan, err := d.cfg.Plans.Read(ctx, info.Name, bin, req.ProgramArgs, abi.DecodeOptions{Parallelism: req.Parallelism})
	if err != nil {
		return "", fmt.Errorf("%w: reading the job's plan: %w", ErrBadRequest, err)
	}
	if plan.Config == nil {
		plan.Config = map[string]string{}
	}
	for k, v := range req.Config {
		plan.Config[k] = v
	}
	rec := jobstore.Record{
		ID: newJobID(), Name: plan.Name, Artifact: info.ID, ArtifactName: info.Name, ProgramArgs: req.ProgramArgs, Plan: plan,
		SavepointPath: req.SavepointPath, AllowNonRestored: req.AllowNonRestoredState, Submitted: time.Now(),
	}
	restore, restorePath, err := restoreOf(rec, nil)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	jm, err := d.master(rec, restore, restorePath, 0, 0)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if d.cfg.Store != nil {
		if err := d.cfg.Store.Create(rec); err != nil {
			return "", fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
	}
	d.log.Info("job submitted", "job", rec.ID, "name", plan.Name, "artifact", info.ID, "slots", jm.SlotsNeeded())
	if err := d.run(jm); err != nil {
		return "", err
	}
	return rec.ID, nil
}

// restoreOf reads what a job starts from: the checkpoint a previous leader
// committed, else the savepoint it was submitted with, else nothing.
func restoreOf(rec jobstore.Record, latest *jobstore.Pointer) (*checkpoint.Metadata, string, error) {
	switch {
	case latest != nil:
		return checkpoint.ReadMetadata(latest.Path)
	case rec.SavepointPath != "":
		md, path, err := checkpoint.ReadMetadata(rec.SavepointPath)
		if err != nil {
			return nil, "", fmt.Errorf("savepointPath: %w", err)
		}
		return md, path, nil
	}
	return nil, "", nil
}

// master builds the JobMaster of a job record; firstAttempt and
// checkpointsAfter continue the numbering of a previous leader.
func (d *Dispatcher) master(rec jobstore.Record, restore *checkpoint.Metadata, restorePath string, firstAttempt int, checkpointsAfter int64) (*jobmaster.JobMaster, error) {
	plan := rec.Plan
	strategy, err := restart.Parse(plan.Config, mrand.Float64)
	if err != nil {
		return nil, err
	}
	slotTimeout := d.cfg.SlotTimeout
	if v, ok := plan.Config["slot.request.timeout"]; ok {
		if slotTimeout, err = time.ParseDuration(v); err != nil || slotTimeout <= 0 {
			return nil, fmt.Errorf("slot.request.timeout %q is not a positive duration like 30s", v)
		}
	}
	cps, err := checkpoint.ParseConfig(plan.Config, d.cfg.Checkpoints)
	if err != nil {
		return nil, err
	}
	id := rec.ID
	cfg := jobmaster.Config{
		JobID: id, Plan: plan, Artifact: rec.Artifact, ArtifactName: rec.ArtifactName, ProgramArgs: rec.ProgramArgs,
		SavepointPath: rec.SavepointPath, Strategy: strategy, Gateway: gateway{d}, Slots: slots{d}, SlotTimeout: slotTimeout, Logger: d.log,
		Checkpoints: cps, CheckpointDir: filepath.Join(d.cfg.CheckpointRoot, id),
		Restore: restore, RestorePath: restorePath, AllowNonRestored: rec.AllowNonRestored,
		FirstAttempt: firstAttempt, CheckpointsAfter: checkpointsAfter,
	}
	if st := d.cfg.Store; st != nil {
		cfg.CommitPointer = func(cp int64, path string) error { return st.CommitCheckpoint(id, cp, path) }
		cfg.BeforeDeploy = func(attempt int) error { return st.SetAttempt(id, attempt) }
		cfg.ReserveCheckpoint = func(cp int64) error { return st.SetCounter(id, cp) }
	}
	return jobmaster.New(cfg)
}

// CheckSavepointPath refuses a savepoint directory outside the allowed
// ones (ErrBadRequest, naming the field and the path); "" (the default
// directory, or no savepoint) is always allowed.
func (d *Dispatcher) CheckSavepointPath(field, path string) error {
	if path == "" {
		return nil
	}
	if err := d.cfg.Savepoints.Check(field, path); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return nil
}

// active counts the jobs that have not ended.
func (d *Dispatcher) active() int {
	n := 0
	for _, jm := range d.Jobs() {
		if !jm.State().Terminal() {
			n++
		}
	}
	return n
}

// run adds a JobMaster to the jobs and starts it; its end is recorded. The
// oldest ended jobs past MaxRetainedJobs are forgotten.
func (d *Dispatcher) run(jm *jobmaster.JobMaster) error {
	d.mu.Lock()
	d.jobs[jm.ID()] = jm
	d.order = append(d.order, jm.ID())
	d.forgetLocked()
	d.mu.Unlock()
	if err := jm.Start(); err != nil {
		return err
	}
	if st := d.cfg.Store; st != nil {
		go func() {
			select {
			case <-jm.Done():
			case <-jm.Suspended():
				return
			}
			if err := st.End(jm.ID(), string(jm.State()), time.Now()); err != nil {
				d.log.Warn("the end of a job was not recorded; the next leader will recover it", "job", jm.ID(), "err", err)
			}
		}()
	}
	return nil
}

// forgetLocked drops the oldest ended jobs past MaxRetainedJobs.
func (d *Dispatcher) forgetLocked() {
	ended := 0
	for _, id := range d.order {
		if d.jobs[id].State().Terminal() {
			ended++
		}
	}
	if ended <= d.cfg.MaxRetainedJobs {
		return
	}
	kept := d.order[:0]
	for _, id := range d.order {
		if ended > d.cfg.MaxRetainedJobs && d.jobs[id].State().Terminal() {
			delete(d.jobs, id)
			ended--
			continue
		}
		kept = append(kept, id)
	}
	clear(d.order[len(kept):])
	d.order = kept
}

// Recover starts the jobs a previous leader ran that have not ended, each
// from its latest complete checkpoint (or the savepoint it was submitted
// with, if it had none), as attempts numbered after the previous leader's.
func (d *Dispatcher) Recover(jobs []jobstore.Job) {
	for _, j := range jobs {
		if j.Status.Terminal() {
			continue
		}
		restore, path, err := restoreOf(j.Record, j.Checkpoint)
		var jm *jobmaster.JobMaster
		if err == nil {
			jm, err = d.master(j.Record, restore, path, j.Attempt+1, j.Counter)
		}
		if err == nil {
			err = d.run(jm)
		}
		if err != nil {
			d.log.Error("a job could not be recovered", "job", j.ID, "name", j.Name, "err", err)
			if d.cfg.Store != nil {
				_ = d.cfg.Store.End(j.ID, "FAILED", time.Now())
			}
			continue
		}
		d.log.Info("job recovered", "job", j.ID, "name", j.Name, "attempt", j.Attempt+1, "checkpoint", path)
	}
}

// Suspend stops every JobMaster from acting (this JobManager no longer
// leads); the jobs' tasks are left to the next leader.
func (d *Dispatcher) Suspend(why string) {
	for _, jm := range d.Jobs() {
		jm.Suspend(why)
	}
}

func newJobID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Job returns a job's master.
func (d *Dispatcher) Job(id string) (*jobmaster.JobMaster, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	jm, ok := d.jobs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownJob, id)
	}
	return jm, nil
}

// Jobs returns every job, newest first.
func (d *Dispatcher) Jobs() []*jobmaster.JobMaster {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*jobmaster.JobMaster, 0, len(d.order))
	for i := len(d.order) - 1; i >= 0; i-- {
		out = append(out, d.jobs[d.order[i]])
	}
	return out
}

// TaskState routes a task report to its job.
func (d *Dispatcher) TaskState(r *rpcpb.TaskStateReport) {
	job, _, _, err := jobmaster.ParseExecutionID(r.GetExecutionId())
	if err != nil {
		d.log.Warn("task report with a bad execution id", "id", r.GetExecutionId())
		return
	}
	if jm, err := d.Job(job); err == nil {
		jm.TaskReport(r)
	}
}

// Heartbeat routes a TaskManager's task metrics to their jobs.
func (d *Dispatcher) Heartbeat(r *rpcpb.HeartbeatRequest) {
	for _, m := range r.GetMetrics() {
		job, _, _, err := jobmaster.ParseExecutionID(m.GetExecutionId())
		if err != nil {
			continue
		}
		if jm, err := d.Job(job); err == nil {
			jm.Metrics(m)
		}
	}
}

// CheckpointAck routes a task's checkpoint acknowledgement to its job.
func (d *Dispatcher) CheckpointAck(a *rpcpb.CheckpointAck) {
	if jm := d.jobOf(a.GetExecutionId()); jm != nil {
		jm.AcknowledgeCheckpoint(a)
	}
}

// CheckpointDecline routes a task's refusal of a checkpoint to its job.
func (d *Dispatcher) CheckpointDecline(dc *rpcpb.CheckpointDecline) {
	if jm := d.jobOf(dc.GetExecutionId()); jm != nil {
		jm.DeclineCheckpoint(dc)
	}
}

func (d *Dispatcher) jobOf(exec string) *jobmaster.JobMaster {
	job, _, _, err := jobmaster.ParseExecutionID(exec)
	if err != nil {
		return nil
	}
	jm, err := d.Job(job)
	if err != nil {
		return nil
	}
	return jm
}

// Lost fails the tasks a lost TaskManager ran.
func (d *Dispatcher) Lost(l resources.Lost) {
	d.dropConns()
	for _, job := range l.Jobs {
		if jm, err := d.Job(job); err == nil {
			jm.TaskManagerLost(l.ID, "it missed its heartbeats or registered anew")
		}
	}
}

// Close closes the TaskExecutor connections.
func (d *Dispatcher) Close() {
	d.connMu.Lock()
	defer d.connMu.Unlock()
	for addr, c := range d.conns {
		_ = c.Close()
		delete(d.conns, addr)
	}
}

// slots allocates from the ResourceManager's registry.
type slots struct{ d *Dispatcher }

func (s slots) Allocate(job string, n int) ([]jobmaster.Location, error) {
	var out []jobmaster.Location
	var err error
	s.d.cfg.RM.Registry(func(reg *resources.Registry) {
		var picked []execgraph.Slot
		if picked, err = execgraph.PickSlots(n, reg.FreeSlots()); err != nil {
			return
		}
		if err = reg.Allocate(job, picked); err != nil {
			return
		}
		for _, p := range picked {
			tm, _ := reg.Get(p.TaskManager)
			out = append(out, jobmaster.Location{Slot: p, DataAddress: tm.DataAddress})
		}
	})
	return out, err
}

func (s slots) Release(job string) {
	s.d.cfg.RM.Registry(func(reg *resources.Registry) { reg.Release(job) })
}

// gateway calls TaskExecutors with the leader's fence.
type gateway struct{ d *Dispatcher }

func (g gateway) client(tm string) (rpcpb.TaskExecutorClient, error) {
	if g.d.cfg.Valid != nil && !g.d.cfg.Valid() {
		return nil, fmt.Errorf("%w: not calling TaskManager %s", ErrNotLeader, tm)
	}
	var addr string
	g.d.cfg.RM.Registry(func(reg *resources.Registry) {
		if t, ok := reg.Get(tm); ok {
			addr = t.RPCAddress
		}
	})
	if addr == "" {
		return nil, fmt.Errorf("%w: %s", resources.ErrUnknown, tm)
	}
	g.d.connMu.Lock()
	defer g.d.connMu.Unlock()
	c, ok := g.d.conns[addr]
	if !ok {
		var err error
		if c, err = grpc.NewClient(addr, grpc.WithTransportCredentials(g.d.cfg.Dial)); err != nil {
			return nil, fmt.Errorf("dispatcher: TaskExecutor at %s: %w", addr, err)
		}
		g.d.conns[addr] = c
	}
	return rpcpb.NewTaskExecutorClient(c), nil
}

// dropConns closes the connections no registered TaskManager uses any more
// (the registry has forgotten a lost TaskManager's address).
func (d *Dispatcher) dropConns() {
	live := map[string]bool{}
	d.cfg.RM.Registry(func(reg *resources.Registry) {
		for _, t := range reg.List() {
			live[t.RPCAddress] = true
		}
	})
	d.connMu.Lock()
	defer d.connMu.Unlock()
	for addr, c := range d.conns {
		if !live[addr] {
			_ = c.Close()
			delete(d.conns, addr)
		}
	}
}

func (g gateway) Deploy(ctx context.Context, tm string, dep *rpcpb.TaskDeployment) error {
	c, err := g.client(tm)
	if err != nil {
		return err
	}
	_, err = c.DeployTask(ctx, &rpcpb.DeployTaskRequest{Fence: g.d.cfg.Fence, Task: dep})
	return g.check(tm, err)
}

func (g gateway) Cancel(ctx context.Context, tm, exec string) error {
	c, err := g.client(tm)
	if err != nil {
		return err
	}
	_, err = c.CancelTask(ctx, &rpcpb.CancelTaskRequest{Fence: g.d.cfg.Fence, ExecutionId: exec})
	return g.check(tm, err)
}

func (g gateway) TriggerCheckpoint(ctx context.Context, tm string, req *rpcpb.TriggerCheckpointRequest) error {
	c, err := g.client(tm)
	if err != nil {
		return err
	}
	req.Fence = g.d.cfg.Fence
	_, err = c.TriggerCheckpoint(ctx, req)
	return err
}

func (g gateway) NotifyCheckpointComplete(ctx context.Context, tm, job string, id int64) error {
	c, err := g.client(tm)
	if err != nil {
		return err
	}
	_, err = c.NotifyCheckpointComplete(ctx, &rpcpb.NotifyCheckpointRequest{Fence: g.d.cfg.Fence, JobId: job, CheckpointId: id})
	return err
}

// check expels a TaskManager that refuses connections: it is gone, and
// waiting for its heartbeats to time out would only let restarts pick its
// slots again. (A live one registers again at its next heartbeat.)
func (g gateway) check(tm string, err error) error {
	if status.Code(err) == codes.Unavailable && strings.Contains(err.Error(), "connection refused") {
		go g.d.cfg.RM.Expel(tm, err.Error())
	}
	return err
}

func (g gateway) ReleaseSlots(ctx context.Context, tm, job string) error {
	c, err := g.client(tm)
	if err != nil {
		return err
	}
	_, err = c.ReleaseSlots(ctx, &rpcpb.ReleaseSlotsRequest{Fence: g.d.cfg.Fence, JobId: job})
	return err
}

// TaskManagerView is a TaskManager in /taskmanagers.
type TaskManagerView struct {
	ID                     string     `json:"id"`
	Path                   string     `json:"path"`
	DataAddress            string     `json:"dataAddress"`
	TimeSinceLastHeartbeat int64      `json:"timeSinceLastHeartbeat"`
	SlotsNumber            int        `json:"slotsNumber"`
	FreeSlots              int        `json:"freeSlots"`
	Hardware               Hardware   `json:"hardware"`
	Memory                 MemoryView `json:"memory"`
	TasksRunning           int        `json:"tasksRunning"`
	Slots                  []SlotView `json:"slots,omitempty"`
}

// MemoryView is a TaskManager's memory use in bytes, as its last heartbeat
// reported it. TaskManagers that share a process (weir local) report the
// same rss and heapInUse.
type MemoryView struct {
	RSS       int64 `json:"rss"`
	HeapInUse int64 `json:"heapInUse"`
	Wasm      int64 `json:"wasm"`
}

// Hardware is what a TaskManager reported about its machine.
type Hardware struct {
	CPUCores       int   `json:"cpuCores"`
	PhysicalMemory int64 `json:"physicalMemory"`
}

// SlotView is one slot of a TaskManager.
type SlotView struct {
	Index int    `json:"index"`
	JobID string `json:"jobId"`
	// ExecutionIDs are the subtasks sharing the slot.
	ExecutionIDs []string `json:"executionIds"`
}

// TaskManagers lists the registered TaskManagers.
func (d *Dispatcher) TaskManagers() []TaskManagerView {
	var out []TaskManagerView
	now := time.Now()
	d.cfg.RM.Registry(func(reg *resources.Registry) {
		for _, tm := range reg.List() {
			out = append(out, view(tm, now))
		}
	})
	return out
}

// TaskManager returns one TaskManager with its slots.
func (d *Dispatcher) TaskManager(id string) (TaskManagerView, bool) {
	var v TaskManagerView
	var ok bool
	d.cfg.RM.Registry(func(reg *resources.Registry) {
		var tm *resources.TaskManager
		if tm, ok = reg.Get(id); ok {
			v = view(tm, time.Now())
			v.Slots = make([]SlotView, len(tm.Jobs))
			for i, j := range tm.Jobs {
				v.Slots[i] = SlotView{Index: i, JobID: j, ExecutionIDs: []string{}}
			}
		}
	})
	if !ok {
		return v, false
	}
	// Which subtask runs in which slot is the JobMasters' knowledge.
	for i := range v.Slots {
		if jm, err := d.Job(v.Slots[i].JobID); err == nil {
			v.Slots[i].ExecutionIDs = jm.InSlot(execgraph.Slot{TaskManager: id, Index: i})
		}
	}
	return v, true
}

func view(tm *resources.TaskManager, now time.Time) TaskManagerView {
	return TaskManagerView{
		ID: tm.ID, Path: tm.RPCAddress, DataAddress: tm.DataAddress,
		TimeSinceLastHeartbeat: now.Sub(tm.LastSeen).Milliseconds(),
		SlotsNumber:            tm.Slots, FreeSlots: tm.Free(),
		Hardware:     Hardware{CPUCores: tm.CPUCores, PhysicalMemory: tm.Memory},
		Memory:       MemoryView{RSS: tm.Status.RSS, HeapInUse: tm.Status.HeapInUse, Wasm: tm.Status.Wasm},
		TasksRunning: tm.Status.TasksRunning,
	}
}

// Counts are the cluster totals of /overview.
type Counts struct {
	TaskManagers   int `json:"taskmanagers"`
	SlotsTotal     int `json:"slots-total"`
	SlotsAvailable int `json:"slots-available"`
	JobsRunning    int `json:"jobs-running"`
	JobsFinished   int `json:"jobs-finished"`
	JobsCanceled   int `json:"jobs-cancelled"`
	JobsFailed     int `json:"jobs-failed"`
}

// Counts returns the cluster totals.
func (d *Dispatcher) Counts() Counts {
	var c Counts
	d.cfg.RM.Registry(func(reg *resources.Registry) {
		c.TaskManagers = len(reg.List())
		c.SlotsTotal, c.SlotsAvailable = reg.Totals()
	})
	for _, jm := range d.Jobs() {
		switch jm.State() {
		case "FINISHED":
			c.JobsFinished++
		case "CANCELED":
			c.JobsCanceled++
		case "FAILED":
			c.JobsFailed++
		default:
			c.JobsRunning++
		}
	}
	return c
}
