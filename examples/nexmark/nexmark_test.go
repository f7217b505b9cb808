package main

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	weir "github.com/weirflow/weir/sdk/go"
)

// planNode is what the tests read back of a plan's nodes.
type planNode struct {
	ID          string                   `json:"id"`
	Kind        string                   `json:"kind"`
	Function    string                   `json:"function"`
	Params      json.RawMessage          `json:"params"`
	Inputs      []string                 `json:"inputs"`
	KeyBy       []string                 `json:"keyBy"`
	Parallelism int                      `json:"parallelism"`
	EventTime   *struct{ Column string } `json:"eventTime"`
	Window      *struct {
		Type, Column string
		Size, Slide  int64
	} `json:"window"`
	Join *struct {
		Type string
		Keys [2][]string
		Time []string
	} `json:"join"`
}

func buildPlan(t *testing.T, args ...string) (string, []planNode) {
	t.Helper()
	js, err := weir.BuildPlan(args)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Name        string
		Parallelism int
		Nodes       []planNode
	}
	if err := json.Unmarshal(js, &p); err != nil {
		t.Fatal(err)
	}
	return p.Name, p.Nodes
}

func TestPlans(t *testing.T) {
	tests := []struct {
		query string
		// nodes: "id kind function <- inputs", in plan order.
		nodes []string
	}{
		{"q0", []string{"bids source", "q0 map project <- bids", "out sink <- q0"}},
		{"q1", []string{"bids source", "q1 map q1_euros <- bids", "out sink <- q1"}},
		{"q2", []string{"bids source", "q2-filter filter int_multiple <- bids", "q2 map project <- q2-filter", "out sink <- q2"}},
		{"q3", []string{"persons source", "q3-persons filter string_in <- persons", "q3-person-columns map project <- q3-persons",
			"auctions source", "q3-auctions filter int_equals <- auctions", "q3-auction-columns map project <- q3-auctions",
			"q3-join join <- q3-person-columns,q3-auction-columns", "q3 map project <- q3-join", "out sink <- q3"}},
		{"q4", []string{"events source", "q4-events flatmap q4_events <- events", "q4-max-price process q4_max_price <- q4-events",
			"q4 process q4_average <- q4-max-price", "out sink <- q4"}},
		{"q5", []string{"bids source", "q5-counts window <- bids", "q5-ends map project <- q5-counts", "q5-max window <- q5-ends",
			"q5-join join <- q5-counts,q5-max", "q5-hot filter int_ge <- q5-join", "q5 map project <- q5-hot", "out sink <- q5"}},
		{"q7", []string{"bids source", "q7-max window <- bids", "q7-bids map project <- bids", "q7-join join <- q7-bids,q7-max",
			"q7 map project <- q7-join", "out sink <- q7"}},
		{"q8", []string{"persons source", "q8-persons map project <- persons", "auctions source", "q8-sellers window <- auctions",
			"q8-join join <- q8-persons,q8-sellers", "q8 map project <- q8-join", "out sink <- q8"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			name, nodes := buildPlan(t, "--query", tt.query, "--events", "5000", "--parallelism", "2", "--seed", "7", "--gen", "hotAuctionRatio=3")
			if name != "nexmark-"+tt.query {
				t.Errorf("job name %q", name)
			}
			var got []string
			for _, n := range nodes {
				s := n.ID + " " + n.Kind
				if n.Function != "" {
					s += " " + n.Function
				}
				if len(n.Inputs) > 0 {
					s += " <- " + strings.Join(n.Inputs, ",")
				}
				got = append(got, s)
				if n.Kind == "source" {
					var ps map[string]string
					if err := json.Unmarshal(n.Params, &ps); err != nil {
						t.Fatal(err)
					}
					if ps["events"] != "5000" || ps["seed"] != "7" || ps["hotAuctionRatio"] != "3" || ps["kinds"] == "" {
						t.Errorf("source %s params %v", n.ID, ps)
					}
				}
			}
			if !slices.Equal(got, tt.nodes) {
				t.Errorf("nodes:\n got %q\nwant %q", got, tt.nodes)
			}
		})
	}
}

