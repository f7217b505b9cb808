// Package taskrun runs one deployed subtask in a TaskManager: its input (a
// source connector or an input gate fed by local and remote channels), its
// chain of Wasm operators, and its outputs (a sink connector and/or result
// partitions split by the edge's partitioner), until the input ends, the task
// fails or it is canceled.
package taskrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"google.golang.org/grpc"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/arrow/ipcframe"
	"github.com/weirflow/weir/internal/connector"
	"github.com/weirflow/weir/internal/rpcpb"
	"github.com/weirflow/weir/wasm"
	"github.com/weirflow/weir/worker/internal/exchange"
	"github.com/weirflow/weir/worker/internal/exchange/remote"
	"github.com/weirflow/weir/worker/internal/partition"
	"github.com/weirflow/weir/worker/internal/task"
)

// Env is what a TaskManager offers its tasks.
type Env struct {
	// Module returns the compiled module of an artifact (by its sha256),
	// fetching it first if needed.
	Module func(ctx context.Context, sha256, name string) (*wasm.Module, error)
	// Files is the file connectors' access policy, as the leading
	// JobManager gave it (the TaskManager checks paths again).
	Files connector.FileAccess
	// Registry holds this TaskManager's result partitions.
	Registry *exchange.Registry
	// Conn returns a (shared) connection to another TaskManager's data
	// address.
	Conn func(addr string) (*grpc.ClientConn, error)
	// Schema returns the schema of a producer's partition (local or remote).
	Schema func(ctx context.Context, addr string, key exchange.PartitionKey) (*arrow.Schema, error)
	// Exchange configures gates and partitions.
	Exchange exchange.Options
	// BatchRows is the sources' batch size (default 1024).
	BatchRows int
	Alloc     memory.Allocator
	Logger    *slog.Logger
	// Ack and Decline send checkpoint acknowledgements and refusals to the
	// JobManager (from any goroutine).
	Ack     func(*rpcpb.CheckpointAck)
	Decline func(*rpcpb.CheckpointDecline)
}

// Metrics are a running task's counters; they are read concurrently.
type Metrics struct {
	RecordsIn, RecordsOut, BytesIn, BytesOut atomic.Int64
	// WasmMemory is the size of the task's Wasm linear memory, in bytes.
	WasmMemory atomic.Int64
	// Watermark is the task's current event-time watermark (ms), or
	// math.MinInt64 before the first.
	Watermark atomic.Int64
	// idle is the accumulated nanoseconds spent waiting for input (or for a
	// source's rate) and idleSince the start of a wait in progress (unix
	// nanoseconds, 0 when not waiting); see IdleTime. Backpressured is the
	// time waiting for downstream credit. Started is when the task began.
	idle, idleSince atomic.Int64
	backpressured   func() time.Duration
	Started         time.Time
}

// BeginIdle marks the start of a wait for input; the returned function
// ends it. A task waits for one thing at a time.
func (m *Metrics) BeginIdle() (end func()) {
	start := time.Now().UnixNano()
	m.idleSince.Store(start)
	return func() {
		m.idleSince.Store(0)
		m.idle.Add(time.Now().UnixNano() - start)
	}
}

// IdleTime is the time the task waited for input so far, a wait in
// progress included (so a task blocked for long shows idle, not busy).
func (m *Metrics) IdleTime(now time.Time) time.Duration {
	d := m.idle.Load()
	if since := m.idleSince.Load(); since != 0 {
		d += max(0, now.UnixNano()-since)
	}
	return time.Duration(d)
}

// Backpressured is the time the task's outputs waited for credit so far.
func (m *Metrics) Backpressured() time.Duration {
	if m.backpressured == nil {
		return 0
	}
	return m.backpressured()
}

