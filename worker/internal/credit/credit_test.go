package credit

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// channel wires one sender to one receiver with immediate delivery.
type channel struct {
	s      Sender
	r      *Receiver
	queue  []int // sender side, waiting for credit
	inbox  []int // receiver side, received and not yet consumed
	next   int   // next item to enqueue
	expect int   // next item the consumer must see
}

type sim struct {
	t        *testing.T
	pool     *Pool
	chans    []*channel
	now      time.Time
	maxHeld  int
	boundary int
}

func newSim(t *testing.T, channels, exclusive, floating int) *sim {
	s := &sim{t: t, pool: NewPool(floating), now: time.Unix(0, 0), boundary: channels*exclusive + floating}
	for range channels {
		c := &channel{}
		var grant int
		c.r, grant = NewReceiver(exclusive, s.pool)
		if err := c.s.Grant(grant, s.now); err != nil {
			t.Fatal(err)
		}
		s.chans = append(s.chans, c)
	}
	return s
}

func (s *sim) grant(c *channel, n int, err error) {
	s.t.Helper()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := c.s.Grant(n, s.now); err != nil {
		s.t.Fatal(err)
	}
}

func (s *sim) enqueue(c *channel) {
	c.queue = append(c.queue, c.next)
	c.next++
	c.s.Enqueue(s.now)
}

// send moves one buffer over the wire if the sender has credit.
func (s *sim) send(c *channel) bool {
	backlog, ok := c.s.TrySend(s.now)
	if !ok {
		return false
	}
	c.inbox = append(c.inbox, c.queue[0])
	c.queue = c.queue[1:]
	g, err := c.r.Received(backlog)
	s.grant(c, g, err)
	return true
}

// consume processes the oldest received buffer of a channel.
func (s *sim) consume(c *channel) bool {
	if len(c.inbox) == 0 {
		return false
	}
	if c.inbox[0] != c.expect {
		s.t.Fatalf("got item %d, want %d: out of order", c.inbox[0], c.expect)
	}
	c.expect++
	c.inbox = c.inbox[1:]
	g, err := c.r.Release()
	s.grant(c, g, err)
	return true
}

func (s *sim) check() {
	s.t.Helper()
	held, lent := 0, 0
	for i, c := range s.chans {
		if c.s.Credit() != c.r.Announced() {
			s.t.Fatalf("channel %d: sender holds %d credit, receiver announced %d", i, c.s.Credit(), c.r.Announced())
		}
		if c.r.InUse()+c.r.Announced() > c.r.Capacity() {
			s.t.Fatalf("channel %d: %d in use + %d announced > capacity %d", i, c.r.InUse(), c.r.Announced(), c.r.Capacity())
		}
		if c.r.InUse() != len(c.inbox) || c.s.Backlog() != len(c.queue) {
			s.t.Fatalf("channel %d: accounting drifted from the data", i)
		}
		held += c.r.InUse()
		lent += c.r.Capacity() - c.r.exclusive
	}
	if lent+s.pool.Free() != s.pool.Size() {
		s.t.Fatalf("pool: %d lent + %d free != %d", lent, s.pool.Free(), s.pool.Size())
	}
	if held > s.boundary {
		s.t.Fatalf("%d buffers held, bound %d", held, s.boundary)
	}
	s.maxHeld = max(s.maxHeld, held)
}

func TestSimulation(t *testing.T) {
	cases := []struct {
		name                          string
		channels, exclusive, floating int
		produce, consume              float64 // probabilities per step
	}{
		{"balanced", 4, 2, 8, 0.5, 0.5},
		{"slow consumer", 4, 2, 8, 0.9, 0.1},
		{"fast consumer", 3, 1, 2, 0.2, 0.9},
		{"no floating buffers", 5, 2, 0, 0.6, 0.3},
		{"one channel", 1, 2, 16, 0.7, 0.3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 20; seed++ {
				r := rand.New(rand.NewPCG(seed, 7))
				s := newSim(t, tc.channels, tc.exclusive, tc.floating)
				for range 5000 {
					s.now = s.now.Add(time.Millisecond)
					c := s.chans[r.IntN(len(s.chans))]
					switch p := r.Float64(); {
					case p < tc.produce/2:
						s.enqueue(c)
					case p < tc.produce:
						s.send(c)
					case r.Float64() < tc.consume:
						s.consume(c)
					}
					s.check()
				}
				// Drain: everything queued must arrive, in order, without
				// deadlock.
				for steps := 0; ; steps++ {
					progress := false
					for _, c := range s.chans {
						progress = s.send(c) || progress
						progress = s.consume(c) || progress
						s.check()
					}
					if !progress {
						break
					}
					if steps > 1_000_000 {
						t.Fatal("drain does not terminate")
					}
				}
				for i, c := range s.chans {
					if len(c.queue) > 0 || len(c.inbox) > 0 || c.expect != c.next {
						t.Fatalf("seed %d channel %d: stuck with %d queued, %d unconsumed, %d of %d delivered",
							seed, i, len(c.queue), len(c.inbox), c.expect, c.next)
					}
					c.r.Close()
				}
				if s.pool.Free() != s.pool.Size() {
					t.Fatalf("pool leaked: %d of %d free after close", s.pool.Free(), s.pool.Size())
				}
				if tc.name == "slow consumer" && s.maxHeld < s.boundary-1 {
					t.Fatalf("a slow consumer should fill the buffers up to the bound (held at most %d of %d)", s.maxHeld, s.boundary)
				}
			}
		})
	}
}

