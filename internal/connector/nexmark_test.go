package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/weirflow/weir/internal/nexmark"
)

var _ Checkpointed = (*NexmarkSource)(nil)

func newNexmark(t testing.TB, params map[string]string) *NexmarkSource {
	t.Helper()
	src, err := NewSource("nexmark", params, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return src.(*NexmarkSource)
}

// nexmarkRows returns the rows of the whole stream of params, straight
// from package nexmark: every event number in order, those of the listed
// kinds.
func nexmarkRows(t *testing.T, params map[string]string, alloc memory.Allocator) [][]string {
	t.Helper()
	src := newNexmark(t, params)
	cfg := src.Config()
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	app, err := nexmark.NewAppender(g, src.Schema())
	if err != nil {
		t.Fatal(err)
	}
	for n := range cfg.NumEvents {
		if src.want[g.Kind(n)] {
			app.Append(n)
		}
	}
	rec := app.NewRecord(alloc)
	defer rec.Release()
	return rowsOf(rec)
}

// sameRows fails unless got and want hold the same rows, as many times
// each, in any order.
func sameRows(t *testing.T, got, want [][]string) {
	t.Helper()
	g, w := sortedRows(got), sortedRows(want)
	if len(g) != len(w) {
		t.Fatalf("%d rows, want %d", len(g), len(w))
	}
	for i := range g {
		if g[i] != w[i] {
			t.Fatalf("rows differ (first difference at sorted row %d):\n%s\nwant\n%s", i, g[i], w[i])
		}
	}
}

func TestNexmarkParams(t *testing.T) {
	tests := []struct {
		params map[string]string
		msg    string // "" for valid
	}{
		{map[string]string{}, ""},
		{map[string]string{"events": "0", "kinds": "person, auction,bid", "seed": "-7", "tps": "1000", "rate": "0",
			"outOfOrderGroupSize": "13", "inFlightAuctions": "5", "activePeople": "7", "hotAuctionRatio": "1",
			"hotSellersRatio": "3", "hotBiddersRatio": "9", "baseTime": "0"}, ""},
		{map[string]string{"rate": "2.5"}, ""},
		{map[string]string{"event": "10"}, "unknown parameter event"},
		{map[string]string{"events": "-1"}, "parameter events=\"-1\": must be at least 0"},
		{map[string]string{"events": "many"}, "parameter events=\"many\": not an integer"},
		{map[string]string{"kinds": ""}, "parameter kinds"},
		{map[string]string{"kinds": "bids"}, "parameter kinds=\"bids\""},
		{map[string]string{"kinds": "bid,person,bid"}, "lists bid twice"},
		{map[string]string{"seed": "1.5"}, "parameter seed"},
		{map[string]string{"tps": "0"}, "parameter tps"},
		{map[string]string{"rate": "-1"}, "parameter rate"},
		{map[string]string{"rate": "NaN"}, "parameter rate"},
		{map[string]string{"rate": "fast"}, "parameter rate"},
		{map[string]string{"outOfOrderGroupSize": "0"}, "parameter outOfOrderGroupSize"},
		{map[string]string{"outOfOrderGroupSize": "1906"}, "multiple of 953"},
		{map[string]string{"inFlightAuctions": "0"}, "parameter inFlightAuctions"},
		{map[string]string{"activePeople": "0"}, "parameter activePeople"},
		{map[string]string{"hotAuctionRatio": "0"}, "parameter hotAuctionRatio"},
		{map[string]string{"hotSellersRatio": "-2"}, "parameter hotSellersRatio"},
		{map[string]string{"hotBiddersRatio": "x"}, "parameter hotBiddersRatio"},
		{map[string]string{"baseTime": "-1"}, "parameter baseTime"},
		{map[string]string{"baseTime": "999999999999999999"}, "parameter baseTime"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.params), func(t *testing.T) {
			_, err := NewSource("nexmark", tt.params, Options{})
			if tt.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrParams) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v, want ErrParams with %q", err, tt.msg)
			}
		})
	}
}

