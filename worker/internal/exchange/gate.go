package exchange

import (
	"context"
	"fmt"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/arrow/ipcframe"
	"github.com/weirflow/weir/worker/internal/credit"
)

// InputGate is a consumer subtask's input from one upstream vertex: n
// channels (one per upstream producer subtask it reads from), each with a
// credit.Receiver, sharing one floating credit.Pool. Connections (ConnectLocal,
// remote.Connect) feed the channels; the consumer reads with Next.
//
// Memory is bounded: a channel holds at most Exclusive batches plus the
// floating ones it was lent (received and not yet released), so the gate
// holds at most n*Exclusive + Floating batches, whatever the producers do.
type InputGate struct {
	schema *arrow.Schema
	opts   Options

	mu     sync.Mutex
	pool   *credit.Pool
	chans  []*Channel
	next   int // round-robin start
	closed bool
	failed int   // channels with an error
	err    error // a gate-wide error (a bad connection request)
	avail  signal
	stats  Stats

	ctx    context.Context // canceled by Close: ends the connections
	cancel context.CancelFunc
	conns  sync.WaitGroup // attached connections
}

// NewInputGate returns a gate of n channels (at least 1) for batches of
// schema. Each channel starts with Exclusive credit, granted to its producer
// when a connection attaches.
func NewInputGate(schema *arrow.Schema, n int, opts Options) *InputGate {
	opts = opts.withDefaults()
	g := &InputGate{schema: schema, opts: opts, pool: credit.NewPool(opts.Floating)}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	for i := range max(n, 1) {
		c := &Channel{g: g, index: i}
		c.recv, _ = credit.NewReceiver(opts.Exclusive, g.pool)
		g.chans = append(g.chans, c)
	}
	return g
}

// Schema returns the schema of the gate's batches.
func (g *InputGate) Schema() *arrow.Schema { return g.schema }

// NumChannels returns the number of channels.
func (g *InputGate) NumChannels() int { return len(g.chans) }

// Next returns the next event of any channel and the channel's index,
// taking channels in turn (round robin) so that none starves. It blocks until
// an event is there or ctx ends. The caller owns ev.Record and must call
// Release(ch) once it is done with a batch: that returns the credit.
//
// Credit comes back only through Release: a consumer that keeps batches
// unreleased while it waits for more can stall a channel (with every credit
// of a channel held, its producer cannot send), as in Flink. Keep fewer than
// Exclusive batches of a channel unreleased across calls to Next.
//
// An error of a channel's connection (the producer failed, the stream broke)
// is returned as soon as it is known, wrapped with the channel's index,
// ahead of events still buffered; it is returned again by later calls. After
// Close, Next returns ErrClosed.
func (g *InputGate) Next(ctx context.Context) (ev Event, ch int, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := len(g.chans)
	for {
		switch {
		case g.closed:
			return Event{}, 0, ErrClosed
		case g.err != nil:
			return Event{}, 0, g.err
		}
		if g.failed > 0 {
			for k := range n {
				i := (g.next + k) % n
				if c := g.chans[i]; c.err != nil {
					return Event{}, i, fmt.Errorf("exchange: channel %d: %w", i, c.err)
				}
			}
		}
		for k := range n {
			i := (g.next + k) % n
			c := g.chans[i]
			if len(c.inbox) == 0 {
				continue
			}
			ev := c.inbox[0]
			c.inbox[0] = Event{}
			c.inbox = c.inbox[1:]
			if ev.Kind == ipcframe.KindBatch {
				c.inboxBatches--
				c.inUse++
				g.stats.add(ev.Record)
			}
			g.next = i + 1
			return ev, i, nil
		}
		wake := g.avail.wait()
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
		}
		g.mu.Lock()
		if err := ctx.Err(); err != nil {
			return Event{}, 0, fmt.Errorf("exchange: next: %w", err)
		}
	}
}

