// Command nexmark is a Weir job module running the Nexmark benchmark's
// queries q0–q8 (not q6) over the native `nexmark` source, one query per
// job, chosen with --query. README.md explains each query's plan.
//
//	weir run -p 2 --wait bin/examples/nexmark.wasm -- --query q5 --events 1000000 --output /tmp/q5
//	weir bench nexmark --query q5 --events 10000000 -p 2
//
// Build:
//
//	cd examples && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o ../bin/examples/nexmark.wasm ./nexmark
package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	weir "github.com/weirflow/weir/sdk/go"
)

func main() {}

func init() {
	weir.Map("project", openProject)
	weir.Filter("int_multiple", openIntMultiple)
	weir.Filter("int_equals", openIntEquals)
	weir.Filter("int_ge", openIntGE)
	weir.Filter("string_in", openStringIn)
	weir.Map("q1_euros", openQ1Euros)
	weir.FlatMap("q4_events", openQ4Events)
	weir.Process("q4_max_price", openQ4MaxPrice)
	weir.Process("q4_average", openQ4Average)
	weir.DefinePlan(plan)
}

// MaxOutOfOrderness bounds how far event time goes backwards in the
// generator's stream (its out-of-order groups); the sources' watermarks
// trail the highest timestamp by this much.
const MaxOutOfOrderness = 4 * time.Second

// BidColumns are the columns of a stream of bids, in order.
var BidColumns = []string{"auction", "bidder", "price", "channel", "url", "dateTime", "extra"}

// query is one Nexmark query: what it computes and how its plan is built.
type query struct {
	about string
	build func(j *job) *weir.Stream
}

// Queries are the queries the module runs, by name.
var Queries = map[string]query{
	"q0": {"pass-through: every bid, all columns, through a Wasm map", q0},
	"q1": {"currency conversion: bid prices in euros (price × 0.908, float64)", q1},
	"q2": {"selection: auction and price of the bids on auctions whose id is a multiple of 123", q2},
	"q3": {"local item suggestion: persons of OR, ID or CA selling auctions of category 10 (regular join)", q3},
	"q4": {"average closing price per category: the highest bid of each auction while it is open, averaged per category (keyed timers)", q4},
	"q5": {"hot items: per 10 s window sliding by 2 s, the auctions with the most bids (windows and a window join)", q5},
	"q7": {"highest bid: per tumbling 10 s window, the bids at the window's highest price (windowAll and a window join)", q7},
	"q8": {"monitor new users: persons who opened an auction in the tumbling 10 s window they registered in (window join)", q8},
}

// QueryNames returns the names of Queries, sorted.
func QueryNames() []string { return slices.Sorted(maps.Keys(Queries)) }

// paramFlags collects repeated --gen key=value flags.
type paramFlags weir.Params

func (p paramFlags) String() string {
	keys := slices.Sorted(maps.Keys(p))
	for i, k := range keys {
		keys[i] = k + "=" + p[k]
	}
	return strings.Join(keys, ",")
}

func (p paramFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if k = strings.TrimSpace(k); !ok || k == "" {
		return fmt.Errorf("%q: want key=value", s)
	}
	p[k] = v
	return nil
}

// plan: --query qN [--events N] [--parallelism P] [--output DIR] [--rate R]
// [--tps N] [--seed S] [--gen key=value]...
func plan(args []string) (*weir.Plan, error) {
	fs := weir.NewFlagSet("nexmark")
	name := fs.String("query", "", "query to run: "+strings.Join(QueryNames(), ", "))
	events := fs.Int64("events", 1_000_000, "events of the generated stream (persons, auctions and bids together); 0 for an unbounded stream")
	parallelism := fs.Int("parallelism", 1, "parallelism of the job (windows without a key run at 1)")
	output := fs.String("output", "", "directory to write the results to (JSON lines); empty: the blackhole sink")
	rate := fs.String("rate", "", "events per second each source emits at most (wall clock); empty: as fast as it can")
	tps := fs.String("tps", "", "event-time rate of the stream in events per second (the generator's default if empty)")
	seed := fs.String("seed", "", "seed of the generated stream (the generator's default if empty)")
	gen := paramFlags{}
	fs.Var(gen, "gen", "other generator parameter `key=value` passed to the nexmark source, repeatable")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("nexmark: unexpected arguments %q", fs.Args())
	}
	q, ok := Queries[*name]
	switch {
	case *name == "":
		return nil, fmt.Errorf("nexmark: --query is required (one of %s)", strings.Join(QueryNames(), ", "))
	case !ok:
		return nil, fmt.Errorf("nexmark: unknown query %q (want one of %s)", *name, strings.Join(QueryNames(), ", "))
	case *events < 0:
		return nil, errors.New("nexmark: --events must not be negative")
	case *parallelism < 1:
		return nil, errors.New("nexmark: --parallelism must be at least 1")
	}
	params := weir.Params{"events": strconv.FormatInt(*events, 10)}
	for k, v := range map[string]string{"rate": *rate, "tps": *tps, "seed": *seed} {
		if v != "" {
			params[k] = v
		}
	}
	for k, v := range gen {
		if k == "kinds" {
			return nil, errors.New("nexmark: --gen kinds=...: each query chooses the kinds of its sources")
		}
		params[k] = v
	}
	j := &job{p: weir.NewPlan("nexmark-" + *name).Parallelism(*parallelism), params: params}
	out := q.build(j)
	if *output != "" {
		out.Sink("file", weir.Params{"path": *output, "format": "jsonl"}).ID("out")
	} else {
		out.Sink("blackhole", nil).ID("out")
	}
	return j.p, nil
}

