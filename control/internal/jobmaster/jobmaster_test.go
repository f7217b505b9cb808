package jobmaster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/control/internal/execgraph"
	"github.com/weirflow/weir/control/internal/jobstate"
	"github.com/weirflow/weir/control/internal/restart"
	"github.com/weirflow/weir/internal/rpcpb"
)

// cluster stands in for the ResourceManager and the TaskManagers: it hands
// out slots and records what the JobMaster asks of TaskExecutors. The
// JobMaster's logic is under test, not RPC.
type cluster struct {
	mu       sync.Mutex
	free     []Location
	held     map[string][]Location
	deployed []*rpcpb.TaskDeployment
	where    map[string]string // execution id -> TaskManager
	canceled []string
	released []string
	down     map[string]bool // TaskManagers whose RPCs fail
}

func newCluster(tms, slots int) *cluster {
	c := &cluster{held: map[string][]Location{}, down: map[string]bool{}, where: map[string]string{}}
	for t := 0; t < tms; t++ {
		for s := 0; s < slots; s++ {
			tm := fmt.Sprintf("tm%d", t)
			c.free = append(c.free, Location{Slot: execgraph.Slot{TaskManager: tm, Index: s}, DataAddress: tm + ":7000"})
		}
	}
	return c
}

func (c *cluster) Allocate(job string, n int) ([]Location, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var slots []execgraph.Slot
	for _, l := range c.free {
		slots = append(slots, l.Slot)
	}
	picked, err := execgraph.PickSlots(n, slots)
	if err != nil {
		return nil, err
	}
	var out []Location
	for _, p := range picked {
		i := slices.IndexFunc(c.free, func(l Location) bool { return l.Slot == p })
		out = append(out, c.free[i])
		c.free = slices.Delete(c.free, i, i+1)
	}
	c.held[job] = out
	return out, nil
}

func (c *cluster) Release(job string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.free = append(c.free, c.held[job]...)
	delete(c.held, job)
}

func (c *cluster) Deploy(_ context.Context, tm string, d *rpcpb.TaskDeployment) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down[tm] {
		return errors.New("connection refused")
	}
	c.deployed = append(c.deployed, d)
	c.where[d.GetExecutionId()] = tm
	return nil
}

func (c *cluster) Cancel(_ context.Context, tm, exec string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down[tm] {
		return errors.New("connection refused")
	}
	c.canceled = append(c.canceled, exec)
	return nil
}

func (c *cluster) ReleaseSlots(_ context.Context, tm, job string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.released = append(c.released, tm)
	return nil
}

func (c *cluster) TriggerCheckpoint(context.Context, string, *rpcpb.TriggerCheckpointRequest) error {
	return nil
}

func (c *cluster) NotifyCheckpointComplete(context.Context, string, string, int64) error { return nil }

