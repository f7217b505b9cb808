package task

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/arrow/batch"
	"github.com/weirflow/weir/internal/keygroup"
	"github.com/weirflow/weir/worker/internal/state"
)

// statefulChain is identity map -> sum of x by key -> count by key, each on
// its own guest instance.
func statefulChain(t *testing.T, alloc memory.Allocator) *Chain {
	t.Helper()
	in := guest(t, alloc)
	var ops []Operator
	for _, n := range []abi.Node{
		node(t, "map", "identity", ""),
		{ID: "sum", Kind: "aggregate", Function: "sum_i64", KeyBy: []string{"key"}},
		{ID: "count", Kind: "process", Function: "count", KeyBy: []string{"key"}},
	} {
		op, err := NewWasm(n, in, 128, alloc)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	return NewChain(ops...)
}

// push runs one batch of (key, x) rows through c and returns its output as
// text.
func push(t *testing.T, alloc memory.Allocator, c *Chain, keys, xs []int64) string {
	t.Helper()
	schema, _ := batch.ParseSchema("key:int64,x:int64")
	b := array.NewRecordBuilder(alloc, schema)
	b.Field(0).(*array.Int64Builder).AppendValues(keys, nil)
	b.Field(1).(*array.Int64Builder).AppendValues(xs, nil)
	rec := b.NewRecord()
	b.Release()
	defer rec.Release()
	var out bytes.Buffer
	err := c.Push(context.Background(), rec, func(o arrow.Record) error {
		for i := 0; i < int(o.NumRows()); i++ {
			fmt.Fprintf(&out, "%d:%d ", o.Column(0).(*array.Int64).Value(i), o.Column(1).(*array.Int64).Value(i))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestChainStateful lists the stateful operators of a chain, checkpoints
// their stores and restores them into a fresh chain (new guest instance),
// which then goes on exactly like the original.
func TestChainStateful(t *testing.T) {
	ctx := context.Background()
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	schema, _ := batch.ParseSchema("key:int64,x:int64")

	first := statefulChain(t, alloc)
	st := first.Stateful()
	if len(st) != 2 || st[0].NodeID() != "sum" || st[1].NodeID() != "count" {
		t.Fatalf("Stateful() = %v", st)
	}
	if st[0].(interface{ Store() *state.Store }).Store() != nil {
		t.Fatal("a store before Open")
	}
	if _, err := first.Open(ctx, schema); err != nil {
		t.Fatal(err)
	}
	defer first.Close(ctx)
	push(t, alloc, first, []int64{1, 2, 1}, []int64{10, 20, 30})
	push(t, alloc, first, []int64{2, 3}, []int64{1, 2})

	// Checkpoint: snapshot every store, write the snapshots elsewhere.
	files := map[string][]byte{}
	done := make(chan error, len(st))
	for _, s := range first.Stateful() {
		sn, err := s.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		id := s.NodeID()
		var buf bytes.Buffer
		go func() {
			defer sn.Release()
			_, err := sn.WriteTo(&buf)
			done <- err
		}()
		<-done
		files[id] = buf.Bytes()
	}
	// The original goes on after the checkpoint.
	want := push(t, alloc, first, []int64{1, 3, 4}, []int64{5, 5, 5})

	restored := statefulChain(t, alloc)
	if _, err := restored.Open(ctx, schema); err != nil {
		t.Fatal(err)
	}
	defer restored.Close(ctx)
	for _, s := range restored.Stateful() {
		if err := s.Restore(bytes.NewReader(files[s.NodeID()]), keygroup.Range{Start: 0, End: 127}); err != nil {
			t.Fatal(err)
		}
		if n := s.(interface{ Store() *state.Store }).Store().Len(); n != 3 {
			t.Fatalf("%s: %d keys restored, want 3", s.NodeID(), n)
		}
	}
	if got := push(t, alloc, restored, []int64{1, 3, 4}, []int64{5, 5, 5}); got != want {
		t.Fatalf("restored chain emits %q, the original %q", got, want)
	}
	// count sees one row per key and batch from sum: key 1 in batches 1
	// and 3, key 3 in 2 and 3, key 4 in 3.
	if want != "1:2 3:2 4:1 " {
		t.Fatalf("counts %q", want)
	}
}
