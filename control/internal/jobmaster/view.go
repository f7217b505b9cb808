package jobmaster

import (
	"strconv"
	"time"

	"github.com/weirflow/weir/control/internal/execgraph"
	"github.com/weirflow/weir/control/internal/jobstate"
	"github.com/weirflow/weir/internal/rpcpb"
)

// The JSON views below follow Flink's REST field names.

// TaskCounts counts subtasks per state (Flink's "tasks" of a job overview).
type TaskCounts struct {
	Total     int `json:"total"`
	Created   int `json:"created"`
	Deploying int `json:"deploying"`
	Running   int `json:"running"`
	Finished  int `json:"finished"`
	Canceling int `json:"canceling"`
	Canceled  int `json:"canceled"`
	Failed    int `json:"failed"`
}

func (c *TaskCounts) add(s jobstate.TaskState) {
	c.Total++
	switch s {
	case jobstate.TaskCreated:
		c.Created++
	case jobstate.TaskDeploying:
		c.Deploying++
	case jobstate.TaskRunning:
		c.Running++
	case jobstate.TaskFinished:
		c.Finished++
	case jobstate.TaskCanceling:
		c.Canceling++
	case jobstate.TaskCanceled:
		c.Canceled++
	case jobstate.TaskFailed:
		c.Failed++
	}
}

func (c TaskCounts) byState() map[string]int {
	return map[string]int{
		"CREATED": c.Created, "DEPLOYING": c.Deploying, "RUNNING": c.Running, "FINISHED": c.Finished,
		"CANCELING": c.Canceling, "CANCELED": c.Canceled, "FAILED": c.Failed,
	}
}

// Overview is a job's line in /jobs/overview.
type Overview struct {
	ID           string     `json:"jid"`
	Name         string     `json:"name"`
	State        string     `json:"state"`
	StartTime    int64      `json:"start-time"`
	EndTime      int64      `json:"end-time"`
	Duration     int64      `json:"duration"`
	LastModified int64      `json:"last-modification"`
	Tasks        TaskCounts `json:"tasks"`
}

// Metrics are a subtask's or a vertex's IO and time metrics.
type Metrics struct {
	ReadBytes     int64 `json:"read-bytes"`
	ReadRecords   int64 `json:"read-records"`
	WriteBytes    int64 `json:"write-bytes"`
	WriteRecords  int64 `json:"write-records"`
	Busy          int64 `json:"busy-ms-per-second"`
	Idle          int64 `json:"idle-ms-per-second"`
	Backpressured int64 `json:"backpressured-ms-per-second"`
	// Records per second over the last two heartbeats (0 once ended).
	ReadRate  float64 `json:"read-records-per-second"`
	WriteRate float64 `json:"write-records-per-second"`
	// Watermark is the event-time watermark (ms since the epoch) of a
	// subtask, and of a vertex the lowest of its subtasks' (absent before
	// the first and after the last).
	Watermark *int64 `json:"watermark,omitempty"`
}

func metricsOf(t *rpcpb.TaskMetrics) Metrics {
	return Metrics{
		ReadBytes: t.GetBytesIn(), ReadRecords: t.GetRecordsIn(), WriteBytes: t.GetBytesOut(), WriteRecords: t.GetRecordsOut(),
		Busy: t.GetBusyMsPerSecond(), Idle: t.GetIdleMsPerSecond(), Backpressured: t.GetBackpressuredMsPerSecond(),
		Watermark: t.Watermark,
	}
}

// SubtaskView is one subtask in a job's details.
type SubtaskView struct {
	Subtask       int     `json:"subtask"`
	Status        string  `json:"status"`
	Attempt       int     `json:"attempt"`
	TaskManagerID string  `json:"taskmanager-id"`
	Metrics       Metrics `json:"metrics"`
}

// VertexView is one job vertex in a job's details.
type VertexView struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Parallelism    int            `json:"parallelism"`
	MaxParallelism int            `json:"maxParallelism"`
	Status         string         `json:"status"`
	StartTime      int64          `json:"start-time"`
	EndTime        int64          `json:"end-time"`
	Duration       int64          `json:"duration"`
	Tasks          map[string]int `json:"tasks"`
	Metrics        Metrics        `json:"metrics"`
	Subtasks       []SubtaskView  `json:"subtasks"`
}

// PlanNode is a job vertex in the job's plan view.
type PlanNode struct {
	ID          string      `json:"id"`
	Description string      `json:"description"`
	Parallelism int         `json:"parallelism"`
	Operator    string      `json:"operator"`
	Inputs      []PlanInput `json:"inputs,omitempty"`
}

// PlanInput is an edge into a plan node.
type PlanInput struct {
	ID           string `json:"id"`
	ShipStrategy string `json:"ship_strategy"`
}