func TestPlanDetails(t *testing.T) {
	byID := func(nodes []planNode) map[string]planNode {
		m := map[string]planNode{}
		for _, n := range nodes {
			m[n.ID] = n
		}
		return m
	}
	q5 := byID(must(buildPlan(t, "--query", "q5", "--parallelism", "2")))
	if w := q5["q5-counts"].Window; w == nil || w.Type != "sliding" || w.Size != 10000 || w.Slide != 2000 || w.Column != "dateTime" {
		t.Errorf("q5 counts window %+v", w)
	}
	if j := q5["q5-join"].Join; j == nil || j.Type != "window" || !reflect.DeepEqual(j.Keys, [2][]string{{"window_end"}, {"wend"}}) {
		t.Errorf("q5 join %+v", j)
	}
	if et := q5["bids"].EventTime; et == nil || et.Column != "dateTime" {
		t.Errorf("q5 source event time %+v", et)
	}
	q7 := byID(must(buildPlan(t, "--query", "q7", "--parallelism", "2")))
	if n := q7["q7-max"]; n.Parallelism != 1 || len(n.KeyBy) != 0 {
		t.Errorf("q7 windowAll: parallelism %d, keyBy %v", n.Parallelism, n.KeyBy)
	}
	q4 := byID(must(buildPlan(t, "--query", "q4")))
	var ps map[string]string
	_ = json.Unmarshal(q4["events"].Params, &ps)
	if ps["kinds"] != "auction,bid" || !slices.Equal(q4["q4-max-price"].KeyBy, []string{"id"}) {
		t.Errorf("q4 source kinds %q, keyBy %v", ps["kinds"], q4["q4-max-price"].KeyBy)
	}
	js, err := weir.BuildPlan([]string{"--query", "q1", "--output", "/tmp/out"})
	if err != nil || !strings.Contains(string(js), `{"id":"out","kind":"sink","connector":"file","params":{"format":"jsonl","path":"/tmp/out"},"inputs":["q1"]}`) {
		t.Errorf("file sink: %s %v", js, err)
	}
	js, err = weir.BuildPlan([]string{"--query", "q1", "--rate", "1000", "--tps", "50000"})
	if err != nil || !strings.Contains(string(js), `"params":{"events":"1000000","kinds":"bid","rate":"1000","tps":"50000"}`) {
		t.Errorf("rate and tps: %s %v", js, err)
	}
}

func must[T any](_ string, v T) T { return v }

func TestPlanErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{nil, "--query is required"},
		{[]string{"--query", "q6"}, `unknown query "q6"`},
		{[]string{"--query", "q1", "--events", "-1"}, "must not be negative"},
		{[]string{"--query", "q1", "--parallelism", "0"}, "at least 1"},
		{[]string{"--query", "q1", "--gen", "kinds=bid"}, "each query chooses the kinds"},
		{[]string{"--query", "q1", "--gen", "nokey"}, "want key=value"},
		{[]string{"--query", "q1", "extra"}, "unexpected arguments"},
	} {
		if _, err := weir.BuildPlan(tt.args); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%q: error %v, want %q", tt.args, err, tt.err)
		}
	}
}

// bidSchema is the generator's schema of bids.
var bidSchema = weir.Schema{
	{Name: "auction", Type: weir.Int64}, {Name: "bidder", Type: weir.Int64}, {Name: "price", Type: weir.Int64},
	{Name: "channel", Type: weir.Utf8}, {Name: "url", Type: weir.Utf8}, {Name: "dateTime", Type: weir.TimestampMs},
	{Name: "extra", Type: weir.Utf8},
}

