package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/weirflow/weir/internal/rpcpb"
)

// Sentinel errors of triggers.
var (
	ErrInProgress = errors.New("checkpoint: another checkpoint is in progress")
	ErrNotReady   = errors.New("checkpoint: the job is not running every task")
)

// Task is a subtask expected to acknowledge a checkpoint.
type Task struct {
	ExecutionID string
	Vertex      string
	// Source tasks get the trigger; the others see barriers.
	Source bool
}

// Status of a checkpoint in the history.
type Status string

// Statuses.
const (
	InProgress Status = "IN_PROGRESS"
	Completed  Status = "COMPLETED"
	Failed     Status = "FAILED"
)

// Entry is a checkpoint in the history (Flink's checkpoint statistics).
type Entry struct {
	ID             int64          `json:"id"`
	Status         Status         `json:"status"`
	Savepoint      bool           `json:"is_savepoint"`
	TriggerTime    int64          `json:"trigger_timestamp"`
	LatestAck      int64          `json:"latest_ack_timestamp"`
	Duration       int64          `json:"end_to_end_duration"`
	StateSize      int64          `json:"state_size"`
	Alignment      int64          `json:"alignment_buffered"`
	SyncMax        int64          `json:"sync_duration_max"`
	AsyncMax       int64          `json:"async_duration_max"`
	AlignmentMax   int64          `json:"alignment_duration_max"`
	NumSubtasks    int            `json:"num_subtasks"`
	NumAcked       int            `json:"num_acknowledged_subtasks"`
	Path           string         `json:"external_path,omitempty"`
	FailureMessage string         `json:"failure_message,omitempty"`
	Vertices       map[string]int `json:"vertex_acks"` // vertex -> acknowledged subtasks
	Tasks          []TaskAck      `json:"tasks"`
}

// TaskAck is one task's acknowledgement in a checkpoint's details.
type TaskAck struct {
	ExecutionID string `json:"execution_id"`
	Vertex      string `json:"vertex"`
	Acked       bool   `json:"acknowledged"`
	AckTime     int64  `json:"ack_timestamp"`
	Size        int64  `json:"state_size"`
	Sync        int64  `json:"sync_duration"`
	Async       int64  `json:"async_duration"`
	Alignment   int64  `json:"alignment_duration"`
}

// IO is what completing checkpoints takes: telling tasks, and committing the
// pointer to the latest complete checkpoint (in etcd).
type IO interface {
	Trigger(exec string, id int64, ts time.Time, savepoint bool)
	NotifyComplete(id int64)
	CommitPointer(id int64, path string) error
	// Reserve records that id is about to be handed out (the checkpoint id
	// counter in etcd), so a later leader never reuses it.
	Reserve(id int64) error
	// FailJob is called when more checkpoints failed in a row than tolerated.
	FailJob(err error)
}

// Coordinator coordinates the checkpoints of one job.
type Coordinator struct {
	cfg     Config
	dir     string // the job's checkpoint directory
	job     string
	jobName string
	maxP    int
	io      IO
	now     func() time.Time

	mu          sync.Mutex
	nextID      int64
	pending     *pending
	lastEnd     time.Time
	lastTrigger time.Time
	failures    int // in a row
	retained    []*Metadata
	history     []*Entry
	counts      map[Status]int
	restored    *Restored
	savepoint   *Entry // latest savepoint
}

// Restored is the checkpoint or savepoint the job started from.
type Restored struct {
	ID        int64  `json:"id"`
	Path      string `json:"external_path"`
	Savepoint bool   `json:"is_savepoint"`
	Time      int64  `json:"restore_timestamp"`
}

type pending struct {
	entry     *Entry
	dir       string
	waiting   map[string]int // execution id -> index in entry.Tasks
	states    []State
	savepoint string // target directory of a savepoint
	done      []chan Result
	timer     *time.Timer
}

