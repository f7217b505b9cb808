package task

import (
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/arrow/batch"
	"github.com/weirflow/weir/internal/keygroup"
	"github.com/weirflow/weir/wasm"
	"github.com/weirflow/weir/worker/internal/state"
)

// windowOp is a keyed window with aggregates (Flink's
// WindowOperator with an AggregateFunction): rows go to tumbling, sliding
// or session windows per key, in event or processing time; a window fires
// (one row: the key, window_start, window_end, the aggregates) when the
// watermark (or the clock) reaches its end - 1, and is purged
// allowedLateness later. Rows late for every window they belong to go to
// the "late" side output.
type windowOp struct {
	node  abi.Node
	w     abi.Window
	maxP  int
	alloc memory.Allocator
	inst  *wasm.Instance
	gop   *wasm.Operator
	now   func() int64

	in, out  *arrow.Schema
	keyTypes []arrow.DataType
	timeCol  TimeColumn
	acc      accumulators

	slots  []windowSlot
	free   []int32
	byKey  map[string][]int32 // key -> its live slots
	byWin  map[winKey]int32   // tumbling and sliding windows -> slot
	timers timerHeap[timer]
	wm     int64

	late func(arrow.Record) error

	// scratch
	ts           []int64
	rows, target []int32
}

type winKey struct {
	key   string
	start int64
}

type windowSlot struct {
	key        string
	start, end int64
	gen        uint32
	live       bool
	fired      bool
}

// timer is a slot's firing (cleanup false) or purge (cleanup true) time.
type timer struct {
	at      int64
	slot    int32
	gen     uint32
	cleanup bool
}

func (t timer) when() int64 { return t.at }

// timerHeap is a min-heap of timers by time (container/heap), for windows,
// joins and keyed timers.
type timerHeap[T interface{ when() int64 }] []T

func (h timerHeap[T]) Len() int           { return len(h) }
func (h timerHeap[T]) Less(i, j int) bool { return h[i].when() < h[j].when() }
func (h timerHeap[T]) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap[T]) Push(x any)        { *h = append(*h, x.(T)) }
func (h *timerHeap[T]) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// NewWindow makes the operator of a window node; a node with a guest
// aggregate function runs it in instance in.
func NewWindow(n abi.Node, in *wasm.Instance, maxParallelism int, alloc memory.Allocator) (Operator, error) {
	if n.Window == nil {
		return nil, fmt.Errorf("task: window node %q without a window", n.ID)
	}
	if n.Function != "" && in == nil {
		return nil, fmt.Errorf("task: window node %q needs a guest instance for %q", n.ID, n.Function)
	}
	w := *n.Window
	if w.Type == abi.WindowTumbling && w.Slide == 0 {
		w.Slide = w.Size // as abi's plan validation sets it
	}
	if w.Type != abi.WindowSession && w.Slide <= 0 || w.Type == abi.WindowSession && w.Gap <= 0 {
		return nil, fmt.Errorf("task: window node %q: bad window %+v", n.ID, w)
	}
	return &windowOp{
		node: n, w: w, maxP: maxParallelism, alloc: alloc, inst: in,
		now:   func() int64 { return time.Now().UnixMilli() },
		byKey: map[string][]int32{}, byWin: map[winKey]int32{}, wm: NoWatermark,
	}, nil
}

func (o *windowOp) eventTime() bool { return o.w.Time != abi.TimeProcessing }

func (o *windowOp) Open(ctx context.Context, in *arrow.Schema) (*arrow.Schema, error) {
	o.in = in
	fail := func(err error) (*arrow.Schema, error) { return nil, fmt.Errorf("window %q: %w", o.node.ID, err) }
	keyCols, err := batch.ColumnIndexes(in, o.node.KeyBy)
	if err != nil {
		return fail(err)
	}
	fields := make([]arrow.Field, 0, len(keyCols)+2)
	for _, c := range keyCols {
		f := in.Field(c)
		o.keyTypes = append(o.keyTypes, f.Type)
		fields = append(fields, f)
	}
	fields = append(fields,
		arrow.Field{Name: "window_start", Type: arrow.FixedWidthTypes.Timestamp_ms},
		arrow.Field{Name: "window_end", Type: arrow.FixedWidthTypes.Timestamp_ms})
	if o.eventTime() {
		if o.timeCol, err = NewTimeColumn(in, o.w.Column); err != nil {
			return fail(err)
		}
	}
	if o.node.Function != "" {
		if o.gop, err = o.inst.Open(ctx, abi.KindAggregate, o.node.Function, o.node.FunctionParams, in); err != nil {
			return fail(err)
		}
		if o.acc, err = newGuestAggs(o.gop, o.alloc); err != nil {
			return fail(err)
		}
	} else if o.acc, err = newNativeAggs(o.alloc, in, o.node.Aggregates); err != nil {
		return fail(err)
	}
	o.out = arrow.NewSchema(append(fields, o.acc.fields()...), nil)
	return o.out, nil
}

