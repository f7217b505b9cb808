// Package credit is the accounting of Weir's credit-based flow control, as
// in Flink's network stack: a receiver grants credits for the buffers it can
// hold, a sender sends only against credit and announces its backlog, and a
// sender that has data but no credit is backpressured. Memory per input gate
// is bounded by its exclusive buffers plus a shared floating pool.
//
// It does no I/O and reads no clock: the exchange calls it with the events
// and the time, so every decision is testable without sockets.
package credit

import (
	"errors"
	"fmt"
	"time"
)

// ErrProtocol means a peer broke the protocol (sent without credit, released
// a buffer it did not hold ...).
var ErrProtocol = errors.New("credit: protocol violation")

// Sender is the sending side of one channel.
type Sender struct {
	credit  int
	backlog int // buffers queued, waiting for credit

	pressured      bool
	pressureSince  time.Time
	pressuredTotal time.Duration
}

// Credit returns the credit the sender holds.
func (s *Sender) Credit() int { return s.credit }

// Backlog returns the buffers waiting to be sent.
func (s *Sender) Backlog() int { return s.backlog }

// Grant adds credit announced by the receiver.
func (s *Sender) Grant(n int, now time.Time) error {
	if n < 0 {
		return fmt.Errorf("%w: negative grant %d", ErrProtocol, n)
	}
	s.credit += n
	s.update(now)
	return nil
}

// Enqueue records a buffer ready to send.
func (s *Sender) Enqueue(now time.Time) {
	s.backlog++
	s.update(now)
}

// TrySend takes one credit for the oldest queued buffer. It returns false
// when there is nothing to send or no credit; on true the caller sends the
// buffer with the returned backlog (the buffers still queued after it), so
// the receiver can grant floating buffers ahead of time.
func (s *Sender) TrySend(now time.Time) (backlog int, ok bool) {
	if s.backlog == 0 || s.credit == 0 {
		return s.backlog, false
	}
	s.credit--
	s.backlog--
	s.update(now)
	return s.backlog, true
}

// update starts or stops the backpressure clock: a sender is backpressured
// while it has data and no credit.
func (s *Sender) update(now time.Time) {
	p := s.backlog > 0 && s.credit == 0
	switch {
	case p && !s.pressured:
		s.pressured, s.pressureSince = true, now
	case !p && s.pressured:
		s.pressured = false
		s.pressuredTotal += now.Sub(s.pressureSince)
	}
}

// Pressured reports whether the sender is backpressured now: it has buffers
// queued and no credit.
func (s *Sender) Pressured() bool { return s.pressured }

// Backpressured returns the total time the sender has been backpressured,
// up to now.
func (s *Sender) Backpressured(now time.Time) time.Duration {
	if s.pressured {
		return s.pressuredTotal + now.Sub(s.pressureSince)
	}
	return s.pressuredTotal
}

// Pool is the floating buffers shared by the channels of one input gate.
type Pool struct {
	size, free int
}

// NewPool returns a pool of n floating buffers.
func NewPool(n int) *Pool { return &Pool{size: n, free: n} }

// Free returns the buffers not lent to a channel.
func (p *Pool) Free() int { return p.free }

// Size returns the pool's size.
func (p *Pool) Size() int { return p.size }

func (p *Pool) take(n int) int {
	n = min(n, p.free)
	p.free -= n
	return n
}

func (p *Pool) give(n int) { p.free += n }

// Receiver is the receiving side of one channel.
type Receiver struct {
	pool      *Pool
	exclusive int
	floating  int // floating buffers lent to this channel
	inUse     int // buffers received and not yet released
	announced int // credit granted and not yet used
	backlog   int // the sender's backlog at its last buffer
	ended     bool
}

// NewReceiver makes a channel receiver with exclusive buffers of its own (at
// least 1, so the sender can always tell its backlog) and access to the
// gate's floating pool. It returns the initial credit to grant.
func NewReceiver(exclusive int, pool *Pool) (*Receiver, int) {
	exclusive = max(exclusive, 1)
	r := &Receiver{pool: pool, exclusive: exclusive, announced: exclusive}
	return r, exclusive
}

// Capacity is the buffers the channel may hold now (exclusive + floating).
func (r *Receiver) Capacity() int { return r.exclusive + r.floating }

// InUse is the buffers received and not yet released.
func (r *Receiver) InUse() int { return r.inUse }

// Announced is the credit granted and not yet used by the sender.
func (r *Receiver) Announced() int { return r.announced }

// Received records a buffer from the sender carrying its backlog and returns
// extra credit to grant (floating buffers taken for the backlog).
func (r *Receiver) Received(backlog int) (grant int, err error) {
	if r.ended {
		return 0, fmt.Errorf("%w: a buffer arrived after the end of the partition", ErrProtocol)
	}
	if r.announced == 0 {
		return 0, fmt.Errorf("%w: a buffer arrived without credit", ErrProtocol)
	}
	if backlog < 0 {
		return 0, fmt.Errorf("%w: negative backlog %d", ErrProtocol, backlog)
	}
	r.announced--
	r.inUse++
	r.backlog = backlog
	return r.requestFloating(), nil
}

// requestFloating lends floating buffers for the part of the backlog that
// outstanding credit does not cover.
func (r *Receiver) requestFloating() int {
	want := r.backlog - r.announced
	if want <= 0 {
		return 0
	}
	got := r.pool.take(want)
	r.floating += got
	r.announced += got
	return got
}

// Release records that a received buffer has been consumed and returns the
// credit to grant: the freed buffer is offered again, unless it was a
// floating buffer the channel no longer needs, which goes back to the pool.
func (r *Receiver) Release() (grant int, err error) {
	if r.inUse == 0 {
		return 0, fmt.Errorf("%w: release without a buffer in use", ErrProtocol)
	}
	r.inUse--
	if r.ended {
		// The sender is gone: the buffer is not offered again.
		if r.floating > 0 {
			r.floating--
			r.pool.give(1)
		}
		return 0, nil
	}
	if r.floating > 0 && r.announced >= r.backlog {
		// More capacity than the sender needs: hand a floating buffer back.
		r.floating--
		r.pool.give(1)
		return r.requestFloating(), nil
	}
	r.announced++
	return 1 + r.requestFloating(), nil
}

// EndOfPartition records that the sender has ended the channel: credit it
// was granted and did not use is void. Floating buffers not in use go back
// to the pool now, those in use as they are released, and Release grants
// nothing more.
func (r *Receiver) EndOfPartition() {
	if r.ended {
		return
	}
	r.ended = true
	unused := min(r.floating, r.announced)
	r.floating -= unused
	r.pool.give(unused)
	r.announced, r.backlog = 0, 0
}

// Close returns the channel's floating buffers to the pool.
func (r *Receiver) Close() {
	r.pool.give(r.floating)
	r.floating = 0
}
