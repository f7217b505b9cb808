//go:build !wasip1

package weir

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The expected JSON here is the plan format of abi/window.go; the main
// module's cmd/weir tests decode the Nexmark example's plans with
// abi.DecodePlan.

func TestWindowPlanJSON(t *testing.T) {
	const src = `{"id":"bids","kind":"source","connector":"nexmark","params":{"kinds":"bid"},` +
		`"eventTime":{"column":"dateTime","maxOutOfOrderness":4000}}`
	bids := func(p *Plan) *Stream {
		return p.Source("nexmark", Params{"kinds": "bid"}).ID("bids").EventTime("dateTime", 4*time.Second)
	}
	tests := []struct {
		name  string
		build func(p *Plan)
		nodes string
	}{
		{
			name: "idle timeout",
			build: func(p *Plan) {
				p.Source("nexmark", nil).ID("s").EventTime("ts", 0, IdleTimeout(90*time.Second)).Sink("blackhole", nil).ID("out")
			},
			nodes: `{"id":"s","kind":"source","connector":"nexmark","eventTime":{"column":"ts","idleTimeout":90000}},` +
				`{"id":"out","kind":"sink","connector":"blackhole","inputs":["s"]}`,
		},
		{
			name: "keyed sliding window with native aggregates",
			build: func(p *Plan) {
				bids(p).KeyBy("auction").
					Window(Sliding(10*time.Second, 2*time.Second), TimeColumn("dateTime"), AllowedLateness(time.Second)).
					Aggregate(Count("num"), Sum("price", "total"), Min("price", "low"), Max("price", "high"), Avg("price", "mean"))
			},
			nodes: src + `,{"id":"window","kind":"window","inputs":["bids"],"keyBy":["auction"],` +
				`"window":{"type":"sliding","column":"dateTime","size":10000,"slide":2000,"allowedLateness":1000},` +
				`"aggregates":[{"fn":"count","as":"num"},{"fn":"sum","column":"price","as":"total"},` +
				`{"fn":"min","column":"price","as":"low"},{"fn":"max","column":"price","as":"high"},{"fn":"avg","column":"price","as":"mean"}]}`,
		},
		{
			name: "windowAll runs at parallelism 1",
			build: func(p *Plan) {
				bids(p).Window(Tumbling(10*time.Second), TimeColumn("dateTime"), Offset(time.Second)).Aggregate(Max("price", "maxprice"))
			},
			nodes: src + `,{"id":"window","kind":"window","inputs":["bids"],"parallelism":1,` +
				`"window":{"type":"tumbling","column":"dateTime","size":10000,"offset":1000},` +
				`"aggregates":[{"fn":"max","column":"price","as":"maxprice"}]}`,
		},
		{
			name: "processing-time session window with a guest aggregate",
			build: func(p *Plan) {
				bids(p).KeyBy("bidder").Window(Session(500*time.Millisecond), ProcessingTime()).AggregateFunc("spend", "usd", "2").ID("sessions")
			},
			nodes: src + `,{"id":"sessions","kind":"window","function":"spend","params":"usd,2","inputs":["bids"],"keyBy":["bidder"],` +
				`"window":{"type":"session","time":"processing","gap":500}}`,
		},
		{
			name: "late side output",
			build: func(p *Plan) {
				w := bids(p).KeyBy("auction").Window(Tumbling(time.Minute), TimeColumn("dateTime")).Aggregate(Count("n")).ID("w")
				w.Late().Map("mark").ID("late")
			},
			nodes: src + `,{"id":"w","kind":"window","inputs":["bids"],"keyBy":["auction"],` +
				`"window":{"type":"tumbling","column":"dateTime","size":60000},"aggregates":[{"fn":"count","as":"n"}]},` +
				`{"id":"late","kind":"map","function":"mark","inputs":["w:late"]}`,
		},
		{
			name: "regular join",
			build: func(p *Plan) {
				persons := p.Source("nexmark", Params{"kinds": "person"}).ID("persons")
				auctions := p.Source("nexmark", Params{"kinds": "auction"}).ID("auctions")
				Join(persons, auctions).Where("id").EqualTo("seller").Regular().Parallelism(3)
			},
			nodes: `{"id":"persons","kind":"source","connector":"nexmark","params":{"kinds":"person"}},` +
				`{"id":"auctions","kind":"source","connector":"nexmark","params":{"kinds":"auction"}},` +
				`{"id":"join","kind":"join","inputs":["persons","auctions"],"parallelism":3,"join":{"type":"regular","keys":[["id"],["seller"]]}}`,
		},
		{
			name: "window join of two windows",
			build: func(p *Plan) {
				counts := bids(p).KeyBy("auction").Window(Sliding(10*time.Second, 2*time.Second), TimeColumn("dateTime")).Aggregate(Count("num")).ID("counts")
				maxes := counts.KeyBy("window_end").Window(Tumbling(2*time.Second), TimeColumn("window_end")).Aggregate(Max("num", "maxn")).ID("maxes")
				Join(counts, maxes).Where("window_end", "auction").EqualTo("window_end", "maxn").Time("window_end", "window_start").
					Window(Tumbling(2 * time.Second)).ID("hot")
			},
			nodes: src + `,{"id":"counts","kind":"window","inputs":["bids"],"keyBy":["auction"],` +
				`"window":{"type":"sliding","column":"dateTime","size":10000,"slide":2000},"aggregates":[{"fn":"count","as":"num"}]},` +
				`{"id":"maxes","kind":"window","inputs":["counts"],"keyBy":["window_end"],` +
				`"window":{"type":"tumbling","column":"window_end","size":2000},"aggregates":[{"fn":"max","column":"num","as":"maxn"}]},` +
				`{"id":"hot","kind":"join","inputs":["counts","maxes"],"join":{"type":"window","keys":[["window_end","auction"],["window_end","maxn"]],` +
				`"time":["window_end","window_start"],"window":{"type":"tumbling","size":2000}}}`,
		},
		{
			name: "interval join of a side output",
			build: func(p *Plan) {
				w := bids(p).KeyBy("auction").Window(Tumbling(time.Minute), TimeColumn("dateTime")).Aggregate(Count("n")).ID("w")
				other := p.Source("file", Params{"path": "x"}).ID("x")
				Join(w.Late(), other).Where("auction").EqualTo("id").Time("dateTime", "ts").Interval(-5*time.Second, 0)
			},
			nodes: src + `,{"id":"w","kind":"window","inputs":["bids"],"keyBy":["auction"],` +
				`"window":{"type":"tumbling","column":"dateTime","size":60000},"aggregates":[{"fn":"count","as":"n"}]},` +
				`{"id":"x","kind":"source","connector":"file","params":{"path":"x"}},` +
				`{"id":"join","kind":"join","inputs":["w:late","x"],"join":{"type":"interval","keys":[["auction"],["id"]],` +
				`"time":["dateTime","ts"],"lower":-5000}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPlan("w")
			tt.build(p)
			got, err := p.JSON()
			if err != nil {
				t.Fatal(err)
			}
			want := `{"weir_plan":1,"name":"w","nodes":[` + tt.nodes + `]}`
			if string(got) != want {
				t.Errorf("JSON:\n got %s\nwant %s", got, want)
			}
			var v map[string]any
			if err := json.Unmarshal(got, &v); err != nil {
				t.Errorf("not JSON: %v", err)
			}
		})
	}
}

func TestWindowPlanErrors(t *testing.T) {
	src := func(p *Plan) *Stream { return p.Source("nexmark", nil) }
	tests := []struct {
		name  string
		build func(p *Plan)
		err   string
	}{
		{"eventTime on a map", func(p *Plan) { src(p).Map("m").EventTime("t", 0) }, "only sources take event time"},
		{"eventTime without column", func(p *Plan) { src(p).EventTime("", time.Second) }, "EventTime with no column"},
		{"eventTime negative", func(p *Plan) { src(p).EventTime("t", -time.Second) }, "must not be negative"},
		{"eventTime sub-millisecond", func(p *Plan) { src(p).EventTime("t", 1500*time.Microsecond) }, "whole number of milliseconds"},
		{"no window", func(p *Plan) { src(p).KeyBy("k").Window(WindowSpec{}).Aggregate(Count("n")) }, "no window given"},
		{"event time without column", func(p *Plan) { src(p).KeyBy("k").Window(Tumbling(time.Second)).Aggregate(Count("n")) }, "needs weir.TimeColumn"},
		{"zero size", func(p *Plan) { src(p).KeyBy("k").Window(Tumbling(0), TimeColumn("t")).Aggregate(Count("n")) }, "at least 1ms"},
		{"sliding zero slide", func(p *Plan) {
			src(p).KeyBy("k").Window(Sliding(time.Second, 0), TimeColumn("t")).Aggregate(Count("n"))
		}, "both must be at least 1ms"},
		{"too many slides", func(p *Plan) {
			src(p).KeyBy("k").Window(Sliding(time.Hour, time.Millisecond), TimeColumn("t")).Aggregate(Count("n"))
		}, "more than 1000 windows"},
		{"offset not below slide", func(p *Plan) {
			src(p).KeyBy("k").Window(Tumbling(time.Second), TimeColumn("t"), Offset(time.Second)).Aggregate(Count("n"))
		}, "smaller than the slide"},
		{"session offset", func(p *Plan) {
			src(p).KeyBy("k").Window(Session(time.Second), TimeColumn("t"), Offset(time.Millisecond)).Aggregate(Count("n"))
		}, "session window takes no offset"},
		{"processing with column", func(p *Plan) {
			src(p).KeyBy("k").Window(Tumbling(time.Second), ProcessingTime(), TimeColumn("t")).Aggregate(Count("n"))
		}, "takes no TimeColumn"},
		{"processing lateness", func(p *Plan) {
			src(p).KeyBy("k").Window(Tumbling(time.Second), ProcessingTime(), AllowedLateness(time.Second)).Aggregate(Count("n"))
		}, "no AllowedLateness"},
		{"no aggregates", func(p *Plan) { src(p).KeyBy("k").Window(Tumbling(time.Second), TimeColumn("t")).Aggregate() }, "no aggregates"},
		{"sum without column", func(p *Plan) {
			src(p).KeyBy("k").Window(Tumbling(time.Second), TimeColumn("t")).Aggregate(Sum("", "s"))
		}, "no column"},
		{"result name clash", func(p *Plan) {
			src(p).KeyBy("k").Window(Tumbling(time.Second), TimeColumn("t")).Aggregate(Count("k"))
		}, `result name "k" is taken`},
		{"window_end clash", func(p *Plan) {
			src(p).KeyBy("k").Window(Tumbling(time.Second), TimeColumn("t")).Aggregate(Count("n"), Max("x", "window_end"))
		}, `"window_end" is taken`},
		{"no result name", func(p *Plan) {
			src(p).KeyBy("k").Window(Tumbling(time.Second), TimeColumn("t")).Aggregate(Max("x", ""))
		}, "no result name"},
		{"windowAll parallel", func(p *Plan) {
			src(p).Window(Tumbling(time.Second), TimeColumn("t")).Aggregate(Count("n")).Parallelism(2)
		}, "windowAll"},
		{"guest aggregate without name", func(p *Plan) {
			src(p).KeyBy("k").Window(Tumbling(time.Second), TimeColumn("t")).AggregateFunc("")
		}, "no function name"},
		{"late of a map", func(p *Plan) { src(p).Map("m").Late().Map("x") }, "only event-time windows"},
		{"late of a processing-time window", func(p *Plan) {
			src(p).KeyBy("k").Window(Tumbling(time.Second), ProcessingTime()).Aggregate(Count("n")).Late().Map("x")
		}, "only event-time windows"},
		{"parallelism of a side output", func(p *Plan) {
			src(p).KeyBy("k").Window(Tumbling(time.Second), TimeColumn("t")).Aggregate(Count("n")).Late().Parallelism(2)
		}, "side output"},
		{"join without keys", func(p *Plan) { Join(src(p), src(p)).Regular() }, "no keys"},
		{"join keys differ", func(p *Plan) { Join(src(p), src(p)).Where("a", "b").EqualTo("c").Regular() }, "2 left keys"},
		{"join keyed input", func(p *Plan) { Join(src(p).KeyBy("a"), src(p)).Where("a").EqualTo("b").Regular() }, "left input is keyed"},
		{"join union input", func(p *Plan) {
			a := src(p)
			Join(a, src(p).Union(a)).Where("a").EqualTo("b").Regular()
		}, "right input is a union"},
		{"join itself", func(p *Plan) {
			a := src(p)
			Join(a, a).Where("a").EqualTo("b").Regular()
		}, "with itself"},
		{"window join without time", func(p *Plan) {
			Join(src(p), src(p)).Where("a").EqualTo("b").Window(Tumbling(time.Second))
		}, "needs the time column"},
		{"regular join with time", func(p *Plan) {
			Join(src(p), src(p)).Where("a").EqualTo("b").Time("t", "t").Regular()
		}, "takes no time columns"},
		{"session window join", func(p *Plan) {
			Join(src(p), src(p)).Where("a").EqualTo("b").Time("t", "t").Window(Session(time.Second))
		}, "tumbling or sliding"},
		{"window join with column", func(p *Plan) {
			Join(src(p), src(p)).Where("a").EqualTo("b").Time("t", "t").Window(Tumbling(time.Second), TimeColumn("t"))
		}, "takes no TimeColumn"},
		{"interval bounds", func(p *Plan) {
			Join(src(p), src(p)).Where("a").EqualTo("b").Time("t", "t").Interval(time.Second, 0)
		}, "exceeds upper bound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPlan("x")
			tt.build(p)
			_, err := p.JSON()
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error = %v, want %q", err, tt.err)
			}
		})
	}
}
