// Package task runs the operators of one subtask: a chain of operators that
// hand record batches to each other with no copy and no channel (operator
// chaining, design.md §3), Wasm operators called through the host, and the
// host-managed keyed state of keyed operators.
package task

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/arrow/batch"
	"github.com/weirflow/weir/internal/keygroup"
	"github.com/weirflow/weir/wasm"
	"github.com/weirflow/weir/worker/internal/state"
)

// Operator is one operator of a chain.
type Operator interface {
	// Open prepares the operator for input batches of schema in and returns
	// the schema of its output.
	Open(ctx context.Context, in *arrow.Schema) (*arrow.Schema, error)
	// Process consumes rec (only read; the caller releases it) and returns
	// the output batches, which the caller owns. It may return none.
	Process(ctx context.Context, rec arrow.Record) ([]arrow.Record, error)
	// Close releases the operator; it is called once, also after errors.
	Close(ctx context.Context) error
}

// Stateful is an operator whose state is held on the host: the keyed
// process and aggregate operators (in a state.Store), windows and joins. A
// checkpoint calls Snapshot on the task's goroutine and writes the result on
// another one, naming the file by NodeID; a restore calls Restore for each
// state file of the node after the chain is opened and before the first
// batch, with the key groups the subtask owns.
type Stateful interface {
	// NodeID is the id of the operator's plan node, unique in the job.
	NodeID() string
	// Snapshot captures the state; the caller writes and releases it. It
	// stays valid after Close, so that a snapshot taken at the end can
	// still be written.
	Snapshot() (Snapshot, error)
	// Restore adds the state of the key groups in rg read from r.
	Restore(r io.Reader, rg keygroup.Range) error
}

// Snapshot is a captured state, written by a checkpoint (state.Snapshot
// is one).
type Snapshot interface {
	WriteTo(w io.Writer) (int64, error)
	Release()
}

// storeOp implements Stateful over a state.Store.
type storeOp struct {
	id    string
	store *state.Store
}

// NodeID implements Stateful.
func (s *storeOp) NodeID() string { return s.id }

// Snapshot implements Stateful.
func (s *storeOp) Snapshot() (Snapshot, error) { return s.store.Snapshot(), nil }

// Restore implements Stateful.
func (s *storeOp) Restore(r io.Reader, rg keygroup.Range) error {
	_, err := s.store.Restore(r, rg)
	return err
}

// Store is the operator's state store: nil before Open.
func (s *storeOp) Store() *state.Store { return s.store }

// NewWasm makes the operator of a Wasm plan node, run in instance in. Keyed
// nodes (process, aggregate) keep their state in a state.Store with
// maxParallelism key groups and implement Stateful; the Store's Restore
// reads through alloc.
func NewWasm(n abi.Node, in *wasm.Instance, maxParallelism int, alloc memory.Allocator) (Operator, error) {
	kind, ok := abi.ParseKind(n.Kind)
	if !ok {
		return nil, fmt.Errorf("task: node %q of kind %q is not a Wasm operator", n.ID, n.Kind)
	}
	base := wasmOp{node: n, kind: kind, inst: in, maxP: maxParallelism, alloc: alloc}
	switch kind {
	case abi.KindProcess:
		return &processOp{wasmOp: base, storeOp: storeOp{id: n.ID}}, nil
	case abi.KindAggregate:
		// Without keyBy, the subtask's single accumulator is the row of one
		// fixed key.
		return &aggregateOp{wasmOp: base, storeOp: storeOp{id: n.ID}}, nil
	}
	return &base, nil
}

type wasmOp struct {
	node  abi.Node
	kind  abi.Kind
	inst  *wasm.Instance
	op    *wasm.Operator
	maxP  int
	alloc memory.Allocator
}

