package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

func init() {
	RegisterSource("datagen", func(p map[string]string, _ Options) (Source, error) { return NewDatagen(p) })
}

// datagenEpoch is where generated dates and timestamps start.
var datagenEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// DatagenSource is the "datagen" source: random rows of a given schema,
// reproducible from the seed (subtask i uses seed+i).
//
// It implements [Checkpointed]: a subtask's position is its generator's
// state, so a restore continues the very same rows. At another parallelism,
// new subtask i continues the stream of old subtask i if there was one and
// starts stream seed+i otherwise; the streams of old subtasks ≥ the new
// parallelism end.
type DatagenSource struct {
	// Clock is the time source of the rate limiter (SystemClock if nil);
	// set it before Open.
	Clock Clock

	schema    *arrow.Schema
	rows      int64 // per subtask; -1: unbounded
	seed      int64
	rate      float64
	nullRatio float64

	c       Context
	pcg     *rand.PCG
	rng     *rand.Rand
	emitted int64
	ts      time.Duration // offset of the next timestamp from datagenEpoch
	bucket  *tokenBucket
}

// NewDatagen makes a datagen source from plan parameters (see README.md).
func NewDatagen(m map[string]string) (*DatagenSource, error) {
	p := params{m}
	if err := p.checkKnown("schema", "rows", "seed", "rate", "null-ratio"); err != nil {
		return nil, err
	}
	s := &DatagenSource{}
	var err error
	if s.schema, err = p.schema("schema"); err != nil {
		return nil, err
	}
	if err := checkSupported(s.schema); err != nil {
		return nil, fmt.Errorf("%w: parameter schema=%q: %w", ErrParams, m["schema"], err)
	}
	if s.rows, err = p.int64In("rows", -1, 0, math.MaxInt64); err != nil {
		return nil, err
	}
	if s.seed, err = p.int64In("seed", 0, math.MinInt64, math.MaxInt64); err != nil {
		return nil, err
	}
	if s.rate, err = p.rate("rate"); err != nil {
		return nil, err
	}
	if s.nullRatio, err = p.ratio("null-ratio", 0); err != nil {
		return nil, err
	}
	return s, nil
}

// Schema is the schema parameter (every column nullable).
func (s *DatagenSource) Schema() *arrow.Schema { return s.schema }

// Open seeds the generator with seed+subtask.
func (s *DatagenSource) Open(_ context.Context, c Context) error {
	c, err := c.normalize()
	if err != nil {
		return fmt.Errorf("datagen: %w", err)
	}
	s.c = c
	seed := uint64(s.seed + int64(c.Subtask))
	s.pcg = rand.NewPCG(seed, 0x9e3779b97f4a7c15)
	s.rng = rand.New(s.pcg)
	s.emitted, s.ts = 0, 0
	s.bucket = nil
	if s.rate > 0 {
		s.bucket = newTokenBucket(s.Clock, s.rate/float64(c.Parallelism), c.BatchRows)
		s.bucket.idle = c.Idle
	}
	slog.Debug("datagen source open", "subtask", c.Subtask, "seed", s.seed+int64(c.Subtask), "rows", s.rows, "rate", s.rate)
	return nil
}

// Emitted is the number of rows this subtask has emitted.
func (s *DatagenSource) Emitted() int64 { return s.emitted }

// datagenPosition is the position of a datagen subtask: the rows it
// emitted, the offset of its next timestamp and its generator's state.
type datagenPosition struct {
	positionHeader
	Seed    int64  `json:"seed"`
	Emitted int64  `json:"emitted"`
	TS      int64  `json:"ts"` // nanoseconds after 2024-01-01
	PCG     []byte `json:"pcg"`
}

// SnapshotPosition returns the subtask's rows emitted and generator state.
// Call it between calls of Next.
func (s *DatagenSource) SnapshotPosition() ([]byte, error) {
	state, err := s.pcg.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("datagen: %w", err)
	}
	b, err := json.Marshal(datagenPosition{
		positionHeader: newPositionHeader("datagen", s.c),
		Seed:           s.seed, Emitted: s.emitted, TS: int64(s.ts), PCG: state,
	})
	if err != nil {
		return nil, fmt.Errorf("datagen: %w", err)
	}
	return b, nil
}

