package task

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/arrow/batch"
	"github.com/weirflow/weir/internal/guesttest"
	"github.com/weirflow/weir/wasm"
)

func guest(t *testing.T, alloc memory.Allocator) *wasm.Instance {
	t.Helper()
	ctx := context.Background()
	rt, err := wasm.NewRuntime(ctx, wasm.Config{Allocator: alloc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(ctx) })
	mod, err := rt.Load(ctx, "conformance-go", guesttest.BuildGo(t, "sdk/go", "./conformance"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := mod.Instantiate(ctx, wasm.InstanceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func node(t *testing.T, kind, fn, params string, keyBy ...string) abi.Node {
	t.Helper()
	return abi.Node{ID: fn, Kind: kind, Function: fn, FunctionParams: params, KeyBy: keyBy}
}

func kx(alloc memory.Allocator, k, x []int64) arrow.Record {
	schema, _ := batch.ParseSchema("k:int64,x:int64")
	b := array.NewRecordBuilder(alloc, schema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues(k, nil)
	b.Field(1).(*array.Int64Builder).AppendValues(x, nil)
	return b.NewRecord()
}

// TestChainFilterAggregate: identity -> filter x > 0 -> sum of x by k, over
// several batches. Each batch emits the running sum of every key it touched.
func TestChainFilterAggregate(t *testing.T) {
	ctx := context.Background()
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	in := guest(t, alloc)
	var ops []Operator
	for _, n := range []abi.Node{
		node(t, "map", "identity", ""),
		node(t, "filter", "gt_i64", "0"),
		node(t, "aggregate", "sum_i64", "", "k"),
	} {
		op, err := NewWasm(n, in, 128, alloc)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	chain := NewChain(ops...)
	schema, _ := batch.ParseSchema("k:int64,x:int64")
	out, err := chain.Open(ctx, schema)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != "schema:\n  fields: 2\n    - k: type=int64, nullable\n    - sum: type=int64, nullable" {
		t.Fatalf("output schema %s", out)
	}
	batches := [][2][]int64{
		{{1, 2, 1, 3}, {10, 5, -7, 1}},
		{{2, 2, 4}, {1, 1, -1}}, // key 4 filtered out entirely
		{{1, 3}, {100, 0}},      // key 3's only row filtered out
	}
	sums := map[int64]int64{}
	for round, bt := range batches {
		rec := kx(alloc, bt[0], bt[1])
		want := map[int64]int64{}
		for i, k := range bt[0] {
			if bt[1][i] > 0 {
				sums[k] += bt[1][i]
				want[k] = sums[k]
			}
		}
		got := map[int64]int64{}
		err := chain.Push(ctx, rec, func(o arrow.Record) error {
			ks, ss := o.Column(0).(*array.Int64), o.Column(1).(*array.Int64)
			for i := 0; i < ks.Len(); i++ {
				got[ks.Value(i)] = ss.Value(i)
			}
			return nil
		})
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round %d: emitted %v, want %v", round, got, want)
		}
	}
	if err := chain.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestChainProcess: the keyed count operator keeps counting across batches.
func TestChainProcess(t *testing.T) {
	ctx := context.Background()
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	in := guest(t, alloc)
	op, err := NewWasm(node(t, "process", "count", "", "key"), in, 128, alloc)
	if err != nil {
		t.Fatal(err)
	}
	chain := NewChain(op)
	schema, _ := batch.ParseSchema("key:int64")
	if _, err := chain.Open(ctx, schema); err != nil {
		t.Fatal(err)
	}
	defer chain.Close(ctx)
	seen := map[int64]int64{}
	for round := 0; round < 4; round++ {
		b := array.NewRecordBuilder(alloc, schema)
		keys := []int64{int64(round % 2), 7, 7, int64(round)}
		b.Field(0).(*array.Int64Builder).AppendValues(keys, nil)
		rec := b.NewRecord()
		b.Release()
		var got []int64
		err := chain.Push(ctx, rec, func(o arrow.Record) error {
			c := o.Column(1).(*array.Int64)
			for i := 0; i < c.Len(); i++ {
				got = append(got, c.Value(i))
			}
			return nil
		})
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		var want []int64
		for _, k := range keys {
			seen[k]++
			want = append(want, seen[k])
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round %d: counts %v, want %v", round, got, want)
		}
	}
}

func TestNewWasmRefusesNativeNodes(t *testing.T) {
	if _, err := NewWasm(abi.Node{ID: "s", Kind: "source"}, nil, 128, memory.DefaultAllocator); err == nil {
		t.Fatal("a source node was accepted as a Wasm operator")
	}
}