// Result is the outcome of a checkpoint (for savepoint waiters).
type Result struct {
	ID   int64
	Path string
	Err  error
}

// New returns a coordinator for a job whose checkpoints go under dir
// (chk-<n> subdirectories).
func New(cfg Config, dir, job, jobName string, maxParallelism int, io IO) *Coordinator {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.Retained <= 0 {
		cfg.Retained = 3
	}
	return &Coordinator{
		cfg: cfg, dir: dir, job: job, jobName: jobName, maxP: maxParallelism, io: io, now: time.Now,
		nextID: 1, counts: map[Status]int{}, lastTrigger: time.Now(),
	}
}

// Config returns the coordinator's configuration.
func (c *Coordinator) Config() Config { return c.cfg }

// Dir is the job's checkpoint directory.
func (c *Coordinator) Dir() string { return c.dir }

// SetRestored records the checkpoint the job starts from; later checkpoint
// ids continue after it.
func (c *Coordinator) SetRestored(md *Metadata, path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.restored = &Restored{ID: md.Checkpoint, Path: path, Savepoint: md.Savepoint, Time: c.now().UnixMilli()}
	c.nextID = max(c.nextID, md.Checkpoint+1)
}

// ContinueAfter makes later checkpoint ids greater than id (the highest a
// previous leader handed out).
func (c *Coordinator) ContinueAfter(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID = max(c.nextID, id+1)
}

// Due reports whether a periodic checkpoint should be triggered now.
func (c *Coordinator) Due() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.cfg.Enabled() || c.pending != nil {
		return false
	}
	now := c.now()
	return !now.Before(c.lastTrigger.Add(c.cfg.Interval)) && !now.Before(c.lastEnd.Add(c.cfg.MinPause))
}

// Reset makes the next periodic checkpoint wait a whole interval from now
// (a job that starts or restarts).
func (c *Coordinator) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastTrigger = c.now()
}

// Trigger starts a checkpoint over tasks (every subtask of the running
// attempt). With savepoint set, the completed checkpoint is also copied to
// target. The returned channel, if wanted, receives the outcome.
func (c *Coordinator) Trigger(tasks []Task, savepoint bool, target string) (int64, <-chan Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending != nil {
		return 0, nil, fmt.Errorf("%w (%d)", ErrInProgress, c.pending.entry.ID)
	}
	id := c.nextID
	if err := c.io.Reserve(id); err != nil {
		return 0, nil, fmt.Errorf("checkpoint %d: %w", id, err)
	}
	c.nextID++
	now := c.now()
	c.lastTrigger = now
	e := &Entry{ID: id, Status: InProgress, Savepoint: savepoint, TriggerTime: now.UnixMilli(), NumSubtasks: len(tasks), Vertices: map[string]int{}}
	p := &pending{entry: e, dir: filepath.Join(c.dir, fmt.Sprintf("chk-%d", id)), waiting: map[string]int{}, savepoint: target}
	for i, t := range tasks {
		e.Tasks = append(e.Tasks, TaskAck{ExecutionID: t.ExecutionID, Vertex: t.Vertex})
		p.waiting[t.ExecutionID] = i
		if _, ok := e.Vertices[t.Vertex]; !ok {
			e.Vertices[t.Vertex] = 0
		}
	}
	ch := make(chan Result, 1)
	p.done = append(p.done, ch)
	c.pending = p
	c.history = append(c.history, e)
	if len(c.history) > 100 {
		c.history = c.history[len(c.history)-100:]
	}
	c.counts[InProgress]++
	p.timer = time.AfterFunc(c.cfg.Timeout, func() { c.abort(id, fmt.Errorf("checkpoint %d expired after %s", id, c.cfg.Timeout), true) })
	for _, t := range tasks {
		if t.Source {
			c.io.Trigger(t.ExecutionID, id, now, savepoint)
		}
	}
	return id, ch, nil
}

