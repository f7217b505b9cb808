// Package jobmaster runs one job in the JobManager: it allocates slots,
// deploys the execution graph's subtasks to TaskManagers, follows their
// reports through the job state machine (jobstate), cancels and restarts
// them, and keeps what the REST API shows: states, timestamps, metrics and
// exceptions.
//
// Every event (a task report, a lost TaskManager, a cancel request, a due
// restart) takes the JobMaster's lock, feeds the state machine and starts the
// actions it asks for; RPCs run in goroutines and report back as events.
package jobmaster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/control/internal/checkpoint"
	"github.com/weirflow/weir/control/internal/execgraph"
	"github.com/weirflow/weir/control/internal/jobstate"
	"github.com/weirflow/weir/control/internal/restart"
	"github.com/weirflow/weir/internal/keygroup"
	"github.com/weirflow/weir/internal/rpcpb"
)

// ErrTerminal means a request (cancel) for a job that has already ended.
var ErrTerminal = errors.New("jobmaster: job already ended")

// Gateway reaches TaskManagers' TaskExecutor services.
type Gateway interface {
	Deploy(ctx context.Context, tm string, d *rpcpb.TaskDeployment) error
	Cancel(ctx context.Context, tm, executionID string) error
	ReleaseSlots(ctx context.Context, tm, job string) error
	TriggerCheckpoint(ctx context.Context, tm string, req *rpcpb.TriggerCheckpointRequest) error
	NotifyCheckpointComplete(ctx context.Context, tm, job string, id int64) error
}

// Location is an allocated slot and where its TaskManager exchanges data.
type Location struct {
	Slot        execgraph.Slot
	DataAddress string
}

// Slots allocates slots from the ResourceManager.
type Slots interface {
	// Allocate picks and allocates n free slots for job, all or nothing; it
	// fails with execgraph.ErrNotEnoughSlots when too few are free.
	Allocate(job string, n int) ([]Location, error)
	// Release frees every slot of job.
	Release(job string)
}

// Config describes a job and what its JobMaster works with.
type Config struct {
	JobID string
	Plan  *abi.Plan
	// Artifact is the module's sha256 (TaskManagers fetch it from the
	// ResourceManager).
	Artifact string
	// ArtifactName, ProgramArgs and SavepointPath are what the job was
	// submitted with, shown in its configuration view.
	ArtifactName  string
	ProgramArgs   []string
	SavepointPath string
	// Strategy is the restart strategy.
	Strategy restart.Strategy
	Gateway  Gateway
	Slots    Slots
	// SlotTimeout bounds the wait for free slots before the attempt fails
	// (Flink's slot.request.timeout; default 5 minutes).
	SlotTimeout time.Duration
	// RPCTimeout bounds each TaskExecutor call (default 10 s).
	RPCTimeout time.Duration
	// Checkpoints configures periodic checkpoints; CheckpointDir is where the
	// job's checkpoints go (chk-<n> below it; a directory every TaskManager
	// can write). CommitPointer records the latest complete checkpoint.
	Checkpoints   checkpoint.Config
	CheckpointDir string
	CommitPointer func(id int64, path string) error
	// Restore, when set, is the savepoint or checkpoint the job starts from
	// (RestorePath its directory); AllowNonRestored lets a job start whose
	// plan lacks operators the savepoint has state for.
	Restore          *checkpoint.Metadata
	RestorePath      string
	AllowNonRestored bool
	// FirstAttempt numbers the first deployment (a job recovered by a new
	// leader continues after the attempts of the previous one), and
	// CheckpointsAfter makes its checkpoint ids continue after that one.
	FirstAttempt     int
	CheckpointsAfter int64
	// BeforeDeploy is called with each attempt before any of its tasks is
	// deployed, ReserveCheckpoint with each checkpoint id before it is
	// triggered (both record it in etcd). An error means this JobManager
	// no longer leads: the JobMaster suspends itself.
	BeforeDeploy      func(attempt int) error
	ReserveCheckpoint func(id int64) error
	Logger            *slog.Logger
	Now               func() time.Time
}

// JobMaster runs one job.
type JobMaster struct {
	cfg   Config
	graph *execgraph.Graph
	log   *slog.Logger

	mu         sync.Mutex
	job        *jobstate.Job
	subtasks   map[string]*subtask // by "vertex#i"
	order      []string
	timestamps map[jobstate.State]time.Time // last entry into each state
	lastState  jobstate.State
	start, end time.Time
	modified   time.Time
	exceptions []Exception
	tms        map[string]bool // TaskManagers the job has used, for ReleaseSlots
	restartT   *time.Timer
	done       chan struct{}
	// suspended is closed when the JobMaster stops acting without ending
	// the job (its JobManager lost the leadership; another recovers it).
	suspended chan struct{}

	coord      *checkpoint.Coordinator
	savepoints map[string]*SavepointStatus // by trigger id
	terminate  bool                        // a stop-with-savepoint is under way
}

