package connector

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Clock is the time source of rate-limited sources; tests inject a fake one.
type Clock interface {
	// Now is the current time.
	Now() time.Time
	// After sends on the returned channel once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// SystemClock is the wall clock, the default of every source.
var SystemClock Clock = realClock{}

// tokenBucket limits a source to rate rows per second. It holds at most
// burst tokens and starts full, so after any elapsed time t since its
// creation the rows taken are at most rate*t + burst.
type tokenBucket struct {
	clock  Clock
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
	// want is how many tokens a take waits for at least (about 10ms of
	// rate), so a fast rate does not degrade into one-row batches.
	want int
	// idle, when set, is called at the start of each wait and returns the
	// function to call at its end.
	idle func() (end func())
}

func newTokenBucket(clock Clock, rate float64, burst int) *tokenBucket {
	if clock == nil {
		clock = SystemClock
	}
	want := int(math.Ceil(rate / 100))
	want = max(1, min(want, burst))
	return &tokenBucket{clock: clock, rate: rate, burst: float64(burst), tokens: float64(burst), last: clock.Now(), want: want}
}

func (b *tokenBucket) refill() {
	now := b.clock.Now()
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = math.Min(b.burst, b.tokens+b.rate*dt.Seconds())
		b.last = now
	}
}

// take waits until it may emit rows and returns how many: a multiple of unit
// in [unit, limit] (limit is a multiple of unit, at most burst). It returns
// ctx's error if ctx ends first.
func (b *tokenBucket) take(ctx context.Context, limit, unit int) (int, error) {
	want := max(unit, min(limit, b.want/unit*unit))
	for {
		b.refill()
		if b.tokens >= float64(want) {
			n := min(limit, int(b.tokens)/unit*unit)
			b.tokens -= float64(n)
			return n, nil
		}
		secs := (float64(want) - b.tokens) / b.rate
		d := max(time.Duration(math.Ceil(secs*float64(time.Second))), time.Nanosecond)
		end := func() {}
		if b.idle != nil {
			end = b.idle()
		}
		select {
		case <-ctx.Done():
			end()
			return 0, ctx.Err()
		case <-b.clock.After(d):
		}
		end()
	}
}

// defaultBatchRows is used when a Context leaves BatchRows unset.
const defaultBatchRows = 1024

// normalize checks c and fills in defaults for a zero allocator or batch
// size.
func (c Context) normalize() (Context, error) {
	if c.Parallelism < 1 || c.Subtask < 0 || c.Subtask >= c.Parallelism {
		return c, fmt.Errorf("connector: subtask %d of parallelism %d is out of range", c.Subtask, c.Parallelism)
	}
	if c.Alloc == nil {
		c.Alloc = memory.DefaultAllocator
	}
	if c.BatchRows <= 0 {
		c.BatchRows = defaultBatchRows
	}
	return c, nil
}