// batch builds a batch of schema s from rows of values (nil is null).
func batch(t *testing.T, s weir.Schema, rows ...[]any) *weir.Batch {
	t.Helper()
	b := weir.NewBuilder(s)
	for _, r := range rows {
		for j, v := range r {
			switch s[j].Type {
			case weir.Int64:
				if v == nil {
					b.Int64(j).AppendNull()
				} else {
					b.Int64(j).Append(int64(v.(int)))
				}
			case weir.Int32:
				if v == nil {
					b.Int32(j).AppendNull()
				} else {
					b.Int32(j).Append(int32(v.(int)))
				}
			case weir.TimestampMs:
				if v == nil {
					b.Timestamp(j).AppendNull()
				} else {
					b.Timestamp(j).Append(int64(v.(int)))
				}
			case weir.Utf8:
				if v == nil {
					b.Utf8(j).AppendNull()
				} else {
					b.Utf8(j).Append(v.(string))
				}
			default:
				t.Fatalf("type %s", s[j].Type)
			}
		}
	}
	in, err := b.Batch()
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// values returns the rows of a batch as text, one "a b c" line per row.
func values(t *testing.T, b *weir.Batch) []string {
	t.Helper()
	var rows []string
	for i := range b.Len() {
		var r []string
		for j, f := range b.Schema() {
			if !b.Validity(j).Get(i) {
				r = append(r, "null")
				continue
			}
			switch f.Type {
			case weir.Int64:
				r = append(r, fmt.Sprint(b.Int64(j).Value(i)))
			case weir.Int32:
				r = append(r, fmt.Sprint(b.Int32(j).Value(i)))
			case weir.Float64:
				r = append(r, fmt.Sprint(b.Float64(j).Value(i)))
			case weir.TimestampMs:
				r = append(r, fmt.Sprint(b.Timestamp(j).Value(i)))
			case weir.Utf8:
				r = append(r, b.Utf8(j).Value(i))
			}
		}
		rows = append(rows, strings.Join(r, " "))
	}
	return rows
}

func runMap(t *testing.T, open func(*weir.Operator) (weir.MapFunc, error), params string, in *weir.Batch) (weir.Schema, []string) {
	t.Helper()
	op := &weir.Operator{Params: params, Input: in.Schema()}
	fn, err := open(op)
	if err != nil {
		t.Fatal(err)
	}
	out := weir.NewBuilder(op.Output)
	if err := fn(in, out); err != nil {
		t.Fatal(err)
	}
	res, err := out.Batch()
	if err != nil {
		t.Fatal(err)
	}
	return op.Output, values(t, res)
}

func TestProject(t *testing.T) {
	in := batch(t, bidSchema,
		[]any{1, 2, 3, "web", "u1", 1000, "x"},
		[]any{4, nil, 6, "app", "u2", 2000, nil})
	s, rows := runMap(t, openProject, "price, id=auction,extra", in)
	if s.String() != "price:int64,id:int64,extra:utf8" {
		t.Errorf("schema %s", s)
	}
	if want := []string{"3 1 x", "6 4 null"}; !slices.Equal(rows, want) {
		t.Errorf("rows %q, want %q", rows, want)
	}
	for params, msg := range map[string]string{
		"":                `no columns to project`,
		"nope":            `input has no column "nope"`,
		"price,price":     `duplicate column "price"`,
		"a=price,a=extra": `duplicate column "a"`,
	} {
		if _, err := openProject(&weir.Operator{Params: params, Input: bidSchema}); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("project %q: %v, want %q", params, err, msg)
		}
	}
}