// SavepointStatus is the state of a savepoint request.
type SavepointStatus struct {
	Status   string `json:"status"` // IN_PROGRESS or COMPLETED
	Location string `json:"location,omitempty"`
	Failure  string `json:"failure-cause,omitempty"`
}

type subtask struct {
	vertex *execgraph.Vertex
	index  int
	// Of the current attempt:
	loc        Location
	placed     bool // a slot was allocated and a deployment sent
	start, end time.Time
	metrics    *rpcpb.TaskMetrics
	// sampled is when metrics arrived; inRate and outRate are the records
	// per second between the last two samples.
	sampled         time.Time
	inRate, outRate float64
}

// sample stores a subtask's metrics and derives its record rates from the
// previous sample of the same attempt.
func (st *subtask) sample(tm *rpcpb.TaskMetrics, now time.Time) {
	if prev := st.metrics; prev != nil {
		if dt := now.Sub(st.sampled).Seconds(); dt >= 0.1 {
			st.inRate = max(0, float64(tm.GetRecordsIn()-prev.GetRecordsIn())/dt)
			st.outRate = max(0, float64(tm.GetRecordsOut()-prev.GetRecordsOut())/dt)
		} else {
			return // too close to the last sample to measure a rate: keep that one
		}
	}
	st.metrics, st.sampled = tm, now
}

// New builds the execution graph of the plan; the job is CREATED until Start.
func New(cfg Config) (*JobMaster, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SlotTimeout <= 0 {
		cfg.SlotTimeout = 5 * time.Minute
	}
	if cfg.RPCTimeout <= 0 {
		cfg.RPCTimeout = 10 * time.Second
	}
	if cfg.Strategy == nil {
		cfg.Strategy = restart.None{}
	}
	g, err := execgraph.Build(cfg.Plan)
	if err != nil {
		return nil, err
	}
	m := &JobMaster{
		cfg: cfg, graph: g, log: cfg.Logger.With("job", cfg.JobID, "name", cfg.Plan.Name),
		subtasks: map[string]*subtask{}, timestamps: map[jobstate.State]time.Time{},
		tms: map[string]bool{}, done: make(chan struct{}), suspended: make(chan struct{}),
	}
	for _, v := range g.Vertices {
		for i := 0; i < v.Parallelism; i++ {
			id := execgraph.Subtask{Vertex: v.ID, Index: i}.ID()
			m.subtasks[id] = &subtask{vertex: v, index: i}
			m.order = append(m.order, id)
		}
	}
	m.job = jobstate.New(m.order, cfg.Strategy)
	m.job.Attempt = cfg.FirstAttempt
	m.savepoints = map[string]*SavepointStatus{}
	if m.cfg.CommitPointer == nil {
		m.cfg.CommitPointer = func(int64, string) error { return nil }
	}
	if m.cfg.BeforeDeploy == nil {
		m.cfg.BeforeDeploy = func(int) error { return nil }
	}
	if m.cfg.ReserveCheckpoint == nil {
		m.cfg.ReserveCheckpoint = func(int64) error { return nil }
	}
	m.coord = checkpoint.New(cfg.Checkpoints, cfg.CheckpointDir, cfg.JobID, cfg.Plan.Name, g.MaxParallelism, coordIO{m})
	m.coord.ContinueAfter(cfg.CheckpointsAfter)
	if cfg.Restore != nil {
		if err := m.checkRestore(); err != nil {
			return nil, err
		}
		m.coord.SetRestored(cfg.Restore, cfg.RestorePath)
	}
	now := cfg.Now()
	m.start, m.modified = now, now
	m.timestamps[jobstate.Created], m.lastState = now, jobstate.Created
	return m, nil
}

// ID is the job id.
func (m *JobMaster) ID() string { return m.cfg.JobID }

// SlotsNeeded is the number of slots the job takes (slot sharing: its
// highest parallelism).
func (m *JobMaster) SlotsNeeded() int { return m.graph.Slots() }

// Done is closed when the job reached a terminal state.
func (m *JobMaster) Done() <-chan struct{} { return m.done }