func TestNexmarkSchema(t *testing.T) {
	for kinds, want := range map[string]*arrow.Schema{
		"bid": nexmark.BidSchema, "person": nexmark.PersonSchema, "auction": nexmark.AuctionSchema,
		"bid,person": nexmark.UnionSchema, "auction,bid,person": nexmark.UnionSchema,
	} {
		if got := newNexmark(t, map[string]string{"kinds": kinds}).Schema(); got != want {
			t.Errorf("kinds %s: schema %v", kinds, got)
		}
	}
	if got := newNexmark(t, nil).Schema(); got != nexmark.BidSchema {
		t.Errorf("default schema %v, want bids", got)
	}
}

func TestNexmarkStream(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		counts map[string]int // rows per event_type (union) or in all
	}{
		{"bids", map[string]string{"events": "10000"}, map[string]int{"": 9200}},
		{"persons", map[string]string{"events": "10000", "kinds": "person"}, map[string]int{"": 200}},
		{"auctions", map[string]string{"events": "10000", "kinds": "auction"}, map[string]int{"": 600}},
		{"all", map[string]string{"events": "10000", "kinds": "person,auction,bid"}, map[string]int{"0": 200, "1": 600, "2": 9200}},
		{"persons and bids", map[string]string{"events": "5000", "kinds": "bid,person"}, map[string]int{"0": 100, "2": 4600}},
		{"shuffled", map[string]string{"events": "10000", "kinds": "person,auction,bid", "outOfOrderGroupSize": "64"}, map[string]int{"0": 200, "1": 600, "2": 9200}},
		{"partial cycle", map[string]string{"events": "1003", "kinds": "person,auction,bid"}, map[string]int{"0": 21, "1": 62, "2": 920}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alloc := newAlloc(t)
			rows, sizes := drain(t, newNexmark(t, tt.params), Context{Parallelism: 1, Alloc: alloc, BatchRows: 1000})
			counts := map[string]int{}
			union := len(rows) > 0 && len(rows[0]) == nexmark.UnionSchema.NumFields()
			for _, r := range rows {
				if union {
					counts[r[0]]++
				} else {
					counts[""]++
				}
			}
			if !maps.Equal(counts, tt.counts) {
				t.Errorf("counts %v, want %v", counts, tt.counts)
			}
			for i, n := range sizes[:len(sizes)-1] {
				if n != 1000 {
					t.Errorf("batch %d of %d rows, want 1000 but for the last", i, n)
				}
			}
			// The very stream of package nexmark, in order.
			want := nexmarkRows(t, tt.params, alloc)
			if fmt.Sprint(rows) != fmt.Sprint(want) {
				t.Errorf("rows differ from package nexmark's stream")
			}
			// And the same again.
			again, _ := drain(t, newNexmark(t, tt.params), Context{Parallelism: 1, Alloc: alloc, BatchRows: 77})
			if fmt.Sprint(again) != fmt.Sprint(rows) {
				t.Errorf("a second run differs")
			}
		})
	}
	// Another seed, another stream.
	alloc := newAlloc(t)
	a, _ := drain(t, newNexmark(t, map[string]string{"events": "100"}), Context{Parallelism: 1, Alloc: alloc, BatchRows: 100})
	b, _ := drain(t, newNexmark(t, map[string]string{"events": "100", "seed": "1"}), Context{Parallelism: 1, Alloc: alloc, BatchRows: 100})
	if fmt.Sprint(a) == fmt.Sprint(b) {
		t.Error("seeds 0 and 1 gave the same bids")
	}
}

// dateTimeColumn is the index of the dateTime column of a row of schema.
func dateTimeColumn(schema *arrow.Schema) int {
	return schema.FieldIndices("dateTime")[0]
}