// Ack records a task's acknowledgement; the last one completes the checkpoint.
func (c *Coordinator) Ack(a *rpcpb.CheckpointAck) {
	c.mu.Lock()
	p := c.pending
	if p == nil || p.entry.ID != a.GetCheckpointId() {
		c.mu.Unlock()
		return // late or unknown: its files are cleaned with its directory
	}
	i, ok := p.waiting[a.GetExecutionId()]
	if !ok {
		c.mu.Unlock()
		return
	}
	delete(p.waiting, a.GetExecutionId())
	now := c.now()
	t := &p.entry.Tasks[i]
	t.Acked, t.AckTime = true, now.UnixMilli()
	t.Sync, t.Async, t.Alignment = a.GetSyncMs(), a.GetAsyncMs(), a.GetAlignmentMs()
	states := FromProto(a.GetStates())
	for _, s := range states {
		t.Size += s.Size
	}
	p.states = append(p.states, states...)
	e := p.entry
	e.NumAcked++
	e.Vertices[t.Vertex]++
	e.LatestAck = t.AckTime
	e.StateSize += t.Size
	e.SyncMax, e.AsyncMax, e.AlignmentMax = max(e.SyncMax, t.Sync), max(e.AsyncMax, t.Async), max(e.AlignmentMax, t.Alignment)
	if len(p.waiting) > 0 {
		c.mu.Unlock()
		return
	}
	c.pending = nil
	p.timer.Stop()
	c.mu.Unlock()
	c.complete(p)
}

// complete writes _metadata and commits the pointer; then tasks are told.
func (c *Coordinator) complete(p *pending) {
	e := p.entry
	sort.Slice(p.states, func(i, j int) bool {
		if p.states[i].Node != p.states[j].Node {
			return p.states[i].Node < p.states[j].Node
		}
		return p.states[i].Subtask < p.states[j].Subtask
	})
	md := &Metadata{
		Job: c.job, JobName: c.jobName, Checkpoint: e.ID, Timestamp: e.TriggerTime, Savepoint: e.Savepoint,
		MaxParallelism: c.maxP, States: p.states,
	}
	err := WriteMetadata(p.dir, md)
	path := p.dir
	if err == nil && p.savepoint != "" {
		path = p.savepoint
		err = CopyDir(p.dir, p.savepoint)
	}
	if err == nil && !e.Savepoint {
		err = c.io.CommitPointer(e.ID, p.dir)
	}
	if err != nil {
		c.finish(p, fmt.Errorf("completing checkpoint %d: %w", e.ID, err), true)
		return
	}
	c.mu.Lock()
	now := c.now()
	e.Status, e.Duration, e.Path = Completed, now.UnixMilli()-e.TriggerTime, path
	c.counts[InProgress]--
	c.counts[Completed]++
	c.lastEnd = now
	c.failures = 0
	if e.Savepoint {
		c.savepoint = e
	}
	c.retained = append(c.retained, md)
	var drop []*Metadata
	if len(c.retained) > c.cfg.Retained {
		drop = c.retained[:len(c.retained)-c.cfg.Retained]
		c.retained = c.retained[len(c.retained)-c.cfg.Retained:]
	}
	c.mu.Unlock()
	for _, d := range drop {
		_ = os.RemoveAll(filepath.Join(c.dir, fmt.Sprintf("chk-%d", d.Checkpoint)))
	}
	c.io.NotifyComplete(e.ID)
	for _, ch := range p.done {
		ch <- Result{ID: e.ID, Path: path}
	}
}

// Decline aborts a checkpoint a task could not take.
func (c *Coordinator) Decline(d *rpcpb.CheckpointDecline) {
	c.abort(d.GetCheckpointId(), fmt.Errorf("task %s declined checkpoint %d: %s", d.GetExecutionId(), d.GetCheckpointId(), d.GetReason()), true)
}

