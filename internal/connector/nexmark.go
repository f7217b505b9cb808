package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/weirflow/weir/internal/nexmark"
)

func init() {
	RegisterSource("nexmark", func(p map[string]string, _ Options) (Source, error) { return NewNexmark(p) })
}

// NexmarkSource is the "nexmark" source: the events of the Nexmark
// benchmark from package nexmark, of the kinds listed (the others are
// skipped without being generated). One kind has that kind's schema
// (nexmark.BidSchema, ...), several have nexmark.UnionSchema.
//
// The stream's event numbers go to the subtasks in blocks of
// nexmark.BlockSize: block b to subtask b % parallelism, so each subtask
// emits the 1:3:46 mix and event time advances at the same pace in all.
//
// It implements [Checkpointed]: a subtask's position is the event number
// it is at, every event of its blocks before it being emitted. A restore,
// also at another parallelism, continues every block where its old owner
// stopped, so that each event of the stream is emitted exactly once across
// the runs.
type NexmarkSource struct {
	// Clock is the time source of the rate limiter (SystemClock if nil);
	// set it before Open.
	Clock Clock

	cfg    nexmark.Config
	kinds  string // the listed kinds, canonical: ascending, comma-separated
	want   [nexmark.NumKinds]bool
	rate   float64
	gen    *nexmark.Generator
	schema *arrow.Schema

	c      Context
	app    *nexmark.Appender
	bucket *tokenBucket
	// cur is the next event number to consider: every event of the
	// subtask's blocks before it was emitted (or skipped as not listed).
	cur int64
	// paced is the event number the rate limiter lets the subtask reach:
	// it moves through the stream's numbers (all kinds, all subtasks' blocks)
	// at the job's rate, so every source of the same stream, whatever kinds
	// it emits, keeps pace with the others (and so do their watermarks).
	paced int64
	// rules, after a restore, name events at or after cur that the old run
	// emitted already; nil once cur has passed them all (rulesUntil).
	rules      []nexmarkRule
	rulesUntil int64
	// ruleBlock and ruleBlockUntil cache until(ruleBlock).
	ruleBlock, ruleBlockUntil int64
	// skip, when events are not shuffled (the kind of an event is that of
	// its offset in its block), gives for each offset the next offset of a
	// listed kind (BlockSize if none).
	skip    *[nexmark.BlockSize]int8
	emitted int64
}

// nexmarkRule says that the events before Until of the subtask's blocks b
// with b % m == r for every [m, r] of If (all of them if If is empty) were
// emitted.
type nexmarkRule struct {
	If    [][2]int64 `json:"if"`
	Until int64      `json:"until"`
}

// nexmarkParams are the parameters of the nexmark source.
var nexmarkParams = []string{
	"events", "kinds", "seed", "tps", "rate", "outOfOrderGroupSize", "inFlightAuctions", "activePeople",
	"hotAuctionRatio", "hotSellersRatio", "hotBiddersRatio", "baseTime",
}

