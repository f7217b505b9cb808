package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

func init() {
	RegisterSource("sequence", func(p map[string]string, _ Options) (Source, error) { return NewSequence(p) })
}

// sequenceSchema is the schema of the sequence source.
var sequenceSchema = arrow.NewSchema([]arrow.Field{
	{Name: "key", Type: arrow.PrimitiveTypes.Int64},
	{Name: "seq", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// SequenceSource is the "sequence" source: for each seq value it emits one
// row (key, seq) per key its subtask owns (key k belongs to subtask
// k % parallelism), so every key counts up by one and keys interleave.
//
// It implements [Checkpointed]: its position records how many rows of each
// key were emitted, so a restore continues every key where it stopped, also
// at another parallelism.
type SequenceSource struct {
	// Clock is the time source of the rate limiter (SystemClock if nil);
	// set it before Open.
	Clock Clock

	keys      int64
	count     int64 // 0: unbounded
	rate      float64
	start     int64
	unbounded bool

	c     Context
	owned []int64 // keys of this subtask, ascending
	// The keys still to emit are in rounds: round r emits seq start+r for
	// each key of active, in ascending key order. Keys ahead of the round
	// (after a restore) wait until the round reaches them.
	active   []int64 // keys of the current round, ascending
	waiting  []keyRows
	finished []int64 // keys done while others are not (after a restore)
	round    int64   // rows each active key emitted before this round
	nextKey  int     // index into active of the next row
	left     uint64  // rows left (bounded), saturating at math.MaxUint64
	bucket   *tokenBucket
}

// keyRows is a key and the number of its rows emitted so far.
type keyRows struct{ key, rows int64 }

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
	if !s.unbounded && s.start > 0 && s.count-1 > math.MaxInt64-s.start {
		return nil, p.bad("count", m["count"], fmt.Sprintf("start %d + count overflows int64", s.start))
	}
	return s, nil
}

// Schema is key: int64, seq: int64, both not nullable.
func (s *SequenceSource) Schema() *arrow.Schema { return sequenceSchema }

// Open picks this subtask's keys, positions them at their first seq and
// starts the rate limiter's clock.
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
	s.place(func(int64) int64 { return 0 })
	s.bucket = nil
	if s.rate > 0 && n > 0 {
		// The job's rate is per key: a subtask owning more keys gets more.
		r := s.rate * float64(n) / float64(s.keys)
		burst := c.BatchRows
		if n <= c.BatchRows {
			burst = c.BatchRows / n * n
		}
		s.bucket = newTokenBucket(s.Clock, r, burst)
		s.bucket.idle = c.Idle
	}
	slog.Debug("sequence source open", "subtask", c.Subtask, "keys", n, "start", s.start, "count", s.count, "rate", s.rate)
	return nil
}

// place positions every owned key k after rows(k) emitted rows.
func (s *SequenceSource) place(rows func(k int64) int64) {
	s.active, s.waiting, s.finished = s.active[:0], s.waiting[:0], s.finished[:0]
	s.nextKey, s.left = 0, 0
	for _, k := range s.owned {
		r := max(0, rows(k))
		if !s.unbounded && r >= s.count {
			s.finished = append(s.finished, k)
			continue
		}
		s.waiting = append(s.waiting, keyRows{k, r})
		if !s.unbounded {
			s.left = addSat(s.left, uint64(s.count-r))
		}
	}
	if len(s.waiting) == 0 {
		s.round, s.finished = s.count, s.finished[:0] // all done (or no keys)
		return
	}
	sort.Slice(s.waiting, func(i, j int) bool {
		a, b := s.waiting[i], s.waiting[j]
		return a.rows < b.rows || a.rows == b.rows && a.key < b.key
	})
	s.round = s.waiting[0].rows
	s.join()
}

// join moves the waiting keys that the round has reached into active,
// keeping it in key order.
func (s *SequenceSource) join() {
	i := 0
	for i < len(s.waiting) && s.waiting[i].rows == s.round {
		i++
	}
	if i == 0 {
		return
	}
	merged := make([]int64, 0, len(s.active)+i)
	a, w := s.active, s.waiting[:i]
	for len(a) > 0 || len(w) > 0 {
		if len(w) == 0 || len(a) > 0 && a[0] < w[0].key {
			merged, a = append(merged, a[0]), a[1:]
		} else {
			merged, w = append(merged, w[0].key), w[1:]
		}
	}
	s.active, s.waiting = merged, s.waiting[i:]
}

// endRound starts the next round after the last key of this one.
func (s *SequenceSource) endRound() {
	s.nextKey = 0
	s.round++
	if !s.unbounded && s.round >= s.count {
		s.active, s.waiting, s.finished = s.active[:0], s.waiting[:0], s.finished[:0]
		return
	}
	s.join()
}

func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// Position is the seq of the current round: the seq of the next row (or of
// the row in progress if a batch ended inside a round). After a restore at
// another parallelism keys may be ahead of it; see SnapshotPosition. Call
// it between calls of Next.
func (s *SequenceSource) Position() int64 { return s.start + s.round }

// SetPosition makes the next row the first of seq for every key of the
// subtask. Seqs before start or after start+count-1 are never emitted.
// Call it between calls of Next.
func (s *SequenceSource) SetPosition(seq int64) {
	rows := int64(0)
	if seq > s.start {
		d := uint64(seq) - uint64(s.start)
		rows = int64(min(d, math.MaxInt64))
	}
	s.place(func(int64) int64 { return rows })
}

// sequencePosition is the position of a sequence subtask: for each key k it
// owns (k % Parallelism == Subtask, k < Keys), the rows emitted so far are
// Ahead[k] if listed, else Round+1 if k < Split, else Round.
type sequencePosition struct {
	positionHeader
	Keys  int64 `json:"keys"`
	Start int64 `json:"start"`
	Count int64 `json:"count"` // 0: unbounded
	Round int64 `json:"round"`
	Split int64 `json:"split"`
	// Ahead lists [key, rows] of the keys not in the current round.
	Ahead [][2]int64 `json:"ahead,omitempty"`
}

// SnapshotPosition returns how many rows of each of its keys the subtask
// emitted, compactly: the current round, the key the round is at, and the
// keys out of step (only after a restore at another parallelism). Call it
// between calls of Next.
func (s *SequenceSource) SnapshotPosition() ([]byte, error) {
	p := sequencePosition{
		positionHeader: newPositionHeader("sequence", s.c),
		Keys:           s.keys, Start: s.start, Count: s.count, Round: s.round,
	}
	if s.nextKey > 0 {
		p.Split = s.active[s.nextKey]
	}
	for _, w := range s.waiting {
		p.Ahead = append(p.Ahead, [2]int64{w.key, w.rows})
	}
	for _, k := range s.finished {
		p.Ahead = append(p.Ahead, [2]int64{k, s.count})
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("sequence: %w", err)
	}
	return b, nil
}

// RestorePositions continues every key this subtask owns at its
// parallelism where the old run's subtask owning it (k % old parallelism)
// stopped. Keys the old run did not have (keys was smaller) start at
// start; count may differ (a key past the new count is done). The start
// parameter must be the same.
func (s *SequenceSource) RestorePositions(all [][]byte) error {
	old, err := decodePositions("sequence", all, func(p *sequencePosition) *positionHeader { return &p.positionHeader })
	if err != nil {
		return err
	}
	p := len(old)
	ahead := map[int64]int64{}
	for _, o := range old {
		if o.Start != s.start {
			return fmt.Errorf("%w: sequence: the checkpoint's start is %d, the source's %d", ErrPosition, o.Start, s.start)
		}
		if o.Keys != old[0].Keys {
			return fmt.Errorf("%w: sequence: positions of %d and %d keys", ErrPosition, old[0].Keys, o.Keys)
		}
		for _, a := range o.Ahead {
			if k := a[0]; k >= 0 && k%int64(s.c.Parallelism) == int64(s.c.Subtask) && k%int64(p) == int64(o.Subtask) {
				ahead[k] = a[1]
			}
		}
	}
	oldKeys := old[0].Keys
	s.place(func(k int64) int64 {
		if k >= oldKeys {
			return 0
		}
		o := old[k%int64(p)]
		if r, ok := ahead[k]; ok {
			return r
		}
		if k < o.Split {
			return o.Round + 1
		}
		return o.Round
	})
	slog.Debug("sequence source restored", "subtask", s.c.Subtask, "old-parallelism", p, "round", s.round, "rows-left", s.left)
	return nil
}

// Next returns the next batch of at most BatchRows rows; the caller owns it
// and must Release it. A bounded sequence returns io.EOF after its last
// batch; a subtask owning no key of an unbounded one waits for ctx to end.
func (s *SequenceSource) Next(ctx context.Context) (arrow.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(s.active) == 0 {
		if s.unbounded {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return nil, io.EOF
	}
	// Batches end on a round boundary when a round fits in one: unit is a
	// round, and the batch stops where waiting keys join.
	n := len(s.active)
	unit, limit := 1, s.c.BatchRows
	switch {
	case s.nextKey > 0:
		limit = min(limit, n-s.nextKey)
	case n <= limit:
		unit, limit = n, limit/n*n
		if len(s.waiting) > 0 {
			if rounds := s.waiting[0].rows - s.round; rounds < int64(limit/n) {
				limit = int(rounds) * n
			}
		}
	}
	if !s.unbounded && s.left < uint64(limit) {
		limit = int(s.left)
	}
	rows := limit
	if s.bucket != nil {
		var err error
		if rows, err = s.bucket.take(ctx, limit, unit); err != nil {
			return nil, err
		}
	}
	keys := make([]int64, rows)
	seqs := make([]int64, rows)
	for i := range rows {
		keys[i], seqs[i] = s.active[s.nextKey], s.start+s.round
		s.nextKey++
		if s.nextKey == len(s.active) {
			s.endRound()
		}
	}
	if !s.unbounded && s.left != math.MaxUint64 {
		s.left -= uint64(rows)
	}
	b := array.NewRecordBuilder(s.c.Alloc, sequenceSchema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues(keys, nil)
	b.Field(1).(*array.Int64Builder).AppendValues(seqs, nil)
	return b.NewRecord(), nil
}

// Close does nothing; a sequence holds no resources between batches.
func (s *SequenceSource) Close() error { return nil }