// TestNexmarkSplit checks that the subtasks at parallelism 1..4 emit every
// event of the stream exactly once, each only its own blocks, with event
// time advancing at the same pace in all and in order within each (or out
// of order by less than a group when shuffled).
func TestNexmarkSplit(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
	}{
		{"all kinds", map[string]string{"events": "5003", "kinds": "person,auction,bid", "tps": "1000"}},
		{"bids", map[string]string{"events": "4000", "tps": "1000"}},
		{"persons", map[string]string{"events": "4000", "kinds": "person", "tps": "1000"}},
		{"shuffled", map[string]string{"events": "5003", "kinds": "person,auction,bid", "tps": "1000", "outOfOrderGroupSize": "37"}},
	}
	for _, tt := range tests {
		for p := 1; p <= 4; p++ {
			t.Run(fmt.Sprintf("%s/p=%d", tt.name, p), func(t *testing.T) {
				alloc := newAlloc(t)
				group, _ := strconv.ParseInt(tt.params["outOfOrderGroupSize"], 10, 64)
				var all [][]string
				var lastTimes []time.Time
				for sub := range p {
					src := newNexmark(t, tt.params)
					col := dateTimeColumn(src.Schema())
					rows, _ := drain(t, src, Context{Subtask: sub, Parallelism: p, Alloc: alloc, BatchRows: 64})
					var maxSeen time.Time
					for _, r := range rows {
						ts, err := time.Parse("2006-01-02 15:04:05.999999999Z", r[col])
						if err != nil {
							t.Fatal(err)
						}
						// At 1000 events/s an event number is a ms: a
						// group of shuffled events spans group ms.
						if d := maxSeen.Sub(ts); d > 0 && (group <= 1 || d >= time.Duration(group)*time.Millisecond) {
							t.Fatalf("subtask %d: dateTime %v after %v", sub, ts, maxSeen)
						}
						if ts.After(maxSeen) {
							maxSeen = ts
						}
						if n := ts.UnixMilli() - nexmark.DefaultBaseTime; group <= 1 && nexmark.BlockOwner(n, p) != sub {
							t.Fatalf("subtask %d emitted event %d of block %d", sub, n, n/nexmark.BlockSize)
						}
					}
					if src.Emitted() != int64(len(rows)) {
						t.Errorf("subtask %d: Emitted %d, rows %d", sub, src.Emitted(), len(rows))
					}
					lastTimes = append(lastTimes, maxSeen)
					all = append(all, rows...)
				}
				sameRows(t, all, nexmarkRows(t, tt.params, alloc))
				// Each subtask gets its share of the blocks up to the end of
				// the stream: their last events are less than p blocks apart.
				slices.SortFunc(lastTimes, func(a, b time.Time) int { return a.Compare(b) })
				if spread := lastTimes[len(lastTimes)-1].Sub(lastTimes[0]); spread > time.Duration(p*nexmark.BlockSize)*time.Millisecond {
					t.Errorf("last events of the subtasks %v apart", spread)
				}
			})
		}
	}
}

