package connector

import (
	"context"
	"sync/atomic"

	"github.com/apache/arrow/go/v17/arrow"
)

func init() {
	RegisterSink("blackhole", func(p map[string]string) (Sink, error) { return NewBlackhole(p) })
}

// BlackholeSink is the "blackhole" sink: it discards rows, counting them
// and their batches (the counts may be read from any goroutine).
type BlackholeSink struct {
	rows, batches atomic.Int64
}

// NewBlackhole makes a blackhole sink; it takes no parameters.
func NewBlackhole(m map[string]string) (*BlackholeSink, error) {
	if err := (params{m}).checkKnown(); err != nil {
		return nil, err
	}
	return &BlackholeSink{}, nil
}

// Open does nothing.
func (s *BlackholeSink) Open(context.Context, Context, *arrow.Schema) error { return nil }

// Write counts rec's rows; it only reads rec.
func (s *BlackholeSink) Write(_ context.Context, rec arrow.Record) error {
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
