package connector

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"
)

func TestSequenceKeySplit(t *testing.T) {
	tests := []struct {
		keys, count, batchRows int
		start                  int64
	}{
		{keys: 1, count: 10, batchRows: 3, start: 1},
		{keys: 5, count: 7, batchRows: 4, start: 1},
		{keys: 7, count: 20, batchRows: 1024, start: 1},
		{keys: 6, count: 3, batchRows: 1, start: 100},
		{keys: 2, count: 1, batchRows: 2, start: -5},
	}
	for _, tt := range tests {
		for p := 1; p <= 3; p++ {
			t.Run(fmt.Sprintf("keys=%d,count=%d,batch=%d,p=%d", tt.keys, tt.count, tt.batchRows, p), func(t *testing.T) {
				alloc := newAlloc(t)
				seen := map[int64][]int64{} // key -> seqs in order
				for sub := range p {
					src, err := NewSource("sequence", map[string]string{
						"keys": strconv.Itoa(tt.keys), "count": strconv.Itoa(tt.count), "start": strconv.FormatInt(tt.start, 10),
					}, Options{})
					if err != nil {
						t.Fatal(err)
					}
					rows, _ := drain(t, src, Context{Subtask: sub, Parallelism: p, Alloc: alloc, BatchRows: tt.batchRows})
					var prevSeq int64 = -1 << 62
					for _, r := range rows {
						k, _ := strconv.ParseInt(r[0], 10, 64)
						s, _ := strconv.ParseInt(r[1], 10, 64)
						if int(k)%p != sub {
							t.Errorf("subtask %d emitted key %d", sub, k)
						}
						if s < prevSeq {
							t.Errorf("subtask %d: seq %d after %d", sub, s, prevSeq)
						}
						prevSeq = s
						seen[k] = append(seen[k], s)
					}
				}
				if len(seen) != tt.keys {
					t.Errorf("saw %d keys, want %d", len(seen), tt.keys)
				}
				for k := range int64(tt.keys) {
					seqs := seen[k]
					if len(seqs) != tt.count {
						t.Fatalf("key %d: %d rows, want %d", k, len(seqs), tt.count)
					}
					for i, s := range seqs {
						if s != tt.start+int64(i) {
							t.Fatalf("key %d: seqs %v, want %d.. in order", k, seqs, tt.start)
						}
					}
				}
			})
		}
	}
}

func TestSequenceInterleavesKeys(t *testing.T) {
	alloc := newAlloc(t)
	src, err := NewSequence(map[string]string{"keys": "3", "count": "2"})
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := drain(t, src, Context{Parallelism: 1, Alloc: alloc, BatchRows: 100})
	want := [][]string{{"0", "1"}, {"1", "1"}, {"2", "1"}, {"0", "2"}, {"1", "2"}, {"2", "2"}}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("rows %v, want %v", rows, want)
	}
	if f := src.Schema().Field(0); f.Nullable || f.Name != "key" {
		t.Errorf("field 0 %v, want key not nullable", f)
	}
}

