package state

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/arrow/batch"
	"github.com/weirflow/weir/internal/guesttest"
	"github.com/weirflow/weir/internal/keygroup"
	"github.com/weirflow/weir/wasm"
)

// structOf builds a state array: fill appends one value per row to each
// column builder (null rows included), valid gives the struct validity.
func structOf(t *testing.T, alloc memory.Allocator, schema string, valid []bool, fill func(b *array.RecordBuilder)) *array.Struct {
	t.Helper()
	s, err := batch.ParseSchema(schema)
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(alloc, s)
	defer b.Release()
	fill(b)
	rec := b.NewRecord()
	defer rec.Release()
	vb := array.NewBooleanBuilder(alloc)
	defer vb.Release()
	vb.AppendValues(valid, nil)
	va := vb.NewBooleanArray()
	defer va.Release()
	nulls := 0
	for _, v := range valid {
		if !v {
			nulls++
		}
	}
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	st, err := array.NewStructArrayWithNulls(rec.Columns(), names, va.Data().Buffers()[1], nulls, 0)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestGatherScatter(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	schema := "n:int64,avg:float64,last:utf8,seen:bool,at:timestamp[ms]"
	fields, _ := batch.ParseSchema(schema)
	s, err := New(fields.Fields(), 128)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "b", "c"}
	empty, err := s.Gather(alloc, keys)
	if err != nil {
		t.Fatal(err)
	}
	if empty.NullN() != 3 {
		t.Fatalf("unknown keys: %d null rows of 3", empty.NullN())
	}
	empty.Release()

	// a: full row; b: a row with a null field; c: no state (null row).
	st := structOf(t, alloc, schema, []bool{true, true, false}, func(b *array.RecordBuilder) {
		b.Field(0).(*array.Int64Builder).AppendValues([]int64{5, 7, 0}, nil)
		b.Field(1).(*array.Float64Builder).AppendValues([]float64{1.5, 2.5, 0}, nil)
		b.Field(2).(*array.StringBuilder).AppendValues([]string{"x", "", ""}, []bool{true, false, true})
		b.Field(3).(*array.BooleanBuilder).AppendValues([]bool{true, false, false}, nil)
		b.Field(4).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{100, 200, 0}, nil)
	})
	defer st.Release()
	if err := s.Scatter(keys, st); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 {
		t.Fatalf("%d keys with state", s.Len())
	}
	got, err := s.Gather(alloc, []string{"c", "b", "a", "zz"})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	checks := []struct {
		name string
		ok   bool
	}{
		{"c and zz have no state", got.IsNull(0) && got.IsNull(3)},
		{"b and a have state", got.IsValid(1) && got.IsValid(2)},
		{"b.n", got.Field(0).(*array.Int64).Value(1) == 7},
		{"a.n", got.Field(0).(*array.Int64).Value(2) == 5},
		{"a.avg", got.Field(1).(*array.Float64).Value(2) == 1.5},
		{"b.last is null", got.Field(2).IsNull(1)},
		{"a.last", got.Field(2).(*array.String).Value(2) == "x"},
		{"a.seen", got.Field(3).(*array.Boolean).Value(2)},
		{"b.at", got.Field(4).(*array.Timestamp).Value(1) == 200},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: %v", c.name, got)
		}
	}

	// Clearing a (null row) frees its row; a new key reuses it without the
	// old values showing through.
	clearA := structOf(t, alloc, schema, []bool{false}, func(b *array.RecordBuilder) {
		b.Field(0).(*array.Int64Builder).AppendNull()
		b.Field(1).(*array.Float64Builder).AppendNull()
		b.Field(2).(*array.StringBuilder).AppendNull()
		b.Field(3).(*array.BooleanBuilder).AppendNull()
		b.Field(4).(*array.TimestampBuilder).AppendNull()
	})
	defer clearA.Release()
	if err := s.Scatter([]string{"a"}, clearA); err != nil {
		t.Fatal(err)
	}
	partial := structOf(t, alloc, schema, []bool{true}, func(b *array.RecordBuilder) {
		b.Field(0).(*array.Int64Builder).Append(1)
		b.Field(1).(*array.Float64Builder).AppendNull()
		b.Field(2).(*array.StringBuilder).AppendNull()
		b.Field(3).(*array.BooleanBuilder).AppendNull()
		b.Field(4).(*array.TimestampBuilder).AppendNull()
	})
	defer partial.Release()
	if err := s.Scatter([]string{"d"}, partial); err != nil {
		t.Fatal(err)
	}
	d, _ := s.Gather(alloc, []string{"a", "d"})
	defer d.Release()
	if d.IsValid(0) || d.Field(2).IsValid(1) || d.Field(0).(*array.Int64).Value(1) != 1 || s.Len() != 2 {
		t.Fatalf("after clear and reuse: %v (len %d)", d, s.Len())
	}

	// Wrong shapes are refused.
	if err := s.Scatter([]string{"a", "b"}, partial); err == nil {
		t.Fatal("2 keys with 1 state row accepted")
	}
	other := structOf(t, alloc, "n:int32", []bool{true}, func(b *array.RecordBuilder) {
		b.Field(0).(*array.Int32Builder).Append(1)
	})
	defer other.Release()
	if err := s.Scatter([]string{"a"}, other); !errors.Is(err, ErrSchema) {
		t.Fatalf("other schema: %v", err)
	}
}