// Failure is a task failure with what the guest printed last.
type Failure struct {
	Err       error
	GuestLogs []string
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// Task is one subtask attempt.
type Task struct {
	Deployment *rpcpb.TaskDeployment
	Metrics    Metrics

	env     *Env
	log     *slog.Logger
	nodes   []abi.Node
	inst    *wasm.Instance
	running func()

	mu      sync.Mutex // outputs are read by metrics while the task sets up
	outputs []*output
	sides   []*output // side outputs of the chain's tail
	inputs  []int     // the input (0, or 1 for a join's right side) of every gate channel

	// watermark is the task's event time (task goroutine only); pending is
	// a source's next watermark, emitted after the batch it came with.
	watermark, pending int64

	triggers chan trigger
	// sinkMu guards the sink: checkpoint completions commit from RPC
	// goroutines while the task writes.
	sinkMu sync.Mutex
	sink   connector.Sink
	txns   []txn // pre-committed, waiting for their checkpoint to complete

	cpMu         sync.Mutex
	lastComplete int64         // the latest checkpoint known complete
	cpSignal     chan struct{} // closed and replaced when lastComplete moves
}

type output struct {
	rp    *exchange.ResultPartition
	split partition.Partitioner
}

// New checks a deployment; Run runs it.
func New(env *Env, d *rpcpb.TaskDeployment) (*Task, error) {
	nodes, err := abi.DecodeNodes(d.GetChainJson())
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, errors.New("taskrun: a deployment without nodes")
	}
	if env.Alloc == nil {
		env.Alloc = memory.DefaultAllocator
	}
	if env.Logger == nil {
		env.Logger = slog.Default()
	}
	t := &Task{Deployment: d, env: env, nodes: nodes, log: env.Logger.With("task", d.GetExecutionId())}
	t.Metrics.backpressured = t.backpressured
	t.Metrics.Started = time.Now()
	t.Metrics.Watermark.Store(task.NoWatermark)
	t.triggers = make(chan trigger, 4)
	t.cpSignal = make(chan struct{})
	return t, nil
}

func (t *Task) backpressured() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var d time.Duration
	for _, o := range t.outputs {
		d = max(d, o.rp.Backpressured())
	}
	return d
}

// Run runs the task until its input ends (nil), ctx is canceled (ctx's
// error) or it fails (a *Failure with the guest's last log lines when a
// guest is involved). running is called once the task is set up.
func (t *Task) Run(ctx context.Context, running func()) (err error) {
	t.running = running
	defer func() {
		if err != nil {
			for _, o := range t.outputs {
				o.rp.Fail(err)
			}
			var logs []string
			if t.inst != nil {
				logs = t.inst.Logs()
			}
			if ctx.Err() == nil {
				err = &Failure{Err: err, GuestLogs: logs}
			}
		}
		if t.inst != nil {
			_ = t.inst.Close(context.Background())
		}
	}()
	return t.run(ctx)
}

// Partitions returns the keys of the task's result partitions.
func (t *Task) Partitions() []exchange.PartitionKey {
	t.mu.Lock()
	defer t.mu.Unlock()
	var keys []exchange.PartitionKey
	for _, o := range t.outputs {
		keys = append(keys, o.rp.Key())
	}
	return keys
}