// Release tells the gate that the consumer is done with a batch it took from
// channel ch: the buffer is free, and the producer gets its credit back (or
// the floating credit goes back to the pool). Release does not release the
// Record; the consumer does that.
func (g *InputGate) Release(ch int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	if ch < 0 || ch >= len(g.chans) {
		return fmt.Errorf("exchange: release on channel %d of %d", ch, len(g.chans))
	}
	c := g.chans[ch]
	if c.inUse == 0 {
		return fmt.Errorf("exchange: release on channel %d without a batch taken", ch)
	}
	c.inUse--
	grant, err := c.recv.Release()
	if err != nil {
		return fmt.Errorf("exchange: release on channel %d: %w", ch, err)
	}
	if grant > 0 && c.grant != nil && c.err == nil {
		c.grant(grant)
	}
	return nil
}

// Held reports the batches held on the consumer side: received and not yet
// released (queued in the gate or taken by the consumer).
func (g *InputGate) Held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, c := range g.chans {
		n += c.inboxBatches + c.inUse
	}
	return n
}

// Stats returns the batches, rows and bytes handed to the consumer so far
// (for records and bytes in).
func (g *InputGate) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats
}

// Close releases every batch still buffered in the gate (not those the
// consumer took), ends the connections and waits for them to return. Later
// calls do nothing. It must not be called from a connection's grant
// callback.
func (g *InputGate) Close() {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		for _, c := range g.chans {
			c.dropInbox()
			c.recv.Close()
		}
		g.avail.notify()
	}
	g.mu.Unlock()
	g.cancel()
	g.conns.Wait()
}

// Fail records a gate-wide error that Next returns from then on: for a
// connection that could not even be set up (a channel index out of range).
// It does nothing once the gate is closed or already failed.
func (g *InputGate) Fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err == nil && !g.closed {
		g.err = err
		g.avail.notify()
	}
}

// Channel is the receiving end of one channel of an InputGate, for the
// connection (transport) that feeds it: ConnectLocal in this package, the
// remote package between TaskManagers. A connection
//
//  1. calls Attach once, and runs under the context it returns (canceled
//     when the gate closes);
//  2. calls OnGrant once it can forward credit to the producer: the callback
//     gets the initial credit at once, then each later grant;
//  3. hands each event it receives to Deliver, with the backlog the producer
//     announced with it, until end-of-partition;
//  4. reports a failure (broken stream, producer failure, cancellation) with
//     Fail, which Next returns;
//  5. calls Detach when it has stopped (all its goroutines).
type Channel struct {
	g      *InputGate
	index  int
	schema *arrow.Schema // the gate's unless set by SetChannelSchema

	// guarded by g.mu
	recv         *credit.Receiver
	inbox        []Event // received, not yet taken by Next
	inboxBatches int
	inUse        int // batches taken by Next, not yet released
	attached     bool
	granted      bool // the initial credit was forwarded
	grant        func(n int)
	err          error
	eop          bool // end-of-partition delivered
	stop         func()
}

// Channel returns the channel ch of the gate, or nil if out of range.
func (g *InputGate) Channel(ch int) *Channel {
	if ch < 0 || ch >= len(g.chans) {
		return nil
	}
	return g.chans[ch]
}

// Index returns the channel's index in its gate.
func (c *Channel) Index() int { return c.index }

// Schema returns the schema of the channel's batches (to decode with).
func (c *Channel) Schema() *arrow.Schema {
	if c.schema != nil {
		return c.schema
	}
	return c.g.schema
}

// SetChannelSchema gives channel ch batches of another schema than the
// gate's (the second input of a join); call it before connecting ch.
func (g *InputGate) SetChannelSchema(ch int, schema *arrow.Schema) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.chans[ch].schema = schema
}

// Alloc returns the allocator to decode batches with (Options.Alloc).
func (c *Channel) Alloc() memory.Allocator { return c.g.opts.Alloc }

// Attach marks the channel connected and returns the context the connection
// runs under: it is derived from ctx and canceled when the gate closes or
// the connection detaches. It fails with ErrAttached if the channel already
// had a connection (channels are not reconnected) and ErrClosed after Close.
// After a successful Attach the connection must call Detach exactly once.
func (c *Channel) Attach(ctx context.Context) (context.Context, error) {
	g := c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, ErrClosed
	}
	if c.attached {
		return nil, fmt.Errorf("%w: channel %d", ErrAttached, c.index)
	}
	c.attached = true
	g.conns.Add(1)
	cctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(g.ctx, cancel)
	c.stop = func() {
		stop()
		cancel()
	}
	return cctx, nil
}