// PlanView is the job graph as Flink's /jobs/:id "plan".
type PlanView struct {
	ID    string     `json:"jid"`
	Name  string     `json:"name"`
	Nodes []PlanNode `json:"nodes"`
}

// Details is /jobs/:id.
type Details struct {
	ID             string           `json:"jid"`
	Name           string           `json:"name"`
	State          string           `json:"state"`
	StartTime      int64            `json:"start-time"`
	EndTime        int64            `json:"end-time"`
	Duration       int64            `json:"duration"`
	Now            int64            `json:"now"`
	MaxParallelism int              `json:"maxParallelism"`
	Attempt        int              `json:"attempt"`
	Timestamps     map[string]int64 `json:"timestamps"`
	StatusCounts   map[string]int   `json:"status-counts"`
	Vertices       []VertexView     `json:"vertices"`
	Plan           PlanView         `json:"plan"`
}

// ExceptionsView is /jobs/:id/exceptions.
type ExceptionsView struct {
	RootException *string `json:"root-exception"`
	Timestamp     *int64  `json:"timestamp"`
	History       struct {
		Entries   []Exception `json:"entries"`
		Truncated bool        `json:"truncated"`
	} `json:"exceptionHistory"`
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.UnixMilli()
}

func duration(start, end, now time.Time) int64 {
	if start.IsZero() {
		return -1
	}
	if end.IsZero() {
		end = now
	}
	return end.Sub(start).Milliseconds()
}

// Overview returns the job's overview line.
func (m *JobMaster) Overview() Overview {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.overview(m.cfg.Now())
}

func (m *JobMaster) overview(now time.Time) Overview {
	o := Overview{
		ID: m.cfg.JobID, Name: m.cfg.Plan.Name, State: string(m.job.State),
		StartTime: ms(m.start), EndTime: ms(m.end), Duration: duration(m.start, m.end, now),
		LastModified: ms(m.modified),
	}
	for _, id := range m.order {
		o.Tasks.add(m.job.Task(id))
	}
	return o
}

// Details returns the job's details.
func (m *JobMaster) Details() Details {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Now()
	o := m.overview(now)
	d := Details{
		ID: o.ID, Name: o.Name, State: o.State, StartTime: o.StartTime, EndTime: o.EndTime,
		Duration: o.Duration, Now: now.UnixMilli(), MaxParallelism: m.graph.MaxParallelism,
		Attempt: m.job.Attempt, Timestamps: map[string]int64{}, StatusCounts: o.Tasks.byState(),
		Plan: PlanView{ID: m.cfg.JobID, Name: m.cfg.Plan.Name},
	}
	for s, t := range m.timestamps {
		d.Timestamps[string(s)] = t.UnixMilli()
	}
	for _, v := range m.graph.Vertices {
		vv := VertexView{ID: v.ID, Name: v.Name, Parallelism: v.Parallelism, MaxParallelism: m.graph.MaxParallelism}
		var counts TaskCounts
		var start, end time.Time
		ended := true
		for i := 0; i < v.Parallelism; i++ {
			id := v.ID + "#" + strconv.Itoa(i)
			st, state := m.subtasks[id], m.job.Task(id)
			counts.add(state)
			sv := SubtaskView{Subtask: i, Status: string(state), Attempt: m.job.Attempt}
			if st.placed {
				sv.TaskManagerID = st.loc.Slot.TaskManager
			}
			if st.metrics != nil {
				sv.Metrics = metricsOf(st.metrics)
				sv.Metrics.ReadRate, sv.Metrics.WriteRate = st.inRate, st.outRate
			}
			vv.Metrics.ReadBytes += sv.Metrics.ReadBytes
			vv.Metrics.ReadRecords += sv.Metrics.ReadRecords
			vv.Metrics.WriteBytes += sv.Metrics.WriteBytes
			vv.Metrics.WriteRecords += sv.Metrics.WriteRecords
			vv.Metrics.ReadRate += sv.Metrics.ReadRate
			vv.Metrics.WriteRate += sv.Metrics.WriteRate
			vv.Metrics.Busy = max(vv.Metrics.Busy, sv.Metrics.Busy)
			vv.Metrics.Idle = max(vv.Metrics.Idle, sv.Metrics.Idle)
			vv.Metrics.Backpressured = max(vv.Metrics.Backpressured, sv.Metrics.Backpressured)
			if w := sv.Metrics.Watermark; w != nil && (vv.Metrics.Watermark == nil || *w < *vv.Metrics.Watermark) {
				vv.Metrics.Watermark = w
			}
			if !st.start.IsZero() && (start.IsZero() || st.start.Before(start)) {
				start = st.start
			}
			if st.end.IsZero() {
				ended = false
			} else if st.end.After(end) {
				end = st.end
			}
			vv.Subtasks = append(vv.Subtasks, sv)
		}
		if !ended {
			end = time.Time{}
		}
		vv.Status = string(vertexStatus(counts))
		vv.Tasks = counts.byState()
		vv.StartTime, vv.EndTime, vv.Duration = ms(start), ms(end), duration(start, end, now)
		d.Vertices = append(d.Vertices, vv)
		pn := PlanNode{ID: v.ID, Description: v.Name, Parallelism: v.Parallelism, Operator: v.Nodes[0].Kind}
		for _, e := range v.Inputs {
			pn.Inputs = append(pn.Inputs, PlanInput{ID: e.Source, ShipStrategy: shipStrategy(e.Partition)})
		}
		d.Plan.Nodes = append(d.Plan.Nodes, pn)
	}
	return d
}

