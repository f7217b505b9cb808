// Package exchange moves batches and in-band events from producer subtasks to
// consumer subtasks with credit-based flow control (worker/internal/credit).
// This file is the in-process transport (local channels inside a
// TaskManager): a producer's sends and a consumer's gate share one lock, so
// every credit decision is made under it and memory per channel is bounded
// by the consumer's buffers plus the producer's queue.
package exchange

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/weirflow/weir/arrow/ipcframe"
	"github.com/weirflow/weir/worker/internal/credit"
)

// ErrClosed means a send to a gate that was closed.
var ErrClosed = errors.New("exchange: channel closed")

// Event is what travels on a channel: a batch or an in-band event. For a
// batch, the receiver owns Record once Next returns it.
type Event struct {
	Kind      ipcframe.Kind // KindBatch, KindBarrier, KindWatermark, KindEndOfPartition
	Record    arrow.Record
	Barrier   ipcframe.Barrier
	Watermark int64
}

// Options size a gate.
type Options struct {
	// Exclusive buffers per channel (default 2) and floating buffers shared by
	// the gate (default 8).
	Exclusive, Floating int
	// Queue is how many batches a producer may queue per channel beyond the
	// consumer's credit before Send blocks (default 2).
	Queue int
	// Now reads the clock (default time.Now); tests inject one.
	Now func() time.Time
}

// Gate is a consumer subtask's input gate: one channel per upstream
// producer subtask.
type Gate struct {
	mu       sync.Mutex
	cond     *sync.Cond
	pool     *credit.Pool
	channels []*Channel
	next     int // round-robin start for fairness
	closed   bool
	now      func() time.Time
}

// Channel connects one producer subtask to a gate.
type Channel struct {
	gate     *Gate
	index    int
	sender   credit.Sender
	receiver *credit.Receiver
	queue    []Event // producer side: waiting for credit
	inbox    []Event // consumer side: received, not yet taken
	maxQueue int
	inUse    int // batches taken by the consumer and not released
}

// NewGate returns a gate with n channels.
func NewGate(n int, opts Options) *Gate {
	if opts.Exclusive <= 0 {
		opts.Exclusive = 2
	}
	if opts.Floating < 0 {
		opts.Floating = 0
	} else if opts.Floating == 0 {
		opts.Floating = 8
	}
	if opts.Queue <= 0 {
		opts.Queue = 2
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	g := &Gate{pool: credit.NewPool(opts.Floating), now: opts.Now}
	g.cond = sync.NewCond(&g.mu)
	for i := 0; i < n; i++ {
		c := &Channel{gate: g, index: i, maxQueue: opts.Queue}
		var grant int
		c.receiver, grant = credit.NewReceiver(opts.Exclusive, g.pool)
		_ = c.sender.Grant(grant, g.now())
		g.channels = append(g.channels, c)
	}
	return g
}

// Channel returns the channel of upstream subtask i.
func (g *Gate) Channel(i int) *Channel { return g.channels[i] }

// waitCtx waits on the gate's condition until woken or ctx ends; the caller
// holds the lock.
func (g *Gate) waitCtx(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() {
		g.mu.Lock()
		g.cond.Broadcast()
		g.mu.Unlock()
	})
	g.cond.Wait()
	stop()
	return ctx.Err()
}

// Send queues ev on the channel, blocking while the producer's queue is full
// (the consumer is not granting credit: backpressure). For a batch, the
// channel takes ownership of ev.Record, also when Send fails.
func (c *Channel) Send(ctx context.Context, ev Event) error {
	g := c.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(c.queue) >= c.maxQueue && !g.closed {
		if err := g.waitCtx(ctx); err != nil {
			releaseEvent(ev)
			return err
		}
	}
	if g.closed {
		releaseEvent(ev)
		return fmt.Errorf("%w: channel %d", ErrClosed, c.index)
	}
	c.queue = append(c.queue, ev)
	if ev.Kind == ipcframe.KindBatch {
		c.sender.Enqueue(g.now())
	}
	c.transfer()
	return nil
}

// transfer moves queued events to the consumer while there is credit;
// events other than batches need no credit but keep their place in order.
// The caller holds the lock.
func (c *Channel) transfer() {
	moved := false
	for len(c.queue) > 0 {
		ev := c.queue[0]
		if ev.Kind == ipcframe.KindBatch {
			backlog, ok := c.sender.TrySend(c.gate.now())
			if !ok {
				break
			}
			grant, err := c.receiver.Received(backlog)
			if err != nil {
				panic(fmt.Sprintf("exchange: credit accounting broke: %v", err)) // a bug, not input
			}
			_ = c.sender.Grant(grant, c.gate.now())
		}
		c.queue[0] = Event{}
		c.queue = c.queue[1:]
		c.inbox = append(c.inbox, ev)
		moved = true
	}
	if moved {
		c.gate.cond.Broadcast()
	}
}

// Backpressured is how long the producer of this channel has had data and no
// credit, in total.
func (c *Channel) Backpressured() time.Duration {
	c.gate.mu.Lock()
	defer c.gate.mu.Unlock()
	return c.sender.Backpressured(c.gate.now())
}

// Held is how many batches the channel holds right now: queued at the
// producer, received and taken but not released by the consumer.
func (c *Channel) Held() int {
	c.gate.mu.Lock()
	defer c.gate.mu.Unlock()
	n := c.inUse
	for _, l := range [][]Event{c.queue, c.inbox} {
		for _, ev := range l {
			if ev.Kind == ipcframe.KindBatch {
				n++
			}
		}
	}
	return n
}

// Next returns the next event of any channel (taking channels in turn), and
// the channel's index. It blocks until one arrives or ctx ends. A batch must
// be handed back with Release(channel) once processed, which grants the
// producer credit again.
func (g *Gate) Next(ctx context.Context) (Event, int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		for k := range g.channels {
			i := (g.next + k) % len(g.channels)
			c := g.channels[i]
			if len(c.inbox) == 0 {
				continue
			}
			ev := c.inbox[0]
			c.inbox[0] = Event{}
			c.inbox = c.inbox[1:]
			if ev.Kind == ipcframe.KindBatch {
				c.inUse++
			}
			g.next = i + 1
			return ev, i, nil
		}
		if err := g.waitCtx(ctx); err != nil {
			return Event{}, 0, err
		}
	}
}

// Release tells the gate that a batch taken from channel i has been
// processed: its buffer is free, and the producer gets credit.
func (g *Gate) Release(i int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.channels[i]
	if c.inUse == 0 {
		return fmt.Errorf("exchange: release on channel %d without a batch taken", i)
	}
	c.inUse--
	grant, err := c.receiver.Release()
	if err != nil {
		return err
	}
	_ = c.sender.Grant(grant, g.now())
	c.transfer()
	g.cond.Broadcast()
	return nil
}

// Close fails pending and future sends, releases what is still queued and
// wakes every waiter.
func (g *Gate) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for _, c := range g.channels {
		for _, l := range [][]Event{c.queue, c.inbox} {
			for _, ev := range l {
				releaseEvent(ev)
			}
		}
		c.queue, c.inbox = nil, nil
		c.receiver.Close()
	}
	g.cond.Broadcast()
}

func releaseEvent(ev Event) {
	if ev.Record != nil {
		ev.Record.Release()
	}
}
