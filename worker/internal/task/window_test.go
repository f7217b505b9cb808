package task

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/internal/keygroup"
)

// step is one input of a window test: rows (key, time, value) or a
// watermark.
type step struct {
	rows [][3]int64
	wm   int64
}

func rows(r ...[3]int64) step { return step{rows: r} }
func wm(t int64) step         { return step{wm: t} }

var windowInput = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "t", Type: arrow.FixedWidthTypes.Timestamp_ms},
	{Name: "v", Type: arrow.PrimitiveTypes.Int64},
}, nil)

func windowBatch(alloc memory.Allocator, rs [][3]int64) arrow.Record {
	b := array.NewRecordBuilder(alloc, windowInput)
	defer b.Release()
	for _, r := range rs {
		b.Field(0).(*array.Int64Builder).Append(r[0])
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(r[1]))
		b.Field(2).(*array.Int64Builder).Append(r[2])
	}
	return b.NewRecord()
}

// lines renders result rows as "k [start,end) aggregates...".
func lines(rec arrow.Record) []string {
	var out []string
	for i := 0; i < int(rec.NumRows()); i++ {
		var f []string
		for c := 0; c < int(rec.NumCols()); c++ {
			col := rec.Column(c)
			if col.IsNull(i) {
				f = append(f, "null")
				continue
			}
			switch a := col.(type) {
			case *array.Timestamp:
				f = append(f, fmt.Sprint(int64(a.Value(i))))
			default:
				f = append(f, col.ValueStr(i))
			}
		}
		out = append(out, strings.Join(f, " "))
	}
	return out
}

// roundTrip writes op's snapshot and restores it into fresh (every key
// group), as a checkpoint and a restore do.
func roundTrip(t *testing.T, op, fresh Stateful) {
	t.Helper()
	snap, err := op.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if err := fresh.Restore(&buf, keygroup.Range{Start: 0, End: 127}); err != nil {
		t.Fatal(err)
	}
}

// collector returns a function that renders batches into *out (see lines)
// and releases them.
func collector(t *testing.T, out *[]string) func([]arrow.Record, error) {
	return func(recs []arrow.Record, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			*out = append(*out, lines(r)...)
			r.Release()
		}
	}
}

