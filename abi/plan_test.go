package abi

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const wordcount = `{
  "weir_plan": 1, "name": "wordcount", "parallelism": 2,
  "nodes": [
    {"id": "out", "kind": "sink", "connector": "file", "params": {"path": "o", "format": "jsonl"}, "inputs": ["counts"]},
    {"id": "counts", "kind": "process", "function": "count", "inputs": ["words"], "keyBy": ["word"]},
    {"id": "lines", "kind": "source", "connector": "file", "params": {"path": "in.txt"}, "parallelism": 1},
    {"id": "words", "kind": "flatmap", "function": "tokenize", "params": "x", "inputs": ["lines"]}
  ]}`

func TestDecodePlan(t *testing.T) {
	p, err := DecodePlan([]byte(wordcount))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, n := range p.Nodes {
		order = append(order, n.ID)
	}
	if got := strings.Join(order, ","); got != "lines,words,counts,out" {
		t.Fatalf("topological order %s", got)
	}
	byID := map[string]Node{}
	for _, n := range p.Nodes {
		byID[n.ID] = n
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"max parallelism default", p.MaxParallelism == 128},
		{"node parallelism default", byID["words"].Parallelism == 2},
		{"node parallelism kept", byID["lines"].Parallelism == 1},
		{"hash partition from keyBy", byID["counts"].Partition == "hash"},
		{"rebalance when parallelism changes", byID["words"].Partition == "rebalance"},
		{"forward when it does not", byID["out"].Partition == "forward"},
		{"function params", byID["words"].FunctionParams == "x"},
		{"connector params", byID["lines"].ConnectorParams["path"] == "in.txt"},
		{"wasm kinds", byID["words"].IsWasm() && !byID["lines"].IsWasm()},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: %+v", c.name, p)
		}
	}
}

func TestDecodePlanParallelismOverride(t *testing.T) {
	p, err := DecodePlanWith([]byte(wordcount), DecodeOptions{Parallelism: 4})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, n := range p.Nodes {
		got[n.ID] = n.Parallelism
	}
	want := map[string]int{"lines": 1, "words": 4, "counts": 4, "out": 4}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("node %s parallelism %d, want %d", id, got[id], w)
		}
	}
	if _, err := DecodePlanWith([]byte(wordcount), DecodeOptions{Parallelism: 129}); !errors.Is(err, ErrInvalidPlan) {
		t.Errorf("parallelism above max parallelism: %v", err)
	}
}

func TestDecodeNodesRoundTrip(t *testing.T) {
	p, err := DecodePlan([]byte(wordcount))
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(p.Nodes)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := DecodeNodes(data)
	if err != nil {
		t.Fatal(err)
	}
	if nodes[0].ConnectorParams["path"] != "in.txt" || nodes[1].FunctionParams != "x" || nodes[2].KeyBy[0] != "word" {
		t.Errorf("nodes after a round trip: %+v", nodes)
	}
	if _, err := DecodeNodes([]byte(`[{"id":"a","kind":"map","params":{"x":"y"}}]`)); !errors.Is(err, ErrInvalidPlan) {
		t.Errorf("map with map params: %v", err)
	}
}