// NewNexmark makes a nexmark source from plan parameters (see README.md).
func NewNexmark(m map[string]string) (*NexmarkSource, error) {
	p := params{m}
	if err := p.checkKnown(nexmarkParams...); err != nil {
		return nil, err
	}
	cfg := nexmark.DefaultConfig()
	ints := []struct {
		name   string
		dst    *int64
		def    int64
		lo, hi int64
	}{
		{"events", &cfg.NumEvents, 1_000_000, 0, math.MaxInt64},
		{"seed", &cfg.Seed, 0, math.MinInt64, math.MaxInt64},
		{"tps", &cfg.FirstEventRate, nexmark.DefaultFirstEventRate, 1, nexmark.MaxFirstEventRate},
		{"outOfOrderGroupSize", &cfg.OutOfOrderGroupSize, nexmark.DefaultOutOfOrderGroupSize, 1, nexmark.MaxOutOfOrderGroupSize},
		{"inFlightAuctions", &cfg.NumInFlightAuctions, nexmark.DefaultNumInFlightAuctions, 1, nexmark.MaxNumInFlightAuctions},
		{"activePeople", &cfg.NumActivePeople, nexmark.DefaultNumActivePeople, 1, nexmark.MaxNumActivePeople},
		{"hotAuctionRatio", &cfg.HotAuctionRatio, nexmark.DefaultHotAuctionRatio, 1, nexmark.MaxHotRatio},
		{"hotSellersRatio", &cfg.HotSellersRatio, nexmark.DefaultHotSellersRatio, 1, nexmark.MaxHotRatio},
		{"hotBiddersRatio", &cfg.HotBiddersRatio, nexmark.DefaultHotBiddersRatio, 1, nexmark.MaxHotRatio},
		{"baseTime", &cfg.BaseTime, nexmark.DefaultBaseTime, 0, nexmark.MaxBaseTime},
	}
	for _, f := range ints {
		v, err := p.int64In(f.name, f.def, f.lo, f.hi)
		if err != nil {
			return nil, err
		}
		*f.dst = v
	}
	if cfg.OutOfOrderGroupSize%nexmark.OutOfOrderMultiplier == 0 {
		return nil, p.bad("outOfOrderGroupSize", m["outOfOrderGroupSize"],
			fmt.Sprintf("must not be a multiple of %d (it would not shuffle)", nexmark.OutOfOrderMultiplier))
	}
	s := &NexmarkSource{cfg: cfg}
	var err error
	if s.kinds, err = s.parseKinds(p); err != nil {
		return nil, err
	}
	if s.rate, err = optionalRate(p, "rate"); err != nil {
		return nil, err
	}
	if s.gen, err = nexmark.NewGenerator(cfg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrParams, err)
	}
	var listed []nexmark.Kind
	for k, ok := range s.want {
		if ok {
			listed = append(listed, nexmark.Kind(k))
		}
	}
	s.schema = nexmark.Schema(listed...)
	if cfg.OutOfOrderGroupSize == 1 {
		s.skip = new([nexmark.BlockSize]int8)
		next := int8(nexmark.BlockSize)
		for off := nexmark.BlockSize - 1; off >= 0; off-- {
			if s.want[nexmark.KindOf(int64(off))] {
				next = int8(off)
			}
			s.skip[off] = next
		}
	}
	return s, nil
}

// parseKinds reads the kinds parameter into s.want and returns it in
// canonical form.
func (s *NexmarkSource) parseKinds(p params) (string, error) {
	v := p.str("kinds", "bid")
	var names []string
	for _, name := range strings.Split(v, ",") {
		k, err := nexmark.ParseKind(strings.TrimSpace(name))
		if err != nil {
			return "", p.bad("kinds", v, "must be a comma-separated list of person, auction and bid")
		}
		if s.want[k] {
			return "", p.bad("kinds", v, fmt.Sprintf("lists %s twice", k))
		}
		s.want[k] = true
	}
	for k, ok := range s.want {
		if ok {
			names = append(names, nexmark.Kind(k).String())
		}
	}
	return strings.Join(names, ","), nil
}

// optionalRate reads a finite rate >= 0 in records per second, 0 (full
// speed) when absent.
func optionalRate(p params, name string) (float64, error) {
	v, ok := p.m[name]
	if !ok {
		return 0, nil
	}
	r, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return 0, p.bad(name, v, "not a number")
	}
	if math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
		return 0, p.bad(name, v, "must be 0 (full speed) or a positive number of records per second")
	}
	return r, nil
}

// Schema is nexmark.PersonSchema, AuctionSchema or BidSchema for one kind,
// nexmark.UnionSchema for several.
func (s *NexmarkSource) Schema() *arrow.Schema { return s.schema }

// Config is the generator configuration of the source.
func (s *NexmarkSource) Config() nexmark.Config { return s.cfg }

// Open positions the subtask at its first block and starts the rate
// limiter's clock.
func (s *NexmarkSource) Open(_ context.Context, c Context) error {
	c, err := c.normalize()
	if err != nil {
		return fmt.Errorf("nexmark: %w", err)
	}
	s.c = c
	if s.app, err = nexmark.NewAppender(s.gen, s.schema); err != nil {
		return fmt.Errorf("nexmark: %w", err)
	}
	s.cur, s.rules, s.emitted, s.paced = 0, nil, 0, 0
	s.bucket = nil
	if s.rate > 0 {
		s.bucket = newTokenBucket(s.Clock, s.rate, c.BatchRows)
		s.bucket.idle = c.Idle
	}
	slog.Debug("nexmark source open", "subtask", c.Subtask, "parallelism", c.Parallelism,
		"events", s.cfg.NumEvents, "kinds", s.kinds, "seed", s.cfg.Seed, "rate", s.rate)
	return nil
}

// Emitted is the number of events this subtask emitted since Open.
func (s *NexmarkSource) Emitted() int64 { return s.emitted }

