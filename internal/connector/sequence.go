package connector

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

func init() {
	RegisterSource("sequence", func(p map[string]string) (Source, error) { return NewSequence(p) })
}

// sequenceSchema is the schema of the sequence source.
var sequenceSchema = arrow.NewSchema([]arrow.Field{
	{Name: "key", Type: arrow.PrimitiveTypes.Int64},
	{Name: "seq", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// SequenceSource is the "sequence" source: for each seq value it emits one
// row (key, seq) per key its subtask owns (key k belongs to subtask
// k % parallelism), so every key counts up by one and keys interleave.
type SequenceSource struct {
	// Clock is the time source of the rate limiter (SystemClock if nil);
	// set it before Open.
	Clock Clock

	keys      int64
	count     int64 // 0: unbounded
	rate      float64
	start     int64
	end       int64 // last seq, inclusive (bounded only)
	unbounded bool

	c       Context
	owned   []int64 // keys of this subtask, ascending
	nextSeq int64
	nextKey int // index into owned of the next row (0 unless a seq spans batches)
	bucket  *tokenBucket
	unit    int // rows per take: len(owned), or 1 when a seq spans batches
	limit   int // most rows per batch, a multiple of unit
}

// NewSequence makes a sequence source from plan parameters (see README.md).
func NewSequence(m map[string]string) (*SequenceSource, error) {
	p := params{m}
	if err := p.checkKnown("keys", "count", "unbounded", "rate", "start"); err != nil {
		return nil, err
	}
	s := &SequenceSource{}
	var err error
	if s.keys, err = p.int64In("keys", 1, 1, math.MaxInt32); err != nil {
		return nil, err
	}
	unbounded, err := p.boolean("unbounded", false)
	if err != nil {
		return nil, err
	}
	def := int64(1000)
	if unbounded {
		def = 0
	}
	if s.count, err = p.int64In("count", def, 0, math.MaxInt64); err != nil {
		return nil, err
	}
	if unbounded && s.count > 0 {
		return nil, p.bad("count", m["count"], "an unbounded sequence has no count (use count=0 or drop unbounded)")
	}
	s.unbounded = s.count == 0
	if s.rate, err = p.rate("rate"); err != nil {
		return nil, err
	}
	if s.start, err = p.int64In("start", 1, math.MinInt64, math.MaxInt64); err != nil {
		return nil, err
	}
	if !s.unbounded {
		if s.start > 0 && s.count-1 > math.MaxInt64-s.start {
			return nil, p.bad("count", m["count"], fmt.Sprintf("start %d + count overflows int64", s.start))
		}
		s.end = s.start + s.count - 1
	} else {
		s.end = math.MaxInt64
	}
	s.nextSeq = s.start
	return s, nil
}

// Schema is key: int64, seq: int64, both not nullable.
func (s *SequenceSource) Schema() *arrow.Schema { return sequenceSchema }

// Open picks this subtask's keys and starts the rate limiter's clock.
func (s *SequenceSource) Open(_ context.Context, c Context) error {
	c, err := c.normalize()
	if err != nil {
		return fmt.Errorf("sequence: %w", err)
	}
	s.c = c
	s.owned = s.owned[:0]
	for k := int64(c.Subtask); k < s.keys; k += int64(c.Parallelism) {
		s.owned = append(s.owned, k)
	}
	n := len(s.owned)
	if n > 0 && n <= c.BatchRows {
		s.unit, s.limit = n, c.BatchRows/n*n
	} else {
		s.unit, s.limit = 1, c.BatchRows
	}
	s.bucket = nil
	if s.rate > 0 && n > 0 {
		// The job's rate is per key: a subtask owning more keys gets more.
		r := s.rate * float64(n) / float64(s.keys)
		s.bucket = newTokenBucket(s.Clock, r, s.limit)
	}
	slog.Debug("sequence source open", "subtask", c.Subtask, "keys", n, "start", s.nextSeq, "count", s.count, "rate", s.rate)
	return nil
}

// Position is the seq of the next row this subtask emits (the seq in
// progress if a batch ended inside a seq, which happens only when a subtask
// owns more keys than BatchRows). Call it between calls of Next.
func (s *SequenceSource) Position() int64 { return s.nextSeq }

// SetPosition makes the next row the first of seq (for restoring a checkpoint).
// Seqs after start+count-1 are never emitted. Call it between calls of Next.
func (s *SequenceSource) SetPosition(seq int64) {
	s.nextSeq, s.nextKey = seq, 0
}

func (s *SequenceSource) done() bool {
	return !s.unbounded && s.nextSeq > s.end
}

// Next returns the next batch of at most BatchRows rows; the caller owns it
// and must Release it. A bounded sequence returns io.EOF after its last
// batch; a subtask owning no key of an unbounded one waits for ctx to end.
func (s *SequenceSource) Next(ctx context.Context) (arrow.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(s.owned) == 0 {
		if s.unbounded {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return nil, io.EOF
	}
	if s.done() {
		return nil, io.EOF
	}
	limit := s.limit
	if !s.unbounded {
		// Rows left: the rest of the current seq, then whole seqs.
		seqs := uint64(s.end - s.nextSeq) // seqs after the current one
		left := uint64(len(s.owned)-s.nextKey) + seqs*uint64(len(s.owned))
		if seqs < math.MaxInt32 && left < uint64(limit) {
			limit = int(left)
		}
	}
	n := limit
	if s.bucket != nil {
		var err error
		if n, err = s.bucket.take(ctx, limit, s.unit); err != nil {
			return nil, err
		}
	}
	keys := make([]int64, n)
	seqs := make([]int64, n)
	for i := range n {
		keys[i], seqs[i] = s.owned[s.nextKey], s.nextSeq
		s.nextKey++
		if s.nextKey == len(s.owned) {
			s.nextKey = 0
			s.nextSeq++
		}
	}
	b := array.NewRecordBuilder(s.c.Alloc, sequenceSchema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues(keys, nil)
	b.Field(1).(*array.Int64Builder).AppendValues(seqs, nil)
	return b.NewRecord(), nil
}

// Close does nothing; a sequence holds no resources between batches.
func (s *SequenceSource) Close() error { return nil }
