package exchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/weirflow/weir/arrow/ipcframe"
	"github.com/weirflow/weir/worker/internal/credit"
)

// ResultPartition is a producer subtask's output to one downstream vertex,
// with one subpartition per consumer subtask. Its methods are safe for
// concurrent use; events added to one subpartition by one goroutine keep
// their order.
//
// Memory is bounded per subpartition: at most Options.Queue batches waiting
// for credit, plus a pending batch being coalesced (under FlushRows rows
// before it is sealed), plus in-band events queued behind those batches
// (consecutive watermarks collapse into the latest).
type ResultPartition struct {
	key    PartitionKey
	schema *arrow.Schema
	opts   Options
	subs   []*subpartition

	mu       sync.Mutex // guards the fields below; taken after a subpartition's lock
	clock    pressureClock
	stats    Stats
	err      error // set by Fail
	open     int   // subpartitions not yet consumed
	consumed chan struct{}
}

// subpartition is the queue towards one consumer subtask.
type subpartition struct {
	p     *ResultPartition
	index int

	mu        sync.Mutex
	queue     []Event // sealed events, in order, not yet taken by the reader
	batches   int     // batches in queue
	sender    credit.Sender
	pressured bool // counted in p.clock

	pending      []arrow.Record // small batches being coalesced
	pendingRows  int64
	pendingSince time.Time
	pendingDue   bool // the latency bound passed while the queue was full
	timer        *time.Timer
	gen          uint64 // pending generation, so a stale timer does nothing

	room  signal // producers wait for queue room
	ready signal // the reader waits for something it may send

	finished bool  // end-of-partition queued
	ended    bool  // end-of-partition taken by the reader
	err      error // the producer failed or the consumer went away
	taken    bool  // a reader exists
	closed   bool  // the reader closed
}

// NewResultPartition returns the partition key with consumers subpartitions
// (at least 1) of batches of schema. It is not registered: see
// Registry.Register.
func NewResultPartition(key PartitionKey, schema *arrow.Schema, consumers int, opts Options) *ResultPartition {
	consumers = max(consumers, 1)
	p := &ResultPartition{key: key, schema: schema, opts: opts.withDefaults(), open: consumers, consumed: make(chan struct{})}
	for i := range consumers {
		p.subs = append(p.subs, &subpartition{p: p, index: i})
	}
	return p
}

// Key returns the partition's key.
func (p *ResultPartition) Key() PartitionKey { return p.key }

// Schema returns the schema of the partition's batches.
func (p *ResultPartition) Schema() *arrow.Schema { return p.schema }

// Consumers returns the number of subpartitions.
func (p *ResultPartition) Consumers() int { return len(p.subs) }

// Add sends ev to subpartition i. Ownership of ev.Record passes to the
// partition, also on error.
//
// Batches of fewer than FlushRows rows are coalesced per subpartition until
// they reach FlushRows rows or the oldest has waited FlushInterval; empty
// batches are dropped. A barrier or watermark flushes the pending batch
// first, so the order of events is kept. Add blocks while subpartition i
// holds Queue batches not yet sent against credit (backpressure; the time is
// counted in Backpressured) or until ctx ends.
//
// Add fails after Fail (with the partition's error), after Finish
// (ErrFinished), when the subpartition's consumer went away
// (ErrConsumerGone), and for end-of-partition events (use Finish).
func (p *ResultPartition) Add(ctx context.Context, i int, ev Event) error {
	if i < 0 || i >= len(p.subs) {
		ev.release()
		return fmt.Errorf("%w: %s has %d subpartitions, got index %d", ErrNoSubpartition, p.key, len(p.subs), i)
	}
	sp := p.subs[i]
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if err := sp.usable(); err != nil {
		ev.release()
		return err
	}
	switch ev.Kind {
	case ipcframe.KindBatch:
		return sp.addBatch(ctx, ev)
	case ipcframe.KindBarrier, ipcframe.KindWatermark:
		if ev.Record != nil {
			ev.Record.Release()
			ev.Record = nil
		}
		if err := sp.flushPending(ctx); err != nil {
			return err
		}
		sp.push(ev)
		return nil
	}
	ev.release()
	return kindError("add", ev.Kind)
}

