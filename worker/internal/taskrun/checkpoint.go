package taskrun

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/weirflow/weir/arrow/ipcframe"
	"github.com/weirflow/weir/internal/connector"
	"github.com/weirflow/weir/internal/keygroup"
	"github.com/weirflow/weir/internal/rpcpb"
	"github.com/weirflow/weir/worker/internal/exchange"
	"github.com/weirflow/weir/worker/internal/task"
)

// ErrNotSource means a checkpoint trigger for a task that is not a source.
var ErrNotSource = errors.New("taskrun: only source tasks take checkpoint triggers")

// trigger is a checkpoint trigger for a source task.
type trigger struct {
	barrier   ipcframe.Barrier
	terminate bool
}

// TriggerCheckpoint asks a source task to take checkpoint id and inject its
// barrier (between two batches). With terminate (stop-with-savepoint) the
// source ends after the barrier.
func (t *Task) TriggerCheckpoint(id, timestamp int64, savepoint, terminate bool) error {
	if t.nodes[0].Kind != "source" {
		return ErrNotSource
	}
	select {
	case t.triggers <- trigger{barrier: ipcframe.Barrier{ID: uint64(id), Timestamp: timestamp, Savepoint: savepoint}, terminate: terminate}:
		return nil
	default:
		return fmt.Errorf("taskrun: task %s has triggers pending", t.Deployment.GetExecutionId())
	}
}

// NotifyCheckpointComplete commits the sink transactions of every checkpoint
// up to id (two-phase sinks); it may be called from any goroutine.
func (t *Task) NotifyCheckpointComplete(ctx context.Context, id int64) error {
	t.cpMu.Lock()
	if id > t.lastComplete {
		t.lastComplete = id
		close(t.cpSignal)
		t.cpSignal = make(chan struct{})
	}
	t.cpMu.Unlock()
	t.sinkMu.Lock()
	defer t.sinkMu.Unlock()
	tp, ok := t.sink.(connector.TwoPhase)
	if !ok || len(t.txns) == 0 {
		return nil
	}
	var commit [][]byte
	keep := t.txns[:0]
	for _, tx := range t.txns {
		if tx.checkpoint <= id {
			commit = append(commit, tx.data)
		} else {
			keep = append(keep, tx)
		}
	}
	t.txns = keep
	if len(commit) == 0 {
		return nil
	}
	if err := tp.Commit(ctx, commit); err != nil {
		return fmt.Errorf("commit of checkpoint %d: %w", id, err)
	}
	return nil
}

