package state

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/arrow/batch"
)

// benchSchemas are the state shapes of the Gather/Scatter benchmarks: a
// counter, the mixed row of TestGatherScatter, and a counter with a 100-byte
// binary value (the shape of BenchmarkSnapshot).
var benchSchemas = []struct{ name, schema string }{
	{"count", "n:int64"},
	{"mixed", "n:int64,avg:float64,last:utf8,seen:bool,at:timestamp[ms]"},
	{"blob", "n:int64,b:binary"},
}

// benchKey is the encoded key of int64 key column value i (batch.AppendKey).
func benchKey(i int) string {
	k := [9]byte{1}
	binary.LittleEndian.PutUint64(k[1:], uint64(i))
	return string(k[:])
}

// benchState returns a state array of n rows of schema, every field valid
// except one row in 16 (a null field); utf8 values are ~13 bytes, binary ones
// 100 bytes. seed varies the values.
func benchState(tb testing.TB, alloc memory.Allocator, schema string, n, seed int) *array.Struct {
	tb.Helper()
	s, err := batch.ParseSchema(schema)
	if err != nil {
		tb.Fatal(err)
	}
	b := array.NewRecordBuilder(alloc, s)
	defer b.Release()
	blob := make([]byte, 100)
	for f, fb := range b.Fields() {
		for i := 0; i < n; i++ {
			v := seed + i
			if f > 0 && v%16 == 0 {
				fb.AppendNull()
				continue
			}
			switch fb := fb.(type) {
			case *array.Int64Builder:
				fb.Append(int64(v))
			case *array.Float64Builder:
				fb.Append(float64(v) / 2)
			case *array.StringBuilder:
				fb.Append(fmt.Sprintf("value-%07d", v%10000000))
			case *array.BooleanBuilder:
				fb.Append(v%3 == 0)
			case *array.TimestampBuilder:
				fb.Append(arrow.Timestamp(v))
			case *array.BinaryBuilder:
				binary.LittleEndian.PutUint64(blob, uint64(v))
				fb.Append(blob)
			default:
				tb.Fatalf("benchState: no values for %T", fb)
			}
		}
	}
	rec := b.NewRecord()
	defer rec.Release()
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	st, err := array.NewStructArray(rec.Columns(), names)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// fillStore scatters keys 0..n-1 into s in batches of batchRows.
func fillStore(tb testing.TB, s *Store, alloc memory.Allocator, schema string, n, batchRows int) {
	tb.Helper()
	st := benchState(tb, alloc, schema, batchRows, 0)
	defer st.Release()
	keys := make([]string, batchRows)
	for lo := 0; lo < n; lo += batchRows {
		m := min(batchRows, n-lo)
		for i := range m {
			keys[i] = benchKey(lo + i)
		}
		part := st
		if m < batchRows {
			part = array.NewSlice(st, 0, int64(m)).(*array.Struct)
		}
		if err := s.Scatter(keys[:m], part); err != nil {
			tb.Fatal(err)
		}
		if part != st {
			part.Release()
		}
	}
}

// BenchmarkGatherScatter measures one keyed-process batch's state traffic:
// Gather and Scatter of 64K distinct keys drawn at random from a store of 1M
// keys (all updates, so the store stays the same size).
func BenchmarkGatherScatter(b *testing.B) {
	const storeKeys, batchRows = 1 << 20, 1 << 16
	alloc := memory.NewGoAllocator()
	for _, sc := range benchSchemas {
		fields, _ := batch.ParseSchema(sc.schema)
		s, err := New(fields.Fields(), 128)
		if err != nil {
			b.Fatal(err)
		}
		fillStore(b, s, alloc, sc.schema, storeKeys, batchRows)
		rnd := rand.New(rand.NewPCG(1, 2))
		perm := rnd.Perm(storeKeys)
		keys := make([]string, batchRows)
		for i := range keys {
			keys[i] = benchKey(perm[i])
		}
		st := benchState(b, alloc, sc.schema, batchRows, 7)
		b.Run(sc.name+"/gather", func(b *testing.B) {
			for b.Loop() {
				g, err := s.Gather(alloc, keys)
				if err != nil {
					b.Fatal(err)
				}
				g.Release()
			}
			b.ReportMetric(float64(b.N)*batchRows/b.Elapsed().Seconds(), "rows/s")
		})
		b.Run(sc.name+"/scatter", func(b *testing.B) {
			for b.Loop() {
				if err := s.Scatter(keys, st); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*batchRows/b.Elapsed().Seconds(), "rows/s")
		})
		st.Release()
	}
}
