package abi

import (
	"errors"
	"strings"
	"testing"
)

// windowPlan is a plan with a source, the node given and a sink after it.
func windowPlan(node string) string {
	return `{"weir_plan":1,"name":"w","parallelism":2,"nodes":[
	  {"id":"s","kind":"source","connector":"nexmark","eventTime":{"column":"dateTime","maxOutOfOrderness":4000}},
	  {"id":"t","kind":"source","connector":"nexmark"},
	  ` + node + `,
	  {"id":"out","kind":"sink","connector":"blackhole","inputs":["x"]}]}`
}

func TestWindowPlans(t *testing.T) {
	cases := []struct {
		name, node, msg string
	}{
		{"tumbling", `{"id":"x","kind":"window","inputs":["s"],"keyBy":["auction"],"window":{"type":"tumbling","column":"dateTime","size":10000},"aggregates":[{"fn":"count","as":"n"}]}`, ""},
		{"sliding guest aggregate", `{"id":"x","kind":"window","inputs":["s"],"keyBy":["auction"],"window":{"type":"sliding","column":"dateTime","size":10000,"slide":2000},"function":"avg","params":"p"}`, ""},
		{"session processing", `{"id":"x","kind":"window","inputs":["s"],"keyBy":["bidder"],"window":{"type":"session","time":"processing","gap":500},"aggregates":[{"fn":"max","column":"price","as":"m"}]}`, ""},
		{"late side output", `{"id":"w","kind":"window","inputs":["s"],"keyBy":["a"],"window":{"type":"tumbling","column":"dateTime","size":10},"aggregates":[{"fn":"count","as":"n"}]},{"id":"x","kind":"map","function":"f","inputs":["w:late"]}`, ""},
		{"regular join", `{"id":"x","kind":"join","inputs":["s","t"],"join":{"type":"regular","keys":[["seller"],["id"]]}}`, ""},
		{"window join", `{"id":"x","kind":"join","inputs":["s","t"],"join":{"type":"window","keys":[["seller"],["id"]],"time":["dateTime","dateTime"],"window":{"type":"tumbling","size":10000}}}`, ""},
		{"interval join", `{"id":"x","kind":"join","inputs":["s","t"],"join":{"type":"interval","keys":[["a"],["b"]],"time":["t1","t2"],"lower":-5,"upper":5}}`, ""},

		{"no window", `{"id":"x","kind":"window","inputs":["s"],"keyBy":["a"],"aggregates":[{"fn":"count","as":"n"}]}`, "needs a window"},
		{"unknown type", `{"id":"x","kind":"window","inputs":["s"],"keyBy":["a"],"window":{"type":"cumulate","column":"d","size":1},"aggregates":[{"fn":"count","as":"n"}]}`, "window type"},
		{"event time without column", `{"id":"x","kind":"window","inputs":["s"],"keyBy":["a"],"window":{"type":"tumbling","size":1},"aggregates":[{"fn":"count","as":"n"}]}`, "needs a column"},
		{"tumbling without size", `{"id":"x","kind":"window","inputs":["s"],"keyBy":["a"],"window":{"type":"tumbling","column":"d"},"aggregates":[{"fn":"count","as":"n"}]}`, "size > 0"},
		{"too many slides", `{"id":"x","kind":"window","inputs":["s"],"keyBy":["a"],"window":{"type":"sliding","column":"d","size":100000,"slide":1},"aggregates":[{"fn":"count","as":"n"}]}`, "more than 1000"},
		{"session with size", `{"id":"x","kind":"window","inputs":["s"],"keyBy":["a"],"window":{"type":"session","column":"d","gap":5,"size":3},"aggregates":[{"fn":"count","as":"n"}]}`, "needs gap"},
		{"processing lateness", `{"id":"x","kind":"window","inputs":["s"],"keyBy":["a"],"window":{"type":"tumbling","time":"processing","size":5,"allowedLateness":3},"aggregates":[{"fn":"count","as":"n"}]}`, "no column or allowedLateness"},
		{"aggregates and function", `{"id":"x","kind":"window","inputs":["s"],"keyBy":["a"],"function":"f","window":{"type":"tumbling","column":"d","size":1},"aggregates":[{"fn":"count","as":"n"}]}`, "either aggregates or a function"},
		{"unknown fn", `{"id":"x","kind":"window","inputs":["s"],"keyBy":["a"],"window":{"type":"tumbling","column":"d","size":1},"aggregates":[{"fn":"median","column":"p","as":"n"}]}`, "unknown fn"},
		{"sum without column", `{"id":"x","kind":"window","inputs":["s"],"keyBy":["a"],"window":{"type":"tumbling","column":"d","size":1},"aggregates":[{"fn":"sum","as":"n"}]}`, "needs a column"},
		{"result name clash", `{"id":"x","kind":"window","inputs":["s"],"keyBy":["a"],"window":{"type":"tumbling","column":"d","size":1},"aggregates":[{"fn":"count","as":"a"}]}`, "used twice"},
		{"windowAll parallel", `{"id":"x","kind":"window","inputs":["s"],"window":{"type":"tumbling","column":"d","size":1},"aggregates":[{"fn":"count","as":"n"}]}`, "parallelism 1"},
		{"side output of a map", `{"id":"w","kind":"map","function":"f","inputs":["s"]},{"id":"x","kind":"map","function":"f","inputs":["w:late"]}`, "side output"},
		{"unknown side output", `{"id":"w","kind":"window","inputs":["s"],"keyBy":["a"],"window":{"type":"tumbling","column":"d","size":1},"aggregates":[{"fn":"count","as":"n"}]},{"id":"x","kind":"map","function":"f","inputs":["w:early"]}`, "side output"},
		{"join one input", `{"id":"x","kind":"join","inputs":["s"],"join":{"type":"regular","keys":[["a"],["b"]]}}`, "two inputs"},
		{"join same input", `{"id":"x","kind":"join","inputs":["s","s"],"join":{"type":"regular","keys":[["a"],["b"]]}}`, "two different inputs"},
		{"join keys differ", `{"id":"x","kind":"join","inputs":["s","t"],"join":{"type":"regular","keys":[["a","c"],["b"]]}}`, "as many on each side"},
		{"join keyBy", `{"id":"x","kind":"join","inputs":["s","t"],"keyBy":["a"],"join":{"type":"regular","keys":[["a"],["b"]]}}`, "no keyBy"},
		{"window join no time", `{"id":"x","kind":"join","inputs":["s","t"],"join":{"type":"window","keys":[["a"],["b"]],"window":{"type":"tumbling","size":5}}}`, "time column for each input"},
		{"session join", `{"id":"x","kind":"join","inputs":["s","t"],"join":{"type":"window","keys":[["a"],["b"]],"time":["d","d"],"window":{"type":"session","gap":5}}}`, "tumbling or sliding"},
		{"interval bounds", `{"id":"x","kind":"join","inputs":["s","t"],"join":{"type":"interval","keys":[["a"],["b"]],"time":["d","d"],"lower":5,"upper":1}}`, "exceeds"},
		{"eventTime on a map", `{"id":"x","kind":"map","function":"f","inputs":["s"],"eventTime":{"column":"d"}}`, "no eventTime"},
		{"window on a map", `{"id":"x","kind":"map","function":"f","inputs":["s"],"window":{"type":"tumbling","column":"d","size":1}}`, "no eventTime, window"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodePlan([]byte(windowPlan(tc.node)))
			if tc.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range p.Nodes {
					if n.ID == "x" && n.Kind == "join" && (n.Partition != "hash" || n.InputKeyBy(1)[0] != n.Join.Keys[1][0]) {
						t.Errorf("join partitioning %q %v", n.Partition, n.InputKeyBy(1))
					}
					if n.ID == "x" && n.Kind == "window" && n.Function != "" && (n.FunctionParams != "p" || !n.UsesWasm()) {
						t.Errorf("guest window aggregate: params %q, uses Wasm %v", n.FunctionParams, n.UsesWasm())
					}
				}
				return
			}
			if !errors.Is(err, ErrInvalidPlan) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %q", err, tc.msg)
			}
		})
	}
}