// shipStrategy names an edge's partitioning as Flink's plan does.
func shipStrategy(p string) string {
	switch p {
	case "forward":
		return "FORWARD"
	case "rebalance":
		return "REBALANCE"
	case "hash":
		return "HASH"
	}
	return p
}

// vertexStatus is a vertex's aggregate state as Flink derives it: any
// failure wins, then canceling, then running, then all finished.
func vertexStatus(c TaskCounts) jobstate.TaskState {
	switch {
	case c.Failed > 0:
		return jobstate.TaskFailed
	case c.Canceling > 0:
		return jobstate.TaskCanceling
	case c.Canceled > 0 && c.Canceled+c.Finished == c.Total:
		return jobstate.TaskCanceled
	case c.Running > 0:
		return jobstate.TaskRunning
	case c.Finished == c.Total:
		return jobstate.TaskFinished
	case c.Deploying > 0:
		return jobstate.TaskDeploying
	}
	return jobstate.TaskCreated
}

// Exceptions returns the job's exception history, newest first.
func (m *JobMaster) Exceptions() ExceptionsView {
	m.mu.Lock()
	defer m.mu.Unlock()
	var v ExceptionsView
	if m.job.Failure != nil {
		s := m.job.Failure.Error()
		v.RootException = &s
		if n := len(m.exceptions); n > 0 {
			ts := m.exceptions[n-1].Timestamp
			v.Timestamp = &ts
		}
	}
	v.History.Entries = make([]Exception, 0, len(m.exceptions))
	for i := len(m.exceptions) - 1; i >= 0; i-- {
		v.History.Entries = append(v.History.Entries, m.exceptions[i])
	}
	v.History.Truncated = len(m.exceptions) >= maxExceptions
	return v
}

// InSlot lists the execution ids of the current attempt's subtasks placed in
// a slot (slot sharing puts one subtask of each vertex there).
func (m *JobMaster) InSlot(slot execgraph.Slot) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []string{}
	for _, id := range m.order {
		if st := m.subtasks[id]; st.placed && st.loc.Slot == slot && !m.job.State.Terminal() {
			out = append(out, ExecutionID(m.cfg.JobID, id, m.job.Attempt))
		}
	}
	return out
}

// ConfigView is /jobs/:id/config: what the job runs with (Flink's job
// configuration view, with Weir's module and program arguments).
type ConfigView struct {
	ID            string          `json:"jid"`
	Name          string          `json:"name"`
	Execution     ExecutionConfig `json:"execution-config"`
	Module        ModuleRef       `json:"module"`
	ProgramArgs   []string        `json:"programArgs"`
	SavepointPath string          `json:"savepointPath,omitempty"`
}

// ExecutionConfig is the execution part of a job's configuration.
type ExecutionConfig struct {
	Parallelism    int    `json:"job-parallelism"`
	MaxParallelism int    `json:"max-parallelism"`
	Restart        string `json:"restart-strategy"`
	// CheckpointInterval is in ms; 0 when the job takes no checkpoints.
	CheckpointInterval int64             `json:"checkpoint-interval"`
	Chaining           bool              `json:"operator-chaining"`
	UserConfig         map[string]string `json:"user-config"`
}

// ModuleRef names the job's module.
type ModuleRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Config returns the job's configuration view.
func (m *JobMaster) Config() ConfigView {
	p := m.cfg.Plan
	user := map[string]string{}
	for k, v := range p.Config {
		user[k] = v
	}
	args := m.cfg.ProgramArgs
	if args == nil {
		args = []string{}
	}
	return ConfigView{
		ID: m.cfg.JobID, Name: p.Name,
		Execution: ExecutionConfig{
			Parallelism: p.Parallelism, MaxParallelism: m.graph.MaxParallelism, Restart: m.cfg.Strategy.String(),
			CheckpointInterval: m.cfg.Checkpoints.Interval.Milliseconds(),
			Chaining:           p.Config[execgraph.ConfigChaining] != "false", UserConfig: user,
		},
		Module:      ModuleRef{ID: m.cfg.Artifact, Name: m.cfg.ArtifactName},
		ProgramArgs: args, SavepointPath: m.cfg.SavepointPath,
	}
}