func TestFilters(t *testing.T) {
	in := batch(t, bidSchema,
		[]any{246, 10, 5, "OR", "u", 0, ""},
		[]any{123, 20, 20, "CA", "u", 0, ""},
		[]any{124, 30, 40, "WA", "u", 0, ""},
		[]any{nil, 10, 10, nil, "u", 0, ""},
		[]any{0, nil, 10, "ID", "u", 0, ""},
		[]any{-369, 50, 10, "or", "u", 0, ""})
	tests := []struct {
		open   func(*weir.Operator) (weir.FilterFunc, error)
		params string
		kept   []int
	}{
		{openIntMultiple, "auction,123", []int{0, 1, 4, 5}},
		{openIntEquals, "price,10", []int{3, 4, 5}},
		{openIntGE, "price,bidder", []int{1, 2, 3}},
		{openStringIn, "channel,OR,ID,CA", []int{0, 1, 4}},
	}
	for _, tt := range tests {
		fn, err := tt.open(&weir.Operator{Params: tt.params, Input: bidSchema})
		if err != nil {
			t.Fatal(err)
		}
		sel := weir.NewSelection(in.Len())
		if err := fn(in, sel); err != nil {
			t.Fatal(err)
		}
		if got := sel.Kept(); !slices.Equal(got, tt.kept) {
			t.Errorf("%s: kept %v, want %v", tt.params, got, tt.kept)
		}
	}
	for _, tt := range []struct {
		open   func(*weir.Operator) (weir.FilterFunc, error)
		params string
		msg    string
	}{
		{openIntMultiple, "auction", "want column,integer"},
		{openIntMultiple, "auction,0", "divisor 0"},
		{openIntMultiple, "channel,2", `column "channel" is utf8, want int64`},
		{openIntEquals, "price,x", `"x" is not an integer`},
		{openIntGE, "price", "want two int64 columns"},
		{openIntGE, "price,url", `column "url" is utf8`},
		{openStringIn, "channel", "want column,value"},
		{openStringIn, "price,1", `column "price" is int64, want utf8`},
	} {
		if _, err := tt.open(&weir.Operator{Params: tt.params, Input: bidSchema}); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%q: %v, want %q", tt.params, err, tt.msg)
		}
	}
}

func TestQ1Euros(t *testing.T) {
	in := batch(t, bidSchema,
		[]any{1, 2, 1000, "web", "u", 1500, "x"},
		[]any{3, 4, nil, "web", "u", 1600, "y"})
	s, rows := runMap(t, openQ1Euros, "", in)
	if s.String() != "auction:int64,bidder:int64,price:float64,dateTime:timestamp[ms],extra:utf8" {
		t.Errorf("schema %s", s)
	}
	if want := []string{fmt.Sprint("1 2 ", 1000*0.908, " 1500 x"), "3 4 null 1600 y"}; !slices.Equal(rows, want) {
		t.Errorf("rows %q, want %q", rows, want)
	}
	if _, rows := runMap(t, openQ1Euros, "2", in); rows[0] != "1 2 2000 1500 x" {
		t.Errorf("rate 2: %q", rows)
	}
	if _, err := openQ1Euros(&weir.Operator{Params: "-1", Input: bidSchema}); err == nil {
		t.Error("negative rate accepted")
	}
}

// unionSchema is the part of the generator's union schema q4_events reads
// (the real one has every column of every kind).
var unionSchema = weir.Schema{
	{Name: "event_type", Type: weir.Int32},
	{Name: "person_id", Type: weir.Int64},
	{Name: "auction_id", Type: weir.Int64}, {Name: "auction_expires", Type: weir.TimestampMs},
	{Name: "auction_category", Type: weir.Int64},
	{Name: "bid_auction", Type: weir.Int64}, {Name: "bid_price", Type: weir.Int64},
	{Name: "dateTime", Type: weir.TimestampMs},
}

func TestQ4Events(t *testing.T) {
	in := batch(t, unionSchema,
		[]any{0, 7, nil, nil, nil, nil, nil, 100},
		[]any{1, nil, 1001, 9000, 12, nil, nil, 200},
		[]any{2, nil, nil, nil, nil, 1001, 55, 300},
		[]any{2, nil, nil, nil, nil, nil, 55, 400},
		[]any{1, nil, 1002, 9500, 10, nil, nil, 500})
	s, rows := runMap(t, openQ4Events, "", in)
	if s.String() != Q4EventSchema.String() {
		t.Errorf("schema %s", s)
	}
	if want := []string{"1001 1 12 9000 0 200", "1001 2 0 0 55 300", "1002 1 10 9500 0 500"}; !slices.Equal(rows, want) {
		t.Errorf("rows %q, want %q", rows, want)
	}
}