// runWindow feeds steps to a fresh window operator; with cut >= 0 it
// snapshots after step cut and goes on in a restored operator.
func runWindow(t *testing.T, alloc memory.Allocator, w abi.Window, aggs []abi.Aggregate, steps []step, cut int) (out, late []string) {
	t.Helper()
	ctx := context.Background()
	node := abi.Node{ID: "w", Kind: "window", KeyBy: []string{"k"}, Window: &w, Aggregates: aggs}
	open := func() *windowOp {
		op, err := NewWindow(node, nil, 128, alloc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := op.Open(ctx, windowInput); err != nil {
			t.Fatal(err)
		}
		wo := op.(*windowOp)
		wo.SetSideOutput(abi.SideLate, func(rec arrow.Record) error {
			late = append(late, lines(rec)...)
			return nil
		})
		return wo
	}
	op := open()
	collect := collector(t, &out)
	var lastWm int64 = NoWatermark
	for i, s := range steps {
		if s.rows != nil {
			rec := windowBatch(alloc, s.rows)
			collect(op.Process(ctx, rec))
			rec.Release()
		} else {
			lastWm = s.wm
			collect(op.OnWatermark(ctx, s.wm))
		}
		if i == cut {
			fresh := open()
			roundTrip(t, op, fresh)
			op.Close(ctx)
			op = fresh
			if lastWm != NoWatermark {
				collect(op.OnWatermark(ctx, lastWm))
			}
		}
	}
	op.Close(ctx)
	// Keys fire in no particular order within a window.
	slices.Sort(out)
	return out, late
}

func TestWindowSemantics(t *testing.T) {
	count := []abi.Aggregate{{Fn: "count", As: "n"}}
	all := []abi.Aggregate{{Fn: "count", As: "n"}, {Fn: "sum", Column: "v", As: "s"}, {Fn: "min", Column: "v", As: "lo"}, {Fn: "max", Column: "v", As: "hi"}, {Fn: "avg", Column: "v", As: "avg"}}
	cases := []struct {
		name  string
		w     abi.Window
		aggs  []abi.Aggregate
		steps []step
		want  []string
		late  []string
	}{
		{
			name: "tumbling out of order",
			w:    abi.Window{Type: "tumbling", Column: "t", Size: 10},
			aggs: all,
			steps: []step{
				rows([3]int64{1, 3, 5}, [3]int64{1, 12, 1}, [3]int64{2, 1, 7}, [3]int64{1, 8, 2}),
				wm(5),
				rows([3]int64{1, 0, 3}), // out of order, not late
				wm(9),
				wm(30),
			},
			want: []string{"1 0 10 3 10 2 5 3.3333333333333335", "2 0 10 1 7 7 7 7", "1 10 20 1 1 1 1 1"},
		},
		{
			name:  "late rows go to the side output",
			w:     abi.Window{Type: "tumbling", Column: "t", Size: 10},
			aggs:  count,
			steps: []step{rows([3]int64{1, 1, 0}), wm(9), rows([3]int64{1, 2, 0}, [3]int64{1, 11, 0}), wm(19)},
			want:  []string{"1 0 10 1", "1 10 20 1"},
			late:  []string{"1 2 0"},
		},
		{
			name:  "allowed lateness fires again",
			w:     abi.Window{Type: "tumbling", Column: "t", Size: 10, AllowedLateness: 5},
			aggs:  count,
			steps: []step{rows([3]int64{1, 1, 0}), wm(9), rows([3]int64{1, 2, 0}), wm(14), rows([3]int64{1, 3, 0})},
			want:  []string{"1 0 10 1", "1 0 10 2"},
			late:  []string{"1 3 0"},
		},
		{
			name:  "sliding",
			w:     abi.Window{Type: "sliding", Column: "t", Size: 10, Slide: 5},
			aggs:  count,
			steps: []step{rows([3]int64{1, 7, 0}, [3]int64{1, 12, 0}), wm(100)},
			want:  []string{"1 0 10 1", "1 5 15 2", "1 10 20 1"},
		},
		{
			name: "sessions merge",
			w:    abi.Window{Type: "session", Column: "t", Gap: 5},
			aggs: []abi.Aggregate{{Fn: "count", As: "n"}, {Fn: "sum", Column: "v", As: "s"}},
			steps: []step{
				rows([3]int64{1, 0, 1}, [3]int64{1, 10, 2}, [3]int64{2, 0, 5}),
				rows([3]int64{1, 5, 4}), // bridges [0,5) and [10,15)
				wm(100),
			},
			want: []string{"2 0 5 1 5", "1 0 15 3 7"},
		},
		{
			name:  "offset",
			w:     abi.Window{Type: "tumbling", Column: "t", Size: 10, Offset: 3},
			aggs:  count,
			steps: []step{rows([3]int64{1, 2, 0}, [3]int64{1, 3, 0}), wm(100)},
			want:  []string{"1 -7 3 1", "1 3 13 1"},
		},
	}
	for _, tc := range cases {
		slices.Sort(tc.want)
		t.Run(tc.name, func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer alloc.AssertSize(t, 0)
			got, late := runWindow(t, alloc, tc.w, tc.aggs, tc.steps, -1)
			if !slices.Equal(got, tc.want) || !slices.Equal(late, tc.late) {
				t.Fatalf("got %q late %q\nwant %q late %q", got, late, tc.want, tc.late)
			}
			// A checkpoint and restore after any step gives the same result.
			for cut := range tc.steps {
				got, late := runWindow(t, alloc, tc.w, tc.aggs, tc.steps, cut)
				if !slices.Equal(got, tc.want) || !slices.Equal(late, tc.late) {
					t.Fatalf("restored after step %d: got %q late %q, want %q late %q", cut, got, late, tc.want, tc.late)
				}
			}
		})
	}
}

// TestWindowEmitsBoundedBatches: many windows firing at once come out in
// batches of at most MaxEmitRows rows (a guest downstream has a memory
// limit).
func TestWindowEmitsBoundedBatches(t *testing.T) {
	ctx := context.Background()
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	w := abi.Window{Type: "tumbling", Column: "t", Size: 10}
	op, err := NewWindow(abi.Node{ID: "w", Kind: "window", KeyBy: []string{"k"}, Window: &w, Aggregates: []abi.Aggregate{{Fn: "count", As: "n"}}}, nil, 128, alloc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Open(ctx, windowInput); err != nil {
		t.Fatal(err)
	}
	defer op.Close(ctx)
	const keys = 2*MaxEmitRows + 5
	var rs [][3]int64
	for k := range keys {
		rs = append(rs, [3]int64{int64(k), 1, 0})
	}
	rec := windowBatch(alloc, rs)
	if _, err := op.Process(ctx, rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	out, err := op.(TimeAware).OnWatermark(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range out {
		if r.NumRows() > MaxEmitRows {
			t.Errorf("a batch of %d rows", r.NumRows())
		}
		total += int(r.NumRows())
		r.Release()
	}
	if total != keys || len(out) != 3 {
		t.Fatalf("%d rows in %d batches, want %d in 3", total, len(out), keys)
	}
}