func TestBackpressureClock(t *testing.T) {
	t0 := time.Unix(100, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var s Sender
	s.Enqueue(at(0)) // data, no credit: backpressured from 0
	if got := s.Backpressured(at(30)); got != 30*time.Millisecond {
		t.Fatalf("at 30 ms: %s", got)
	}
	if err := s.Grant(1, at(50)); err != nil { // credit: not pressured
		t.Fatal(err)
	}
	if _, ok := s.TrySend(at(60)); !ok {
		t.Fatal("could not send with credit")
	}
	s.Enqueue(at(70)) // again no credit
	s.Enqueue(at(80))
	if err := s.Grant(2, at(100)); err != nil {
		t.Fatal(err)
	}
	if got := s.Backpressured(at(500)); got != 80*time.Millisecond {
		t.Fatalf("total %s, want 80ms (0-50 and 70-100)", got)
	}
	if _, ok := s.TrySend(at(501)); !ok {
		t.Fatal("send")
	}
	if backlog, ok := s.TrySend(at(502)); !ok || backlog != 0 {
		t.Fatalf("last send: backlog %d ok %v", backlog, ok)
	}
	if _, ok := s.TrySend(at(503)); ok {
		t.Fatal("sent with nothing queued")
	}
}

func TestProtocolViolations(t *testing.T) {
	pool := NewPool(1)
	r, grant := NewReceiver(0, pool) // at least one exclusive buffer
	if grant != 1 {
		t.Fatalf("initial grant %d", grant)
	}
	if _, err := r.Release(); !errors.Is(err, ErrProtocol) {
		t.Fatalf("release with nothing held: %v", err)
	}
	if _, err := r.Received(-1); !errors.Is(err, ErrProtocol) {
		t.Fatalf("negative backlog: %v", err)
	}
	if _, err := r.Received(0); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Received(0); !errors.Is(err, ErrProtocol) {
		t.Fatalf("a buffer without credit: %v", err)
	}
	var s Sender
	if err := s.Grant(-1, time.Now()); !errors.Is(err, ErrProtocol) {
		t.Fatalf("negative grant: %v", err)
	}
}

// TestEndOfPartition: when a sender ends, the floating buffers it was lent
// go back to the pool (unused ones at once, the rest as they are released),
// the void credit is dropped, and releases grant nothing more.
func TestEndOfPartition(t *testing.T) {
	pool := NewPool(4)
	r, _ := NewReceiver(1, pool)
	// A buffer arrives with a backlog of 3: the receiver borrows three
	// floating buffers; two more buffers arrive on them.
	for _, backlog := range []int{3, 2, 1} {
		if _, err := r.Received(backlog); err != nil {
			t.Fatal(err)
		}
	}
	if pool.Free() != 1 || r.Capacity() != 4 || r.InUse() != 3 || r.Announced() != 1 {
		t.Fatalf("before the end: pool free %d, capacity %d, in use %d, announced %d",
			pool.Free(), r.Capacity(), r.InUse(), r.Announced())
	}
	var s Sender
	if s.Pressured() {
		t.Fatal("an empty sender is pressured")
	}
	s.Enqueue(time.Unix(0, 0))
	if !s.Pressured() {
		t.Fatal("a sender with data and no credit is not pressured")
	}

	r.EndOfPartition() // the one unused floating buffer goes back now
	if r.Announced() != 0 || pool.Free() != 2 || r.Capacity() != 3 {
		t.Fatalf("after the end: announced %d, pool free %d, capacity %d (want 0, 2, 3)", r.Announced(), pool.Free(), r.Capacity())
	}
	for i, free := range []int{3, 4, 4} {
		if g, err := r.Release(); err != nil || g != 0 {
			t.Fatalf("release %d after the end: grant %d, %v", i, g, err)
		}
		if pool.Free() != free {
			t.Fatalf("release %d after the end: pool free %d, want %d", i, pool.Free(), free)
		}
	}
	if r.Capacity() != 1 {
		t.Fatalf("capacity %d after the releases", r.Capacity())
	}
	if _, err := r.Received(0); !errors.Is(err, ErrProtocol) {
		t.Fatalf("a buffer after the end: %v", err)
	}
	r.EndOfPartition() // idempotent
	r.Close()
	if pool.Free() != 4 {
		t.Fatalf("pool free %d after close", pool.Free())
	}
}