// Position is the event number the subtask is at: it emitted every event
// of its blocks before it (after a restore at another parallelism, also
// some after it). Call it between calls of Next.
func (s *NexmarkSource) Position() int64 { return s.cur }

// seek moves cur to the next event the subtask emits and reports whether
// there is one: in one of its blocks, of a listed kind, not emitted before
// a restore, and within the stream.
func (s *NexmarkSource) seek() bool {
	p, sub := s.c.Parallelism, s.c.Subtask
	for {
		if s.cfg.NumEvents > 0 && s.cur >= s.cfg.NumEvents || s.cur == math.MaxInt64 {
			return false
		}
		if nexmark.BlockOwner(s.cur, p) != sub {
			s.cur = nexmark.NextOwned(s.cur, sub, p)
			continue
		}
		if s.rules != nil {
			if s.cur >= s.rulesUntil {
				s.rules = nil
			} else if u := s.until(s.cur / nexmark.BlockSize); u > s.cur {
				s.cur = min(u, (s.cur/nexmark.BlockSize+1)*nexmark.BlockSize)
				continue
			}
		}
		if !s.want[s.gen.Kind(s.cur)] {
			if s.skip != nil {
				off := s.cur % nexmark.BlockSize
				s.cur += int64(s.skip[off]) - off
			} else {
				s.cur++
			}
			continue
		}
		return true
	}
}

// until returns the event number before which the rules say block b was
// emitted (0 if no rule matches).
func (s *NexmarkSource) until(b int64) int64 {
	if b == s.ruleBlock {
		return s.ruleBlockUntil
	}
	u := int64(0)
	for _, r := range s.rules {
		if r.Until > u && r.matches(b) {
			u = r.Until
		}
	}
	s.ruleBlock, s.ruleBlockUntil = b, u
	return u
}

func (r *nexmarkRule) matches(b int64) bool {
	for _, c := range r.If {
		if b%c[0] != c[1] {
			return false
		}
	}
	return true
}

// Next returns the next batch of at most BatchRows events; the caller owns
// it and must Release it. A bounded stream returns io.EOF after the
// subtask's last event.
func (s *NexmarkSource) Next(ctx context.Context) (arrow.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !s.seek() {
		return nil, io.EOF
	}
	limit := s.c.BatchRows
	for s.app.Len() < limit && !s.app.Full() && s.seek() {
		if s.bucket != nil && s.cur >= s.paced {
			if s.app.Len() > 0 {
				break
			}
			n, err := s.bucket.take(ctx, limit, 1)
			if err != nil {
				return nil, err
			}
			s.paced += int64(n)
			continue
		}
		s.app.Append(s.cur)
		s.cur++
	}
	s.emitted += int64(s.app.Len())
	return s.app.NewRecord(s.c.Alloc), nil
}

// Close does nothing; the source holds no resources between batches.
func (s *NexmarkSource) Close() error { return nil }

// nexmarkStream is what defines the stream of a nexmark source: a restore
// needs the same (but events, which may change when events are not
// shuffled).
type nexmarkStream struct {
	Events              int64  `json:"events"`
	Kinds               string `json:"kinds"`
	Seed                int64  `json:"seed"`
	TPS                 int64  `json:"tps"`
	BaseTime            int64  `json:"baseTime"`
	OutOfOrderGroupSize int64  `json:"outOfOrderGroupSize"`
	InFlightAuctions    int64  `json:"inFlightAuctions"`
	ActivePeople        int64  `json:"activePeople"`
	HotAuctionRatio     int64  `json:"hotAuctionRatio"`
	HotSellersRatio     int64  `json:"hotSellersRatio"`
	HotBiddersRatio     int64  `json:"hotBiddersRatio"`
}

func (s *NexmarkSource) stream() nexmarkStream {
	c := s.cfg
	return nexmarkStream{
		Events: c.NumEvents, Kinds: s.kinds, Seed: c.Seed, TPS: c.FirstEventRate, BaseTime: c.BaseTime,
		OutOfOrderGroupSize: c.OutOfOrderGroupSize, InFlightAuctions: c.NumInFlightAuctions, ActivePeople: c.NumActivePeople,
		HotAuctionRatio: c.HotAuctionRatio, HotSellersRatio: c.HotSellersRatio, HotBiddersRatio: c.HotBiddersRatio,
	}
}

