package task

import (
	"container/heap"
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/internal/keygroup"
)

// Keyed timers of process functions (SPEC §9.3.1): a nullable
// timestamp[ms] (or int64 ms) field "_timer" of the state schema is the
// key's event-time timer, "_proctimer" its processing-time timer. When the
// watermark (or the clock) reaches a key's timer, the host calls the
// function with an input batch of no rows and the state rows of the keys
// whose timers fired.
const (
	TimerField     = "_timer"
	ProcTimerField = "_proctimer"
)

// keyTimers are the registered timers of one kind.
type keyTimers struct {
	field int              // index in the state struct, -1 without
	at    map[string]int64 // key -> registered time
	heap  timerHeap[joinTimer]
}

func newKeyTimers(st *arrow.StructType, name string) keyTimers {
	kt := keyTimers{field: -1, at: map[string]int64{}}
	if i, ok := st.FieldIdx(name); ok {
		kt.field = i
	}
	return kt
}

// note registers the timers of keys from their new state.
func (kt *keyTimers) note(keys []string, st *array.Struct) {
	if kt.field < 0 {
		return
	}
	col := st.Field(kt.field)
	vals := timerValues(col)
	for i, k := range keys {
		if st.IsNull(i) || col.IsNull(i) {
			delete(kt.at, k)
			continue
		}
		at := vals[i]
		if old, ok := kt.at[k]; ok && old == at {
			continue
		}
		kt.at[k] = at
		heap.Push(&kt.heap, joinTimer{at: at, key: k})
	}
}

func timerValues(col arrow.Array) []int64 {
	if vals, ok := int64Values(col); ok {
		return vals
	}
	return make([]int64, col.Len())
}

// due pops the keys whose registered timers are at or before t.
func (kt *keyTimers) due(t int64) []string {
	var keys []string
	for len(kt.heap) > 0 && kt.heap[0].at <= t {
		tm := heap.Pop(&kt.heap).(joinTimer)
		if at, ok := kt.at[tm.key]; ok && at == tm.at {
			delete(kt.at, tm.key)
			keys = append(keys, tm.key)
		}
	}
	return keys
}

func (kt *keyTimers) next() (int64, bool) {
	for len(kt.heap) > 0 {
		tm := kt.heap[0]
		if at, ok := kt.at[tm.key]; ok && at == tm.at {
			return tm.at, true
		}
		heap.Pop(&kt.heap)
	}
	return 0, false
}

// OnWatermark implements TimeAware: fires the event-time timers.
func (p *processOp) OnWatermark(ctx context.Context, wm int64) ([]arrow.Record, error) {
	return p.fire(ctx, &p.timers, wm)
}

// NextProcessingTimer implements TimeAware.
func (p *processOp) NextProcessingTimer() (int64, bool) { return p.procTimers.next() }

// OnProcessingTime implements TimeAware.
func (p *processOp) OnProcessingTime(ctx context.Context, now int64) ([]arrow.Record, error) {
	return p.fire(ctx, &p.procTimers, now)
}

func (p *processOp) fire(ctx context.Context, kt *keyTimers, t int64) ([]arrow.Record, error) {
	if kt.field < 0 {
		return nil, nil
	}
	keys := kt.due(t)
	if len(keys) == 0 {
		return nil, nil
	}
	slices.Sort(keys) // deterministic
	st, err := p.store.Gather(p.alloc, keys)
	if err != nil {
		return nil, err
	}
	defer st.Release()
	empty := emptyRecord(p.alloc, p.in)
	defer empty.Release()
	out, next, err := p.op.Process(ctx, empty, nil, st)
	if err != nil {
		return nil, fmt.Errorf("process %q timers: %w", p.node.ID, err)
	}
	defer next.Release()
	if err := p.store.Scatter(keys, next); err != nil {
		out.Release()
		return nil, fmt.Errorf("process %q: %w", p.node.ID, err)
	}
	p.noteTimers(keys, next)
	return nonEmpty(out), nil
}

func (p *processOp) noteTimers(keys []string, st *array.Struct) {
	p.timers.note(keys, st)
	p.procTimers.note(keys, st)
}

// Restore implements Stateful: the state, then the timers it holds.
func (p *processOp) Restore(r io.Reader, rg keygroup.Range) error {
	if err := p.storeOp.Restore(r, rg); err != nil {
		return err
	}
	if p.timers.field < 0 && p.procTimers.field < 0 {
		return nil
	}
	return gatherGroups(p.store, p.alloc, rg, func(keys []string, st *array.Struct) error {
		p.noteTimers(keys, st)
		return nil
	})
}

// emptyRecord is a batch of schema with no rows; the caller releases it.
func emptyRecord(alloc memory.Allocator, schema *arrow.Schema) arrow.Record {
	b := array.NewRecordBuilder(alloc, schema)
	defer b.Release()
	return b.NewRecord()
}