func (t *Task) run(ctx context.Context) (err error) {
	d := t.Deployment
	head, tail := t.nodes[0], t.nodes[len(t.nodes)-1]
	cctx := connector.Context{
		Subtask: int(d.GetSubtask()), Parallelism: int(d.GetParallelism()), Alloc: t.env.Alloc,
		BatchRows: t.env.BatchRows, Job: d.GetJobId(), Attempt: int(d.GetAttempt()),
		Checkpointing: d.GetCheckpointing() || d.GetRestore() != nil,
		Idle:          t.Metrics.BeginIdle,
	}

	// The Wasm operators of the chain share one instance; windows and
	// joins are native (a window with a guest aggregate uses the instance).
	var ops []task.Operator
	for _, n := range t.nodes {
		if n.Kind == "source" || n.Kind == "sink" {
			continue
		}
		if n.UsesWasm() && t.inst == nil {
			mod, err := t.env.Module(ctx, d.GetArtifactSha256(), d.GetArtifactName())
			if err != nil {
				return fmt.Errorf("loading the job's module: %w", err)
			}
			if t.inst, err = mod.Instantiate(ctx, wasm.InstanceOptions{Job: d.GetJobId(), Task: d.GetExecutionId(), Allocator: t.env.Alloc}); err != nil {
				return fmt.Errorf("instantiating the job's module: %w", err)
			}
			t.Metrics.WasmMemory.Store(int64(t.inst.MemorySize()))
		}
		var op task.Operator
		var err error
		switch n.Kind {
		case "window":
			op, err = task.NewWindow(n, t.inst, int(d.GetMaxParallelism()), t.env.Alloc)
		case "join":
			op, err = task.NewJoin(n, int(d.GetMaxParallelism()), t.env.Alloc)
		default:
			op, err = task.NewWasm(n, t.inst, int(d.GetMaxParallelism()), t.env.Alloc)
		}
		if err != nil {
			return err
		}
		ops = append(ops, op)
	}
	chain := task.NewChain(ops...)
	// Event time: the task's watermark, moved by its source's generator or
	// the valve over its input channels; advance hands it to the chain and
	// the consumers.
	var emit func(arrow.Record) error
	t.watermark = task.NoWatermark
	advance := func(ctx context.Context, wm int64) error {
		if wm <= t.watermark {
			return nil
		}
		t.watermark = wm
		t.Metrics.Watermark.Store(wm)
		if err := chain.Watermark(ctx, wm, emit); err != nil {
			return err
		}
		return t.broadcast(ctx, exchange.Event{Kind: ipcframe.KindWatermark, Watermark: wm})
	}
	var gen *generator

	// Input: a source connector, or a gate over the upstream partitions.
	var next func(ctx context.Context) (rec arrow.Record, input int, done func(), err error)
	var schema, schema2 *arrow.Schema
	var vlv *valve
	var src connector.Source
	var stateful []task.Stateful
	if head.Kind == "source" {
		if src, err = connector.NewSource(head.Connector, head.ConnectorParams, connector.Options{Files: t.env.Files}); err != nil {
			return err
		}
		if err := src.Open(ctx, cctx); err != nil {
			return fmt.Errorf("open source %q: %w", head.ID, err)
		}
		defer func() { err = errors.Join(err, src.Close()) }()
		schema = src.Schema()
		if head.EventTime != nil {
			if gen, err = newGenerator(head.EventTime, schema); err != nil {
				return fmt.Errorf("source %q: %w", head.ID, err)
			}
		}
		var idle *time.Timer
		if et := head.EventTime; et != nil && et.IdleTimeout > 0 {
			// A source subtask without rows for the idle timeout tells its
			// consumers, so it does not hold their watermark back.
			idle = time.AfterFunc(time.Duration(et.IdleTimeout)*time.Millisecond, func() {
				_ = t.broadcast(ctx, exchange.Event{Kind: ipcframe.KindWatermark, Watermark: WatermarkIdle})
			})
			defer idle.Stop()
		}
		next = func(ctx context.Context) (arrow.Record, int, func(), error) {
			select {
			case tr := <-t.triggers:
				if err := t.checkpoint(ctx, tr.barrier, src, stateful, 0); err != nil {
					return nil, 0, nil, err
				}
				if tr.terminate {
					// Stop-with-savepoint: end only once the savepoint is
					// complete, so no task finishes while it is written. No
					// final watermark: the windows stay open in the savepoint.
					if err := t.waitComplete(ctx, int64(tr.barrier.ID)); err != nil {
						return nil, 0, nil, err
					}
					t.log.Info("source stops after a savepoint", "checkpoint", tr.barrier.ID)
					return nil, 0, nil, errStopped
				}
			default:
			}
			rec, err := src.Next(ctx)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					err = fmt.Errorf("source %q: %w", head.ID, err)
				}
				return nil, 0, nil, err
			}
			if idle != nil {
				idle.Reset(time.Duration(head.EventTime.IdleTimeout) * time.Millisecond)
			}
			if gen == nil {
				return rec, 0, rec.Release, nil
			}
			wm, ok, err := gen.observe(rec)
			if err != nil {
				rec.Release()
				return nil, 0, nil, fmt.Errorf("source %q: %w", head.ID, err)
			}
			return rec, 0, func() {
				rec.Release()
				if ok {
					t.pending = wm
				}
			}, nil
		}
	} else {
		gate, err := t.openGate(ctx)
		if err != nil {
			return err
		}
		defer gate.Close()
		schema = gate.Schema()
		if i := slices.Index(t.inputs, 1); i >= 0 && head.Kind == "join" {
			schema2 = gate.Channel(i).Schema()
		}
		ended, channels := 0, gate.NumChannels()
		align := newAligner(channels)
		vlv = newValve(channels)
		idleSent := false
		next = func(ctx context.Context) (arrow.Record, int, func(), error) {
			for {
				q, ok := align.next()
				if !ok {
					timeout := ctx
					var cancel context.CancelFunc = func() {}
					if at, ok := chain.NextProcessingTimer(); ok {
						timeout, cancel = context.WithDeadline(ctx, time.UnixMilli(at))
					}
					endIdle := t.Metrics.BeginIdle()
					ev, ch, err := gate.Next(timeout)
					endIdle()
					cancel()
					if err != nil && ctx.Err() == nil && timeout.Err() != nil {
						// A processing-time timer is due.
						if err := chain.ProcessingTime(ctx, time.Now().UnixMilli(), emit); err != nil {
							return nil, 0, nil, err
						}
						continue
					}
					if err != nil {
						return nil, 0, nil, err
					}
					if align.hold(ev, ch) {
						continue
					}
					q = queued{ev, ch}
				}
				ev, ch := q.ev, q.ch
				var aligned *ipcframe.Barrier
				switch ev.Kind {
				case ipcframe.KindBatch:
					rec := ev.Record
					vlv.active(ch)
					idleSent = false
					return rec, t.inputs[ch], func() {
						rec.Release()
						_ = gate.Release(ch)
					}, nil
				case ipcframe.KindBarrier:
					var abandoned uint64
					aligned, abandoned = align.barrier(ev.Barrier, ch)
					if abandoned != 0 {
						_ = t.decline(int64(abandoned), fmt.Errorf("checkpoint %d overtaken by %d before its alignment", abandoned, ev.Barrier.ID))
					}
				case ipcframe.KindEndOfPartition:
					ended++
					aligned = align.endOf(ch)
					if wm, ok := vlv.end(ch); ok {
						if err := advance(ctx, wm); err != nil {
							return nil, 0, nil, err
						}
					}
				case ipcframe.KindWatermark:
					if wm, ok := vlv.watermark(ch, ev.Watermark); ok {
						idleSent = false
						if err := advance(ctx, wm); err != nil {
							return nil, 0, nil, err
						}
					}
					if vlv.allIdle && !idleSent && ended < channels {
						idleSent = true
						if err := t.broadcast(ctx, exchange.Event{Kind: ipcframe.KindWatermark, Watermark: WatermarkIdle}); err != nil {
							return nil, 0, nil, err
						}
					}
				}
				if aligned != nil {
					if err := t.checkpoint(ctx, *aligned, nil, stateful, align.took); err != nil {
						return nil, 0, nil, err
					}
				}
				if ended == channels {
					return nil, 0, nil, io.EOF
				}
			}
		}
	}

	var out *arrow.Schema
	if schema2 != nil {
		out, err = chain.OpenInputs(ctx, schema, schema2)
	} else {
		out, err = chain.Open(ctx, schema)
	}
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, chain.Close(ctx)) }()
	stateful = chain.Stateful()

	var sink connector.Sink
	if tail.Kind == "sink" {
		if sink, err = connector.NewSink(tail.Connector, tail.ConnectorParams, connector.Options{Files: t.env.Files}); err != nil {
			return err
		}
		if err := sink.Open(ctx, cctx, out); err != nil {
			return fmt.Errorf("open sink %q: %w", tail.ID, err)
		}
		defer func() { err = errors.Join(err, sink.Close()) }()
		t.sinkMu.Lock()
		t.sink = sink
		t.sinkMu.Unlock()
	}
	restoredWm, err := t.restore(ctx, src, stateful)
	if err != nil {
		return err
	}
	sides := map[string][]*output{}
	for _, o := range d.GetOutputs() {
		key := exchange.PartitionKey{Producer: d.GetExecutionId(), Downstream: o.GetDownstreamVertex()}
		split, err := partition.New(o.GetPartition(), int(o.GetConsumers()), int(d.GetSubtask()), o.GetKeyBy(), int(d.GetMaxParallelism()), t.env.Alloc)
		if err != nil {
			return fmt.Errorf("output to %s: %w", o.GetDownstreamVertex(), err)
		}
		schema := out
		if side := o.GetSideOutput(); side != "" {
			so, ok := chain.Tail().(task.SideOutputs)
			if ok {
				schema = so.SideSchema(side)
			}
			if !ok || schema == nil {
				return fmt.Errorf("output to %s: node %q has no side output %q", o.GetDownstreamVertex(), tail.ID, side)
			}
		}
		rp := exchange.NewResultPartition(key, schema, int(o.GetConsumers()), t.env.Exchange)
		if err := t.env.Registry.Register(rp); err != nil {
			return err
		}
		op := &output{rp: rp, split: split}
		t.mu.Lock()
		if side := o.GetSideOutput(); side != "" {
			sides[side] = append(sides[side], op)
			t.sides = append(t.sides, op)
		} else {
			t.outputs = append(t.outputs, op)
		}
		t.mu.Unlock()
	}
	for name, outs := range sides {
		chain.Tail().(task.SideOutputs).SetSideOutput(name, func(rec arrow.Record) error {
			return t.send(ctx, outs, rec)
		})
	}

	emit = func(rec arrow.Record) error {
		t.Metrics.RecordsOut.Add(rec.NumRows())
		t.Metrics.BytesOut.Add(exchange.RecordBytes(rec))
		if sink != nil {
			t.sinkMu.Lock()
			err := sink.Write(ctx, rec)
			t.sinkMu.Unlock()
			if err != nil {
				return fmt.Errorf("sink %q: %w", tail.ID, err)
			}
		}
		return t.send(ctx, t.outputs, rec)
	}

	if restoredWm != task.NoWatermark {
		if gen != nil {
			gen.restore(restoredWm)
		}
		if vlv != nil {
			vlv.current = restoredWm
		}
		if err := advance(ctx, restoredWm); err != nil {
			return err
		}
	}
	if t.running != nil {
		t.running()
	}
	t.pending = task.NoWatermark
	stopped := false
	for {
		rec, input, done, err := next(ctx)
		if errors.Is(err, errStopped) {
			stopped = true
			break
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		t.Metrics.RecordsIn.Add(rec.NumRows())
		t.Metrics.BytesIn.Add(exchange.RecordBytes(rec))
		if schema2 != nil {
			err = chain.PushInput(ctx, input, rec, emit)
		} else {
			err = chain.Push(ctx, rec, emit)
		}
		done()
		if t.inst != nil {
			t.Metrics.WasmMemory.Store(int64(t.inst.MemorySize()))
		}
		if err != nil {
			return err
		}
		if t.pending != task.NoWatermark {
			wm := t.pending
			t.pending = task.NoWatermark
			if err := advance(ctx, wm); err != nil {
				return err
			}
		}
	}
	if !stopped {
		// The end of the input: a source ends with the final watermark (as
		// Flink's bounded sources do), and processing-time windows fire.
		if src != nil {
			if err := advance(ctx, task.MaxWatermark); err != nil {
				return err
			}
		}
		if err := chain.ProcessingTime(ctx, math.MaxInt64, emit); err != nil {
			return err
		}
	}
	if sink != nil {
		t.sinkMu.Lock()
		err := sink.Finish(ctx)
		t.sinkMu.Unlock()
		if err != nil {
			return fmt.Errorf("sink %q: %w", tail.ID, err)
		}
	}
	for _, o := range append(t.outputs, t.sides...) {
		if err := o.rp.Finish(ctx); err != nil {
			return err
		}
	}
	return nil
}

