package exchange

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/weirflow/weir/arrow/ipcframe"
	"github.com/weirflow/weir/worker/internal/credit"
)

// waitFor polls cond: for checks of states with nothing to wait on (a
// producer blocked in Add).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestStalledConsumerBlocksProducer: a consumer that takes nothing makes its
// producer block in Add once the consumer's credit and the producer's queue
// are used up; memory never exceeds Queue + Exclusive + Floating batches,
// also while the consumer drains; the blocked time counts as backpressure;
// local batches are handed over without a copy.
func TestStalledConsumerBlocksProducer(t *testing.T) {
	const queue, exclusive, floating, batches = 2, 2, 3, 60
	alloc := newAlloc(t)
	clock := newFakeClock()
	ctx := timeout(t)
	opts := Options{Queue: queue, Exclusive: exclusive, Floating: floating, FlushRows: -1, Alloc: alloc, Now: clock.Now}
	reg := NewRegistry()
	part := NewResultPartition(partKey(0), testSchema, 1, opts)
	if err := reg.Register(part); err != nil {
		t.Fatal(err)
	}
	g := NewInputGate(testSchema, 1, opts)
	defer g.Close()
	g.ConnectLocal(ctx, 0, reg, partKey(0), 0)

	added := make(chan arrow.Record, batches)
	done := make(chan error, 1)
	go func() {
		for s := range batches {
			rec := seqBatch(alloc, 0, int64(s), 1)
			added <- rec
			if err := part.Add(ctx, 0, batchEv(rec)); err != nil {
				done <- err
				return
			}
		}
		done <- part.Finish(ctx)
	}()
	bound := queue + exclusive + floating
	// Floating credit is lent only for a backlog announced with a batch, so
	// the gate may hold fewer than exclusive+floating batches here.
	waitFor(t, "the producer to block", func() bool {
		return part.Queued(0) == queue && g.Held() >= exclusive
	})
	clock.Advance(time.Second)
	if bp := part.Backpressured(); bp < time.Second {
		t.Fatalf("backpressured %s while blocked for 1s", bp)
	}
	// The producer is blocked in its next Add: everything it added before is
	// held by the partition or the gate.
	if n := len(added); n > bound+1 {
		t.Fatalf("producer added %d batches to a stalled consumer (bound %d + 1 in Add)", n, bound)
	}
	for s := range batches {
		ev, ch, err := g.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind != ipcframe.KindBatch || seqs(ev.Record)[0] != int64(s) {
			t.Fatalf("event %d: %s", s, ev.Kind)
		}
		if want := <-added; ev.Record != want {
			t.Fatalf("batch %d was copied on a local channel", s)
		}
		if h, q := g.Held(), part.Queued(0); h > exclusive+floating || q > queue {
			t.Fatalf("held %d (bound %d), queued %d (bound %d)", h, exclusive+floating, q, queue)
		}
		ev.Record.Release()
		if err := g.Release(ch); err != nil {
			t.Fatal(err)
		}
	}
	if ev, _, err := g.Next(ctx); err != nil || ev.Kind != ipcframe.KindEndOfPartition {
		t.Fatalf("after the batches: %v %v", ev.Kind, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-part.Consumed()
	if st := g.Stats(); st.Batches != batches || st.Rows != batches {
		t.Fatalf("gate stats %+v", st)
	}
	g.Close()
	checkNoLeaks(t)
}

// TestProducerFailure: a producer's Fail reaches the consumer's Next as an
// error naming the producer and the cause, whenever it happens, and what was
// buffered on both sides is released.
func TestProducerFailure(t *testing.T) {
	boom := errors.New("boom: operator trapped")
	cases := []struct {
		name     string
		before   int  // batches added before Fail
		connect  bool // connect before Fail
		consume  int  // batches the consumer takes before Fail
		blockAdd bool // the producer is blocked in Add when it fails
	}{
		{"before the consumer connects", 2, false, 0, false},
		{"with batches buffered on both sides", 4, true, 2, false},
		{"while the producer is blocked in Add", 0, true, 0, true},
		{"with nothing sent", 0, true, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alloc := newAlloc(t)
			ctx := timeout(t)
			opts := Options{Queue: 2, Exclusive: 2, Floating: 1, FlushRows: -1, Alloc: alloc}
			reg := NewRegistry()
			part := NewResultPartition(partKey(3), testSchema, 1, opts)
			if err := reg.Register(part); err != nil {
				t.Fatal(err)
			}
			g := NewInputGate(testSchema, 1, opts)
			defer g.Close()
			if tc.connect {
				g.ConnectLocal(ctx, 0, reg, partKey(3), 0)
			}
			for s := range tc.before {
				if err := part.Add(ctx, 0, batchEv(seqBatch(alloc, 3, int64(s), 1))); err != nil {
					t.Fatal(err)
				}
			}
			for range tc.consume {
				ev, ch, err := g.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				ev.Record.Release()
				if err := g.Release(ch); err != nil {
					t.Fatal(err)
				}
			}
			addErr := make(chan error, 1)
			if tc.blockAdd {
				go func() {
					for s := 0; ; s++ {
						if err := part.Add(ctx, 0, batchEv(seqBatch(alloc, 3, int64(s), 1))); err != nil {
							addErr <- err
							return
						}
					}
				}()
				waitFor(t, "the producer to block", func() bool { return part.Queued(0) == 2 && g.Held() >= 2 })
			}
			part.Fail(boom)
			if tc.blockAdd {
				if err := <-addErr; !errors.Is(err, boom) {
					t.Fatalf("blocked Add returned %v", err)
				}
			}
			if err := part.Add(ctx, 0, batchEv(seqBatch(alloc, 3, 99, 1))); !errors.Is(err, ErrProducerFailed) {
				t.Fatalf("Add after Fail: %v", err)
			}
			if !tc.connect {
				g.ConnectLocal(ctx, 0, reg, partKey(3), 0)
			}
			// Batches the gate received before the failure reached it may
			// still come first.
			var ch int
			var err error
			for {
				var ev Event
				ev, ch, err = g.Next(ctx)
				if err != nil || ev.Kind != ipcframe.KindBatch {
					break
				}
				ev.Record.Release()
				if err := g.Release(ch); err != nil {
					t.Fatal(err)
				}
			}
			msg := fmt.Sprint(err)
			if !errors.Is(err, ErrProducerFailed) || !errors.Is(err, boom) || ch != 0 ||
				!strings.Contains(msg, "channel 0") || !strings.Contains(msg, partKey(3).Producer) {
				t.Fatalf("Next: %v (channel %d)", err, ch)
			}
			if _, _, again := g.Next(ctx); !errors.Is(again, boom) {
				t.Fatalf("second Next: %v", again)
			}
			if g.Held() != 0 {
				t.Fatalf("the gate holds %d batches after the failure", g.Held())
			}
			g.Close()
			checkNoLeaks(t)
		})
	}
}

// TestCancelAndClose: canceled contexts end blocked calls, closing a gate
// ends its connections (a blocked producer sees its consumer gone), and
// nothing leaks.
func TestCancelAndClose(t *testing.T) {
	t.Run("connection context canceled while waiting for the partition", func(t *testing.T) {
		ctx := timeout(t)
		g := NewInputGate(testSchema, 2, Options{})
		defer g.Close()
		cctx, cancel := context.WithCancel(ctx)
		g.ConnectLocal(cctx, 1, NewRegistry(), partKey(0), 0)
		cancel()
		if _, ch, err := g.Next(ctx); !errors.Is(err, context.Canceled) || ch != 1 {
			t.Fatalf("Next: %v (channel %d)", err, ch)
		}
		g.Close()
		checkNoLeaks(t)
	})
	t.Run("Next on an empty gate", func(t *testing.T) {
		g := NewInputGate(testSchema, 2, Options{})
		defer g.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if _, _, err := g.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Next: %v", err)
		}
	})
	t.Run("blocked Add canceled", func(t *testing.T) {
		alloc := newAlloc(t)
		part := NewResultPartition(partKey(0), testSchema, 1, Options{Queue: 1, FlushRows: 10, FlushInterval: time.Hour, Alloc: alloc})
		defer part.Fail(errors.New("test over"))
		bg := context.Background()
		if err := part.Add(bg, 0, batchEv(seqBatch(alloc, 0, 0, 10))); err != nil { // queued, no credit
			t.Fatal(err)
		}
		if err := part.Add(bg, 0, batchEv(seqBatch(alloc, 0, 10, 2))); err != nil { // pending
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(bg, 10*time.Millisecond)
		defer cancel()
		if err := part.Add(ctx, 0, batchEv(seqBatch(alloc, 0, 12, 10))); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Add: %v", err)
		}
		if err := part.Finish(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Finish with a full queue: %v", err)
		}
	})
	t.Run("gate closed under a blocked producer", func(t *testing.T) {
		alloc := newAlloc(t)
		ctx := timeout(t)
		opts := Options{Queue: 1, Exclusive: 1, Floating: -1, FlushRows: -1, Alloc: alloc}
		reg := NewRegistry()
		part := NewResultPartition(partKey(0), testSchema, 1, opts)
		if err := reg.Register(part); err != nil {
			t.Fatal(err)
		}
		g := NewInputGate(testSchema, 1, opts)
		g.ConnectLocal(ctx, 0, reg, partKey(0), 0)
		addErr := make(chan error, 1)
		go func() {
			for s := 0; ; s++ {
				if err := part.Add(ctx, 0, batchEv(seqBatch(alloc, 0, int64(s), 1))); err != nil {
					addErr <- err
					return
				}
			}
		}()
		waitFor(t, "the producer to block", func() bool { return part.Queued(0) == 1 && g.Held() == 1 })
		g.Close()
		if err := <-addErr; !errors.Is(err, ErrConsumerGone) {
			t.Fatalf("Add after the consumer closed: %v", err)
		}
		<-part.Consumed()
		if _, _, err := g.Next(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after Close: %v", err)
		}
		if err := g.Release(0); !errors.Is(err, ErrClosed) {
			t.Fatalf("Release after Close: %v", err)
		}
		checkNoLeaks(t)
	})
}