// waitComplete waits until checkpoint id is known complete or ctx ends.
func (t *Task) waitComplete(ctx context.Context, id int64) error {
	for {
		t.cpMu.Lock()
		done, wake := t.lastComplete >= id, t.cpSignal
		t.cpMu.Unlock()
		if done {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type txn struct {
	checkpoint int64
	data       []byte
}

// restore loads the task's part of the checkpoint it starts from: keyed
// state of its key groups, source positions, sink transactions.
func (t *Task) restore(ctx context.Context, src connector.Source, stateful []task.Stateful) (watermark int64, err error) {
	rs := t.Deployment.GetRestore()
	if rs == nil {
		return task.NoWatermark, nil
	}
	watermark, err = t.restoreWatermark(rs)
	if err != nil {
		return task.NoWatermark, err
	}
	return watermark, t.restoreState(ctx, rs, src, stateful)
}

// restoreWatermark picks the task's watermark from the checkpoint: its own
// at the same parallelism, else the lowest of the vertex's old subtasks
// (every key group may come from any of them).
func (t *Task) restoreWatermark(rs *rpcpb.RestoreState) (int64, error) {
	d := t.Deployment
	wm, found := int64(task.NoWatermark), false
	for _, s := range rs.GetStates() {
		if s.GetNodeId() != t.nodes[0].ID || s.Watermark == nil {
			continue
		}
		w := s.GetWatermark()
		switch {
		case s.GetParallelism() == d.GetParallelism() && s.GetSubtask() == d.GetSubtask():
			return w, nil
		case s.GetParallelism() != d.GetParallelism() && (!found || w < wm):
			wm, found = w, true
		}
	}
	return wm, nil
}

func (t *Task) restoreState(ctx context.Context, rs *rpcpb.RestoreState, src connector.Source, stateful []task.Stateful) error {
	d := t.Deployment
	rg := keygroup.Range{Start: int(d.GetKeyGroupStart()), End: int(d.GetKeyGroupEnd())}
	byNode := map[string][]*rpcpb.OperatorState{}
	for _, s := range rs.GetStates() {
		byNode[s.GetNodeId()] = append(byNode[s.GetNodeId()], s)
	}
	keyed := map[string]bool{}
	for _, n := range t.nodes {
		keyed[n.ID] = len(n.KeyBy) > 0 || n.Kind == "join" // a join is keyed by its join keys
	}
	for _, op := range stateful {
		for _, s := range byNode[op.NodeID()] {
			if s.GetKeyedState() == "" {
				continue
			}
			ranges := rg
			if !keyed[op.NodeID()] {
				// A non-keyed aggregate keeps one accumulator per subtask:
				// each subtask takes back its own, whole.
				if s.GetParallelism() != d.GetParallelism() {
					return fmt.Errorf("operator %q keeps one accumulator per subtask (no keyBy); its state from parallelism %d cannot be restored at %d", op.NodeID(), s.GetParallelism(), d.GetParallelism())
				}
				if s.GetSubtask() != d.GetSubtask() {
					continue
				}
				ranges = keygroup.Range{Start: 0, End: int(d.GetMaxParallelism()) - 1}
			}
			if err := restoreFile(filepath.Join(rs.GetPath(), s.GetKeyedState()), op, ranges); err != nil {
				return fmt.Errorf("restoring the state of %q from checkpoint %d: %w", op.NodeID(), rs.GetCheckpointId(), err)
			}
		}
	}
	head, tail := t.nodes[0], t.nodes[len(t.nodes)-1]
	if cp, ok := src.(connector.Checkpointed); ok && src != nil {
		var all [][]byte
		for _, s := range sortedStates(byNode[head.ID]) {
			if s.GetSourcePosition() != nil {
				all = append(all, s.GetSourcePosition())
			}
		}
		if len(all) > 0 {
			if err := cp.RestorePositions(all); err != nil {
				return fmt.Errorf("restoring the position of source %q: %w", head.ID, err)
			}
		}
	}
	if tp, ok := t.sink.(connector.TwoPhase); ok {
		// Old subtask i's transactions go to new subtask i mod parallelism.
		var mine [][]byte
		for _, s := range sortedStates(byNode[tail.ID]) {
			if s.GetSinkTransaction() != nil && int(s.GetSubtask())%int(d.GetParallelism()) == int(d.GetSubtask()) {
				mine = append(mine, s.GetSinkTransaction())
			}
		}
		if err := tp.Recover(ctx, mine); err != nil {
			return fmt.Errorf("recovering the transactions of sink %q: %w", tail.ID, err)
		}
	}
	t.log.Info("restored from a checkpoint", "checkpoint", rs.GetCheckpointId(), "path", rs.GetPath())
	return nil
}

func sortedStates(ss []*rpcpb.OperatorState) []*rpcpb.OperatorState {
	sort.Slice(ss, func(i, j int) bool { return ss[i].GetSubtask() < ss[j].GetSubtask() })
	return ss
}

func restoreFile(path string, op task.Stateful, rg keygroup.Range) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return op.Restore(bufio.NewReaderSize(f, 1<<16), rg)
}

// checkpoint takes the task's part of checkpoint b once its inputs are
// aligned: the synchronous part (snapshots of keyed state and the source
// position, the sink's pre-commit, the barrier sent downstream), then the
// state files are written by another goroutine while processing goes on,
// and the JobManager gets the acknowledgement.
func (t *Task) checkpoint(ctx context.Context, b ipcframe.Barrier, src connector.Source, stateful []task.Stateful, alignment time.Duration) error {
	start := time.Now()
	d := t.Deployment
	id := int64(b.ID)
	head, tail := t.nodes[0], t.nodes[len(t.nodes)-1]
	var states []*rpcpb.OperatorState
	if t.watermark != task.NoWatermark {
		wm := t.watermark
		states = append(states, &rpcpb.OperatorState{NodeId: head.ID, Subtask: d.GetSubtask(), Parallelism: d.GetParallelism(), Watermark: &wm})
	}
	if cp, ok := src.(connector.Checkpointed); ok && src != nil {
		pos, err := cp.SnapshotPosition()
		if err != nil {
			return t.decline(id, fmt.Errorf("source position: %w", err))
		}
		states = append(states, &rpcpb.OperatorState{NodeId: head.ID, Subtask: d.GetSubtask(), Parallelism: d.GetParallelism(), SourcePosition: pos, SizeBytes: int64(len(pos))})
	}
	type snap struct {
		node string
		s    task.Snapshot
	}
	var snaps []snap
	for _, op := range stateful {
		s, err := op.Snapshot()
		if err != nil {
			for _, s := range snaps {
				s.s.Release()
			}
			return t.decline(id, fmt.Errorf("state of %q: %w", op.NodeID(), err))
		}
		snaps = append(snaps, snap{op.NodeID(), s})
	}
	t.sinkMu.Lock()
	if tp, ok := t.sink.(connector.TwoPhase); ok {
		data, err := tp.PreCommit(ctx, id)
		if err != nil {
			t.sinkMu.Unlock()
			for _, s := range snaps {
				s.s.Release()
			}
			return t.decline(id, fmt.Errorf("sink pre-commit: %w", err))
		}
		t.txns = append(t.txns, txn{checkpoint: id, data: data})
		states = append(states, &rpcpb.OperatorState{NodeId: tail.ID, Subtask: d.GetSubtask(), Parallelism: d.GetParallelism(), SinkTransaction: data, SizeBytes: int64(len(data))})
	}
	t.sinkMu.Unlock()
	if err := t.broadcast(ctx, exchange.Event{Kind: ipcframe.KindBarrier, Barrier: b}); err != nil {
		for _, s := range snaps {
			s.s.Release()
		}
		return err
	}
	sync := time.Since(start)
	go func() {
		astart := time.Now()
		dir := filepath.Join(d.GetCheckpointDir(), fmt.Sprintf("chk-%d", id))
		err := os.MkdirAll(dir, 0o755)
		for _, s := range snaps {
			if err == nil {
				name := fmt.Sprintf("%s-%d.state", s.node, d.GetSubtask())
				var n int64
				n, err = writeSnapshot(filepath.Join(dir, name), s.s)
				states = append(states, &rpcpb.OperatorState{NodeId: s.node, Subtask: d.GetSubtask(), Parallelism: d.GetParallelism(), KeyedState: name, SizeBytes: n})
			}
			s.s.Release()
		}
		if err != nil {
			_ = t.decline(id, fmt.Errorf("writing state: %w", err))
			return
		}
		if t.env.Ack != nil {
			t.env.Ack(&rpcpb.CheckpointAck{
				ExecutionId: d.GetExecutionId(), CheckpointId: id, States: states,
				SyncMs: sync.Milliseconds(), AsyncMs: time.Since(astart).Milliseconds(), AlignmentMs: alignment.Milliseconds(),
			})
		}
	}()
	return nil
}

func (t *Task) decline(id int64, err error) error {
	t.log.Warn("checkpoint declined", "checkpoint", id, "err", err)
	if t.env.Decline != nil {
		t.env.Decline(&rpcpb.CheckpointDecline{ExecutionId: t.Deployment.GetExecutionId(), CheckpointId: id, Reason: err.Error()})
	}
	return nil
}

// writeSnapshot writes a state snapshot durably: a temporary file, fsync,
// rename.
func writeSnapshot(path string, s task.Snapshot) (int64, error) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, err
	}
	n, err := s.WriteTo(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return 0, err
	}
	return n, nil
}