// AbortPending aborts the checkpoint in progress because the job is failing
// or stopping; it does not count against the tolerable failures.
func (c *Coordinator) AbortPending(why string) {
	c.mu.Lock()
	p := c.pending
	c.mu.Unlock()
	if p != nil {
		c.abort(p.entry.ID, errors.New(why), false)
	}
}

func (c *Coordinator) abort(id int64, err error, counts bool) {
	c.mu.Lock()
	p := c.pending
	if p == nil || p.entry.ID != id {
		c.mu.Unlock()
		return
	}
	c.pending = nil
	p.timer.Stop()
	c.mu.Unlock()
	c.finish(p, err, counts)
}

// finish fails a checkpoint: its directory goes, and too many failures in a
// row fail the job.
func (c *Coordinator) finish(p *pending, err error, counts bool) {
	_ = os.RemoveAll(p.dir)
	c.mu.Lock()
	now := c.now()
	e := p.entry
	e.Status, e.Duration, e.FailureMessage = Failed, now.UnixMilli()-e.TriggerTime, err.Error()
	c.counts[InProgress]--
	c.counts[Failed]++
	c.lastEnd = now
	fail := false
	if counts {
		c.failures++
		fail = c.failures > c.cfg.Tolerable
	}
	n := c.failures
	c.mu.Unlock()
	for _, ch := range p.done {
		ch <- Result{ID: e.ID, Err: err}
	}
	if fail {
		c.io.FailJob(fmt.Errorf("%d checkpoints failed in a row, more than the %d tolerated (%s): last: %w", n, c.cfg.Tolerable, KeyTolerable, err))
	}
}

// Latest returns the latest completed checkpoint's metadata and directory,
// or nil.
func (c *Coordinator) Latest() (*Metadata, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.retained) == 0 {
		return nil, ""
	}
	md := c.retained[len(c.retained)-1]
	return md, filepath.Join(c.dir, fmt.Sprintf("chk-%d", md.Checkpoint))
}

// Stats is /jobs/:id/checkpoints in Flink's shape.
type Stats struct {
	Counts struct {
		Restored   int `json:"restored"`
		Total      int `json:"total"`
		InProgress int `json:"in_progress"`
		Completed  int `json:"completed"`
		Failed     int `json:"failed"`
	} `json:"counts"`
	Latest struct {
		Completed *Entry    `json:"completed"`
		Savepoint *Entry    `json:"savepoint"`
		Failed    *Entry    `json:"failed"`
		Restored  *Restored `json:"restored"`
	} `json:"latest"`
	History []Entry `json:"history"`
}

// Stats returns the checkpoint statistics (history newest first).
func (c *Coordinator) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s Stats
	s.Counts.InProgress, s.Counts.Completed, s.Counts.Failed = c.counts[InProgress], c.counts[Completed], c.counts[Failed]
	s.Counts.Total = s.Counts.InProgress + s.Counts.Completed + s.Counts.Failed
	if c.restored != nil {
		s.Counts.Restored = 1
		r := *c.restored
		s.Latest.Restored = &r
	}
	s.History = make([]Entry, 0, len(c.history))
	for i := len(c.history) - 1; i >= 0; i-- {
		e := *c.history[i]
		e.Tasks = nil
		s.History = append(s.History, e)
		switch {
		case e.Status == Completed && !e.Savepoint && s.Latest.Completed == nil:
			s.Latest.Completed = &s.History[len(s.History)-1]
		case e.Status == Failed && s.Latest.Failed == nil:
			s.Latest.Failed = &s.History[len(s.History)-1]
		}
	}
	if c.savepoint != nil {
		e := *c.savepoint
		e.Tasks = nil
		s.Latest.Savepoint = &e
	}
	return s
}

// Details returns one checkpoint of the history with its tasks' acks.
func (c *Coordinator) Details(id int64) (Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.history {
		if e.ID == id {
			d := *e
			d.Tasks = append([]TaskAck(nil), e.Tasks...)
			return d, true
		}
	}
	return Entry{}, false
}