// RestorePositions continues the stream of the old subtask with this
// subtask's index, if any: same rows, and rows counts the rows it emitted
// before. A subtask beyond the old parallelism starts afresh from
// seed+subtask. The seed parameter must be the same.
func (s *DatagenSource) RestorePositions(all [][]byte) error {
	old, err := decodePositions("datagen", all, func(p *datagenPosition) *positionHeader { return &p.positionHeader })
	if err != nil {
		return err
	}
	for _, o := range old {
		if o.Seed != s.seed {
			return fmt.Errorf("%w: datagen: the checkpoint's seed is %d, the source's %d", ErrPosition, o.Seed, s.seed)
		}
	}
	if s.c.Subtask >= len(old) {
		return nil // a new stream
	}
	o := old[s.c.Subtask]
	if o.Emitted < 0 || o.TS < 0 {
		return fmt.Errorf("%w: datagen: negative rows or time in the position", ErrPosition)
	}
	if err := s.pcg.UnmarshalBinary(o.PCG); err != nil {
		return fmt.Errorf("%w: datagen: generator state: %w", ErrPosition, err)
	}
	s.emitted, s.ts = o.Emitted, time.Duration(o.TS)
	return nil
}

// Next returns the next batch of at most BatchRows random rows; the caller
// owns it and must Release it. With rows set it returns io.EOF after the
// last batch.
func (s *DatagenSource) Next(ctx context.Context) (arrow.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := int64(s.c.BatchRows)
	if s.rows >= 0 {
		n = min(n, s.rows-s.emitted)
		if n <= 0 {
			return nil, io.EOF
		}
	}
	if s.bucket != nil {
		got, err := s.bucket.take(ctx, int(n), 1)
		if err != nil {
			return nil, err
		}
		n = int64(got)
	}
	b := array.NewRecordBuilder(s.c.Alloc, s.schema)
	defer b.Release()
	for range n {
		// A row's timestamps share one instant; instants increase by
		// 1..1000ms per row.
		s.ts += time.Duration(1+s.rng.IntN(1000)) * time.Millisecond
		for i := range s.schema.NumFields() {
			s.appendRandom(b.Field(i))
		}
	}
	s.emitted += n
	return b.NewRecord(), nil
}

const letters = "abcdefghijklmnopqrstuvwxyz"

func (s *DatagenSource) appendRandom(b array.Builder) {
	r := s.rng
	if s.nullRatio > 0 && r.Float64() < s.nullRatio {
		b.AppendNull()
		return
	}
	switch b := b.(type) {
	case *array.BooleanBuilder:
		b.Append(r.IntN(2) == 1)
	case *array.Int8Builder:
		b.Append(int8(r.Uint32()))
	case *array.Int16Builder:
		b.Append(int16(r.Uint32()))
	case *array.Int32Builder:
		b.Append(int32(r.Uint32()))
	case *array.Int64Builder:
		b.Append(int64(r.Uint64()))
	case *array.Uint8Builder:
		b.Append(uint8(r.Uint32()))
	case *array.Uint16Builder:
		b.Append(uint16(r.Uint32()))
	case *array.Uint32Builder:
		b.Append(r.Uint32())
	case *array.Uint64Builder:
		b.Append(r.Uint64())
	case *array.Float32Builder:
		b.Append(float32(r.Float64()*2000 - 1000))
	case *array.Float64Builder:
		b.Append(r.Float64()*2000 - 1000)
	case *array.StringBuilder:
		var buf [16]byte
		n := 8 + r.IntN(9)
		for i := range n {
			buf[i] = letters[r.IntN(len(letters))]
		}
		b.Append(string(buf[:n]))
	case *array.BinaryBuilder:
		var buf [16]byte
		n := 8 + r.IntN(9)
		for i := range n {
			buf[i] = byte(r.Uint32())
		}
		b.Append(buf[:n])
	case *array.Date32Builder:
		// Within a year either side of 2024-01-01.
		b.Append(arrow.Date32(datagenEpoch.Unix()/86400 + int64(r.IntN(731)) - 365))
	case *array.TimestampBuilder:
		t := datagenEpoch.Add(s.ts)
		v, _ := arrow.TimestampFromTime(t, b.Type().(*arrow.TimestampType).Unit)
		b.Append(v)
	default:
		b.AppendNull() // not reached: checkSupported refused other types
	}
}

// Close does nothing.
func (s *DatagenSource) Close() error { return nil }
