package connector

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/array"
)

const allTypes = "b:bool,i8:int8,i16:int16,i32:int32,i64:int64,u8:uint8,u16:uint16,u32:uint32,u64:uint64," +
	"f32:float32,f64:float64,s:utf8,bin:binary,d:date32,ts:timestamp[s],tms:timestamp[ms],tus:timestamp[us, +02:00],tns:timestamp[ns, UTC]"

func TestDatagenReproducible(t *testing.T) {
	alloc := newAlloc(t)
	gen := func(seed string, sub int) [][]string {
		src, err := NewSource("datagen", map[string]string{"schema": allTypes, "rows": "250", "seed": seed, "null-ratio": "0.1"}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		rows, sizes := drain(t, src, Context{Subtask: sub, Parallelism: 2, Alloc: alloc, BatchRows: 100})
		if len(rows) != 250 || len(sizes) != 3 {
			t.Errorf("%d rows in %d batches, want 250 in 3", len(rows), len(sizes))
		}
		return rows
	}
	a, b := gen("42", 0), gen("42", 0)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Error("same seed and subtask gave different data")
	}
	if fmt.Sprint(a) == fmt.Sprint(gen("42", 1)) {
		t.Error("subtasks 0 and 1 gave the same data")
	}
	// subtask 1 of seed 41 uses seed 42, like subtask 0 of seed 42.
	if fmt.Sprint(gen("41", 1)) != fmt.Sprint(a) {
		t.Error("seed 41 subtask 1 differs from seed 42 subtask 0")
	}
}

func TestDatagenValues(t *testing.T) {
	tests := []struct {
		ratio float64
	}{{0}, {0.25}, {1}}
	word := regexp.MustCompile(`^[a-z]{8,16}$`)
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.ratio), func(t *testing.T) {
			alloc := newAlloc(t)
			src, err := NewDatagen(map[string]string{"schema": "s:utf8,ts:timestamp[ms],d:date32,x:int64", "rows": "4000",
				"null-ratio": strconv.FormatFloat(tt.ratio, 'g', -1, 64)})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := src.Open(ctx, Context{Parallelism: 1, Alloc: alloc, BatchRows: 1000}); err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			nulls, values := 0, 0
			var lastTS int64
			lo := time.Date(2022, 12, 31, 0, 0, 0, 0, time.UTC)
			hi := time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)
			for {
				rec, err := src.Next(ctx)
				if err != nil {
					break
				}
				s := rec.Column(0).(*array.String)
				ts := rec.Column(1).(*array.Timestamp)
				d := rec.Column(2).(*array.Date32)
				for i := range int(rec.NumRows()) {
					for c := range 4 {
						values++
						if rec.Column(c).IsNull(i) {
							nulls++
						}
					}
					if s.IsValid(i) && !word.MatchString(s.Value(i)) {
						t.Errorf("string %q is not 8-16 lowercase letters", s.Value(i))
					}
					if ts.IsValid(i) {
						v := int64(ts.Value(i))
						if v <= lastTS || v < time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() {
							t.Errorf("timestamp %d after %d: not increasing from 2024-01-01", v, lastTS)
						}
						lastTS = v
					}
					if d.IsValid(i) {
						if day := d.Value(i).ToTime(); day.Before(lo) || day.After(hi) {
							t.Errorf("date %v not near 2024-01-01", day)
						}
					}
				}
				rec.Release()
			}
			if src.Emitted() != 4000 {
				t.Errorf("emitted %d, want 4000", src.Emitted())
			}
			got := float64(nulls) / float64(values)
			if got < tt.ratio-0.03 || got > tt.ratio+0.03 {
				t.Errorf("null ratio %.3f, want about %.2f", got, tt.ratio)
			}
		})
	}
}

func TestDatagenRateFakeClock(t *testing.T) {
	alloc := newAlloc(t)
	clock := newFakeClock()
	src, err := NewDatagen(map[string]string{"schema": "x:int32", "rate": "200"})
	if err != nil {
		t.Fatal(err)
	}
	src.Clock = clock
	ctx := context.Background()
	// p=2: 100 rows/s for this subtask.
	if err := src.Open(ctx, Context{Subtask: 1, Parallelism: 2, Alloc: alloc, BatchRows: 10}); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	start := clock.Now()
	total := 0
	for range 100 {
		rec, err := src.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total += int(rec.NumRows())
		rec.Release()
		if limit := 100*clock.Now().Sub(start).Seconds() + 10; float64(total) > limit+1e-9 {
			t.Fatalf("%d rows: over the limit %.1f", total, limit)
		}
	}
}

func TestDatagenUnboundedAndEmpty(t *testing.T) {
	alloc := newAlloc(t)
	src, err := NewDatagen(map[string]string{"schema": "x:int32"})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(context.Background(), Context{Parallelism: 1, Alloc: alloc, BatchRows: 7}); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		rec, err := src.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if rec.NumRows() != 7 {
			t.Errorf("batch of %d rows, want 7", rec.NumRows())
		}
		rec.Release()
	}
	_ = src.Close()
	empty, _ := NewDatagen(map[string]string{"schema": "x:int32", "rows": "0"})
	if rows, _ := drain(t, empty, Context{Parallelism: 1, Alloc: alloc, BatchRows: 7}); len(rows) != 0 {
		t.Errorf("rows=0 gave %d rows", len(rows))
	}
}