// SideSchema implements SideOutputs: late rows keep the input schema.
func (o *windowOp) SideSchema(name string) *arrow.Schema {
	if name == abi.SideLate && o.eventTime() {
		return o.in
	}
	return nil
}

// SetSideOutput implements SideOutputs.
func (o *windowOp) SetSideOutput(name string, emit func(arrow.Record) error) {
	if name == abi.SideLate {
		o.late = emit
	}
}

func (o *windowOp) Process(ctx context.Context, rec arrow.Record) ([]arrow.Record, error) {
	n := int(rec.NumRows())
	var err error
	o.ts = o.ts[:0]
	if o.eventTime() {
		if o.ts, err = o.timeCol.Millis(o.ts, rec); err != nil {
			return nil, fmt.Errorf("window %q: %w", o.node.ID, err)
		}
	} else {
		now := o.now()
		for range n {
			o.ts = append(o.ts, now)
		}
	}
	groups, keys, err := o.keysOf(rec)
	if err != nil {
		return nil, err
	}
	o.rows, o.target = o.rows[:0], o.target[:0]
	var late []int32
	var refire []int32
	for i := range n {
		t, key := o.ts[i], keys[groups[i]]
		placed := false
		if o.w.Type == abi.WindowSession {
			start, end := t, t+o.w.Gap
			if !o.isLate(end) {
				s, err := o.session(ctx, rec, key, start, end)
				if err != nil {
					return nil, err
				}
				o.rows, o.target = append(o.rows, int32(i)), append(o.target, s)
				placed = true
				if o.eventTime() && o.slots[s].end-1 <= o.wm {
					refire = append(refire, s)
				}
			}
		} else {
			last := t - floorMod(t-o.w.Offset, o.w.Slide)
			for start := last; start > t-o.w.Size; start -= o.w.Slide {
				end := start + o.w.Size
				if o.isLate(end) {
					continue
				}
				s := o.slot(key, start, end)
				o.rows, o.target = append(o.rows, int32(i)), append(o.target, s)
				placed = true
				if o.eventTime() && end-1 <= o.wm {
					refire = append(refire, s)
				}
			}
		}
		if !placed {
			late = append(late, int32(i))
		}
	}
	if err := o.acc.add(ctx, rec, o.rows, o.target); err != nil {
		return nil, fmt.Errorf("window %q: %w", o.node.ID, err)
	}
	if len(late) > 0 {
		if o.late != nil {
			lr, err := batch.Take(o.alloc, rec, late)
			if err != nil {
				return nil, err
			}
			err = o.late(lr)
			lr.Release()
			if err != nil {
				return nil, err
			}
		}
	}
	if len(refire) == 0 {
		return nil, nil
	}
	// Late rows within the allowed lateness fire their window again, with
	// everything it holds.
	slices.Sort(refire)
	refire = slices.Compact(refire)
	return o.emitAll(ctx, refire)
}

// MaxEmitRows bounds the batches a window or a join emits when many
// windows fire at once (the next operator may be a guest with a memory
// limit).
const MaxEmitRows = 8192

// emitAll builds the result rows of slots in batches of at most
// MaxEmitRows; the caller owns them.
func (o *windowOp) emitAll(ctx context.Context, slots []int32) ([]arrow.Record, error) {
	var out []arrow.Record
	for len(slots) > 0 {
		n := min(len(slots), MaxEmitRows)
		rec, err := o.emit(ctx, slots[:n])
		if err != nil {
			for _, r := range out {
				r.Release()
			}
			return nil, err
		}
		out = append(out, rec)
		slots = slots[n:]
	}
	return out, nil
}