// Broadcast sends a non-batch event (barrier, watermark) to every
// subpartition, as Add does.
func (p *ResultPartition) Broadcast(ctx context.Context, ev Event) error {
	if ev.Kind != ipcframe.KindBarrier && ev.Kind != ipcframe.KindWatermark {
		ev.release()
		return kindError("broadcast", ev.Kind)
	}
	for i := range p.subs {
		if err := p.Add(ctx, i, ev); err != nil {
			return err
		}
	}
	return nil
}

// Flush seals every pending (coalescing) batch now, blocking like Add while
// a subpartition's queue is full.
func (p *ResultPartition) Flush(ctx context.Context) error {
	for _, sp := range p.subs {
		sp.mu.Lock()
		err := sp.usable()
		if err == nil {
			err = sp.flushPending(ctx)
		}
		sp.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// Finish flushes the pending batches and queues end-of-partition on every
// subpartition, then returns: it does not wait for the consumers (see
// Consumed). It blocks like Add while a subpartition's queue is full.
// Calling it again does nothing.
func (p *ResultPartition) Finish(ctx context.Context) error {
	for _, sp := range p.subs {
		if err := sp.finish(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (sp *subpartition) finish(ctx context.Context) error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.finished || (sp.closed && sp.err == nil) {
		return nil
	}
	if sp.err != nil {
		return sp.err
	}
	if err := sp.flushPending(ctx); err != nil {
		return err
	}
	sp.finished = true
	sp.push(Event{Kind: ipcframe.KindEndOfPartition})
	return nil
}

// Fail makes every reader of the partition see err, wrapped in
// ErrProducerFailed with the producer's id (the producer task failed or was
// canceled), and releases what is buffered. Subpartitions whose consumer has
// already read end-of-partition are not affected. Later calls do nothing.
func (p *ResultPartition) Fail(err error) {
	if err == nil {
		err = errors.New("failed without a cause")
	}
	perr := fmt.Errorf("%w: %s: %w", ErrProducerFailed, p.key.Producer, err)
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		return
	}
	p.err = perr
	p.mu.Unlock()
	for _, sp := range p.subs {
		sp.mu.Lock()
		if sp.err == nil && !sp.ended {
			sp.err = perr
		}
		sp.releaseAll()
		sp.syncPressure(p.opts.Now())
		sp.room.notify()
		sp.ready.notify()
		sp.mu.Unlock()
	}
}

// Consumed is closed once every subpartition has been read to its
// end-of-partition or its reader has closed: after Finish, the partition can
// then be unregistered.
func (p *ResultPartition) Consumed() <-chan struct{} { return p.consumed }

// Backpressured is the total time, up to now, during which Add was blocked
// or a subpartition had batches queued and no credit (the basis of Flink's
// backPressuredTimeMsPerSecond). Overlapping intervals count once.
func (p *ResultPartition) Backpressured() time.Duration {
	now := p.opts.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.clock.read(now)
}

// Stats returns the batches, rows and bytes queued for sending so far (for
// records and bytes out), after coalescing.
func (p *ResultPartition) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Queued returns the batches subpartition i holds waiting for credit (not
// counting a pending, coalescing batch), for tests and metrics.
func (p *ResultPartition) Queued(i int) int {
	sp := p.subs[i]
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.batches
}

func (p *ResultPartition) consumedOne() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.open--
	if p.open == 0 {
		close(p.consumed)
	}
}

// reader hands out the reading side of subpartition i, once.
func (p *ResultPartition) reader(i int) (*SubpartitionReader, error) {
	if i < 0 || i >= len(p.subs) {
		return nil, fmt.Errorf("%w: %s has %d subpartitions, asked for %d", ErrNoSubpartition, p.key, len(p.subs), i)
	}
	sp := p.subs[i]
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.taken {
		return nil, fmt.Errorf("%w: %s subpartition %d", ErrReaderTaken, p.key, i)
	}
	sp.taken = true
	return &SubpartitionReader{sp: sp}, nil
}

// usable reports why Add cannot queue on the subpartition. The caller holds
// sp.mu.
func (sp *subpartition) usable() error {
	switch {
	case sp.err != nil:
		return sp.err
	case sp.finished:
		return fmt.Errorf("%w: %s", ErrFinished, sp.p.key)
	}
	return nil
}

// addBatch is Add for a batch. The caller holds sp.mu.
func (sp *subpartition) addBatch(ctx context.Context, ev Event) error {
	p := sp.p
	rec := ev.Record
	if rec == nil {
		return fmt.Errorf("exchange: add to %s: a batch event without a record", p.key)
	}
	if rec.Schema() != p.schema && !rec.Schema().Equal(p.schema) {
		rec.Release()
		return fmt.Errorf("exchange: add to %s: batch schema %s differs from the partition's %s", p.key, rec.Schema(), p.schema)
	}
	rows := rec.NumRows()
	if rows == 0 {
		rec.Release()
		return nil
	}
	now := p.opts.Now()
	if len(sp.pending) > 0 && (sp.pendingDue || now.Sub(sp.pendingSince) >= p.opts.FlushInterval) {
		if err := sp.flushPending(ctx); err != nil {
			rec.Release()
			return err
		}
	}
	flushRows := int64(p.opts.FlushRows)
	if flushRows < 0 || rows >= flushRows {
		if err := sp.flushPending(ctx); err != nil {
			rec.Release()
			return err
		}
		if err := sp.waitRoom(ctx); err != nil {
			rec.Release()
			return err
		}
		sp.push(Event{Kind: ipcframe.KindBatch, Record: rec})
		return nil
	}
	if len(sp.pending) == 0 {
		sp.pendingSince = now
		gen := sp.gen
		sp.timer = time.AfterFunc(p.opts.FlushInterval, func() { sp.onTimer(gen) })
	}
	sp.pending = append(sp.pending, rec)
	sp.pendingRows += rows
	if sp.pendingRows >= flushRows {
		// The batch now belongs to the pending batch, also if this fails.
		return sp.flushPending(ctx)
	}
	return nil
}

// waitRoom waits until the queue has room for a batch. The caller holds
// sp.mu, which is released while waiting.
func (sp *subpartition) waitRoom(ctx context.Context) error {
	p := sp.p
	blocked := false
	defer func() {
		if blocked {
			now := p.opts.Now()
			p.mu.Lock()
			p.clock.dec(now)
			p.mu.Unlock()
		}
	}()
	for {
		if err := sp.usable(); err != nil {
			return err
		}
		if sp.batches < p.opts.Queue {
			return nil
		}
		if !blocked {
			blocked = true
			now := p.opts.Now()
			p.mu.Lock()
			p.clock.inc(now)
			p.mu.Unlock()
		}
		wake := sp.room.wait()
		sp.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
		}
		sp.mu.Lock()
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("exchange: add to %s subpartition %d: %w", p.key, sp.index, err)
		}
	}
}

// flushPending seals the pending batch into the queue, waiting for room.
// The caller holds sp.mu.
func (sp *subpartition) flushPending(ctx context.Context) error {
	for len(sp.pending) > 0 {
		if err := sp.waitRoom(ctx); err != nil {
			return err
		}
		if len(sp.pending) > 0 { // the reader may have sealed it meanwhile
			if err := sp.seal(); err != nil {
				return err
			}
		}
	}
	return nil
}

// seal moves the pending batch into the queue (coalescing its parts); the
// queue has room. The caller holds sp.mu.
func (sp *subpartition) seal() error {
	parts := sp.pending
	sp.pending, sp.pendingRows, sp.pendingDue = nil, 0, false
	sp.stopTimer()
	rec := parts[0]
	if len(parts) > 1 {
		var err error
		rec, err = concat(parts, sp.p.opts)
		for _, r := range parts {
			r.Release()
		}
		if err != nil {
			err = fmt.Errorf("exchange: coalesce batches of %s subpartition %d: %w", sp.p.key, sp.index, err)
			sp.err = err
			sp.releaseAll()
			sp.ready.notify()
			return err
		}
	}
	sp.push(Event{Kind: ipcframe.KindBatch, Record: rec})
	return nil
}

func (sp *subpartition) stopTimer() {
	sp.gen++
	if sp.timer != nil {
		sp.timer.Stop()
		sp.timer = nil
	}
}

// onTimer enforces the latency bound of the pending batch of generation
// gen: it is sealed now if the queue has room, else as soon as it has.
func (sp *subpartition) onTimer(gen uint64) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if gen != sp.gen || len(sp.pending) == 0 || sp.err != nil {
		return
	}
	sp.pendingDue = true
	sp.sealIfDue()
}