func TestSequencePosition(t *testing.T) {
	alloc := newAlloc(t)
	ctx := context.Background()
	c := Context{Subtask: 1, Parallelism: 2, Alloc: alloc, BatchRows: 4}
	params := map[string]string{"keys": "4", "count": "9"}
	full, err := NewSequence(params)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := drain(t, full, c)

	first, _ := NewSequence(params)
	if err := first.Open(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := first.Position(); got != 1 {
		t.Errorf("initial position %d, want 1", got)
	}
	var head [][]string
	for range 2 {
		rec, err := first.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		head = append(head, rowsOf(rec)...)
		rec.Release()
	}
	pos := first.Position()
	if pos != 5 { // 2 owned keys, 4 rows a batch: 2 seqs a batch
		t.Errorf("position after 2 batches %d, want 5", pos)
	}
	_ = first.Close()

	second, _ := NewSequence(params)
	if err := second.Open(ctx, c); err != nil {
		t.Fatal(err)
	}
	second.SetPosition(pos)
	tail, _ := drainOpen(t, second, c.BatchRows)
	_ = second.Close()
	if got := fmt.Sprint(append(head, tail...)); got != fmt.Sprint(all) {
		t.Errorf("restored run %v, want %v", got, all)
	}
}

func TestSequenceUnbounded(t *testing.T) {
	alloc := newAlloc(t)
	for _, params := range []map[string]string{{"count": "0"}, {"unbounded": "true"}} {
		src, err := NewSequence(params)
		if err != nil {
			t.Fatal(err)
		}
		if err := src.Open(context.Background(), Context{Parallelism: 1, Alloc: alloc, BatchRows: 1000}); err != nil {
			t.Fatal(err)
		}
		for range 50 {
			rec, err := src.Next(context.Background())
			if err != nil {
				t.Fatalf("%v: %v", params, err)
			}
			rec.Release()
		}
		if src.Position() != 50_001 {
			t.Errorf("%v: position %d, want 50001", params, src.Position())
		}
		_ = src.Close()
	}
	// A subtask owning no key of an unbounded sequence waits for ctx.
	src, _ := NewSequence(map[string]string{"unbounded": "true", "keys": "1"})
	if err := src.Open(context.Background(), Context{Subtask: 1, Parallelism: 2, Alloc: alloc, BatchRows: 10}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := src.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("idle subtask Next: %v, want deadline exceeded", err)
	}
}

func TestSequenceRateFakeClock(t *testing.T) {
	tests := []struct {
		name            string
		keys, p, sub    int
		rate            float64
		batchRows       int
		work            time.Duration // time the consumer spends per batch
		wantSubtaskRate float64
	}{
		{name: "one subtask", keys: 1, p: 1, rate: 1000, batchRows: 100, wantSubtaskRate: 1000},
		{name: "slow rate", keys: 1, p: 1, rate: 3, batchRows: 100, wantSubtaskRate: 3},
		{name: "fast rate", keys: 4, p: 1, rate: 1e6, batchRows: 512, wantSubtaskRate: 1e6},
		{name: "split p=2", keys: 4, p: 2, sub: 1, rate: 1000, batchRows: 64, wantSubtaskRate: 500},
		{name: "uneven keys p=2", keys: 3, p: 2, sub: 0, rate: 900, batchRows: 64, wantSubtaskRate: 600},
		{name: "slow consumer", keys: 2, p: 1, rate: 1000, batchRows: 50, work: 30 * time.Millisecond, wantSubtaskRate: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alloc := newAlloc(t)
			clock := newFakeClock()
			src, err := NewSequence(map[string]string{
				"keys": strconv.Itoa(tt.keys), "unbounded": "true", "rate": strconv.FormatFloat(tt.rate, 'g', -1, 64),
			})
			if err != nil {
				t.Fatal(err)
			}
			src.Clock = clock
			ctx := context.Background()
			var idle time.Duration
			if err := src.Open(ctx, Context{Subtask: tt.sub, Parallelism: tt.p, Alloc: alloc, BatchRows: tt.batchRows,
				Idle: func() func() {
					start := clock.Now()
					return func() { idle += clock.Now().Sub(start) }
				}}); err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			start := clock.Now()
			total := 0
			for range 300 {
				rec, err := src.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				total += int(rec.NumRows())
				rec.Release()
				elapsed := clock.Now().Sub(start).Seconds()
				if limit := tt.wantSubtaskRate*elapsed + float64(tt.batchRows); float64(total) > limit+1e-9 {
					t.Fatalf("%d rows after %.3fs: ahead of rate (limit %.1f)", total, elapsed, limit)
				}
				clock.Advance(tt.work)
			}
			elapsed := clock.Now().Sub(start).Seconds()
			// Not much slower than the rate either.
			if low := tt.wantSubtaskRate*elapsed - 2*float64(tt.batchRows); float64(total) < low {
				t.Errorf("%d rows after %.3fs: behind rate (want ≥ %.1f)", total, elapsed, low)
			}
			// Time passes only waiting for the rate or working: the waits
			// are reported as idle.
			if want := clock.Now().Sub(start) - 300*tt.work; idle != want {
				t.Errorf("idle %v, want %v (elapsed less work)", idle, want)
			}
		})
	}
}

func TestSequenceRateRealClock(t *testing.T) {
	alloc := newAlloc(t)
	src, err := NewSequence(map[string]string{"count": "60", "rate": "1000"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rows, _ := drain(t, src, Context{Parallelism: 1, Alloc: alloc, BatchRows: 10})
	if len(rows) != 60 {
		t.Errorf("%d rows, want 60", len(rows))
	}
	// 60 rows at 1000/s with a burst of 10: at least 50ms.
	if d := time.Since(start); d < 45*time.Millisecond {
		t.Errorf("took %v, want ≥ 50ms", d)
	}
}