// deployments waits until n deployments of attempt were sent and returns them by task.
func (c *cluster) deployments(t *testing.T, attempt, n int) map[string]*rpcpb.TaskDeployment {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		got := map[string]*rpcpb.TaskDeployment{}
		for _, d := range c.deployed {
			if int(d.GetAttempt()) == attempt {
				_, task, _, _ := ParseExecutionID(d.GetExecutionId())
				got[task] = d
			}
		}
		c.mu.Unlock()
		if len(got) == n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("attempt %d: %d deployments, want %d", attempt, len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const wordcount = `{"weir_plan":1,"name":"wc","parallelism":2,"maxParallelism":8,"nodes":[
	{"id":"lines","kind":"source","connector":"file","parallelism":1},
	{"id":"words","kind":"flatmap","function":"tokenize","inputs":["lines"]},
	{"id":"counts","kind":"process","function":"count","inputs":["words"],"keyBy":["word"]},
	{"id":"out","kind":"sink","connector":"file","inputs":["counts"]}]}`

func newJob(t *testing.T, c *cluster, strategy restart.Strategy) *JobMaster {
	t.Helper()
	p, err := abi.DecodePlan([]byte(wordcount))
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{JobID: "j1", Plan: p, Artifact: "abc", Strategy: strategy, Gateway: c, Slots: c, SlotTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func report(m *JobMaster, d *rpcpb.TaskDeployment, s rpcpb.TaskState, msg string) {
	m.TaskReport(&rpcpb.TaskStateReport{ExecutionId: d.GetExecutionId(), State: s, Error: msg, TaskManagerId: "tm?"})
}

func waitState(t *testing.T, m *JobMaster, want jobstate.State) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for m.State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("job is %s, want %s", m.State(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDeploymentsWireTheGraph(t *testing.T) {
	c := newCluster(2, 2)
	m := newJob(t, c, nil)
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	// lines#0, words#0, words#1, counts#0, counts#1 (counts chains with out)
	c2 := c.deployments(t, 0, 5)
	src, w0, w1, k0, k1 := c2["lines#0"], c2["words#0"], c2["words#1"], c2["counts#0"], c2["counts#1"]
	if src == nil || w0 == nil || w1 == nil || k0 == nil || k1 == nil {
		t.Fatalf("missing deployments: %v", c2)
	}
	// Slot sharing spreads subtask i of every vertex to shared slot i, one per TaskManager.
	if w0.GetSlot() != src.GetSlot() || k1.GetSlot() != w1.GetSlot() {
		t.Errorf("slot sharing: %d %d %d %d", src.GetSlot(), w0.GetSlot(), w1.GetSlot(), k1.GetSlot())
	}
	// The source feeds words by rebalance: one result partition with two subpartitions.
	if o := src.GetOutputs(); len(o) != 1 || o[0].GetDownstreamVertex() != "words" || o[0].GetPartition() != "rebalance" || o[0].GetConsumers() != 2 {
		t.Errorf("source outputs %v", o)
	}
	// words#1 reads lines#0, which sits in the other TaskManager: a remote channel.
	in := w1.GetInputs()
	if len(in) != 1 || len(in[0].GetProducers()) != 1 || in[0].GetProducers()[0].GetDataAddress() == "" {
		t.Errorf("words#1 inputs %v", in)
	}
	if p := w0.GetInputs()[0].GetProducers()[0]; p.GetDataAddress() != "" || p.GetExecutionId() != "j1/lines#0@0" {
		t.Errorf("words#0 reads a local producer: %v", p)
	}
	// counts is keyed: a hash edge with every words subtask as producer, and key groups split.
	kin := k1.GetInputs()[0]
	if kin.GetPartition() != "hash" || len(kin.GetProducers()) != 2 {
		t.Errorf("counts#1 inputs %v", kin)
	}
	if k0.GetKeyGroupStart() != 0 || k0.GetKeyGroupEnd() != 3 || k1.GetKeyGroupStart() != 4 || k1.GetKeyGroupEnd() != 7 {
		t.Errorf("key groups %d-%d, %d-%d", k0.GetKeyGroupStart(), k0.GetKeyGroupEnd(), k1.GetKeyGroupStart(), k1.GetKeyGroupEnd())
	}
	if o := w0.GetOutputs()[0]; o.GetPartition() != "hash" || !slices.Equal(o.GetKeyBy(), []string{"word"}) || o.GetConsumers() != 2 {
		t.Errorf("words outputs %v", o)
	}
	for _, d := range c2 {
		report(m, d, rpcpb.TaskState_TASK_STATE_RUNNING, "")
	}
	if got := m.Overview().Tasks; got.Running != 5 || got.Total != 5 {
		t.Errorf("tasks %+v", got)
	}
	for _, d := range c2 {
		report(m, d, rpcpb.TaskState_TASK_STATE_FINISHED, "")
	}
	waitState(t, m, jobstate.Finished)
	<-m.Done()
	if len(c.held) != 0 {
		t.Errorf("slots still held: %v", c.held)
	}
	det := m.Details()
	if det.State != "FINISHED" || len(det.Vertices) != 3 || det.Vertices[2].Status != "FINISHED" || det.EndTime < det.StartTime {
		t.Errorf("details %+v", det)
	}
}

func TestFailureRestartsEveryTask(t *testing.T) {
	c := newCluster(2, 2)
	m := newJob(t, c, &restart.FixedDelay{Attempts: 1, Delay: time.Millisecond})
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	deps := c.deployments(t, 0, 5)
	report(m, deps["words#1"], rpcpb.TaskState_TASK_STATE_FAILED, "wasm: trap in tokenize: boom")
	waitState(t, m, jobstate.Failing)
	// The others are canceled; their reports complete the failover.
	for task, d := range deps {
		if task != "words#1" {
			report(m, d, rpcpb.TaskState_TASK_STATE_CANCELED, "")
		}
	}
	again := c.deployments(t, 1, 5)
	if got := again["counts#0"].GetExecutionId(); got != "j1/counts#0@1" {
		t.Errorf("attempt 1 execution id %q", got)
	}
	// A late report of attempt 0 changes nothing.
	report(m, deps["lines#0"], rpcpb.TaskState_TASK_STATE_FAILED, "stale")
	if s := m.State(); s != jobstate.Running {
		t.Fatalf("after a stale report the job is %s", s)
	}
	ex := m.Exceptions()
	if ex.RootException == nil || len(ex.History.Entries) != 1 || ex.History.Entries[0].Name != "GuestError" ||
		ex.History.Entries[0].TaskName != "FlatMap: tokenize (2/2)" {
		t.Errorf("exceptions %+v", ex)
	}
	// A second failure exhausts the fixed-delay strategy.
	report(m, again["lines#0"], rpcpb.TaskState_TASK_STATE_FAILED, "disk gone")
	for task, d := range again {
		if task != "lines#0" {
			report(m, d, rpcpb.TaskState_TASK_STATE_CANCELED, "")
		}
	}
	waitState(t, m, jobstate.Failed)
}

func TestCancel(t *testing.T) {
	c := newCluster(1, 2)
	m := newJob(t, c, nil)
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	deps := c.deployments(t, 0, 5)
	if err := m.Cancel(); err != nil {
		t.Fatal(err)
	}
	waitState(t, m, jobstate.Canceling)
	for _, d := range deps {
		report(m, d, rpcpb.TaskState_TASK_STATE_CANCELED, "")
	}
	waitState(t, m, jobstate.Canceled)
	if err := m.Cancel(); !errors.Is(err, ErrTerminal) {
		t.Errorf("cancel of a canceled job: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		n := len(c.canceled)
		c.mu.Unlock()
		if n == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d cancel calls, want 5", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLostTaskManagerFailsItsTasks(t *testing.T) {
	c := newCluster(2, 2)
	m := newJob(t, c, &restart.FixedDelay{Attempts: 3, Delay: time.Millisecond})
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	deps := c.deployments(t, 0, 5)
	// tm1 dies: its RPCs fail and the ResourceManager drops its slots.
	c.mu.Lock()
	c.down["tm1"] = true
	c.free = slices.DeleteFunc(c.free, func(l Location) bool { return l.Slot.TaskManager == "tm1" })
	c.held["j1"] = slices.DeleteFunc(c.held["j1"], func(l Location) bool { return l.Slot.TaskManager == "tm1" })
	c.mu.Unlock()
	m.TaskManagerLost("tm1", "no heartbeat for 5s")
	waitState(t, m, jobstate.Failing)
	for _, d := range deps {
		c.mu.Lock()
		tm := c.where[d.GetExecutionId()]
		c.mu.Unlock()
		if tm == "tm0" {
			report(m, d, rpcpb.TaskState_TASK_STATE_CANCELED, "")
		}
	}
	// Attempt 1 runs entirely on tm0, so every channel is local.
	again := c.deployments(t, 1, 5)
	for task, d := range again {
		c.mu.Lock()
		tm := c.where[d.GetExecutionId()]
		c.mu.Unlock()
		if tm != "tm0" {
			t.Errorf("%s deployed to %s", task, tm)
		}
		for _, in := range d.GetInputs() {
			for _, p := range in.GetProducers() {
				if p.GetDataAddress() != "" {
					t.Errorf("%s reads %s remotely", task, p.GetExecutionId())
				}
			}
		}
	}
	ex := m.Exceptions()
	if len(ex.History.Entries) == 0 || ex.History.Entries[len(ex.History.Entries)-1].Name != "TaskManagerLost" {
		t.Errorf("exceptions %+v", ex.History.Entries)
	}
}

func TestNotEnoughSlots(t *testing.T) {
	c := newCluster(1, 1) // the job needs 2
	m := newJob(t, c, restart.None{})
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	waitState(t, m, jobstate.Failed)
	ex := m.Exceptions()
	if ex.RootException == nil || ex.History.Entries[0].Name != "NoResourceAvailable" {
		t.Errorf("exceptions %+v", ex)
	}
}

func TestParseExecutionID(t *testing.T) {
	cases := []struct {
		in        string
		job, task string
		attempt   int
		wantErr   bool
	}{
		{"j/v#3@2", "j", "v#3", 2, false},
		{"j/v@x#1@10", "j", "v@x#1", 10, false},
		{"nojob", "", "", 0, true},
		{"j/v#1", "", "", 0, true},
		{"j/v#1@z", "", "", 0, true},
	}
	for _, c := range cases {
		job, task, attempt, err := ParseExecutionID(c.in)
		if (err != nil) != c.wantErr || job != c.job || task != c.task || attempt != c.attempt {
			t.Errorf("%q: %q %q %d %v", c.in, job, task, attempt, err)
		}
	}
}