// aligner holds back the channels that delivered the barrier of the
// checkpoint being aligned; their later events wait (unreleased, so the
// credit they hold bounds what waits) until every channel delivered it.
type aligner struct {
	blocked []bool
	ended   []bool
	queued  []queued
	current *ipcframe.Barrier
	since   time.Time
	// took is how long the last completed alignment took.
	took time.Duration
}

type queued struct {
	ev exchange.Event
	ch int
}

func newAligner(n int) *aligner { return &aligner{blocked: make([]bool, n), ended: make([]bool, n)} }

// next returns a held-back event whose channel is no longer blocked.
func (a *aligner) next() (queued, bool) {
	for i, q := range a.queued {
		if !a.blocked[q.ch] {
			a.queued = append(a.queued[:i], a.queued[i+1:]...)
			return q, true
		}
	}
	return queued{}, false
}

// hold keeps an event of a blocked channel; it reports false for a channel
// that is not blocked.
func (a *aligner) hold(ev exchange.Event, ch int) bool {
	if !a.blocked[ch] {
		return false
	}
	a.queued = append(a.queued, queued{ev, ch})
	return true
}

// barrier takes channel ch's barrier. It returns the barrier to checkpoint
// when every live channel has delivered it, and a checkpoint abandoned
// because a newer barrier overtook it (0 if none).
func (a *aligner) barrier(b ipcframe.Barrier, ch int) (aligned *ipcframe.Barrier, abandoned uint64) {
	if a.current != nil && b.ID < a.current.ID {
		return nil, 0 // a stale barrier of an abandoned checkpoint
	}
	if a.current != nil && b.ID > a.current.ID {
		abandoned = a.current.ID
		a.unblock()
	}
	if a.current == nil {
		a.current, a.since = &b, time.Now()
	}
	a.blocked[ch] = true
	return a.check(), abandoned
}

// endOf marks channel ch ended; an alignment may complete with it.
func (a *aligner) endOf(ch int) *ipcframe.Barrier {
	a.ended[ch] = true
	return a.check()
}

func (a *aligner) check() *ipcframe.Barrier {
	if a.current == nil {
		return nil
	}
	for i := range a.blocked {
		if !a.blocked[i] && !a.ended[i] {
			return nil
		}
	}
	b := a.current
	a.took = time.Since(a.since)
	a.unblock()
	return b
}

func (a *aligner) unblock() {
	for i := range a.blocked {
		a.blocked[i] = false
	}
	a.current = nil
}
