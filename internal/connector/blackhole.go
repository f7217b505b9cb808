package connector

import (
	"context"
	"sync/atomic"

	"github.com/apache/arrow/go/v17/arrow"
)

func init() {
	RegisterSink("blackhole", func(p map[string]string, _ Options) (Sink, error) { return NewBlackhole(p) })
}

// BlackholeSink is the "blackhole" sink: it discards rows, counting them
// and their batches (the counts may be read from any goroutine). With the
// parameter "rate" (rows per second per subtask) it is a slow sink that
// takes no more than that, which shows backpressure upstream.
type BlackholeSink struct {
	rows, batches atomic.Int64
	rate          float64
	// Clock is the time source of the rate limiter (SystemClock if nil).
	Clock  Clock
	bucket *tokenBucket
}

// NewBlackhole makes a blackhole sink; its only parameter is "rate".
func NewBlackhole(m map[string]string) (*BlackholeSink, error) {
	p := params{m}
	if err := p.checkKnown("rate"); err != nil {
		return nil, err
	}
	s := &BlackholeSink{}
	var err error
	if s.rate, err = p.rate("rate"); err != nil {
		return nil, err
	}
	return s, nil
}

// Open starts the rate limiter's clock.
func (s *BlackholeSink) Open(context.Context, Context, *arrow.Schema) error {
	if s.rate > 0 {
		// A tenth of a second of rows at most in one go.
		s.bucket = newTokenBucket(s.Clock, s.rate, max(1, int(s.rate/10)))
	}
	return nil
}

// Write counts rec's rows, first waiting for the rate limit if there is
// one; it only reads rec.
func (s *BlackholeSink) Write(ctx context.Context, rec arrow.Record) error {
	if s.bucket != nil {
		for left := int(rec.NumRows()); left > 0; {
			n, err := s.bucket.take(ctx, min(left, int(s.bucket.burst)), 1)
			if err != nil {
				return err
			}
			left -= n
		}
	}
	s.rows.Add(rec.NumRows())
	s.batches.Add(1)
	return nil
}

// Rows is the number of rows written so far.
func (s *BlackholeSink) Rows() int64 { return s.rows.Load() }

// Batches is the number of batches written so far.
func (s *BlackholeSink) Batches() int64 { return s.batches.Load() }

// Finish does nothing.
func (s *BlackholeSink) Finish(context.Context) error { return nil }

// Close does nothing.
func (s *BlackholeSink) Close() error { return nil }