// State is the job's state.
func (m *JobMaster) State() jobstate.State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.job.State
}

// Suspend makes the JobMaster stop acting, leaving the job's tasks and
// recorded state alone: its JobManager no longer leads, and the next leader
// recovers the job. Nothing it does afterwards reaches a TaskManager.
func (m *JobMaster) Suspend(why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.suspend(why)
}

// suspend is Suspend with mu held.
func (m *JobMaster) suspend(why string) {
	select {
	case <-m.suspended:
		return
	default:
	}
	close(m.suspended)
	if m.restartT != nil {
		m.restartT.Stop()
	}
	m.log.Info("job master suspended", "why", why, "state", m.job.State)
	go m.coord.AbortPending("the JobManager no longer leads")
}

// Suspended is closed once the JobMaster was suspended.
func (m *JobMaster) Suspended() <-chan struct{} { return m.suspended }

func (m *JobMaster) isSuspended() bool {
	select {
	case <-m.suspended:
		return true
	default:
		return false
	}
}

// ExecutionID names one attempt of a subtask: "<job>/<vertex>#<i>@<attempt>".
func ExecutionID(job, task string, attempt int) string {
	return fmt.Sprintf("%s/%s@%d", job, task, attempt)
}

// ParseExecutionID splits an execution id into job, task ("vertex#i") and
// attempt.
func ParseExecutionID(id string) (job, task string, attempt int, err error) {
	job, rest, ok := strings.Cut(id, "/")
	at := strings.LastIndexByte(rest, '@')
	if !ok || at < 0 {
		return "", "", 0, fmt.Errorf("jobmaster: malformed execution id %q", id)
	}
	attempt, err = strconv.Atoi(rest[at+1:])
	if err != nil {
		return "", "", 0, fmt.Errorf("jobmaster: malformed execution id %q: %w", id, err)
	}
	return job, rest[:at], attempt, nil
}

// Start schedules the job.
func (m *JobMaster) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	acts, err := m.job.Start(m.cfg.Now())
	if err != nil {
		return err
	}
	m.apply(acts)
	go m.checkpointLoop()
	return nil
}

// Cancel is a user's cancel request.
func (m *JobMaster) Cancel() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.job.State.Terminal() {
		return fmt.Errorf("%w: it is %s", ErrTerminal, m.job.State)
	}
	if m.job.State == jobstate.Canceling {
		return nil
	}
	acts, err := m.job.Cancel(m.cfg.Now())
	if err != nil {
		return err
	}
	m.apply(acts)
	return nil
}

