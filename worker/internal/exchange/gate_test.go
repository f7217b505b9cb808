package exchange

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/arrow/ipcframe"
)

var seqSchema = arrow.NewSchema([]arrow.Field{{Name: "seq", Type: arrow.PrimitiveTypes.Int64}}, nil)

func seqBatch(alloc memory.Allocator, seq int64) arrow.Record {
	b := array.NewInt64Builder(alloc)
	defer b.Release()
	b.Append(seq)
	col := b.NewArray()
	defer col.Release()
	return array.NewRecord(seqSchema, []arrow.Array{col}, 1)
}

// TestOrderAndCompleteness: three producers send batches with barriers in
// between and end with end-of-partition; the consumer sees every batch once,
// in order per channel, with each barrier after the batches sent before it.
func TestOrderAndCompleteness(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	const producers, batches = 3, 400
	g := NewGate(producers, Options{Exclusive: 2, Floating: 3, Queue: 2})
	ctx := context.Background()
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			c := g.Channel(p)
			for s := int64(0); s < batches; s++ {
				if err := c.Send(ctx, Event{Kind: ipcframe.KindBatch, Record: seqBatch(alloc, s)}); err != nil {
					t.Error(err)
					return
				}
				if s%100 == 99 {
					if err := c.Send(ctx, Event{Kind: ipcframe.KindBarrier, Barrier: ipcframe.Barrier{ID: uint64(s / 100)}}); err != nil {
						t.Error(err)
						return
					}
				}
			}
			if err := c.Send(ctx, Event{Kind: ipcframe.KindEndOfPartition}); err != nil {
				t.Error(err)
			}
		}(p)
	}
	next := make([]int64, producers)
	ended := 0
	for ended < producers {
		ev, ch, err := g.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind {
		case ipcframe.KindBatch:
			got := ev.Record.Column(0).(*array.Int64).Value(0)
			if got != next[ch] {
				t.Fatalf("channel %d: batch %d, want %d", ch, got, next[ch])
			}
			next[ch]++
			ev.Record.Release()
			if err := g.Release(ch); err != nil {
				t.Fatal(err)
			}
		case ipcframe.KindBarrier:
			if want := uint64(next[ch]/100 - 1); next[ch]%100 != 0 || ev.Barrier.ID != want {
				t.Fatalf("channel %d: barrier %d after %d batches", ch, ev.Barrier.ID, next[ch])
			}
		case ipcframe.KindEndOfPartition:
			if next[ch] != batches {
				t.Fatalf("channel %d ended after %d batches", ch, next[ch])
			}
			ended++
		}
	}
	wg.Wait()
	g.Close()
}

// TestBackpressureBoundsMemory: a consumer that stops taking batches blocks
// its producer once the consumer's buffers and the producer's queue are full;
// memory stays bounded and the producer's backpressured time grows.
func TestBackpressureBoundsMemory(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	const exclusive, floating, queue = 2, 3, 2
	g := NewGate(1, Options{Exclusive: exclusive, Floating: floating, Queue: queue})
	defer g.Close()
	c := g.Channel(0)
	ctx := context.Background()
	sent := make(chan int64, 1000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for s := int64(0); s < 200; s++ {
			if err := c.Send(ctx, Event{Kind: ipcframe.KindBatch, Record: seqBatch(alloc, s)}); err != nil {
				t.Error(err)
				return
			}
			sent <- s
		}
	}()
	time.Sleep(100 * time.Millisecond) // the consumer takes nothing
	bound := exclusive + floating + queue
	if n := len(sent); n > bound {
		t.Fatalf("producer sent %d batches to a stalled consumer (bound %d)", n, bound)
	}
	if h := c.Held(); h > bound {
		t.Fatalf("channel holds %d batches (bound %d)", h, bound)
	}
	if bp := c.Backpressured(); bp < 50*time.Millisecond {
		t.Fatalf("backpressured for %s while blocked ~100ms", bp)
	}
	for s := int64(0); s < 200; s++ {
		ev, ch, err := g.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := ev.Record.Column(0).(*array.Int64).Value(0); got != s {
			t.Fatalf("batch %d, want %d", got, s)
		}
		ev.Record.Release()
		if err := g.Release(ch); err != nil {
			t.Fatal(err)
		}
		if h := c.Held(); h > bound {
			t.Fatalf("channel holds %d batches (bound %d)", h, bound)
		}
	}
	<-done
}

func TestCancelAndClose(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	g := NewGate(1, Options{Exclusive: 1, Floating: -1, Queue: 1})
	c := g.Channel(0)
	bg := context.Background()
	// Fill credit (1) and queue (1); the next send blocks until canceled.
	for s := int64(0); s < 2; s++ {
		if err := c.Send(bg, Event{Kind: ipcframe.KindBatch, Record: seqBatch(alloc, s)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	if err := c.Send(ctx, Event{Kind: ipcframe.KindBatch, Record: seqBatch(alloc, 2)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked send: %v", err)
	}
	// A consumer waiting on an empty gate is woken by cancellation.
	empty := NewGate(2, Options{})
	ctx2, cancel2 := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel2()
	if _, _, err := empty.Next(ctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked next: %v", err)
	}
	if err := empty.Release(0); err == nil {
		t.Fatal("release without a batch taken was accepted")
	}
	// Close releases what is queued and fails later sends.
	g.Close()
	if err := c.Send(bg, Event{Kind: ipcframe.KindBatch, Record: seqBatch(alloc, 3)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
}
