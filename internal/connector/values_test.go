package connector

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/weirflow/weir/arrow/batch"
)

func TestAppendText(t *testing.T) {
	tests := []struct {
		typ, in, want string // want "" means an error
	}{
		{"int64", "2.0", "2"},
		{"int64", "1e3", "1000"},
		{"int16", "32768", ""},
		{"int32", "1.5", ""},
		{"uint8", "255", "255"},
		{"uint8", "256", ""},
		{"uint64", "18446744073709551615", "18446744073709551615"},
		{"float32", "1e39", ""},
		{"float64", "NaN", "NaN"},
		{"float64", "-Inf", "-Inf"},
		{"bool", "1", "true"},
		{"bool", "yes", ""},
		{"binary", "!!", ""},
		{"date32", "19782", "2024-02-29"},
		{"date32", "2024-13-01", ""},
		{"timestamp[s, +02:00]", "2024-01-01 02:00:00", "2024-01-01 02:00:00+0200"},
		{"timestamp[s]", "2024-01-01T02:00:00", "2024-01-01 02:00:00Z"},
		{"timestamp[ns]", "2300-01-01T00:00:00Z", ""},
		{"timestamp[us]", "1970-01-01T00:00:00.000001Z", "1970-01-01 00:00:00.000001Z"},
	}
	for _, tt := range tests {
		t.Run(tt.typ+"/"+tt.in, func(t *testing.T) {
			alloc := newAlloc(t)
			schema, err := batch.ParseSchema("v:" + tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			locs, err := zones(schema)
			if err != nil {
				t.Fatal(err)
			}
			b := array.NewRecordBuilder(alloc, schema)
			defer b.Release()
			err = appendText(b.Field(0), tt.in, locs[0])
			if tt.want == "" {
				if err == nil {
					t.Errorf("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rec := b.NewRecord()
			defer rec.Release()
			if got := rec.Column(0).ValueStr(0); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestOpenBadContext(t *testing.T) {
	src, _ := NewSequence(nil)
	if err := src.Open(context.Background(), Context{Subtask: 2, Parallelism: 2}); err == nil {
		t.Error("subtask 2 of 2: no error")
	}
	sink, _ := NewBlackhole(nil)
	_ = sink.Close()
	ps, _ := NewPrint(nil)
	if err := ps.Open(context.Background(), Context{Parallelism: 0}, sequenceSchema); err == nil {
		t.Error("parallelism 0: no error")
	}
}

func TestRateWaitHonoursContext(t *testing.T) {
	alloc := newAlloc(t)
	src, err := NewSequence(map[string]string{"rate": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(context.Background(), Context{Parallelism: 1, Alloc: alloc, BatchRows: 1}); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rec, err := src.Next(context.Background()) // the bucket starts full
	if err != nil {
		t.Fatal(err)
	}
	rec.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := src.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next: %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Next returned after %v", d)
	}
}