// errStopped ends a source's input after a stop-with-savepoint.
var errStopped = errors.New("taskrun: stopped with a savepoint")

// send splits rec over outputs and queues the parts; rec stays the
// caller's.
func (t *Task) send(ctx context.Context, outputs []*output, rec arrow.Record) error {
	for _, o := range outputs {
		parts, err := o.split.Split(rec)
		if err != nil {
			return err
		}
		for i, p := range parts {
			if p == nil {
				continue
			}
			if err := o.rp.Add(ctx, i, exchange.Event{Kind: ipcframe.KindBatch, Record: p}); err != nil {
				for _, rest := range parts[i+1:] {
					if rest != nil {
						rest.Release()
					}
				}
				return err
			}
		}
	}
	return nil
}

// broadcast sends an event (a watermark, a barrier) to every consumer of
// every output, side outputs included. It may be called from another
// goroutine (the idle timer of a source).
func (t *Task) broadcast(ctx context.Context, ev exchange.Event) error {
	t.mu.Lock()
	outs := append(slices.Clip(t.outputs), t.sides...)
	t.mu.Unlock()
	for _, o := range outs {
		if err := o.rp.Broadcast(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

// openGate builds the input gate over every producer of every input edge
// and connects its channels, local or remote.
func (t *Task) openGate(ctx context.Context) (*exchange.InputGate, error) {
	d := t.Deployment
	type source struct {
		key  exchange.PartitionKey
		addr string
		sub  int
	}
	var srcs []source
	t.inputs = t.inputs[:0]
	for i, in := range d.GetInputs() {
		sub := int(d.GetSubtask())
		if in.GetPartition() == "forward" {
			sub = 0 // a forward partition has one subpartition
		}
		for _, p := range in.GetProducers() {
			srcs = append(srcs, source{
				key:  exchange.PartitionKey{Producer: p.GetExecutionId(), Downstream: d.GetVertexId()},
				addr: p.GetDataAddress(), sub: sub,
			})
			t.inputs = append(t.inputs, i)
		}
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("taskrun: vertex %s has neither a source nor inputs", d.GetVertexId())
	}
	// Every producer of a union's inputs emits the same schema, the first
	// one's (a batch of another fails its channel); a join's second input
	// has its own.
	join := t.nodes[0].Kind == "join"
	schemas := map[int]*arrow.Schema{}
	for ch, s := range srcs {
		if schemas[t.inputs[ch]] != nil || !join && len(schemas) > 0 {
			continue
		}
		schema, err := t.env.Schema(ctx, s.addr, s.key)
		if err != nil {
			return nil, fmt.Errorf("schema of %s: %w", s.key, err)
		}
		schemas[t.inputs[ch]] = schema
	}
	gate := exchange.NewInputGate(schemas[0], len(srcs), t.env.Exchange)
	for ch := range srcs {
		if join && t.inputs[ch] != 0 {
			gate.SetChannelSchema(ch, schemas[t.inputs[ch]])
		}
	}
	for ch, s := range srcs {
		if s.addr == "" {
			gate.ConnectLocal(ctx, ch, t.env.Registry, s.key, s.sub)
			continue
		}
		conn, err := t.env.Conn(s.addr)
		if err != nil {
			gate.Close()
			return nil, err
		}
		remote.Connect(ctx, gate, ch, conn, s.key, s.sub)
	}
	return gate, nil
}