// nexmarkPosition is the position of a nexmark subtask: every event of its
// blocks (b % Parallelism == Subtask) before Next was emitted, and so were
// those the rules of Ahead name.
type nexmarkPosition struct {
	positionHeader
	Stream  nexmarkStream `json:"stream"`
	Next    int64         `json:"next"`
	Ahead   []nexmarkRule `json:"ahead,omitempty"`
	Emitted int64         `json:"emitted"` // by this run of the subtask; informative
}

// SnapshotPosition returns the subtask's event number and, after a
// restore at another parallelism, the rules naming the events after it
// that the old run emitted. Call it between calls of Next.
func (s *NexmarkSource) SnapshotPosition() ([]byte, error) {
	p := nexmarkPosition{
		positionHeader: newPositionHeader("nexmark", s.c),
		Stream:         s.stream(), Next: s.cur, Emitted: s.emitted,
	}
	if s.cur < s.rulesUntil {
		for _, r := range s.rules {
			if r.Until > s.cur {
				p.Ahead = append(p.Ahead, r)
			}
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("nexmark: %w", err)
	}
	return b, nil
}

// maxRuleModulus bounds the moduli of restored rules (parallelisms).
const maxRuleModulus = 1 << 20

// RestorePositions continues every block this subtask owns at its
// parallelism where the subtask of the old run owning it (b % old
// parallelism) stopped. The subtask restarts at the smallest position of
// the old subtasks sharing blocks with it, and keeps as rules what the
// others emitted past it. The stream parameters must be the same (events
// may differ when outOfOrderGroupSize is 1).
func (s *NexmarkSource) RestorePositions(all [][]byte) error {
	old, err := decodePositions("nexmark", all, func(p *nexmarkPosition) *positionHeader { return &p.positionHeader })
	if err != nil {
		return err
	}
	want := s.stream()
	for i, o := range old {
		got := o.Stream
		if want.OutOfOrderGroupSize == 1 {
			got.Events = want.Events
		}
		if got != want {
			return fmt.Errorf("%w: nexmark: the checkpoint's stream %+v differs from the source's %+v", ErrPosition, o.Stream, want)
		}
		if o.Next < 0 {
			return fmt.Errorf("%w: nexmark: position %d at negative event %d", ErrPosition, i, o.Next)
		}
		for _, r := range o.Ahead {
			if r.Until < 0 {
				return fmt.Errorf("%w: nexmark: position %d has a malformed rule %+v", ErrPosition, i, r)
			}
			for _, c := range r.If {
				if c[0] < 1 || c[0] > maxRuleModulus || c[1] < 0 || c[1] >= c[0] {
					return fmt.Errorf("%w: nexmark: position %d has a malformed rule %+v", ErrPosition, i, r)
				}
			}
		}
	}
	p := int64(len(old))
	q, sub := int64(s.c.Parallelism), int64(s.c.Subtask)
	mine := [2]int64{q, sub}
	cur := int64(math.MaxInt64)
	for o, pos := range old {
		if compatible([][2]int64{{p, int64(o)}}, mine) {
			cur = min(cur, pos.Next)
		}
	}
	var rules []nexmarkRule
	until := int64(0)
	add := func(conds [][2]int64, u int64) {
		if u <= cur || !compatible(conds, mine) {
			return
		}
		var kept [][2]int64
		for _, c := range conds {
			// Implied by b % q == sub (compatible with it).
			if q%c[0] != 0 && !slices.Contains(kept, c) {
				kept = append(kept, c)
			}
		}
		rules = append(rules, nexmarkRule{If: kept, Until: u})
		until = max(until, u)
	}
	for o, pos := range old {
		owner := [2]int64{p, int64(o)}
		add([][2]int64{owner}, pos.Next)
		for _, r := range pos.Ahead {
			add(append(slices.Clone(r.If), owner), r.Until)
		}
	}
	s.cur, s.rules, s.rulesUntil = cur, rules, until
	s.paced = cur
	s.ruleBlock, s.ruleBlockUntil = -1, 0
	slog.Debug("nexmark source restored", "subtask", s.c.Subtask, "old-parallelism", p, "position", cur, "rules", len(rules))
	return nil
}

// compatible tells whether some block b satisfies b % m == r for every
// [m, r] of conds and of extra (pairwise, r1 and r2 agree modulo
// gcd(m1, m2): the Chinese remainder theorem).
func compatible(conds [][2]int64, extra [2]int64) bool {
	all := append(slices.Clone(conds), extra)
	for i, a := range all {
		for _, b := range all[i+1:] {
			g := gcd(a[0], b[0])
			if a[1]%g != b[1]%g {
				return false
			}
		}
	}
	return true
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
