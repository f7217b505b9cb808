package jobmaster

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/control/internal/checkpoint"
	"github.com/weirflow/weir/control/internal/jobstate"
	"github.com/weirflow/weir/internal/rpcpb"
)

// A job recovered by a new leader continues the previous leader's attempt
// numbering, and records each attempt before deploying it.
func TestRecoveredJobContinuesAttempts(t *testing.T) {
	c := newCluster(2, 2)
	p, err := abi.DecodePlan([]byte(wordcount))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var recorded []int
	m, err := New(Config{JobID: "j1", Plan: p, Artifact: "abc", Gateway: c, Slots: c, SlotTimeout: time.Second,
		FirstAttempt: 4, BeforeDeploy: func(a int) error {
			mu.Lock()
			defer mu.Unlock()
			recorded = append(recorded, a)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	deps := c.deployments(t, 4, 5)
	if d := deps["lines#0"]; d.GetExecutionId() != "j1/lines#0@4" {
		t.Errorf("execution id %s, want attempt 4", d.GetExecutionId())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(recorded) != 1 || recorded[0] != 4 {
		t.Errorf("attempts recorded %v, want [4]", recorded)
	}
}

// A JobMaster whose JobManager no longer leads (the attempt cannot be
// recorded) suspends: it deploys nothing, and later events change nothing.
func TestSuspendWhenAttemptNotRecorded(t *testing.T) {
	c := newCluster(2, 2)
	p, err := abi.DecodePlan([]byte(wordcount))
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{JobID: "j1", Plan: p, Artifact: "abc", Gateway: c, Slots: c, SlotTimeout: time.Second,
		BeforeDeploy: func(int) error { return errors.New("leader: no longer the leader") }})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.Suspended():
	case <-time.After(5 * time.Second):
		t.Fatal("not suspended")
	}
	m.Cancel() // an event after the suspension: no actions
	time.Sleep(50 * time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.deployed) != 0 || len(c.canceled) != 0 {
		t.Errorf("a suspended JobMaster deployed %d and canceled %d tasks", len(c.deployed), len(c.canceled))
	}
	if len(c.held) != 0 {
		t.Errorf("slots still held: %v", c.held)
	}
}

// A checkpoint whose pointer cannot be committed (the leadership is gone)
// is not announced to the tasks, and the JobMaster suspends.
func TestSuspendWhenPointerNotCommitted(t *testing.T) {
	c := &notifyCluster{cluster: newCluster(2, 2)}
	p, err := abi.DecodePlan([]byte(wordcount))
	if err != nil {
		t.Fatal(err)
	}
	var reserved []int64
	m, err := New(Config{JobID: "j1", Plan: p, Artifact: "abc", Gateway: c, Slots: c, SlotTimeout: time.Second,
		Checkpoints: checkpointsEvery(time.Hour), CheckpointDir: t.TempDir(), CheckpointsAfter: 9,
		ReserveCheckpoint: func(id int64) error { reserved = append(reserved, id); return nil },
		CommitPointer:     func(int64, string) error { return errors.New("leader: no longer the leader") }})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	deps := c.deployments(t, 0, 5)
	for _, d := range deps {
		report(m, d, rpcpb.TaskState_TASK_STATE_RUNNING, "")
	}
	waitState(t, m, jobstate.Running)
	id, _, err := m.triggerCheckpoint(false, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if id != 10 || len(reserved) != 1 || reserved[0] != 10 {
		t.Fatalf("checkpoint %d (reserved %v); want 10, after the previous leader's 9", id, reserved)
	}
	for _, d := range deps {
		m.AcknowledgeCheckpoint(&rpcpb.CheckpointAck{ExecutionId: d.GetExecutionId(), CheckpointId: id})
	}
	select {
	case <-m.Suspended():
	case <-time.After(5 * time.Second):
		t.Fatal("not suspended after the pointer commit failed")
	}
	time.Sleep(50 * time.Millisecond)
	if n := c.notified(); n != 0 {
		t.Errorf("%d TaskManagers told of a checkpoint that was not committed", n)
	}
	if _, _, err := m.triggerCheckpoint(false, "", false); err == nil {
		t.Error("a suspended JobMaster triggered a checkpoint")
	}
}

type notifyCluster struct {
	*cluster
	mu sync.Mutex
	n  int
}

func (c *notifyCluster) NotifyCheckpointComplete(_ context.Context, _, _ string, _ int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return nil
}

func (c *notifyCluster) notified() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func checkpointsEvery(d time.Duration) checkpoint.Config {
	return checkpoint.Config{Interval: d, Timeout: time.Minute}
}