// sealIfDue seals a pending batch past its latency bound when the queue has
// room. The caller holds sp.mu.
func (sp *subpartition) sealIfDue() {
	if sp.pendingDue && len(sp.pending) > 0 && sp.batches < sp.p.opts.Queue && sp.err == nil {
		_ = sp.seal() // a failure is recorded in sp.err for both sides
	}
}

// push appends a sealed event to the queue. The caller holds sp.mu and has
// checked the room for a batch.
func (sp *subpartition) push(ev Event) {
	if n := len(sp.queue); ev.Kind == ipcframe.KindWatermark && n > 0 && sp.queue[n-1].Kind == ipcframe.KindWatermark {
		sp.queue[n-1].Watermark = ev.Watermark // the newer watermark supersedes the older
		return
	}
	sp.queue = append(sp.queue, ev)
	if ev.Kind == ipcframe.KindBatch {
		now := sp.p.opts.Now()
		sp.batches++
		sp.sender.Enqueue(now)
		sp.p.mu.Lock()
		sp.p.stats.add(ev.Record)
		sp.p.mu.Unlock()
		sp.syncPressure(now)
	}
	sp.ready.notify()
}

// pop removes the head of the queue. The caller holds sp.mu.
func (sp *subpartition) pop() {
	sp.queue[0] = Event{}
	sp.queue = sp.queue[1:]
	if len(sp.queue) == 0 {
		sp.queue = sp.queue[:0:0]
	}
}