// isLate reports whether a window ending at end is past its allowed
// lateness (event time).
func (o *windowOp) isLate(end int64) bool {
	return o.eventTime() && o.wm != NoWatermark && end-1+o.w.AllowedLateness <= o.wm
}

// keysOf returns every row's key group in the batch and the encoded keys.
func (o *windowOp) keysOf(rec arrow.Record) ([]int32, []string, error) {
	if len(o.node.KeyBy) == 0 {
		return make([]int32, rec.NumRows()), []string{globalKey}, nil
	}
	rows, keys, err := distinctKeys(rec, o.node.KeyBy)
	if err != nil {
		return nil, nil, fmt.Errorf("window %q: %w", o.node.ID, err)
	}
	return rows, keys, nil
}

// slot returns the slot of the key's window at start, making it.
func (o *windowOp) slot(key string, start, end int64) int32 {
	if s, ok := o.byWin[winKey{key, start}]; ok {
		return s
	}
	s := o.newSlot(key, start, end)
	o.byWin[winKey{key, start}] = s
	return s
}

func (o *windowOp) newSlot(key string, start, end int64) int32 {
	var s int32
	if n := len(o.free); n > 0 {
		s, o.free = o.free[n-1], o.free[:n-1]
	} else {
		s = int32(len(o.slots))
		o.slots = append(o.slots, windowSlot{})
	}
	sl := &o.slots[s]
	sl.key, sl.start, sl.end, sl.live, sl.fired = key, start, end, true, false
	sl.gen++
	o.byKey[key] = append(o.byKey[key], s)
	heap.Push(&o.timers, timer{at: end - 1, slot: s, gen: sl.gen})
	return s
}

// session places a row's session [start, end) of key: a new session, or
// the key's sessions it overlaps merged into one.
func (o *windowOp) session(ctx context.Context, rec arrow.Record, key string, start, end int64) (int32, error) {
	var into int32 = -1
	for _, s := range slices.Clone(o.byKey[key]) {
		sl := &o.slots[s]
		// Touching sessions merge too, as Flink's TimeWindow.intersects.
		if sl.start > end || start > sl.end || o.isLate(sl.end) && sl.fired {
			continue
		}
		if into < 0 {
			into = s
			continue
		}
		// Rows of this batch waiting for slot s go in first, then s is merged.
		if err := o.flush(ctx, rec); err != nil {
			return 0, err
		}
		if err := o.acc.merge(ctx, into, s); err != nil {
			return 0, err
		}
		start, end = min(start, sl.start), max(end, sl.end)
		o.drop(s)
	}
	if into < 0 {
		return o.newSlot(key, start, end), nil
	}
	sl := &o.slots[into]
	if start < sl.start || end > sl.end {
		sl.start, sl.end = min(start, sl.start), max(end, sl.end)
		sl.gen++ // the old timer is stale
		heap.Push(&o.timers, timer{at: sl.end - 1, slot: into, gen: sl.gen})
	}
	return into, nil
}

// flush adds the rows collected so far in Process.
func (o *windowOp) flush(ctx context.Context, rec arrow.Record) error {
	err := o.acc.add(ctx, rec, o.rows, o.target)
	o.rows, o.target = o.rows[:0], o.target[:0]
	return err
}

// drop forgets slot s.
func (o *windowOp) drop(s int32) {
	sl := &o.slots[s]
	if !sl.live {
		return
	}
	ks := o.byKey[sl.key]
	if i := slices.Index(ks, s); i >= 0 {
		ks = slices.Delete(ks, i, i+1)
	}
	if len(ks) == 0 {
		delete(o.byKey, sl.key)
	} else {
		o.byKey[sl.key] = ks
	}
	if o.w.Type != abi.WindowSession {
		delete(o.byWin, winKey{sl.key, sl.start})
	}
	o.acc.free(s)
	sl.live, sl.key = false, ""
	sl.gen++
	o.free = append(o.free, s)
}

// OnWatermark implements TimeAware.
func (o *windowOp) OnWatermark(ctx context.Context, wm int64) ([]arrow.Record, error) {
	if wm <= o.wm || !o.eventTime() {
		return nil, nil
	}
	o.wm = wm
	return o.fire(ctx, wm)
}