// OnGrant installs the callback that forwards credit to the producer (a
// SubpartitionReader.Grant, or a credit frame on a stream) and calls it at
// once with the credit granted so far. The gate calls it with its lock held,
// from Release and Deliver: it must not block and must not call back into
// the gate. A second call replaces the callback without granting again.
func (c *Channel) OnGrant(grant func(n int)) {
	g := c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	c.grant = grant
	if c.granted || g.closed || c.err != nil || c.eop {
		return
	}
	c.granted = true
	if n := c.recv.Announced(); n > 0 {
		grant(n)
	}
}

// Deliver hands the gate an event received from the producer, with the
// backlog the producer announced with a batch. Ownership of ev.Record passes
// to the gate, also on error. A batch must have been sent against credit; the
// receiver may grant more credit in return (through the OnGrant callback) to
// cover the backlog. After end-of-partition, or once the gate is closed or
// the channel failed, Deliver releases the event and returns an error: the
// connection should stop.
func (c *Channel) Deliver(ev Event, backlog int) error {
	g := c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.closed:
		ev.release()
		return ErrClosed
	case c.err != nil || c.eop:
		ev.release()
		return fmt.Errorf("%w: channel %d ended", ErrClosed, c.index)
	}
	switch ev.Kind {
	case ipcframe.KindBatch:
		if ev.Record == nil {
			return c.protocol("a batch event without a record")
		}
		if s, want := ev.Record.Schema(), c.Schema(); s != want && !s.Equal(want) {
			ev.release()
			return c.protocol(fmt.Sprintf("batch schema %s differs from the channel's %s", s, c.Schema()))
		}
		grant, err := c.recv.Received(backlog)
		if err != nil {
			ev.release()
			return c.protocol(err.Error())
		}
		c.inbox = append(c.inbox, ev)
		c.inboxBatches++
		if grant > 0 && c.grant != nil {
			c.grant(grant)
		}
	case ipcframe.KindEndOfPartition:
		ev.release()
		c.eop = true
		c.recv.EndOfPartition()
		c.inbox = append(c.inbox, Event{Kind: ev.Kind})
	case ipcframe.KindBarrier, ipcframe.KindWatermark:
		ev.release()
		ev.Record = nil
		c.inbox = append(c.inbox, ev)
	default:
		ev.release()
		return c.protocol(fmt.Sprintf("unexpected event kind %s", ev.Kind))
	}
	g.avail.notify()
	return nil
}

// protocol fails the channel for a producer that broke the protocol. The
// caller holds g.mu.
func (c *Channel) protocol(what string) error {
	err := fmt.Errorf("%w: channel %d: %s", credit.ErrProtocol, c.index, what)
	c.failLocked(err)
	return err
}

// Fail reports that the connection failed: Next returns err (wrapped with
// the channel's index), and what the channel buffers is released. It does
// nothing after end-of-partition, after an earlier failure, or once the gate
// is closed.
func (c *Channel) Fail(err error) {
	g := c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || c.err != nil || c.eop {
		return
	}
	c.failLocked(err)
}

func (c *Channel) failLocked(err error) {
	c.err = err
	c.g.failed++
	c.dropInbox()
	c.recv.Close()
	c.g.avail.notify()
}

// dropInbox releases the events not yet taken. The caller holds g.mu.
func (c *Channel) dropInbox() {
	for _, ev := range c.inbox {
		ev.release()
	}
	c.inbox, c.inboxBatches = nil, 0
}

// Detach tells the gate that the connection has stopped; Close waits for
// it. Calling it again, or without Attach, does nothing.
func (c *Channel) Detach() {
	g := c.g
	g.mu.Lock()
	stop := c.stop
	c.stop, c.grant = nil, nil
	g.mu.Unlock()
	if stop != nil {
		stop()
		g.conns.Done()
	}
}
