package task

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/arrow/batch"
	"github.com/weirflow/weir/internal/guesttest"
	"github.com/weirflow/weir/wasm"
)

// BenchmarkKeyedProcess pushes batches of 64K rows through the Go guest's
// keyed "count" operator, whose state (one int64 per key) lives in a Store
// of 1M keys: grouping, Gather, the guest call and Scatter.
func BenchmarkKeyedProcess(b *testing.B) {
	const storeKeys, batchRows = 1 << 20, 1 << 16
	ctx := context.Background()
	alloc := memory.NewGoAllocator()
	rt, err := wasm.NewRuntime(ctx, wasm.Config{Allocator: alloc})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(ctx)
	mod, err := rt.Load(ctx, "conformance-go", guesttest.BuildGo(b, "sdk/go", "./conformance"))
	if err != nil {
		b.Fatal(err)
	}
	in, err := mod.Instantiate(ctx, wasm.InstanceOptions{})
	if err != nil {
		b.Fatal(err)
	}
	op, err := NewWasm(abi.Node{ID: "count", Kind: "process", Function: "count", KeyBy: []string{"key"}}, in, 128, alloc)
	if err != nil {
		b.Fatal(err)
	}
	chain := NewChain(op)
	schema, _ := batch.ParseSchema("key:int64")
	if _, err := chain.Open(ctx, schema); err != nil {
		b.Fatal(err)
	}
	defer chain.Close(ctx)
	keys := func(vals []int64) arrow.Record {
		bld := array.NewRecordBuilder(alloc, schema)
		defer bld.Release()
		bld.Field(0).(*array.Int64Builder).AppendValues(vals, nil)
		return bld.NewRecord()
	}
	discard := func(arrow.Record) error { return nil }
	vals := make([]int64, batchRows)
	for lo := 0; lo < storeKeys; lo += batchRows {
		for i := range vals {
			vals[i] = int64(lo + i)
		}
		rec := keys(vals)
		if err := chain.Push(ctx, rec, discard); err != nil {
			b.Fatal(err)
		}
		rec.Release()
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range vals {
		vals[i] = int64(rnd.IntN(storeKeys))
	}
	rec := keys(vals)
	defer rec.Release()
	for b.Loop() {
		if err := chain.Push(ctx, rec, discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*batchRows/b.Elapsed().Seconds(), "rows/s")
}
