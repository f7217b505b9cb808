package ipcframe

import (
	"errors"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/arrow/batch"
)

func testBatch(t testing.TB, alloc memory.Allocator, n, base int) arrow.Record {
	t.Helper()
	schema, err := batch.ParseSchema("k:int64,w:utf8,f:float64,ok:bool,ts:timestamp[ms, UTC]")
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(alloc, schema)
	defer b.Release()
	for i := 0; i < n; i++ {
		if i%7 == 3 {
			for _, f := range b.Fields() {
				f.AppendNull()
			}
			continue
		}
		b.Field(0).(*array.Int64Builder).Append(int64(base + i))
		b.Field(1).(*array.StringBuilder).Append("wörd")
		b.Field(2).(*array.Float64Builder).Append(float64(i) / 3)
		b.Field(3).(*array.BooleanBuilder).Append(i%2 == 0)
		b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(1700000000000 + i))
	}
	return b.NewRecord()
}

// TestChannel sends batches and events through an encoder and a decoder, in
// order, as a channel does.
func TestChannel(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	first := testBatch(t, alloc, 100, 0)
	defer first.Release()
	enc := NewEncoder(first.Schema(), alloc)
	dec := NewDecoder(first.Schema(), alloc)
	defer dec.Close()

	var frames [][]byte
	var sent []arrow.Record
	add := func(f []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	add(enc.Batch(first, 3))
	sent = append(sent, first)
	add(EncodeWatermark(1700000000123), nil)
	second := testBatch(t, alloc, 0, 0) // an empty batch
	defer second.Release()
	add(enc.Batch(second, 2))
	sent = append(sent, second)
	add(EncodeBarrier(Barrier{ID: 42, Timestamp: 1700000000500, Savepoint: true}), nil)
	third := testBatch(t, alloc, 4096, 1000)
	defer third.Release()
	add(enc.Batch(third, 0))
	sent = append(sent, third)
	add(EncodeEndOfPartition(), nil)
	add(EncodeCredit(7), nil)
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}

	want := []Kind{KindBatch, KindWatermark, KindBatch, KindBarrier, KindBatch, KindEndOfPartition, KindCredit}
	batches := 0
	for i, f := range frames {
		ev, err := dec.Decode(f)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if ev.Kind != want[i] {
			t.Fatalf("frame %d is %s, want %s", i, ev.Kind, want[i])
		}
		switch ev.Kind {
		case KindBatch:
			if !array.RecordEqual(ev.Record, sent[batches]) || ev.Backlog != []int{3, 2, 0}[batches] {
				t.Fatalf("batch %d differs (backlog %d)", batches, ev.Backlog)
			}
			ev.Record.Release()
			batches++
		case KindWatermark:
			if ev.Watermark != 1700000000123 {
				t.Fatalf("watermark %d", ev.Watermark)
			}
		case KindBarrier:
			if ev.Barrier != (Barrier{ID: 42, Timestamp: 1700000000500, Savepoint: true}) {
				t.Fatalf("barrier %+v", ev.Barrier)
			}
		case KindCredit:
			if ev.Credit != 7 {
				t.Fatalf("credit %d", ev.Credit)
			}
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	rec := testBatch(t, alloc, 10, 0)
	defer rec.Release()
	enc := NewEncoder(rec.Schema(), alloc)
	good, err := enc.Batch(rec, 0)
	if err != nil {
		t.Fatal(err)
	}
	enc.Close()
	other, _ := batch.ParseSchema("x:int32")
	bad := func(b []byte, i int, v byte) []byte {
		c := append([]byte(nil), b...)
		c[i] = v
		return c
	}
	cases := []struct {
		name   string
		schema *arrow.Schema
		frame  []byte
	}{
		{"empty", rec.Schema(), nil},
		{"short header", nil, []byte{1, 1, 0}},
		{"version", nil, bad(EncodeEndOfPartition(), 1, 9)},
		{"unknown kind", nil, bad(EncodeEndOfPartition(), 0, 77)},
		{"barrier too short", nil, EncodeBarrier(Barrier{})[:20]},
		{"watermark too long", nil, append(EncodeWatermark(1), 0)},
		{"end with payload", nil, append(EncodeEndOfPartition(), 1)},
		{"huge credit", nil, EncodeCredit(1 << 31)},
		{"truncated batch", rec.Schema(), good[:len(good)-20]},
		{"garbage batch", rec.Schema(), append(header(KindBatch, 0), []byte("definitely not arrow ipc at all....")...)},
		{"trailing bytes", rec.Schema(), append(append([]byte(nil), good...), 0, 0, 0, 0, 0, 0, 0, 0)},
		{"schema mismatch", other, good},
		{"no schema", nil, good},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dec := NewDecoder(tc.schema, alloc)
			defer dec.Close()
			ev, err := dec.Decode(tc.frame)
			if !errors.Is(err, ErrFrame) {
				if ev.Record != nil {
					ev.Record.Release()
				}
				t.Fatalf("got %v", err)
			}
		})
	}
}

// FuzzDecode: arbitrary frames never panic and never leak.
func FuzzDecode(f *testing.F) {
	alloc := memory.NewGoAllocator()
	rec := testBatch(f, alloc, 5, 0)
	enc := NewEncoder(rec.Schema(), alloc)
	good, _ := enc.Batch(rec, 1)
	f.Add(good)
	f.Add(EncodeBarrier(Barrier{ID: 1}))
	f.Add(EncodeWatermark(5))
	f.Add(EncodeCredit(3))
	f.Fuzz(func(t *testing.T, frame []byte) {
		dec := NewDecoder(rec.Schema(), alloc)
		defer dec.Close()
		ev, err := dec.Decode(frame)
		if err == nil && ev.Record != nil {
			ev.Record.Release()
		}
	})
}

// TestAppendBatch: frames appended into one reused buffer decode like the
// frames of Batch, and what was in the buffer before is kept.
func TestAppendBatch(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	recs := []arrow.Record{testBatch(t, alloc, 50, 0), testBatch(t, alloc, 3000, 7), testBatch(t, alloc, 1, 9)}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	enc := NewEncoder(recs[0].Schema(), alloc)
	defer enc.Close()
	dec := NewDecoder(recs[0].Schema(), alloc)
	defer dec.Close()
	var buf []byte
	for i, rec := range recs {
		prefix := []byte{0xAB, 0xCD}
		out, err := enc.AppendBatch(append(buf[:0], prefix...), rec, i)
		if err != nil {
			t.Fatal(err)
		}
		if out[0] != 0xAB || out[1] != 0xCD {
			t.Fatalf("batch %d: the buffer's prefix was overwritten", i)
		}
		ev, err := dec.Decode(out[2:])
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if ev.Kind != KindBatch || ev.Backlog != i || !array.RecordEqual(ev.Record, rec) {
			t.Fatalf("batch %d differs (backlog %d)", i, ev.Backlog)
		}
		ev.Record.Release()
		buf = out
	}
}