func (w *wasmOp) Open(ctx context.Context, in *arrow.Schema) (*arrow.Schema, error) {
	op, err := w.inst.Open(ctx, w.kind, w.node.Function, w.node.FunctionParams, in)
	if err != nil {
		return nil, fmt.Errorf("open %s %q: %w", w.kind, w.node.ID, err)
	}
	w.op = op
	return op.OutSchema, nil
}

// Process runs map, flatmap and filter operators.
func (w *wasmOp) Process(ctx context.Context, rec arrow.Record) ([]arrow.Record, error) {
	var out arrow.Record
	var err error
	if w.kind == abi.KindFilter {
		out, err = w.op.Filter(ctx, rec)
	} else {
		out, err = w.op.Map(ctx, rec)
	}
	if err != nil {
		return nil, err
	}
	return nonEmpty(out), nil
}

func (w *wasmOp) Close(ctx context.Context) error {
	if w.op == nil {
		return nil
	}
	return w.op.Close(ctx)
}

// nonEmpty drops empty batches so downstream operators are not called for
// nothing.
func nonEmpty(rec arrow.Record) []arrow.Record {
	if rec.NumRows() == 0 {
		rec.Release()
		return nil
	}
	return []arrow.Record{rec}
}

// distinctKeys groups the rows of rec by the key columns: rows[i] is the
// index in keys of row i's key, keys hold the encoded keys in order of first
// appearance.
func distinctKeys(rec arrow.Record, cols []string) (rows []int32, keys []string, err error) {
	g := batch.NewGrouper()
	if rows, _, err = g.Group(nil, rec, cols); err != nil {
		return nil, nil, err
	}
	return rows, g.Keys(), nil
}

// processOp is a keyed process operator: one guest call per batch with the
// state rows of the batch's keys, state kept in a Store.
type processOp struct {
	wasmOp
	storeOp
	in                 *arrow.Schema
	timers, procTimers keyTimers
}

func (p *processOp) Open(ctx context.Context, in *arrow.Schema) (*arrow.Schema, error) {
	out, err := p.wasmOp.Open(ctx, in)
	if err != nil {
		return nil, err
	}
	if p.store, err = state.New(p.op.StateSchema.Fields(), p.maxP, state.WithAllocator(p.alloc)); err != nil {
		return nil, fmt.Errorf("process %q: %w", p.node.ID, err)
	}
	p.in = in
	p.timers = newKeyTimers(p.store.Type(), TimerField)
	p.procTimers = newKeyTimers(p.store.Type(), ProcTimerField)
	return out, nil
}

func (p *processOp) Process(ctx context.Context, rec arrow.Record) ([]arrow.Record, error) {
	rows, keys, err := distinctKeys(rec, p.node.KeyBy)
	if err != nil {
		return nil, fmt.Errorf("process %q: %w", p.node.ID, err)
	}
	st, err := p.store.Gather(p.alloc, keys)
	if err != nil {
		return nil, err
	}
	defer st.Release()
	out, next, err := p.op.Process(ctx, rec, rows, st)
	if err != nil {
		return nil, err
	}
	defer next.Release()
	if err := p.store.Scatter(keys, next); err != nil {
		out.Release()
		return nil, fmt.Errorf("process %q: %w", p.node.ID, err)
	}
	p.noteTimers(keys, next)
	return nonEmpty(out), nil
}

// aggregateOp is a rolling aggregate: with keyBy, one accumulator per key
// kept in a Store, and for every batch one result row per key it touched
// (the key columns, then the result columns), as Flink's keyed reduce emits
// updates; without keyBy, one accumulator for the subtask.
type aggregateOp struct {
	wasmOp
	storeOp
	keyCols []int
	out     *arrow.Schema
}

// globalKey keys the single accumulator of an aggregate without keyBy.
const globalKey = "\x00global"