// TestChannelProtocol: a connection that breaks the credit protocol or the
// channel's rules fails the channel, and the gate says why.
func TestChannelProtocol(t *testing.T) {
	alloc := newAlloc(t)
	ctx := timeout(t)
	cases := []struct {
		name string
		do   func(g *InputGate) error
		want error
	}{
		{"a batch without credit", func(g *InputGate) error {
			c := g.Channel(0)
			if err := c.Deliver(batchEv(seqBatch(alloc, 0, 0, 1)), 0); err != nil { // the one exclusive credit
				return err
			}
			return c.Deliver(batchEv(seqBatch(alloc, 0, 1, 1)), 0)
		}, credit.ErrProtocol},
		{"a batch of another schema", func(g *InputGate) error {
			other := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
			rec := seqBatch(alloc, 0, 0, 1)
			defer rec.Release()
			col := rec.Column(0)
			col.Retain()
			return g.Channel(0).Deliver(batchEv(arrowRecord(other, col)), 0)
		}, credit.ErrProtocol},
		{"a credit frame as an event", func(g *InputGate) error {
			return g.Channel(0).Deliver(Event{Kind: ipcframe.KindCredit}, 0)
		}, credit.ErrProtocol},
		{"an event after end-of-partition", func(g *InputGate) error {
			c := g.Channel(0)
			if err := c.Deliver(Event{Kind: ipcframe.KindEndOfPartition}, 0); err != nil {
				return err
			}
			return c.Deliver(watermarkEv(1), 0)
		}, ErrClosed},
		{"a second connection", func(g *InputGate) error {
			if _, err := g.Channel(0).Attach(ctx); err != nil {
				return err
			}
			defer g.Channel(0).Detach()
			_, err := g.Channel(0).Attach(ctx)
			return err
		}, ErrAttached},
		{"a release without a batch", func(g *InputGate) error { return g.Release(0) }, nil},
		{"a release on a channel out of range", func(g *InputGate) error { return g.Release(7) }, nil},
		{"a connection to a channel out of range", func(g *InputGate) error {
			g.ConnectLocal(ctx, 7, NewRegistry(), partKey(0), 0)
			_, _, err := g.Next(ctx)
			return err
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewInputGate(testSchema, 1, Options{Exclusive: 1, Floating: -1, Alloc: alloc})
			defer g.Close()
			if g.Channel(1) != nil || g.Channel(0).Index() != 0 || g.NumChannels() != 1 {
				t.Fatal("channel lookup")
			}
			err := tc.do(g)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if errors.Is(tc.want, credit.ErrProtocol) {
				if _, _, err := g.Next(ctx); !errors.Is(err, credit.ErrProtocol) {
					t.Fatalf("Next after a violation: %v", err)
				}
			}
		})
	}
}