// syncPressure keeps the partition's clock in step with the sender's
// backpressured state. The caller holds sp.mu.
func (sp *subpartition) syncPressure(now time.Time) {
	want := sp.sender.Pressured() && sp.err == nil
	if want == sp.pressured {
		return
	}
	sp.pressured = want
	sp.p.mu.Lock()
	if want {
		sp.p.clock.inc(now)
	} else {
		sp.p.clock.dec(now)
	}
	sp.p.mu.Unlock()
}

// releaseAll drops everything buffered. The caller holds sp.mu.
func (sp *subpartition) releaseAll() {
	for _, ev := range sp.queue {
		ev.release()
	}
	for _, r := range sp.pending {
		r.Release()
	}
	sp.queue, sp.batches = nil, 0
	sp.pending, sp.pendingRows, sp.pendingDue = nil, 0, false
	sp.stopTimer()
}

// concat coalesces parts into one batch allocated from opts.Alloc; the
// caller still owns parts.
func concat(parts []arrow.Record, opts Options) (arrow.Record, error) {
	schema := parts[0].Schema()
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	var rows int64
	for _, r := range parts {
		rows += r.NumRows()
	}
	in := make([]arrow.Array, len(parts))
	for c := range cols {
		for j, r := range parts {
			in[j] = r.Column(c)
		}
		a, err := array.Concatenate(in, opts.Alloc)
		if err != nil {
			return nil, err
		}
		cols[c] = a
	}
	return array.NewRecord(schema, cols, rows), nil
}