// job is the plan of one query being built.
type job struct {
	p      *weir.Plan
	params weir.Params // generator parameters common to every source
}

// source adds a nexmark source of the given kinds (person, auction, bid).
func (j *job) source(id string, kinds ...string) *weir.Stream {
	ps := maps.Clone(j.params)
	ps["kinds"] = strings.Join(kinds, ",")
	return j.p.Source("nexmark", ps).ID(id)
}

// timed adds a nexmark source with event time on dateTime.
func (j *job) timed(id string, kinds ...string) *weir.Stream {
	return j.source(id, kinds...).EventTime("dateTime", MaxOutOfOrderness)
}

func q0(j *job) *weir.Stream {
	return j.source("bids", "bid").Map("project", BidColumns...).ID("q0")
}

func q1(j *job) *weir.Stream {
	return j.source("bids", "bid").Map("q1_euros", "0.908").ID("q1")
}

func q2(j *job) *weir.Stream {
	return j.source("bids", "bid").
		Filter("int_multiple", "auction", "123").ID("q2-filter").
		Map("project", "auction", "price").ID("q2")
}

func q3(j *job) *weir.Stream {
	persons := j.source("persons", "person").
		Filter("string_in", "state", "OR", "ID", "CA").ID("q3-persons").
		Map("project", "id", "name", "city", "state").ID("q3-person-columns")
	auctions := j.source("auctions", "auction").
		Filter("int_equals", "category", "10").ID("q3-auctions").
		Map("project", "id", "seller").ID("q3-auction-columns")
	return weir.Join(persons, auctions).Where("id").EqualTo("seller").Regular().ID("q3-join").
		Map("project", "name", "city", "state", "id=id_r").ID("q3")
}

// q4's source runs at parallelism 1: its subtasks would race ahead of
// each other unbounded (Weir has no watermark alignment between source
// subtasks yet), and the bids of a fast subtask would wait in
// q4_max_price's state for auctions of a slow one. From one source every
// auction reaches its key before its bids.
func q4(j *job) *weir.Stream {
	return j.timed("events", "auction", "bid").Parallelism(1).
		FlatMap("q4_events").ID("q4-events").
		KeyBy("id").Process("q4_max_price").ID("q4-max-price").
		KeyBy("category").Process("q4_average").ID("q4")
}

func q5(j *job) *weir.Stream {
	counts := j.timed("bids", "bid").KeyBy("auction").
		Window(weir.Sliding(10*time.Second, 2*time.Second), weir.TimeColumn("dateTime")).
		Aggregate(weir.Count("num")).ID("q5-counts")
	maxes := counts.Map("project", "wend=window_end", "num").ID("q5-ends").KeyBy("wend").
		Window(weir.Tumbling(2*time.Second), weir.TimeColumn("wend")).
		Aggregate(weir.Max("num", "maxn")).ID("q5-max")
	return weir.Join(counts, maxes).Where("window_end").EqualTo("wend").Time("window_end", "wend").
		Window(weir.Tumbling(2*time.Second)).ID("q5-join").
		Filter("int_ge", "num", "maxn").ID("q5-hot").
		Map("project", "windowStart=window_start", "windowEnd=window_end", "auction", "count=num").ID("q5")
}

func q7(j *job) *weir.Stream {
	bids := j.timed("bids", "bid")
	maxes := bids.Window(weir.Tumbling(10*time.Second), weir.TimeColumn("dateTime")).
		Aggregate(weir.Max("price", "maxprice")).ID("q7-max")
	columns := bids.Map("project", "auction", "price", "bidder", "dateTime", "extra").ID("q7-bids")
	return weir.Join(columns, maxes).Where("price").EqualTo("maxprice").Time("dateTime", "window_start").
		Window(weir.Tumbling(10*time.Second)).ID("q7-join").
		Map("project", "auction", "price", "bidder", "dateTime", "extra").ID("q7")
}

func q8(j *job) *weir.Stream {
	persons := j.timed("persons", "person").Map("project", "id", "name", "dateTime").ID("q8-persons")
	sellers := j.timed("auctions", "auction").KeyBy("seller").
		Window(weir.Tumbling(10*time.Second), weir.TimeColumn("dateTime")).
		Aggregate(weir.Count("auctions")).ID("q8-sellers")
	return weir.Join(persons, sellers).Where("id").EqualTo("seller").Time("dateTime", "window_start").
		Window(weir.Tumbling(10*time.Second)).ID("q8-join").
		Map("project", "id", "name", "windowStart=window_start").ID("q8")
}
