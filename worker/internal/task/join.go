package task

import (
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/arrow/batch"
	"github.com/weirflow/weir/internal/keygroup"
	"github.com/weirflow/weir/worker/internal/state"
)

// joinOp joins two keyed inputs on equal keys (a join node): a regular
// join emits every pair as soon as both rows are there and keeps every row;
// a window join emits the pairs of a window when the watermark passes its
// end; an interval join emits pairs whose right time - left time is within
// [lower, upper] and forgets rows the watermark made unmatchable. Rows are
// kept per key, each encoded with batch.AppendKey (compact, and decoded
// only for output).
type joinOp struct {
	node  abi.Node
	j     abi.Join
	maxP  int
	alloc memory.Allocator

	in      [2]*arrow.Schema
	out     *arrow.Schema
	keyCols [2][]int
	times   [2]TimeColumn
	rows    map[string]*joinRows
	timers  timerHeap[joinTimer]
	wm      int64

	ts       []int64
	buf, row []byte
	// pairs of the batch being built: encoded left and right rows.
	left, right []string
}

type joinRows struct {
	side [2][]joinRow
	// timer is the time of the key's pending timer (the earliest time a
	// row of it needs a look), valid when timed.
	timer int64
	timed bool
}

// schedule makes sure the key has a timer at or before at.
func (o *joinOp) schedule(key string, kr *joinRows, at int64) {
	if kr.timed && kr.timer <= at {
		return
	}
	kr.timer, kr.timed = at, true
	heap.Push(&o.timers, joinTimer{at: at, key: key})
}

type joinRow struct {
	t, win int64 // event time; window start (window join)
	data   string
}

// joinTimer is when a key's rows need a look: a window to fire (window
// join) or rows to expire (interval join).
type joinTimer struct {
	at  int64
	key string
}

func (t joinTimer) when() int64 { return t.at }

// NewJoin makes the operator of a join node.
func NewJoin(n abi.Node, maxParallelism int, alloc memory.Allocator) (Operator, error) {
	if n.Join == nil {
		return nil, fmt.Errorf("task: join node %q without a join", n.ID)
	}
	return &joinOp{node: n, j: *n.Join, maxP: maxParallelism, alloc: alloc, rows: map[string]*joinRows{}, wm: NoWatermark}, nil
}

// Open implements Operator; a join is opened with OpenInputs.
func (o *joinOp) Open(context.Context, *arrow.Schema) (*arrow.Schema, error) {
	return nil, fmt.Errorf("join %q: needs two inputs", o.node.ID)
}

// OpenInputs implements TwoInput.
func (o *joinOp) OpenInputs(_ context.Context, left, right *arrow.Schema) (*arrow.Schema, error) {
	o.in = [2]*arrow.Schema{left, right}
	fail := func(err error) (*arrow.Schema, error) { return nil, fmt.Errorf("join %q: %w", o.node.ID, err) }
	for side := range 2 {
		cols, err := batch.ColumnIndexes(o.in[side], o.j.Keys[side])
		if err != nil {
			return fail(err)
		}
		o.keyCols[side] = cols
		if o.j.Type != abi.JoinRegular {
			if o.times[side], err = NewTimeColumn(o.in[side], o.j.Time[side]); err != nil {
				return fail(err)
			}
		}
	}
	for i := range o.keyCols[0] {
		l, r := left.Field(o.keyCols[0][i]), right.Field(o.keyCols[1][i])
		if !arrow.TypeEqual(l.Type, r.Type) {
			return fail(fmt.Errorf("key %q is a %s on the left, key %q a %s on the right", l.Name, l.Type, r.Name, r.Type))
		}
	}
	fields := append([]arrow.Field(nil), left.Fields()...)
	used := map[string]bool{}
	for _, f := range fields {
		used[f.Name] = true
	}
	for _, f := range right.Fields() {
		for used[f.Name] {
			f.Name += "_r"
		}
		used[f.Name] = true
		fields = append(fields, f)
	}
	o.out = arrow.NewSchema(fields, nil)
	return o.out, nil
}

