package exchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/weirflow/weir/arrow/ipcframe"
)

// drain returns what the reader can send right now, without waiting.
func drain(t *testing.T, rd *SubpartitionReader) []string {
	t.Helper()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	var out []string
	for {
		ev, _, err := rd.Next(done)
		if errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind {
		case ipcframe.KindBatch:
			s := seqs(ev.Record)
			out = append(out, fmt.Sprintf("b%d-%d", s[0], s[len(s)-1]))
			for i := 1; i < len(s); i++ {
				if s[i] != s[i-1]+1 {
					t.Fatalf("batch out of order: %v", s)
				}
			}
			ev.Record.Release()
		case ipcframe.KindBarrier:
			out = append(out, fmt.Sprintf("B%d", ev.Barrier.ID))
		case ipcframe.KindWatermark:
			out = append(out, fmt.Sprintf("W%d", ev.Watermark))
		case ipcframe.KindEndOfPartition:
			out = append(out, "EOP")
		}
	}
}

// TestCoalescing drives one subpartition step by step with a fake clock and
// checks what its reader can send after each step.
func TestCoalescing(t *testing.T) {
	type step struct {
		op   string // "add N", "barrier N", "wm N", "grant N", "advance", "finish"
		want string // events ready after the step, space-separated
	}
	cases := []struct {
		name      string
		flushRows int
		credit    int
		steps     []step
	}{
		{"small batches coalesce up to FlushRows", 10, 100, []step{
			{"add 3", ""}, {"add 3", ""}, {"add 3", ""}, {"add 3", "b0-11"}, {"add 2", ""}, {"finish", "b12-13 EOP"},
		}},
		{"a large batch passes alone, after the pending rows", 10, 100, []step{
			{"add 3", ""}, {"add 12", "b0-2 b3-14"}, {"add 10", "b15-24"},
		}},
		{"in-band events flush the pending batch", 10, 100, []step{
			{"add 4", ""}, {"barrier 1", "b0-3 B1"}, {"add 1", ""}, {"wm 7", "b4-4 W7"}, {"barrier 2", "B2"},
		}},
		{"the latency bound is checked on add", 10, 100, []step{
			{"add 2", ""}, {"advance", ""}, {"add 2", "b0-1"}, {"add 1", ""}, {"finish", "b2-4 EOP"},
		}},
		{"without credit batches wait and watermarks collapse behind them", 10, 0, []step{
			{"add 12", ""}, {"wm 1", ""}, {"wm 2", ""}, {"barrier 1", ""}, {"wm 3", ""}, {"wm 4", ""},
			{"grant 1", "b0-11 W2 B1 W4"}, {"wm 5", "W5"}, {"add 10", ""}, {"finish", ""}, {"grant 1", "b12-21 EOP"},
		}},
		{"never coalesce", -1, 100, []step{
			{"add 2", "b0-1"}, {"add 1", "b2-2"}, {"wm 1", "W1"},
		}},
		{"empty batches are dropped", 10, 100, []step{
			{"add 0", ""}, {"add 10", "b0-9"}, {"add 0", ""}, {"finish", "EOP"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alloc := newAlloc(t)
			clock := newFakeClock()
			opts := Options{Queue: 4, FlushRows: tc.flushRows, FlushInterval: time.Hour, Alloc: alloc, Now: clock.Now}
			part := NewResultPartition(partKey(0), testSchema, 1, opts)
			defer part.Fail(errors.New("test over"))
			reg := NewRegistry()
			if err := reg.Register(part); err != nil {
				t.Fatal(err)
			}
			ctx := timeout(t)
			rd, err := reg.Subpartition(ctx, partKey(0), 0)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			if tc.credit > 0 {
				if err := rd.Grant(tc.credit); err != nil {
					t.Fatal(err)
				}
			}
			var seq int64
			for i, s := range tc.steps {
				var op string
				var n int
				fmt.Sscanf(s.op, "%s %d", &op, &n)
				var err error
				switch op {
				case "add":
					err = part.Add(ctx, 0, batchEv(seqBatch(alloc, 0, seq, n)))
					seq += int64(n)
				case "barrier":
					err = part.Add(ctx, 0, barrierEv(uint64(n)))
				case "wm":
					err = part.Broadcast(ctx, watermarkEv(int64(n)))
				case "grant":
					err = rd.Grant(n)
				case "advance":
					clock.Advance(time.Hour)
				case "finish":
					err = part.Finish(ctx)
				}
				if err != nil {
					t.Fatalf("step %d %q: %v", i, s.op, err)
				}
				if got := strings.Join(drain(t, rd), " "); got != s.want {
					t.Fatalf("step %d %q: ready %q, want %q", i, s.op, got, s.want)
				}
			}
		})
	}
}

// TestLatencyBound: with a short FlushInterval, a lone small batch reaches
// the reader with no further call from the producer, also when the timer
// fires while the queue is full.
func TestLatencyBound(t *testing.T) {
	alloc := newAlloc(t)
	ctx := timeout(t)
	opts := Options{Queue: 1, FlushRows: 100, FlushInterval: time.Millisecond, Alloc: alloc}
	part := NewResultPartition(partKey(0), testSchema, 1, opts)
	defer part.Fail(errors.New("test over"))
	reg := NewRegistry()
	if err := reg.Register(part); err != nil {
		t.Fatal(err)
	}
	rd, err := reg.Subpartition(ctx, partKey(0), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	next := func() string {
		t.Helper()
		ev, _, err := rd.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer ev.Record.Release()
		s := seqs(ev.Record)
		return fmt.Sprintf("b%d-%d", s[0], s[len(s)-1])
	}

	// A lone batch is flushed by the timer.
	if err := rd.Grant(1); err != nil {
		t.Fatal(err)
	}
	if err := part.Add(ctx, 0, batchEv(seqBatch(alloc, 0, 0, 3))); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "b0-2" {
		t.Fatalf("got %s", got)
	}

	// The queue is full (one batch, no credit) when the timer fires: the
	// pending batch is sealed once the reader takes the queued one.
	if err := part.Add(ctx, 0, batchEv(seqBatch(alloc, 0, 3, 100))); err != nil {
		t.Fatal(err)
	}
	if err := part.Add(ctx, 0, batchEv(seqBatch(alloc, 0, 103, 5))); err != nil {
		t.Fatal(err)
	}
	sp := part.subs[0]
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		sp.mu.Lock()
		due := sp.pendingDue
		sp.mu.Unlock()
		if due {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the flush timer did not fire")
		}
	}
	if err := rd.Grant(2); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "b3-102" {
		t.Fatalf("got %s", got)
	}
	if got := next(); got != "b103-107" {
		t.Fatalf("got %s", got)
	}
}

// TestBackpressuredClock: the partition's backpressured time is the union
// of the intervals in which a subpartition had batches and no credit.
func TestBackpressuredClock(t *testing.T) {
	alloc := newAlloc(t)
	clock := newFakeClock()
	ctx := timeout(t)
	part := NewResultPartition(partKey(0), testSchema, 2, Options{FlushRows: -1, Alloc: alloc, Now: clock.Now})
	defer part.Fail(errors.New("test over"))
	reg := NewRegistry()
	if err := reg.Register(part); err != nil {
		t.Fatal(err)
	}
	rd0, _ := reg.Subpartition(ctx, partKey(0), 0)
	rd1, _ := reg.Subpartition(ctx, partKey(0), 1)
	defer rd0.Close()
	defer rd1.Close()
	ms := func(n int) { clock.Advance(time.Duration(n) * time.Millisecond) }
	check := func(want int) {
		t.Helper()
		if got := part.Backpressured(); got != time.Duration(want)*time.Millisecond {
			t.Fatalf("backpressured %s, want %dms", got, want)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(part.Add(ctx, 0, batchEv(seqBatch(alloc, 0, 0, 1)))) // t=0: data, no credit
	ms(10)
	must(rd0.Grant(1)) // t=10
	check(10)
	ms(5)
	ev, _, err := rd0.Next(ctx) // t=15
	must(err)
	ev.Record.Release()
	ms(5)
	must(part.Add(ctx, 0, batchEv(seqBatch(alloc, 0, 1, 1)))) // t=20: pressured
	ms(10)
	must(part.Add(ctx, 1, batchEv(seqBatch(alloc, 0, 2, 1)))) // t=30: both pressured
	ms(20)
	check(10 + 30) // t=50, still running
	ms(10)
	must(rd0.Grant(1)) // t=60: subpartition 1 still pressured
	ms(10)
	must(rd1.Grant(1)) // t=70
	ms(100)
	check(10 + 50)
	if st := part.Stats(); st.Batches != 3 || st.Rows != 3 || st.Bytes != 3*2*8 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRegistry(t *testing.T) {
	alloc := newAlloc(t)
	reg := NewRegistry()
	part := NewResultPartition(partKey(0), testSchema, 2, Options{Alloc: alloc})
	defer part.Fail(errors.New("test over"))

	// A consumer asking before the producer is registered waits.
	ctx := timeout(t)
	got := make(chan error, 1)
	go func() {
		rd, err := reg.Subpartition(ctx, partKey(0), 1)
		if err == nil {
			defer rd.Close()
			if rd.Index() != 1 || rd.Key() != partKey(0) || rd.Schema() != testSchema {
				err = errors.New("wrong reader")
			}
		}
		got <- err
	}()
	if err := reg.Register(part); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if p, ok := reg.Lookup(partKey(0)); !ok || p != part {
		t.Fatal("lookup")
	}

	cases := []struct {
		name string
		do   func() error
		want error
	}{
		{"duplicate key", func() error { return reg.Register(NewResultPartition(partKey(0), testSchema, 1, Options{})) }, ErrPartitionExists},
		{"second reader", func() error { _, err := reg.Subpartition(ctx, partKey(0), 1); return err }, ErrReaderTaken},
		{"index out of range", func() error { _, err := reg.Subpartition(ctx, partKey(0), 2); return err }, ErrNoSubpartition},
		{"negative index", func() error { _, err := reg.Subpartition(ctx, partKey(0), -1); return err }, ErrNoSubpartition},
		{"add out of range", func() error { return part.Add(ctx, 5, barrierEv(1)) }, ErrNoSubpartition},
		{"add end-of-partition", func() error { return part.Add(ctx, 0, Event{Kind: ipcframe.KindEndOfPartition}) }, nil},
		{"broadcast a batch", func() error { return part.Broadcast(ctx, batchEv(seqBatch(alloc, 0, 0, 1))) }, nil},
		{"unknown partition, canceled", func() error {
			c, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
			defer cancel()
			_, err := reg.Subpartition(c, partKey(9), 0)
			return err
		}, context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	reg.Unregister(partKey(0))
	if _, ok := reg.Lookup(partKey(0)); ok {
		t.Fatal("still registered")
	}
	checkNoLeaks(t)
}

// TestConsumerGone: a reader closed before end-of-partition releases the
// subpartition's data, and the producer's next Add to it fails.
func TestConsumerGone(t *testing.T) {
	alloc := newAlloc(t)
	ctx := timeout(t)
	reg := NewRegistry()
	part := NewResultPartition(partKey(0), testSchema, 2, Options{FlushRows: 8, Alloc: alloc})
	if err := reg.Register(part); err != nil {
		t.Fatal(err)
	}
	rd0, _ := reg.Subpartition(ctx, partKey(0), 0)
	rd1, _ := reg.Subpartition(ctx, partKey(0), 1)
	for i := range 3 {
		if err := part.Add(ctx, 0, batchEv(seqBatch(alloc, 0, int64(i*10), 10))); err != nil {
			t.Fatal(err)
		}
	}
	if err := part.Add(ctx, 0, batchEv(seqBatch(alloc, 0, 30, 2))); err != nil { // pending
		t.Fatal(err)
	}
	rd0.Close()
	if err := part.Add(ctx, 0, batchEv(seqBatch(alloc, 0, 32, 1))); !errors.Is(err, ErrConsumerGone) {
		t.Fatalf("add after the consumer left: %v", err)
	}
	if _, _, err := rd0.Next(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("next on a closed reader: %v", err)
	}
	if err := rd0.Grant(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("grant on a closed reader: %v", err)
	}
	// The other subpartition ends normally; then the partition is consumed.
	if err := part.Add(ctx, 1, batchEv(seqBatch(alloc, 0, 0, 10))); err != nil {
		t.Fatal(err)
	}
	if err := rd1.Grant(1); err != nil {
		t.Fatal(err)
	}
	if err := part.Finish(ctx); !errors.Is(err, ErrConsumerGone) {
		t.Fatalf("finish with a consumer gone: %v", err)
	}
	select {
	case <-part.Consumed():
		t.Fatal("consumed before subpartition 1 ended")
	default:
	}
	// Finish stopped at subpartition 0's error: finish 1 by hand.
	if err := part.subs[1].finish(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(drain(t, rd1), " "); got != "b0-9 EOP" {
		t.Fatalf("subpartition 1: %q", got)
	}
	<-part.Consumed()
	if err := part.Add(ctx, 1, barrierEv(1)); !errors.Is(err, ErrFinished) {
		t.Fatalf("add after finish: %v", err)
	}
	rd1.Close()
	if _, _, err := rd1.Next(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("next on a closed reader: %v", err)
	}
}