func TestNexmarkRestoreAcrossParallelism(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		batch  int
		stages []stage
	}{
		{"same parallelism", map[string]string{"events": "3000"}, 100, []stage{{2, []int{3, 5}}, {2, []int{-1, -1}}}},
		{"2 to 3", map[string]string{"events": "5003", "kinds": "person,auction,bid"}, 64, []stage{{2, []int{7, 2}}, {3, []int{-1, -1, -1}}}},
		{"3 to 1", map[string]string{"events": "5000"}, 50, []stage{{3, []int{0, 4, 9}}, {1, []int{-1}}}},
		{"mid-block cut", map[string]string{"events": "2000", "kinds": "person,auction,bid"}, 7, []stage{{1, []int{3}}, {2, []int{-1, -1}}}},
		{"2 to 3 to 2", map[string]string{"events": "6000", "kinds": "auction,bid"}, 33, []stage{{2, []int{1, 30}}, {3, []int{2, 4, 1}}, {2, []int{-1, -1}}}},
		{"2 to 4 to 1", map[string]string{"events": "6000"}, 40, []stage{{2, []int{20, 2}}, {4, []int{1, 0, 3, 9}}, {1, []int{-1}}}},
		{"3 to 2 to 5 to 4", map[string]string{"events": "9000", "kinds": "person,bid"}, 25, []stage{{3, []int{9, 1, 4}}, {2, []int{2, 5}}, {5, []int{0, 3, 1, 7, 2}}, {4, []int{-1, -1, -1, -1}}}},
		{"no progress in between", map[string]string{"events": "4000"}, 30, []stage{{2, []int{12, 1}}, {3, []int{0, 0, 0}}, {4, []int{0, 0, 0, 0}}, {1, []int{-1}}}},
		{"one subtask done", map[string]string{"events": "1000"}, 100, []stage{{2, []int{-1, 1}}, {3, []int{1, 1, 1}}, {1, []int{-1}}}},
		{"more subtasks than blocks", map[string]string{"events": "120"}, 10, []stage{{1, []int{2}}, {5, []int{-1, -1, -1, -1, -1}}}},
		{"shuffled", map[string]string{"events": "4003", "kinds": "person,auction,bid", "outOfOrderGroupSize": "29"}, 16, []stage{{3, []int{5, 11, 2}}, {2, []int{-1, -1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runs := runStages(t, func() Source { return newNexmark(t, tt.params) }, tt.batch, tt.stages)
			var all [][]string
			for _, rows := range runs {
				all = append(all, rows...)
			}
			alloc := newAlloc(t)
			sameRows(t, all, nexmarkRows(t, tt.params, alloc))
		})
	}
}

// TestNexmarkRestoreRandom restores random cuts at random parallelisms,
// several times over, and checks exactly-once.
func TestNexmarkRestoreRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	kinds := []string{"bid", "person", "auction,bid", "person,auction,bid"}
	for i := range 40 {
		params := map[string]string{
			"events": strconv.Itoa(300 + r.IntN(2500)), "kinds": kinds[r.IntN(len(kinds))],
			"outOfOrderGroupSize": strconv.Itoa(1 + r.IntN(3)*r.IntN(40)),
		}
		var stages []stage
		for range 1 + r.IntN(4) {
			st := stage{p: 1 + r.IntN(5)}
			for range st.p {
				cut := r.IntN(12)
				if r.IntN(3) == 0 {
					cut = 0 // no progress: rules live on
				}
				st.cuts = append(st.cuts, cut)
			}
			stages = append(stages, st)
		}
		last := stage{p: 1 + r.IntN(5)}
		for range last.p {
			last.cuts = append(last.cuts, -1)
		}
		stages = append(stages, last)
		batch := 5 + r.IntN(60)
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("params %v, batch %d, stages %v", params, batch, stages)
				}
			}()
			runs := runStages(t, func() Source { return newNexmark(t, params) }, batch, stages)
			var all [][]string
			for _, rows := range runs {
				all = append(all, rows...)
			}
			sameRows(t, all, nexmarkRows(t, params, newAlloc(t)))
		})
	}
}

// TestNexmarkRestoreUnbounded restores an unbounded stream at other
// parallelisms and checks that the events of a prefix are each emitted
// once (the subtasks read far enough past it).
func TestNexmarkRestoreUnbounded(t *testing.T) {
	params := map[string]string{"events": "0", "kinds": "person,auction,bid", "tps": "1000"}
	runs := runStages(t, func() Source { return newNexmark(t, params) }, 50, []stage{
		{2, []int{3, 10}}, {3, []int{4, 0, 2}}, {2, []int{60, 60}},
	})
	const prefix = 5000 // event numbers, ms after the base time
	seen := map[string]int{}
	var all [][]string
	for _, rows := range runs {
		for _, r := range rows {
			ts, err := time.Parse("2006-01-02 15:04:05.999999999Z", r[len(r)-1])
			if err != nil {
				t.Fatal(err)
			}
			if ts.UnixMilli()-nexmark.DefaultBaseTime < prefix {
				all = append(all, r)
				seen[strings.Join(r, "|")]++
			}
		}
	}
	bounded := maps.Clone(params)
	bounded["events"] = strconv.Itoa(prefix)
	alloc := newAlloc(t)
	sameRows(t, all, nexmarkRows(t, bounded, alloc))
}

