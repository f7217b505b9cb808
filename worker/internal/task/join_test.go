package task

import (
	"context"
	"slices"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/abi"
)

// joinStep is rows (key, time, value) of input side, or a watermark.
type joinStep struct {
	side int
	rows [][3]int64
	wm   int64
}

func TestJoinSemantics(t *testing.T) {
	cases := []struct {
		name  string
		j     abi.Join
		steps []joinStep
		want  []string
	}{
		{"regular", abi.Join{Type: "regular", Keys: [2][]string{{"k"}, {"k"}}}, []joinStep{
			{side: 0, rows: [][3]int64{{1, 0, 10}, {2, 0, 20}}},
			{side: 1, rows: [][3]int64{{1, 5, 100}, {3, 5, 300}}},
			{side: 0, rows: [][3]int64{{1, 9, 11}}},
		}, []string{"1 0 10 1 5 100", "1 9 11 1 5 100"}},
		{"window", abi.Join{Type: "window", Keys: [2][]string{{"k"}, {"k"}}, Time: [2]string{"t", "t"}, Window: &abi.Window{Type: "tumbling", Size: 10, Slide: 10}}, []joinStep{
			{side: 0, rows: [][3]int64{{1, 1, 10}, {1, 12, 11}}},
			{side: 1, rows: [][3]int64{{1, 8, 100}, {1, 15, 101}, {2, 3, 200}}},
			{wm: 9},
			{side: 1, rows: [][3]int64{{1, 4, 102}}}, // its window fired: dropped
			{wm: 100},
		}, []string{"1 1 10 1 8 100", "1 12 11 1 15 101"}},
		{"interval", abi.Join{Type: "interval", Keys: [2][]string{{"k"}, {"k"}}, Time: [2]string{"t", "t"}, Lower: 0, Upper: 5}, []joinStep{
			{side: 0, rows: [][3]int64{{1, 10, 1}}},
			{side: 1, rows: [][3]int64{{1, 9, 100}, {1, 12, 101}, {1, 16, 102}}},
			{wm: 20},
			{side: 0, rows: [][3]int64{{1, 21, 2}}},
			{side: 1, rows: [][3]int64{{1, 23, 103}}},
		}, []string{"1 10 1 1 12 101", "1 21 2 1 23 103"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer alloc.AssertSize(t, 0)
			for cut := -1; cut < len(tc.steps); cut++ {
				got := runJoin(t, alloc, tc.j, tc.steps, cut)
				if !slices.Equal(got, tc.want) {
					t.Fatalf("restored after step %d: got %q, want %q", cut, got, tc.want)
				}
			}
		})
	}
}

func runJoin(t *testing.T, alloc memory.Allocator, j abi.Join, steps []joinStep, cut int) []string {
	t.Helper()
	ctx := context.Background()
	open := func() *joinOp {
		op, err := NewJoin(abi.Node{ID: "j", Kind: "join", Join: &j}, 128, alloc)
		if err != nil {
			t.Fatal(err)
		}
		jo := op.(*joinOp)
		out, err := jo.OpenInputs(ctx, windowInput, windowInput)
		if err != nil {
			t.Fatal(err)
		}
		if out.Field(3).Name != "k_r" {
			t.Fatalf("output schema %s", out)
		}
		return jo
	}
	op := open()
	var out []string
	collect := collector(t, &out)
	var lastWm int64 = NoWatermark
	for i, s := range steps {
		if s.rows != nil {
			rec := windowBatch(alloc, s.rows)
			collect(op.ProcessInput(ctx, s.side, rec))
			rec.Release()
		} else {
			lastWm = s.wm
			collect(op.OnWatermark(ctx, s.wm))
		}
		if i == cut {
			fresh := open()
			roundTrip(t, op, fresh)
			op = fresh
			if lastWm != NoWatermark {
				collect(op.OnWatermark(ctx, lastWm))
			}
		}
	}
	slices.Sort(out)
	return out
}
