package jobmaster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/weirflow/weir/control/internal/checkpoint"
	"github.com/weirflow/weir/control/internal/jobstate"
	"github.com/weirflow/weir/internal/rpcpb"
)

// ErrNotRunning means a request that needs every task running.
var ErrNotRunning = errors.New("jobmaster: the job is not running")

// checkRestore checks that the restored state fits the plan: every node
// with state must exist, unless non-restored state is allowed.
func (m *JobMaster) checkRestore() error {
	nodes := map[string]bool{}
	for _, n := range m.cfg.Plan.Nodes {
		nodes[n.ID] = true
	}
	if m.cfg.Restore.MaxParallelism != m.graph.MaxParallelism {
		return fmt.Errorf("the savepoint was taken with max parallelism %d, the job has %d: key groups cannot be mapped", m.cfg.Restore.MaxParallelism, m.graph.MaxParallelism)
	}
	for _, st := range m.cfg.Restore.States {
		if !nodes[st.Node] && !m.cfg.AllowNonRestored {
			return fmt.Errorf("the savepoint has state for operator %q, which the job does not have (allowNonRestoredState skips it)", st.Node)
		}
	}
	return nil
}

// checkpointLoop triggers periodic checkpoints while the job runs.
func (m *JobMaster) checkpointLoop() {
	if !m.cfg.Checkpoints.Enabled() {
		return
	}
	tick := time.NewTicker(min(m.cfg.Checkpoints.Interval/2, 100*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-m.suspended:
			return
		case <-tick.C:
		}
		if !m.coord.Due() {
			continue
		}
		if _, _, err := m.triggerCheckpoint(false, "", false); err != nil && !errors.Is(err, ErrNotRunning) && !errors.Is(err, checkpoint.ErrInProgress) {
			m.log.Warn("checkpoint not triggered", "err", err)
		}
	}
}

// triggerCheckpoint starts a checkpoint if every task of the attempt runs.
func (m *JobMaster) triggerCheckpoint(savepoint bool, target string, terminate bool) (int64, <-chan checkpoint.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.job.State != jobstate.Running || m.isSuspended() {
		return 0, nil, fmt.Errorf("%w: it is %s", ErrNotRunning, m.job.State)
	}
	var tasks []checkpoint.Task
	for _, id := range m.order {
		st := m.subtasks[id]
		if m.job.Task(id) != jobstate.TaskRunning || !st.placed {
			return 0, nil, fmt.Errorf("%w: task %s is %s", ErrNotRunning, id, m.job.Task(id))
		}
		tasks = append(tasks, checkpoint.Task{
			ExecutionID: ExecutionID(m.cfg.JobID, id, m.job.Attempt), Vertex: st.vertex.ID,
			Source: st.vertex.Nodes[0].Kind == "source",
		})
	}
	m.terminate = m.terminate || terminate
	return m.coord.Trigger(tasks, savepoint, target)
}

// coordIO is the coordinator's view of the job's tasks.
type coordIO struct{ m *JobMaster }

// Trigger is called by the coordinator's Trigger, which triggerCheckpoint
// calls with the JobMaster's lock held: it must not take it again.
func (c coordIO) Trigger(exec string, id int64, ts time.Time, savepoint bool) {
	m := c.m
	_, task, _, err := ParseExecutionID(exec)
	if err != nil {
		return
	}
	tm := m.subtasks[task].loc.Slot.TaskManager
	terminate := m.terminate
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.RPCTimeout)
		defer cancel()
		req := &rpcpb.TriggerCheckpointRequest{ExecutionId: exec, CheckpointId: id, TimestampMs: ts.UnixMilli(), Savepoint: savepoint, Terminate: terminate && savepoint}
		if err := m.cfg.Gateway.TriggerCheckpoint(ctx, tm, req); err != nil {
			m.coord.Decline(&rpcpb.CheckpointDecline{ExecutionId: exec, CheckpointId: id, Reason: "trigger failed: " + err.Error()})
		}
	}()
}

func (c coordIO) NotifyComplete(id int64) {
	m := c.m
	m.mu.Lock()
	tms := map[string]bool{}
	for _, st := range m.subtasks {
		if st.placed {
			tms[st.loc.Slot.TaskManager] = true
		}
	}
	m.mu.Unlock()
	for tm := range tms {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), m.cfg.RPCTimeout)
			defer cancel()
			if err := m.cfg.Gateway.NotifyCheckpointComplete(ctx, tm, m.cfg.JobID, id); err != nil {
				m.log.Warn("checkpoint completion not delivered", "taskmanager", tm, "checkpoint", id, "err", err)
			}
		}()
	}
	m.log.Info("checkpoint complete", "checkpoint", id)
}