// TaskReport applies a TaskManager's report about one of the job's tasks.
func (m *JobMaster) TaskReport(r *rpcpb.TaskStateReport) {
	_, task, attempt, err := ParseExecutionID(r.GetExecutionId())
	if err != nil {
		m.log.Warn("ignoring a task report", "err", err)
		return
	}
	state, ok := taskStates[r.GetState()]
	if !ok {
		return // DEPLOYING and others carry no transition the job needs
	}
	var cause error
	if state == jobstate.TaskFailed {
		cause = errors.New(r.GetError())
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if st, ok := m.subtasks[task]; ok && attempt == m.job.Attempt && r.GetMetrics() != nil {
		st.metrics, st.sampled = r.GetMetrics(), m.cfg.Now() // the final counts
		st.inRate, st.outRate = 0, 0
	}
	if state == jobstate.TaskFailed {
		m.recordException(task, attempt, r.GetTaskManagerId(), r.GetError(), r.GetGuestLogs())
	}
	m.update(task, attempt, state, cause)
}

var taskStates = map[rpcpb.TaskState]jobstate.TaskState{
	rpcpb.TaskState_TASK_STATE_RUNNING:  jobstate.TaskRunning,
	rpcpb.TaskState_TASK_STATE_FINISHED: jobstate.TaskFinished,
	rpcpb.TaskState_TASK_STATE_CANCELED: jobstate.TaskCanceled,
	rpcpb.TaskState_TASK_STATE_FAILED:   jobstate.TaskFailed,
}

// TaskManagerLost fails the live tasks that ran on a TaskManager which is
// gone (missed heartbeats or refused RPCs).
func (m *JobMaster) TaskManagerLost(tm string, why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range m.order {
		st := m.subtasks[id]
		if !st.placed || st.loc.Slot.TaskManager != tm {
			continue
		}
		switch m.job.Task(id) {
		case jobstate.TaskFinished, jobstate.TaskCanceled, jobstate.TaskFailed:
			continue
		}
		msg := fmt.Sprintf("TaskManager %s lost: %s", tm, why)
		m.recordException(id, m.job.Attempt, tm, msg, nil)
		m.update(id, m.job.Attempt, jobstate.TaskFailed, errors.New(msg))
	}
}

// Metrics stores a subtask's latest metrics from a heartbeat.
func (m *JobMaster) Metrics(tm *rpcpb.TaskMetrics) {
	_, task, attempt, err := ParseExecutionID(tm.GetExecutionId())
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.job.Task(task) {
	case jobstate.TaskFinished, jobstate.TaskCanceled, jobstate.TaskFailed:
		return // a heartbeat sampled before the final report came with it
	}
	if st, ok := m.subtasks[task]; ok && attempt == m.job.Attempt {
		st.sample(tm, m.cfg.Now())
	}
}

// update feeds one task transition to the state machine. Called with mu held.
func (m *JobMaster) update(task string, attempt int, s jobstate.TaskState, cause error) {
	now := m.cfg.Now()
	acts, err := m.job.TaskUpdate(now, task, attempt, s, cause)
	if err != nil {
		m.log.Warn("ignoring a task update", "task", task, "err", err)
		return
	}
	if st := m.subtasks[task]; st != nil && attempt == m.job.Attempt {
		switch s {
		case jobstate.TaskRunning:
			st.start = now
		case jobstate.TaskFinished, jobstate.TaskCanceled, jobstate.TaskFailed:
			st.end = now
		}
	}
	m.apply(acts)
}

// apply performs the state machine's actions. Called with mu held.
func (m *JobMaster) apply(acts []jobstate.Action) {
	if m.isSuspended() {
		return
	}
	now := m.cfg.Now()
	m.modified = now
	if m.job.State != m.lastState {
		m.timestamps[m.job.State], m.lastState = now, m.job.State
		if m.job.State != jobstate.Running {
			go m.coord.AbortPending(fmt.Sprintf("the job is %s", m.job.State))
		}
	}
	for _, a := range acts {
		switch a.Kind {
		case jobstate.Deploy:
			m.deploy(a.Attempt)
		case jobstate.Cancel:
			m.cancelTasks(a.Tasks, a.Attempt)
		case jobstate.ScheduleRestart:
			m.restartT = time.AfterFunc(a.Delay, m.restart)
		case jobstate.ReleaseSlots:
			m.finish()
		}
	}
}

func (m *JobMaster) restart() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.job.State != jobstate.Restarting {
		return
	}
	acts, err := m.job.Restart(m.cfg.Now())
	if err != nil {
		m.log.Warn("restart", "err", err)
		return
	}
	m.log.Info("restarting the job", "attempt", m.job.Attempt)
	m.apply(acts)
}

// deploy allocates slots for an attempt and sends every deployment. Called
// with mu held; the work runs in a goroutine.
func (m *JobMaster) deploy(attempt int) {
	for _, st := range m.subtasks {
		st.placed, st.start, st.end, st.metrics = false, time.Time{}, time.Time{}, nil
		st.inRate, st.outRate = 0, 0
	}
	m.coord.Reset()
	go func() {
		locs, err := m.allocate(attempt)
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.job.Attempt != attempt || m.job.State != jobstate.Running || m.isSuspended() {
			if err == nil {
				m.cfg.Slots.Release(m.cfg.JobID)
			}
			return
		}
		if err == nil {
			if perr := m.cfg.BeforeDeploy(attempt); perr != nil {
				m.cfg.Slots.Release(m.cfg.JobID)
				m.suspend(fmt.Sprintf("attempt %d not recorded: %v", attempt, perr))
				return
			}
			var deps map[string]*rpcpb.TaskDeployment
			if deps, err = m.deployments(attempt, locs); err == nil {
				for _, id := range m.order {
					st := m.subtasks[id]
					st.loc, st.placed = locs[st.index], true
					m.tms[st.loc.Slot.TaskManager] = true
					go m.send(id, attempt, st.loc.Slot.TaskManager, deps[id])
				}
				return
			}
		}
		// The attempt cannot run: fail its first task; the state machine
		// cancels the others (never placed, so at once) and restarts.
		m.recordException(m.order[0], attempt, "", err.Error(), nil)
		m.update(m.order[0], attempt, jobstate.TaskFailed, err)
	}()
}