func TestNexmarkRestoreRefusals(t *testing.T) {
	alloc := newAlloc(t)
	ctx := context.Background()
	position := func(params map[string]string, p, sub int) []byte {
		src := newNexmark(t, params)
		if err := src.Open(ctx, Context{Subtask: sub, Parallelism: p, Alloc: alloc, BatchRows: 10}); err != nil {
			t.Fatal(err)
		}
		rec, err := src.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rec.Release()
		b, err := src.SnapshotPosition()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	base := map[string]string{"events": "1000"}
	edit := func(b []byte, f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		out, _ := json.Marshal(m)
		return out
	}
	good := position(base, 1, 0)
	tests := []struct {
		name      string
		params    map[string]string
		positions [][]byte
		msg       string // "" for accepted
	}{
		{"same", base, [][]byte{good}, ""},
		{"more events", map[string]string{"events": "2000"}, [][]byte{good}, ""},
		{"other seed", map[string]string{"events": "1000", "seed": "3"}, [][]byte{good}, "stream"},
		{"other kinds", map[string]string{"events": "1000", "kinds": "bid,person"}, [][]byte{good}, "stream"},
		{"more events shuffled", map[string]string{"events": "2000", "outOfOrderGroupSize": "3"},
			[][]byte{position(map[string]string{"events": "1000", "outOfOrderGroupSize": "3"}, 1, 0)}, "stream"},
		{"missing subtask", base, [][]byte{position(base, 2, 0)}, "positions"},
		{"foreign", base, [][]byte{edit(good, func(m map[string]any) { m["source"] = "sequence" })}, "not \"nexmark\""},
		{"negative position", base, [][]byte{edit(good, func(m map[string]any) { m["next"] = -1 })}, "negative"},
		{"bad rule", base, [][]byte{edit(good, func(m map[string]any) {
			m["ahead"] = []any{map[string]any{"if": []any{[]any{0, 0}}, "until": 10}}
		})}, "malformed rule"},
		{"garbage", base, [][]byte{[]byte("{")}, "position 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newNexmark(t, tt.params)
			if err := src.Open(ctx, Context{Parallelism: 1, Alloc: alloc, BatchRows: 10}); err != nil {
				t.Fatal(err)
			}
			err := src.RestorePositions(tt.positions)
			if tt.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrPosition) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v, want ErrPosition with %q", err, tt.msg)
			}
		})
	}
}

func TestNexmarkCompatible(t *testing.T) {
	tests := []struct {
		conds [][2]int64
		extra [2]int64
		want  bool
	}{
		{[][2]int64{{2, 0}}, [2]int64{3, 1}, true},  // b = 4
		{[][2]int64{{2, 0}}, [2]int64{4, 1}, false}, // even and odd
		{[][2]int64{{4, 2}, {6, 4}}, [2]int64{3, 1}, true},
		{[][2]int64{{4, 2}, {6, 3}}, [2]int64{1, 0}, false},
		{nil, [2]int64{5, 4}, true},
	}
	for _, tt := range tests {
		if got := compatible(tt.conds, tt.extra); got != tt.want {
			t.Errorf("compatible(%v, %v) = %v", tt.conds, tt.extra, got)
		}
		// Brute force.
		found := false
		for b := int64(0); b < 1000 && !found; b++ {
			r := nexmarkRule{If: append(slices.Clone(tt.conds), tt.extra)}
			found = r.matches(b)
		}
		if found != tt.want {
			t.Errorf("%v, %v: a block matching exists: %v", tt.conds, tt.extra, found)
		}
	}
}