// processHost runs a keyed process function the way the engine does: state
// per key, calls with the distinct keys of each batch, and timer calls
// with the keys whose _timer the watermark reached.
type processHost struct {
	t      *testing.T
	fn     weir.ProcessFunc
	op     *weir.Operator
	key    int
	state  map[int64][]any // one value per state column
	output []string
}

func newProcessHost(t *testing.T, open func(*weir.Operator) (weir.ProcessFunc, error), in weir.Schema, key string) *processHost {
	op := &weir.Operator{Input: in}
	fn, err := open(op)
	if err != nil {
		t.Fatal(err)
	}
	return &processHost{t: t, fn: fn, op: op, key: in.Index(key), state: map[int64][]any{}}
}

// call runs the function on in (nil for a timer call of fired) and stores
// the new state of the keys.
func (h *processHost) call(in *weir.Batch, ids []int64, keys []int32) {
	h.t.Helper()
	st := weir.NewTable(h.op.State, len(ids))
	for k, id := range ids {
		if row, ok := h.state[id]; ok {
			setRow(h.t, st, k, row)
		}
	}
	if in == nil {
		var err error
		if in, err = weir.NewBuilder(h.op.Input).Batch(); err != nil {
			h.t.Fatal(err)
		}
	}
	out := weir.NewBuilder(h.op.Output)
	if err := h.fn(in, keys, st, out); err != nil {
		h.t.Fatal(err)
	}
	res, err := out.Batch()
	if err != nil {
		h.t.Fatal(err)
	}
	h.output = append(h.output, values(h.t, res)...)
	for k, id := range ids {
		if st.Cleared(k) {
			delete(h.state, id)
		} else {
			h.state[id] = getRow(h.t, st, k)
		}
	}
}

func (h *processHost) rows(in *weir.Batch) {
	ids := in.Int64(h.key).Values()
	var distinct []int64
	keys := make([]int32, len(ids))
	for i, id := range ids {
		k := slices.Index(distinct, id)
		if k < 0 {
			k = len(distinct)
			distinct = append(distinct, id)
		}
		keys[i] = int32(k)
	}
	h.call(in, distinct, keys)
}

func (h *processHost) watermark(wm int64) {
	j := h.op.State.Index(weir.TimerColumn)
	var fired []int64
	for id, row := range h.state {
		if ts := row[j].(int64); ts != 0 && ts <= wm {
			fired = append(fired, id)
		}
	}
	if len(fired) > 0 {
		slices.Sort(fired)
		h.call(nil, fired, nil)
	}
}

func setRow(t *testing.T, st *weir.Table, k int, row []any) {
	for j, f := range st.Schema() {
		switch f.Type {
		case weir.Int64:
			st.Int64(j)[k] = row[j].(int64)
		case weir.TimestampMs:
			st.Timestamp(j)[k] = row[j].(int64)
		case weir.Bool:
			st.Bool(j)[k] = row[j].(bool)
		case weir.Binary:
			st.Strings(j)[k] = row[j].(string)
		default:
			t.Fatalf("state type %s", f.Type)
		}
	}
}

func getRow(t *testing.T, st *weir.Table, k int) []any {
	row := make([]any, len(st.Schema()))
	for j, f := range st.Schema() {
		switch f.Type {
		case weir.Int64:
			row[j] = st.Int64(j)[k]
		case weir.TimestampMs:
			row[j] = st.Timestamp(j)[k]
		case weir.Bool:
			row[j] = st.Bool(j)[k]
		case weir.Binary:
			row[j] = strings.Clone(st.Strings(j)[k])
		default:
			t.Fatalf("state type %s", f.Type)
		}
	}
	return row
}