// Process implements Operator; a join takes ProcessInput.
func (o *joinOp) Process(ctx context.Context, rec arrow.Record) ([]arrow.Record, error) {
	return o.ProcessInput(ctx, 0, rec)
}

// ProcessInput implements TwoInput.
func (o *joinOp) ProcessInput(_ context.Context, side int, rec arrow.Record) ([]arrow.Record, error) {
	if side != 0 && side != 1 {
		return nil, fmt.Errorf("join %q: no input %d", o.node.ID, side)
	}
	n := int(rec.NumRows())
	o.ts = o.ts[:0]
	if o.j.Type != abi.JoinRegular {
		var err error
		if o.ts, err = o.times[side].Millis(o.ts, rec); err != nil {
			return nil, fmt.Errorf("join %q: %w", o.node.ID, err)
		}
	}
	other := 1 - side
	for i := range n {
		var t int64
		if o.ts != nil {
			t = o.ts[i]
		}
		if o.j.Type != abi.JoinRegular && o.wm != NoWatermark && t <= o.wm && o.j.Type == abi.JoinInterval {
			continue // late: every row it could meet is gone
		}
		if err := o.encode(rec, o.keyCols[side], i); err != nil {
			return nil, err
		}
		kr := o.rows[string(o.buf)] // no allocation for the lookup
		key := ""
		if kr == nil {
			key = string(o.buf)
			kr = &joinRows{}
			o.rows[key] = kr
		}
		data, err := o.encodeRow(rec, i)
		if err != nil {
			return nil, err
		}
		switch o.j.Type {
		case abi.JoinRegular:
			for _, r := range kr.side[other] {
				o.pair(side, data, r.data)
			}
			kr.side[side] = append(kr.side[side], joinRow{data: data})
		case abi.JoinInterval:
			for _, r := range kr.side[other] {
				d := r.t - t // right - left
				if side == 1 {
					d = t - r.t
				}
				if d >= o.j.Lower && d <= o.j.Upper {
					o.pair(side, data, r.data)
				}
			}
			kr.side[side] = append(kr.side[side], joinRow{t: t, data: data})
			if e := o.expiry(side, t); !kr.timed || e < kr.timer {
				o.schedule(o.keyOf(key), kr, e)
			}
		case abi.JoinWindow:
			w := o.j.Window
			last := t - floorMod(t-w.Offset, w.Slide)
			for start := last; start > t-w.Size; start -= w.Slide {
				end := start + w.Size
				if o.wm != NoWatermark && end-1 <= o.wm {
					continue // the window fired already
				}
				kr.side[side] = append(kr.side[side], joinRow{t: t, win: start, data: data})
				if !kr.timed || end-1 < kr.timer {
					o.schedule(o.keyOf(key), kr, end-1)
				}
			}
		}
		if len(kr.side[0]) == 0 && len(kr.side[1]) == 0 {
			delete(o.rows, string(o.buf))
		}
	}
	return o.flushPairs()
}

// keyOf returns the row's key: key when the row made it, else a string of
// the encoded key in o.buf (made only when a timer needs it).
func (o *joinOp) keyOf(key string) string {
	if key != "" {
		return key
	}
	return string(o.buf)
}

// expiry is when a row of side at time t can no longer match.
func (o *joinOp) expiry(side int, t int64) int64 {
	if side == 0 {
		return t + max(o.j.Upper, 0)
	}
	return t - min(o.j.Lower, 0)
}

// encode encodes row i's key columns into o.buf.
func (o *joinOp) encode(rec arrow.Record, cols []int, i int) error {
	o.buf = o.buf[:0]
	var err error
	for _, c := range cols {
		if o.buf, err = batch.AppendKey(o.buf, rec.Column(c), i); err != nil {
			return fmt.Errorf("join %q: %w", o.node.ID, err)
		}
	}
	return nil
}