func TestNexmarkRateFakeClock(t *testing.T) {
	tests := []struct {
		name      string
		p         int
		rate      float64
		batchRows int
		want      float64 // bids per second of one subtask: 46 of every 50 events of its share
	}{
		{"one subtask", 1, 1000, 100, 920},
		{"slow", 1, 30, 10, 27.6},
		{"split", 2, 1000, 64, 460},
		{"fast", 1, 2e5, 1024, 1.84e5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alloc := newAlloc(t)
			clock := newFakeClock()
			src := newNexmark(t, map[string]string{"events": "0", "rate": strconv.FormatFloat(tt.rate, 'g', -1, 64)})
			src.Clock = clock
			ctx := context.Background()
			var idle time.Duration
			start := clock.Now()
			if err := src.Open(ctx, Context{Parallelism: tt.p, Alloc: alloc, BatchRows: tt.batchRows,
				Idle: func() func() {
					s := clock.Now()
					return func() { idle += clock.Now().Sub(s) }
				}}); err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			rows := 0
			for rows < int(tt.want*2)+tt.batchRows {
				rec, err := src.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				rows += int(rec.NumRows())
				rec.Release()
			}
			elapsed := clock.Now().Sub(start).Seconds()
			got := float64(rows-tt.batchRows) / elapsed // the first batch is the burst
			if got < tt.want*0.9 || got > tt.want*1.1 {
				t.Errorf("%.1f rows/s over %.2fs, want %.1f", got, elapsed, tt.want)
			}
			if idle == 0 {
				t.Error("no idle time reported")
			}
		})
	}
}

func TestNexmarkCancel(t *testing.T) {
	alloc := newAlloc(t)
	// Every kind: event 0 (a person) is the burst.
	src := newNexmark(t, map[string]string{"events": "0", "rate": "1", "kinds": "person,auction,bid"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := src.Open(ctx, Context{Parallelism: 1, Alloc: alloc, BatchRows: 1}); err != nil {
		t.Fatal(err)
	}
	rec, err := src.Next(ctx) // the burst
	if err != nil {
		t.Fatal(err)
	}
	rec.Release()
	if _, err := src.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next: %v, want deadline exceeded", err)
	}
	if _, err := src.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next after the end: %v", err)
	}
	// A bounded source at its end keeps returning io.EOF.
	done := newNexmark(t, map[string]string{"events": "3"})
	rows, _ := drain(t, done, Context{Parallelism: 1, Alloc: alloc, BatchRows: 10})
	if len(rows) != 0 {
		t.Errorf("3 events held %d bids", len(rows))
	}
	if _, err := done.Next(context.Background()); !errors.Is(err, io.EOF) {
		t.Errorf("Next after EOF: %v", err)
	}
}

// BenchmarkNexmarkSource emits bids at full speed in batches of 8192 rows
// (rows/s is the figure).
func BenchmarkNexmarkSource(b *testing.B) {
	for _, kinds := range []string{"bid", "person,auction,bid"} {
		b.Run(kinds, func(b *testing.B) {
			src := newNexmark(b, map[string]string{"events": "0", "kinds": kinds})
			alloc := memory.NewGoAllocator()
			ctx := context.Background()
			if err := src.Open(ctx, Context{Parallelism: 1, Alloc: alloc, BatchRows: 8192}); err != nil {
				b.Fatal(err)
			}
			rows := int64(0)
			b.ReportAllocs()
			for b.Loop() {
				rec, err := src.Next(ctx)
				if err != nil {
					b.Fatal(err)
				}
				rows += rec.NumRows()
				rec.Release()
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