func (a *aggregateOp) Open(ctx context.Context, in *arrow.Schema) (*arrow.Schema, error) {
	res, err := a.wasmOp.Open(ctx, in)
	if err != nil {
		return nil, err
	}
	if a.store, err = state.New(a.op.StateSchema.Fields(), a.maxP, state.WithAllocator(a.alloc)); err != nil {
		return nil, fmt.Errorf("aggregate %q: %w", a.node.ID, err)
	}
	if a.keyCols, err = batch.ColumnIndexes(in, a.node.KeyBy); err != nil {
		return nil, fmt.Errorf("aggregate %q: %w", a.node.ID, err)
	}
	fields := make([]arrow.Field, 0, len(a.keyCols)+res.NumFields())
	for _, c := range a.keyCols {
		fields = append(fields, in.Field(c))
	}
	a.out = arrow.NewSchema(append(fields, res.Fields()...), nil)
	return a.out, nil
}

func (a *aggregateOp) Process(ctx context.Context, rec arrow.Record) ([]arrow.Record, error) {
	var rows []int32
	var keys []string
	var err error
	if len(a.node.KeyBy) > 0 {
		if rows, keys, err = distinctKeys(rec, a.node.KeyBy); err != nil {
			return nil, fmt.Errorf("aggregate %q: %w", a.node.ID, err)
		}
	} else {
		rows, keys = make([]int32, rec.NumRows()), []string{globalKey}
	}
	acc, err := a.accumulators(ctx, keys)
	if err != nil {
		return nil, err
	}
	next, err := a.op.AggAdd(ctx, acc, rec, rows)
	acc.Release()
	if err != nil {
		return nil, err
	}
	defer next.Release()
	if err := a.store.Scatter(keys, next); err != nil {
		return nil, fmt.Errorf("aggregate %q: %w", a.node.ID, err)
	}
	res, err := a.op.AggResult(ctx, next)
	if err != nil {
		return nil, err
	}
	defer res.Release()
	// Prepend the key columns: the first row of each key, in key order.
	first := make([]int32, len(keys))
	seen := make([]bool, len(keys))
	for r, g := range rows {
		if !seen[g] {
			seen[g], first[g] = true, int32(r)
		}
	}
	cols := make([]arrow.Array, 0, a.out.NumFields())
	for _, c := range a.keyCols {
		k, err := batch.TakeArray(a.alloc, rec.Column(c), first)
		if err != nil {
			releaseAll(cols)
			return nil, err
		}
		cols = append(cols, k)
	}
	for _, c := range res.Columns() {
		c.Retain()
		cols = append(cols, c)
	}
	defer releaseAll(cols)
	return nonEmpty(array.NewRecord(a.out, cols, int64(len(keys)))), nil
}

// accumulators returns the accumulators of keys: stored ones, and fresh ones
// from weir_agg_create for keys seen for the first time. The caller owns the
// result.
func (a *aggregateOp) accumulators(ctx context.Context, keys []string) (*array.Struct, error) {
	stored, err := a.store.Gather(a.alloc, keys)
	if err != nil {
		return nil, err
	}
	if stored.NullN() == 0 {
		return stored, nil
	}
	defer stored.Release()
	fresh, err := a.op.AggCreate(ctx, len(keys))
	if err != nil {
		return nil, err
	}
	defer fresh.Release()
	// Rows with stored state come from stored, the others from fresh: write
	// the fresh ones into the store, then gather again.
	var newKeys []int32
	for i := range keys {
		if stored.IsNull(i) {
			newKeys = append(newKeys, int32(i))
		}
	}
	picked, err := batch.TakeArray(a.alloc, fresh, newKeys)
	if err != nil {
		return nil, err
	}
	defer picked.Release()
	names := make([]string, len(newKeys))
	for i, k := range newKeys {
		names[i] = keys[k]
	}
	if err := a.store.Scatter(names, picked.(*array.Struct)); err != nil {
		return nil, err
	}
	return a.store.Gather(a.alloc, keys)
}

func releaseAll(arrs []arrow.Array) {
	for _, a := range arrs {
		a.Release()
	}
}