// allocate waits for enough free slots, up to SlotTimeout.
func (m *JobMaster) allocate(attempt int) ([]Location, error) {
	n := m.graph.Slots()
	deadline := time.Now().Add(m.cfg.SlotTimeout)
	m.cfg.Slots.Release(m.cfg.JobID)
	for wait := 20 * time.Millisecond; ; wait = min(wait*2, 500*time.Millisecond) {
		locs, err := m.cfg.Slots.Allocate(m.cfg.JobID, n)
		if err == nil {
			return locs, nil
		}
		if !errors.Is(err, execgraph.ErrNotEnoughSlots) || time.Now().After(deadline) {
			return nil, fmt.Errorf("could not allocate %d slots within %s: %w", n, m.cfg.SlotTimeout, err)
		}
		select {
		case <-m.done:
			return nil, fmt.Errorf("%w while waiting for slots", ErrTerminal)
		case <-m.suspended:
			return nil, errors.New("suspended while waiting for slots")
		case <-time.After(wait):
		}
		m.mu.Lock()
		stale := m.job.Attempt != attempt || m.job.State != jobstate.Running
		m.mu.Unlock()
		if stale {
			return nil, errors.New("attempt superseded while waiting for slots")
		}
	}
}

func (m *JobMaster) send(task string, attempt int, tm string, d *rpcpb.TaskDeployment) {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.RPCTimeout)
	defer cancel()
	if err := m.cfg.Gateway.Deploy(ctx, tm, d); err != nil {
		err = fmt.Errorf("deploy %s to TaskManager %s: %w", d.GetExecutionId(), tm, err)
		m.mu.Lock()
		defer m.mu.Unlock()
		m.recordException(task, attempt, tm, err.Error(), nil)
		m.update(task, attempt, jobstate.TaskFailed, err)
	}
}

// cancelTasks asks TaskManagers to cancel tasks. A task that was never
// deployed, or whose TaskManager cannot be reached, counts as canceled.
// Called with mu held.
func (m *JobMaster) cancelTasks(tasks []string, attempt int) {
	for _, id := range tasks {
		st := m.subtasks[id]
		if !st.placed {
			m.update(id, attempt, jobstate.TaskCanceled, nil)
			continue
		}
		tm, exec := st.loc.Slot.TaskManager, ExecutionID(m.cfg.JobID, id, attempt)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), m.cfg.RPCTimeout)
			defer cancel()
			if err := m.cfg.Gateway.Cancel(ctx, tm, exec); err != nil {
				m.log.Warn("cancel failed; counting the task as canceled", "task", exec, "taskmanager", tm, "err", err)
				m.mu.Lock()
				defer m.mu.Unlock()
				m.update(id, attempt, jobstate.TaskCanceled, nil)
			}
		}()
	}
}

// finish releases the job's slots once it is terminal. Called with mu held.
func (m *JobMaster) finish() {
	if m.restartT != nil {
		m.restartT.Stop()
	}
	m.end = m.cfg.Now()
	m.cfg.Slots.Release(m.cfg.JobID)
	for tm := range m.tms {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), m.cfg.RPCTimeout)
			defer cancel()
			if err := m.cfg.Gateway.ReleaseSlots(ctx, tm, m.cfg.JobID); err != nil {
				m.log.Debug("release slots", "taskmanager", tm, "err", err)
			}
		}()
	}
	if m.job.State.Terminal() {
		select {
		case <-m.done:
		default:
			m.log.Info("job ended", "state", m.job.State)
			close(m.done)
		}
	}
}