func TestQ4MaxPrice(t *testing.T) {
	h := newProcessHost(t, openQ4MaxPrice, Q4EventSchema, "id")
	const a, b = kindAuction, kindBid
	// id kind category expires price dateTime
	h.rows(batch(t, Q4EventSchema,
		[]any{1001, b, 0, 0, 50, 5000}, // before its auction arrives, inside its interval: counts
		[]any{1001, b, 0, 0, 40, 5000}, // the same time at a lower price: kept as one record
		[]any{1005, b, 0, 0, 9, 3500},  // its auction follows in the same call
		[]any{1005, a, 13, 3600, 0, 3000},
		[]any{1001, b, 0, 0, 999, 500},    // before the auction opened: does not count
		[]any{1003, b, 0, 0, 77, 2000},    // an auction that never comes
		[]any{1002, a, 11, 8000, 0, 1500}, // no bids
	))
	if p := h.state[1001][7].(string); len(p) != 32 || le64(p[16:]) != 5000 || le64(p[24:]) != 50 {
		t.Errorf("1001's waiting bids %x, want (500, 999), (5000, 50)", p)
	}
	h.rows(batch(t, Q4EventSchema,
		[]any{1001, a, 10, 10000, 0, 1000},
		[]any{1001, b, 0, 0, 70, 9000},
		[]any{1001, b, 0, 0, 500, 10001}, // after it expired
		[]any{1001, b, 0, 0, 60, 10000},
		[]any{1004, a, 12, 4000, 0, 3000},
		[]any{1004, b, 0, 0, 5, 4000},
	))
	h.watermark(1999)
	if len(h.output) != 0 || len(h.state) != 5 {
		t.Fatalf("before any timer: output %q, %d keys", h.output, len(h.state))
	}
	h.watermark(2000) // 1003's waiting bid expires
	if _, ok := h.state[1003]; ok || len(h.output) != 0 {
		t.Errorf("the bid without an auction: state kept %v, output %q", ok, h.output)
	}
	h.watermark(9999)
	if want := []string{"1004 12 5", "1005 13 9"}; !slices.Equal(h.output, want) {
		t.Errorf("after 9999: %q, want %q", h.output, want)
	}
	h.watermark(math.MaxInt64) // the end of the input fires every timer
	if want := []string{"1004 12 5", "1005 13 9", "1001 10 70"}; !slices.Equal(h.output, want) {
		t.Errorf("at the end: %q, want %q", h.output, want)
	}
	if len(h.state) != 0 {
		t.Errorf("%d keys left", len(h.state))
	}
}

func TestMergePending(t *testing.T) {
	p := mergePending("", []pendingBid{{30, 1}, {10, 5}, {30, 7}, {20, 2}})
	p = mergePending(p, []pendingBid{{20, 1}, {5, 3}, {30, 9}})
	var got []pendingBid
	for ; len(p) >= 16; p = p[16:] {
		got = append(got, pendingBid{le64(p[:8]), le64(p[8:16])})
	}
	if want := []pendingBid{{5, 3}, {10, 5}, {20, 2}, {30, 9}}; !slices.Equal(got, want) || len(p) != 0 {
		t.Errorf("pending %v (+%d bytes), want %v", got, len(p), want)
	}
}

func TestQ4Average(t *testing.T) {
	h := newProcessHost(t, openQ4Average, Q4MaxPriceOutput, "category")
	h.rows(batch(t, Q4MaxPriceOutput, []any{1, 10, 100}, []any{2, 11, 7}, []any{3, 10, 51}))
	h.rows(batch(t, Q4MaxPriceOutput, []any{4, 10, 0}))
	if want := []string{"10 100 1", "11 7 1", "10 75.5 2", "10 50.333333333333336 3"}; !slices.Equal(h.output, want) {
		t.Errorf("output %q, want %q", h.output, want)
	}
}