// encodeRow encodes row i (every column) into a string of its own.
func (o *joinOp) encodeRow(rec arrow.Record, i int) (string, error) {
	o.row = o.row[:0]
	var err error
	for c := range int(rec.NumCols()) {
		if o.row, err = batch.AppendKey(o.row, rec.Column(c), i); err != nil {
			return "", fmt.Errorf("join %q: %w", o.node.ID, err)
		}
	}
	return string(o.row), nil
}

// pair records an output pair of a row of side with a row of the other.
func (o *joinOp) pair(side int, row, other string) {
	if side == 0 {
		o.left, o.right = append(o.left, row), append(o.right, other)
	} else {
		o.left, o.right = append(o.left, other), append(o.right, row)
	}
}

// flushPairs builds the output batches of the pairs collected, at most
// MaxEmitRows rows each; the caller owns them.
func (o *joinOp) flushPairs() ([]arrow.Record, error) {
	defer func() { o.left, o.right = o.left[:0], o.right[:0] }()
	var out []arrow.Record
	for i := 0; i < len(o.left); i += MaxEmitRows {
		j := min(i+MaxEmitRows, len(o.left))
		rec, err := o.pairs(o.left[i:j], o.right[i:j])
		if err != nil {
			for _, r := range out {
				r.Release()
			}
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// pairs builds one batch of pairs of encoded left and right rows.
func (o *joinOp) pairs(left, right []string) (arrow.Record, error) {
	bs := make([]array.Builder, o.out.NumFields())
	for i, f := range o.out.Fields() {
		bs[i] = array.NewBuilder(o.alloc, f.Type)
		defer bs[i].Release()
		bs[i].Reserve(len(left))
	}
	nl := o.in[0].NumFields()
	for k := range left {
		for side, rows := range [2][]string{left, right} {
			rest := []byte(rows[k])
			var err error
			for _, b := range bs[side*nl : nl+side*o.in[1].NumFields()] {
				if rest, err = batch.AppendDecoded(b, rest); err != nil {
					return nil, fmt.Errorf("join %q: %w", o.node.ID, err)
				}
			}
		}
	}
	cols := make([]arrow.Array, len(bs))
	for i, b := range bs {
		cols[i] = b.NewArray()
		defer cols[i].Release()
	}
	return array.NewRecord(o.out, cols, int64(len(left))), nil
}

// OnWatermark implements TimeAware: window joins fire the windows that
// ended, interval joins forget rows that can no longer match.
func (o *joinOp) OnWatermark(_ context.Context, wm int64) ([]arrow.Record, error) {
	if wm <= o.wm || o.j.Type == abi.JoinRegular {
		return nil, nil
	}
	o.wm = wm
	for len(o.timers) > 0 && o.timers[0].at <= wm {
		tm := heap.Pop(&o.timers).(joinTimer)
		kr := o.rows[tm.key]
		if kr == nil || !kr.timed || kr.timer != tm.at {
			continue // stale: the key was dropped or has another timer
		}
		kr.timed = false
		next := int64(math.MaxInt64)
		if o.j.Type == abi.JoinWindow {
			next = o.fireWindows(kr, wm)
		} else {
			for side := range 2 {
				// A new slice: a snapshot may share the old one.
				kept := make([]joinRow, 0, len(kr.side[side]))
				for _, r := range kr.side[side] {
					if e := o.expiry(side, r.t); e > wm {
						kept = append(kept, r)
						next = min(next, e)
					}
				}
				kr.side[side] = kept
			}
		}
		if len(kr.side[0]) == 0 && len(kr.side[1]) == 0 {
			delete(o.rows, tm.key)
			continue
		}
		o.schedule(tm.key, kr, next)
	}
	return o.flushPairs()
}

// fireWindows emits the pairs of a key's windows that ended by wm, drops
// their rows and returns the next window end - 1 of the key's rows.
func (o *joinOp) fireWindows(kr *joinRows, wm int64) int64 {
	size := o.j.Window.Size
	for _, l := range kr.side[0] {
		if l.win+size-1 > wm {
			continue
		}
		for _, r := range kr.side[1] {
			if r.win == l.win {
				o.pair(0, l.data, r.data)
			}
		}
	}
	next := int64(math.MaxInt64)
	for side := range 2 {
		kept := make([]joinRow, 0, len(kr.side[side])) // a snapshot may share the old slice
		for _, r := range kr.side[side] {
			if r.win+size-1 > wm {
				kept = append(kept, r)
				next = min(next, r.win+size-1)
			}
		}
		kr.side[side] = kept
	}
	return next
}

// NextProcessingTimer implements TimeAware: joins are in event time.
func (o *joinOp) NextProcessingTimer() (int64, bool) { return 0, false }

// OnProcessingTime implements TimeAware.
func (o *joinOp) OnProcessingTime(context.Context, int64) ([]arrow.Record, error) { return nil, nil }

func (o *joinOp) Close(context.Context) error { return nil }

// NodeID implements Stateful.
func (o *joinOp) NodeID() string { return o.node.ID }

// Snapshot implements Stateful: per key, its rows (side, time, window,
// encoded row). It only copies the slice headers of each key: rows are
// immutable strings, appends go past the snapshot's length and pruning
// makes new slices, so the encoding runs in WriteTo, off the task's
// goroutine.
func (o *joinOp) Snapshot() (Snapshot, error) {
	rows := make(map[string][2][]joinRow, len(o.rows))
	for k, kr := range o.rows {
		rows[k] = kr.side
	}
	return &joinSnapshot{rows: rows, alloc: o.alloc, maxP: o.maxP}, nil
}

type joinSnapshot struct {
	rows  map[string][2][]joinRow
	alloc memory.Allocator
	maxP  int
}

func (js *joinSnapshot) WriteTo(w io.Writer) (int64, error) {
	var entry []byte
	snap, err := snapshotBlobs(js.alloc, js.maxP, func(add func(key string, blob []byte)) {
		for key, sides := range js.rows {
			var blob []byte
			for side := range 2 {
				for _, r := range sides[side] {
					entry = append(entry[:0], byte(side))
					entry = binary.AppendVarint(entry, r.t)
					entry = binary.AppendVarint(entry, r.win)
					entry = append(entry, r.data...)
					blob = appendEntry(blob, entry)
				}
			}
			add(key, blob)
		}
	})
	if err != nil {
		return 0, err
	}
	defer snap.Release()
	return snap.WriteTo(w)
}

func (js *joinSnapshot) Release() { js.rows = nil }

// Restore implements Stateful.
func (o *joinOp) Restore(r io.Reader, rg keygroup.Range) error {
	return restoreBlobs(r, rg, o.alloc, o.maxP, func(key string, blob []byte) error {
		kr := o.rows[key]
		if kr == nil {
			kr = &joinRows{}
			o.rows[key] = kr
		}
		for len(blob) > 0 {
			entry, rest, err := nextEntry(blob)
			if err != nil {
				return err
			}
			blob = rest
			if len(entry) < 3 || entry[0] > 1 {
				return fmt.Errorf("%w: join row", state.ErrCorrupt)
			}
			side := int(entry[0])
			t, k1 := binary.Varint(entry[1:])
			if k1 <= 0 {
				return fmt.Errorf("%w: join row time", state.ErrCorrupt)
			}
			win, k2 := binary.Varint(entry[1+k1:])
			if k2 <= 0 {
				return fmt.Errorf("%w: join row window", state.ErrCorrupt)
			}
			kr.side[side] = append(kr.side[side], joinRow{t: t, win: win, data: string(entry[1+k1+k2:])})
			switch o.j.Type {
			case abi.JoinWindow:
				o.schedule(key, kr, win+o.j.Window.Size-1)
			case abi.JoinInterval:
				o.schedule(key, kr, o.expiry(side, t))
			}
		}
		return nil
	})
}