// deployments builds every subtask's TaskDeployment for an attempt.
func (m *JobMaster) deployments(attempt int, locs []Location) (map[string]*rpcpb.TaskDeployment, error) {
	out := map[string]*rpcpb.TaskDeployment{}
	consumers := map[string][]execgraph.Edge{} // vertex -> edges out of it
	for _, v := range m.graph.Vertices {
		for _, e := range v.Inputs {
			consumers[e.Source] = append(consumers[e.Source], e)
		}
	}
	md, path := m.coord.Latest()
	if md == nil && m.cfg.Restore != nil {
		md, path = m.cfg.Restore, m.cfg.RestorePath
	}
	restore := func(v *execgraph.Vertex) *rpcpb.RestoreState {
		if md == nil {
			return nil
		}
		rs := &rpcpb.RestoreState{CheckpointId: md.Checkpoint, Path: path}
		for _, n := range v.Nodes {
			for _, st := range md.States {
				if st.Node == n.ID {
					rs.States = append(rs.States, checkpoint.ToProto([]checkpoint.State{st})...)
				}
			}
		}
		return rs
	}
	for _, v := range m.graph.Vertices {
		chain, err := json.Marshal(v.Nodes)
		if err != nil {
			return nil, err
		}
		var outputs []*rpcpb.ResultPartition
		for _, e := range consumers[v.ID] {
			n := int32(m.graph.Vertex(e.Target).Parallelism)
			if e.Partition == "forward" {
				n = 1
			}
			outputs = append(outputs, &rpcpb.ResultPartition{DownstreamVertex: e.Target, Partition: e.Partition, KeyBy: e.KeyBy, Consumers: n, SideOutput: e.Side})
		}
		for i := 0; i < v.Parallelism; i++ {
			task := execgraph.Subtask{Vertex: v.ID, Index: i}.ID()
			kg := keygroup.RangeOf(m.graph.MaxParallelism, v.Parallelism, i)
			d := &rpcpb.TaskDeployment{
				JobId: m.cfg.JobID, ExecutionId: ExecutionID(m.cfg.JobID, task, attempt),
				VertexId: v.ID, Subtask: int32(i), Parallelism: int32(v.Parallelism),
				MaxParallelism: int32(m.graph.MaxParallelism), Attempt: int32(attempt),
				Slot: int32(locs[i].Slot.Index), ArtifactSha256: m.cfg.Artifact, ArtifactName: m.cfg.ArtifactName,
				ChainJson: chain, Outputs: outputs, Config: m.cfg.Plan.Config,
				KeyGroupStart: int32(kg.Start), KeyGroupEnd: int32(kg.End),
				CheckpointDir: m.cfg.CheckpointDir, Restore: restore(v), Checkpointing: m.cfg.Checkpoints.Enabled(),
			}
			for _, e := range v.Inputs {
				gate := &rpcpb.InputGate{UpstreamVertex: e.Source, Partition: e.Partition}
				up := m.graph.Vertex(e.Source)
				chans, err := m.graph.Channels(e)
				if err != nil {
					return nil, err
				}
				for j := 0; j < up.Parallelism; j++ {
					for _, k := range chans[j] {
						if k != i {
							continue
						}
						loc := locs[j]
						addr := loc.DataAddress
						if loc.Slot.TaskManager == locs[i].Slot.TaskManager {
							addr = ""
						}
						gate.Producers = append(gate.Producers, &rpcpb.ProducerLocation{
							Subtask: int32(j), DataAddress: addr,
							ExecutionId: ExecutionID(m.cfg.JobID, execgraph.Subtask{Vertex: up.ID, Index: j}.ID(), attempt),
						})
					}
				}
				d.Inputs = append(d.Inputs, gate)
			}
			out[task] = d
		}
	}
	return out, nil
}

// Exception is one failure in the job's history.
type Exception struct {
	Name          string   `json:"exceptionName"`
	Stacktrace    string   `json:"stacktrace"`
	Timestamp     int64    `json:"timestamp"`
	TaskName      string   `json:"taskName"`
	Location      string   `json:"location"`
	TaskManagerID string   `json:"taskManagerId"`
	GuestLogs     []string `json:"guestLogs"`
}

// maxExceptions bounds the exception history.
const maxExceptions = 100

// recordException adds a task failure to the history. Called with mu held.
func (m *JobMaster) recordException(task string, attempt int, tm, msg string, logs []string) {
	if attempt != m.job.Attempt {
		return
	}
	st := m.subtasks[task]
	name := task
	loc := ""
	if st != nil {
		name = fmt.Sprintf("%s (%d/%d)", st.vertex.Name, st.index+1, st.vertex.Parallelism)
		if st.placed {
			loc = st.loc.Slot.String()
			if tm == "" {
				tm = st.loc.Slot.TaskManager
			}
		}
	}
	if logs == nil {
		logs = []string{}
	}
	kind := "TaskFailure"
	switch {
	case strings.Contains(msg, "TaskManager") && strings.Contains(msg, "lost"):
		kind = "TaskManagerLost"
	case strings.Contains(msg, "slots"):
		kind = "NoResourceAvailable"
	case strings.Contains(msg, "wasm") || strings.Contains(msg, "guest"):
		kind = "GuestError"
	}
	m.exceptions = append(m.exceptions, Exception{
		Name: kind, Stacktrace: msg, Timestamp: m.cfg.Now().UnixMilli(), TaskName: name,
		Location: loc, TaskManagerID: tm, GuestLogs: logs,
	})
	if len(m.exceptions) > maxExceptions {
		m.exceptions = m.exceptions[len(m.exceptions)-maxExceptions:]
	}
}