func TestDecodePlanRefuses(t *testing.T) {
	src := `{"id": "s", "kind": "source", "connector": "sequence"}`
	cases := []struct {
		name, plan, msg string
	}{
		{"not json", `<plan/>`, "invalid character"},
		{"trailing", `{"weir_plan":1,"name":"a","nodes":[` + src + `]} {}`, "trailing data"},
		{"version", `{"weir_plan":2,"name":"a","nodes":[` + src + `]}`, "weir_plan is 2"},
		{"no name", `{"weir_plan":1,"nodes":[` + src + `]}`, "name must be"},
		{"no nodes", `{"weir_plan":1,"name":"a","nodes":[]}`, "1 to 1024 nodes"},
		{"unknown field", `{"weir_plan":1,"name":"a","nodes":[` + src + `],"extra":1}`, "unknown field"},
		{"bad id", `{"weir_plan":1,"name":"a","nodes":[{"id":"a b","kind":"source","connector":"x"}]}`, "must match"},
		{"dup id", `{"weir_plan":1,"name":"a","nodes":[` + src + `,` + src + `]}`, "used twice"},
		{"unknown kind", `{"weir_plan":1,"name":"a","nodes":[{"id":"a","kind":"merge","inputs":["a"]}]}`, "unknown kind"},
		{"missing input", `{"weir_plan":1,"name":"a","nodes":[{"id":"m","kind":"map","function":"f","inputs":["zz"]}]}`, "is not a node"},
		{"no inputs", `{"weir_plan":1,"name":"a","nodes":[{"id":"m","kind":"map","function":"f"}]}`, "at least one input"},
		{"source inputs", `{"weir_plan":1,"name":"a","nodes":[` + src + `,{"id":"t","kind":"source","connector":"x","inputs":["s"]}]}`, "takes no inputs"},
		{"no function", `{"weir_plan":1,"name":"a","nodes":[` + src + `,{"id":"m","kind":"map","inputs":["s"]}]}`, "needs a function"},
		{"process without key", `{"weir_plan":1,"name":"a","nodes":[` + src + `,{"id":"m","kind":"process","function":"f","inputs":["s"]}]}`, "needs keyBy"},
		{"cycle", `{"weir_plan":1,"name":"a","nodes":[{"id":"a","kind":"map","function":"f","inputs":["b"]},{"id":"b","kind":"map","function":"f","inputs":["a"]}]}`, "cycle"},
		{"sink as input", `{"weir_plan":1,"name":"a","nodes":[` + src + `,{"id":"k","kind":"sink","connector":"print","inputs":["s"]},{"id":"m","kind":"map","function":"f","inputs":["k"]}]}`, "is a sink"},
		{"parallelism", `{"weir_plan":1,"name":"a","parallelism":500,"nodes":[` + src + `]}`, "parallelism 500"},
		{"bad partition", `{"weir_plan":1,"name":"a","nodes":[` + src + `,{"id":"m","kind":"map","function":"f","inputs":["s"],"partition":"broadcast"}]}`, "unknown partition"},
		{"forward across parallelism", `{"weir_plan":1,"name":"a","nodes":[` + src + `,{"id":"m","kind":"map","function":"f","inputs":["s"],"partition":"forward","parallelism":2}]}`, "forward partitioning needs"},
		{"hash without key", `{"weir_plan":1,"name":"a","nodes":[` + src + `,{"id":"m","kind":"map","function":"f","inputs":["s"],"partition":"hash"}]}`, "needs keyBy"},
		{"connector params type", `{"weir_plan":1,"name":"a","nodes":[{"id":"s","kind":"source","connector":"x","params":{"n":1}}]}`, "map of strings"},
		{"function params type", `{"weir_plan":1,"name":"a","nodes":[` + src + `,{"id":"m","kind":"map","function":"f","inputs":["s"],"params":{"a":"b"}}]}`, "must be a string"},
		{"too big", `{"name":"` + strings.Repeat("a", MaxPlanBytes) + `"}`, "exceeds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodePlan([]byte(tc.plan))
			if !errors.Is(err, ErrInvalidPlan) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %q", err, tc.msg)
			}
		})
	}
}

func TestKinds(t *testing.T) {
	for _, k := range []Kind{KindMap, KindFlatMap, KindFilter, KindProcess, KindAggregate} {
		back, ok := ParseKind(k.String())
		if !ok || back != k || len(k.Exports()) == 0 {
			t.Fatalf("%d: %q %v %v", k, k.String(), back, ok)
		}
	}
	if _, ok := ParseKind("source"); ok {
		t.Fatal("source is not an operator kind")
	}
	if Kind(99).String() != "unknown" {
		t.Fatal("unknown kind name")
	}
}

// FuzzDecodePlan: arbitrary bytes never panic, and an accepted plan is
// topologically ordered with every input defined.
func FuzzDecodePlan(f *testing.F) {
	f.Add([]byte(wordcount))
	f.Add([]byte(`{"weir_plan":1,"name":"a","nodes":[{"id":"a","kind":"map","function":"f","inputs":["a"]}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePlan(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, n := range p.Nodes {
			for _, in := range n.Inputs {
				if !seen[in] {
					t.Fatalf("node %q before its input %q", n.ID, in)
				}
			}
			seen[n.ID] = true
		}
	})
}