// NextProcessingTimer implements TimeAware.
func (o *windowOp) NextProcessingTimer() (int64, bool) {
	if o.eventTime() || len(o.timers) == 0 {
		return 0, false
	}
	return o.timers[0].at, true
}

// OnProcessingTime implements TimeAware.
func (o *windowOp) OnProcessingTime(ctx context.Context, now int64) ([]arrow.Record, error) {
	if o.eventTime() {
		return nil, nil
	}
	return o.fire(ctx, now)
}

// fire fires the windows whose timers are at or before t and purges those
// past their lateness.
func (o *windowOp) fire(ctx context.Context, t int64) ([]arrow.Record, error) {
	var due []int32
	var purge []int32
	for len(o.timers) > 0 && o.timers[0].at <= t {
		tm := heap.Pop(&o.timers).(timer)
		sl := &o.slots[tm.slot]
		if !sl.live || sl.gen != tm.gen {
			continue
		}
		if tm.cleanup {
			purge = append(purge, tm.slot)
			continue
		}
		due = append(due, tm.slot)
	}
	var out []arrow.Record
	if len(due) > 0 {
		// Fire in window order, keys in order of arrival within a window.
		slices.SortStableFunc(due, func(a, b int32) int {
			return cmpInt64(o.slots[a].end, o.slots[b].end)
		})
		recs, err := o.emitAll(ctx, due)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
		for _, s := range due {
			sl := &o.slots[s]
			if cleanAt := sl.end - 1 + o.w.AllowedLateness; o.eventTime() && o.w.AllowedLateness > 0 && cleanAt > t {
				sl.fired = true
				heap.Push(&o.timers, timer{at: cleanAt, slot: s, gen: sl.gen, cleanup: true})
				continue
			}
			o.drop(s)
		}
	}
	for _, s := range purge {
		o.drop(s)
	}
	return out, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// emit builds the result rows of slots; the caller owns the batch.
func (o *windowOp) emit(ctx context.Context, slots []int32) (arrow.Record, error) {
	if len(slots) == 0 {
		return nil, nil
	}
	cols := make([]arrow.Array, 0, o.out.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	keys := make([]string, len(slots))
	for i, s := range slots {
		keys[i] = o.slots[s].key
	}
	kc, err := decodeKeys(o.alloc, o.keyTypes, keys)
	if err != nil {
		return nil, fmt.Errorf("window %q: %w", o.node.ID, err)
	}
	cols = append(cols, kc...)
	starts := array.NewTimestampBuilder(o.alloc, arrow.FixedWidthTypes.Timestamp_ms.(*arrow.TimestampType))
	ends := array.NewTimestampBuilder(o.alloc, arrow.FixedWidthTypes.Timestamp_ms.(*arrow.TimestampType))
	for _, s := range slots {
		starts.Append(arrow.Timestamp(o.slots[s].start))
		ends.Append(arrow.Timestamp(o.slots[s].end))
	}
	cols = append(cols, starts.NewArray(), ends.NewArray())
	starts.Release()
	ends.Release()
	res, err := o.acc.results(ctx, slots)
	if err != nil {
		return nil, fmt.Errorf("window %q: %w", o.node.ID, err)
	}
	cols = append(cols, res...)
	return array.NewRecord(o.out, cols, int64(len(slots))), nil
}

// decodeKeys turns encoded keys (batch.AppendKey of each key column) back
// into columns; the caller owns them.
func decodeKeys(alloc memory.Allocator, types []arrow.DataType, keys []string) ([]arrow.Array, error) {
	bs := make([]array.Builder, len(types))
	for i, t := range types {
		bs[i] = array.NewBuilder(alloc, t)
		defer bs[i].Release()
		bs[i].Reserve(len(keys))
	}
	for _, k := range keys {
		rest := []byte(k)
		var err error
		for _, b := range bs {
			if rest, err = batch.AppendDecoded(b, rest); err != nil {
				return nil, err
			}
		}
	}
	out := make([]arrow.Array, len(bs))
	for i, b := range bs {
		out[i] = b.NewArray()
	}
	return out, nil
}

func (o *windowOp) Close(ctx context.Context) error {
	if o.acc != nil {
		o.acc.close()
	}
	if o.gop != nil {
		return o.gop.Close(ctx)
	}
	return nil
}

// NodeID implements Stateful.
func (o *windowOp) NodeID() string { return o.node.ID }

// Snapshot implements Stateful: per key, its live windows (start, end,
// fired, accumulator). With native aggregates it copies the slots and the
// accumulator columns (flat memory copies) and encodes them in WriteTo, off
// the task's goroutine; a guest aggregate's accumulators are encoded here.
func (o *windowOp) Snapshot() (Snapshot, error) {
	ws := &windowSnapshot{slots: slices.Clone(o.slots), alloc: o.alloc, maxP: o.maxP}
	if na, ok := o.acc.(*nativeAggs); ok {
		ws.acc = na.clone()
		return ws, nil
	}
	var err error
	snap, serr := snapshotBlobs(o.alloc, o.maxP, func(add func(key string, blob []byte)) {
		err = ws.fill(o.acc, add)
	})
	if serr == nil && err != nil {
		snap.Release()
		return nil, fmt.Errorf("window %q: %w", o.node.ID, err)
	}
	return snap, serr
}

// windowSnapshot is a window's state captured for a checkpoint.
type windowSnapshot struct {
	slots []windowSlot
	acc   accumulators
	alloc memory.Allocator
	maxP  int
}

// fill adds one blob per key: the entries of its live slots.
func (ws *windowSnapshot) fill(acc accumulators, add func(key string, blob []byte)) error {
	byKey := map[string][]int32{}
	for s := range ws.slots {
		if sl := &ws.slots[s]; sl.live {
			byKey[sl.key] = append(byKey[sl.key], int32(s))
		}
	}
	var entry []byte
	for key, slots := range byKey {
		var blob []byte
		for _, s := range slots {
			sl := &ws.slots[s]
			entry = binary.AppendVarint(entry[:0], sl.start)
			entry = binary.AppendVarint(entry, sl.end)
			if sl.fired {
				entry = append(entry, 1)
			} else {
				entry = append(entry, 0)
			}
			var err error
			if entry, err = acc.encode(entry, s); err != nil {
				return err
			}
			blob = appendEntry(blob, entry)
		}
		add(key, blob)
	}
	return nil
}

func (ws *windowSnapshot) WriteTo(w io.Writer) (int64, error) {
	var err error
	snap, serr := snapshotBlobs(ws.alloc, ws.maxP, func(add func(key string, blob []byte)) {
		err = ws.fill(ws.acc, add)
	})
	if serr != nil {
		return 0, serr
	}
	defer snap.Release()
	if err != nil {
		return 0, err
	}
	return snap.WriteTo(w)
}

func (ws *windowSnapshot) Release() { ws.slots, ws.acc = nil, nil }

// Restore implements Stateful.
func (o *windowOp) Restore(r io.Reader, rg keygroup.Range) error {
	ctx := context.Background()
	return restoreBlobs(r, rg, o.alloc, o.maxP, func(key string, blob []byte) error {
		for len(blob) > 0 {
			entry, rest, err := nextEntry(blob)
			if err != nil {
				return err
			}
			blob = rest
			start, k1 := binary.Varint(entry)
			if k1 <= 0 {
				return fmt.Errorf("%w: window start", state.ErrCorrupt)
			}
			end, k2 := binary.Varint(entry[k1:])
			if k2 <= 0 || len(entry) < k1+k2+1 || end <= start {
				return fmt.Errorf("%w: window end", state.ErrCorrupt)
			}
			fired := entry[k1+k2] == 1
			var s int32
			if o.w.Type == abi.WindowSession {
				s = o.newSlot(key, start, end)
			} else {
				s = o.slot(key, start, end)
			}
			if _, err := o.acc.decode(ctx, s, entry[k1+k2+1:]); err != nil {
				return err
			}
			if fired {
				sl := &o.slots[s]
				sl.fired = true
				sl.gen++
				heap.Push(&o.timers, timer{at: end - 1 + o.w.AllowedLateness, slot: s, gen: sl.gen, cleanup: true})
			}
		}
		return nil
	})
}