// SubpartitionReader is the reading side of one subpartition, used by the
// connection that feeds a consumer's channel. Next is for one goroutine;
// Grant and Close may be called from any goroutine.
type SubpartitionReader struct {
	sp *subpartition
}

// Schema returns the schema of the subpartition's batches.
func (r *SubpartitionReader) Schema() *arrow.Schema { return r.sp.p.schema }

// Key returns the key of the partition read.
func (r *SubpartitionReader) Key() PartitionKey { return r.sp.p.key }

// Index returns the subpartition's index.
func (r *SubpartitionReader) Index() int { return r.sp.index }

// Grant adds n credits from the consumer: n more batches may be sent.
func (r *SubpartitionReader) Grant(n int) error {
	sp := r.sp
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.closed {
		return fmt.Errorf("%w: reader of %s subpartition %d", ErrClosed, sp.p.key, sp.index)
	}
	now := sp.p.opts.Now()
	if err := sp.sender.Grant(n, now); err != nil {
		return fmt.Errorf("exchange: grant to %s subpartition %d: %w", sp.p.key, sp.index, err)
	}
	sp.syncPressure(now)
	sp.ready.notify()
	return nil
}

// Next blocks until an event may be sent and returns it: a batch only
// against credit (one credit each), with the producer's backlog (batches
// still queued behind it); barriers, watermarks and end-of-partition need no
// credit but keep their place behind batches. The caller owns ev.Record.
// After end-of-partition Next returns io.EOF; after Fail the producer's
// error (wrapping ErrProducerFailed); after Close ErrClosed.
func (r *SubpartitionReader) Next(ctx context.Context) (ev Event, backlog int, err error) {
	sp := r.sp
	p := sp.p
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for {
		switch {
		case sp.closed:
			return Event{}, 0, fmt.Errorf("%w: reader of %s subpartition %d", ErrClosed, p.key, sp.index)
		case sp.err != nil:
			return Event{}, 0, sp.err
		}
		if len(sp.queue) > 0 {
			head := sp.queue[0]
			if head.Kind != ipcframe.KindBatch {
				sp.pop()
				if head.Kind == ipcframe.KindEndOfPartition {
					sp.ended = true
					p.consumedOne()
				}
				return head, sp.sender.Backlog(), nil
			}
			now := p.opts.Now()
			if _, ok := sp.sender.TrySend(now); ok {
				sp.pop()
				sp.batches--
				sp.syncPressure(now)
				sp.room.notify()
				sp.sealIfDue()
				return head, sp.sender.Backlog(), nil
			}
		} else if sp.ended {
			return Event{}, 0, io.EOF
		}
		wake := sp.ready.wait()
		sp.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
		}
		sp.mu.Lock()
		if err := ctx.Err(); err != nil {
			return Event{}, 0, fmt.Errorf("exchange: read %s subpartition %d: %w", p.key, sp.index, err)
		}
	}
}

// Close ends the reader: the consumer went away. Before end-of-partition,
// this releases what the subpartition buffers and makes the producer's later
// Adds to it fail with ErrConsumerGone. Calling it again does nothing.
func (r *SubpartitionReader) Close() {
	sp := r.sp
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.closed {
		return
	}
	sp.closed = true
	if !sp.ended {
		if sp.err == nil {
			sp.err = fmt.Errorf("%w: %s subpartition %d", ErrConsumerGone, sp.p.key, sp.index)
		}
		sp.releaseAll()
		sp.syncPressure(sp.p.opts.Now())
		sp.p.consumedOne()
	}
	sp.room.notify()
	sp.ready.notify()
}