func (c coordIO) CommitPointer(id int64, path string) error {
	if err := c.m.cfg.CommitPointer(id, path); err != nil {
		c.m.Suspend(fmt.Sprintf("checkpoint %d not committed: %v", id, err))
		return err
	}
	return nil
}

// Reserve is called by the coordinator's Trigger with the JobMaster's lock
// held (triggerCheckpoint): it must not take it again.
func (c coordIO) Reserve(id int64) error {
	if err := c.m.cfg.ReserveCheckpoint(id); err != nil {
		go c.m.Suspend(fmt.Sprintf("checkpoint %d not reserved: %v", id, err))
		return err
	}
	return nil
}

func (c coordIO) FailJob(err error) {
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	acts, ferr := m.job.Fail(m.cfg.Now(), err)
	if ferr != nil {
		return
	}
	m.recordException(m.order[0], m.job.Attempt, "", err.Error(), nil)
	m.apply(acts)
}

// AcknowledgeCheckpoint passes a task's acknowledgement to the coordinator.
func (m *JobMaster) AcknowledgeCheckpoint(a *rpcpb.CheckpointAck) { m.coord.Ack(a) }

// DeclineCheckpoint passes a task's refusal to the coordinator.
func (m *JobMaster) DeclineCheckpoint(d *rpcpb.CheckpointDecline) { m.coord.Decline(d) }

// Checkpoints returns the checkpoint statistics.
func (m *JobMaster) Checkpoints() checkpoint.Stats { return m.coord.Stats() }

// CheckpointConfig returns the checkpoint configuration.
func (m *JobMaster) CheckpointConfig() checkpoint.Config { return m.coord.Config() }

// CheckpointDetails returns one checkpoint's details.
func (m *JobMaster) CheckpointDetails(id int64) (checkpoint.Entry, bool) { return m.coord.Details(id) }

// TriggerSavepoint takes a savepoint into dir (default: the job's
// checkpoint directory's sibling "savepoints"); with stop, the sources end
// after it and the job finishes (stop-with-savepoint). It returns a trigger
// id for Savepoint.
func (m *JobMaster) TriggerSavepoint(dir string, stop, cancelAfter bool) (string, error) {
	if dir == "" {
		// <data>/checkpoints/<job> -> <data>/savepoints
		dir = filepath.Join(filepath.Dir(filepath.Dir(m.cfg.CheckpointDir)), "savepoints")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("savepoint directory: %w", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	trigger := hex.EncodeToString(b[:])
	target := filepath.Join(dir, fmt.Sprintf("savepoint-%s-%s", m.cfg.JobID[:6], trigger[:12]))
	// A periodic checkpoint in progress finishes first (one at a time).
	_, done, err := m.triggerCheckpoint(true, target, stop)
	for deadline := time.Now().Add(m.cfg.Checkpoints.Timeout); errors.Is(err, checkpoint.ErrInProgress) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		_, done, err = m.triggerCheckpoint(true, target, stop)
	}
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	st := &SavepointStatus{Status: "IN_PROGRESS"}
	m.savepoints[trigger] = st
	m.mu.Unlock()
	go func() {
		r := <-done
		m.mu.Lock()
		defer m.mu.Unlock()
		st.Status = "COMPLETED"
		if r.Err != nil {
			st.Failure = r.Err.Error()
			if stop && !m.job.State.Terminal() {
				// The sources stopped at the barrier and wait for the
				// savepoint: without it the job cannot go on as it was.
				m.log.Warn("stop-with-savepoint failed; canceling the job", "err", r.Err)
				if acts, err := m.job.Cancel(m.cfg.Now()); err == nil {
					m.apply(acts)
				}
			}
			m.terminate = false
			return
		}
		st.Location = r.Path
		if cancelAfter && !m.job.State.Terminal() {
			if acts, err := m.job.Cancel(m.cfg.Now()); err == nil {
				m.apply(acts)
			}
		}
	}()
	return trigger, nil
}

// Savepoint returns the status of a savepoint request.
func (m *JobMaster) Savepoint(trigger string) (SavepointStatus, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.savepoints[trigger]
	if !ok {
		return SavepointStatus{}, false
	}
	return *st, true
}