func TestKeysInGroups(t *testing.T) {
	fields, _ := batch.ParseSchema("n:int64")
	s, _ := New(fields.Fields(), 128)
	alloc := memory.NewGoAllocator()
	var keys []string
	for i := 0; i < 300; i++ {
		keys = append(keys, fmt.Sprint("key", i))
	}
	for _, k := range keys {
		one := structOf(t, alloc, "n:int64", []bool{true}, func(b *array.RecordBuilder) {
			b.Field(0).(*array.Int64Builder).Append(1)
		})
		if err := s.Scatter([]string{k}, one); err != nil {
			t.Fatal(err)
		}
		one.Release()
	}
	for _, p := range []int{1, 3, 4} {
		seen := map[string]int{}
		for i := 0; i < p; i++ {
			s.KeysInGroups(keygroup.RangeOf(128, p, i), func(k string) { seen[k]++ })
		}
		if len(seen) != len(keys) {
			t.Fatalf("p=%d: %d keys of %d", p, len(seen), len(keys))
		}
		for k, n := range seen {
			if n != 1 {
				t.Fatalf("p=%d: key %s in %d ranges", p, k, n)
			}
		}
	}
}

// TestProcessWithHostState runs the Go SDK's keyed "count" operator over
// several batches with its state held only in a Store: counts must continue
// across batches, even with a fresh guest instance per batch.
func TestProcessWithHostState(t *testing.T) {
	ctx := context.Background()
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	rt, err := wasm.NewRuntime(ctx, wasm.Config{Allocator: alloc})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	mod, err := rt.Load(ctx, "conformance-go", guesttest.BuildGo(t, "sdk/go", "./conformance"))
	if err != nil {
		t.Fatal(err)
	}
	schema, _ := batch.ParseSchema("key:int64")
	var store *Store
	want := map[int64]int64{}
	for round, vals := range [][]int64{{1, 2, 1}, {2, 2, 3}, {1, 3, 1, 1}} {
		in, err := mod.Instantiate(ctx, wasm.InstanceOptions{Task: fmt.Sprint("round-", round)})
		if err != nil {
			t.Fatal(err)
		}
		op, err := in.Open(ctx, abi.KindProcess, "count", "", schema)
		if err != nil {
			t.Fatal(err)
		}
		if store == nil {
			if store, err = New(op.StateSchema.Fields(), 128); err != nil {
				t.Fatal(err)
			}
		}
		b := array.NewRecordBuilder(alloc, schema)
		b.Field(0).(*array.Int64Builder).AppendValues(vals, nil)
		rec := b.NewRecord()
		b.Release()
		grouper := batch.NewGrouper()
		rows, _, err := grouper.Group(nil, rec, []string{"key"})
		if err != nil {
			t.Fatal(err)
		}
		keys := grouper.Keys()
		st, err := store.Gather(alloc, keys)
		if err != nil {
			t.Fatal(err)
		}
		out, newState, err := op.Process(ctx, rec, rows, st)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Scatter(keys, newState); err != nil {
			t.Fatal(err)
		}
		counts := out.Column(1).(*array.Int64)
		for i, v := range vals {
			want[v]++
			if counts.Value(i) != want[v] {
				t.Fatalf("round %d row %d key %d: count %d, want %d", round, i, v, counts.Value(i), want[v])
			}
		}
		st.Release()
		newState.Release()
		out.Release()
		rec.Release()
		in.Close(ctx)
	}
	if store.Len() != 3 {
		t.Fatalf("%d keys in the store", store.Len())
	}
}
