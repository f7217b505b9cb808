package execgraph

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/weirflow/weir/abi"
)

func plan(t *testing.T, body string) *abi.Plan {
	t.Helper()
	p, err := abi.DecodePlan([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	srcP1   = `{"id":"lines","kind":"source","connector":"file","parallelism":1}`
	wcNodes = srcP1 + `,{"id":"words","kind":"flatmap","function":"tokenize","inputs":["lines"]},
		{"id":"counts","kind":"process","function":"count","inputs":["words"],"keyBy":["word"]},
		{"id":"out","kind":"sink","connector":"file","inputs":["counts"]}`
)

func TestBuild(t *testing.T) {
	cases := []struct {
		name   string
		plan   string
		chains []string // vertex names in order
		edges  []string // "src->dst partition"
		slots  int
	}{
		{
			name:   "wordcount",
			plan:   `{"weir_plan":1,"name":"wc","parallelism":4,"nodes":[` + wcNodes + `]}`,
			chains: []string{"Source: file", "FlatMap: tokenize", "KeyedProcess: count -> Sink: file"},
			edges:  []string{"lines->words rebalance", "words->counts hash"},
			slots:  4,
		},
		{
			name: "linear chain",
			plan: `{"weir_plan":1,"name":"c","parallelism":2,"nodes":[{"id":"s","kind":"source","connector":"datagen"},
				{"id":"m","kind":"map","function":"f","inputs":["s"],"name":"to euros"},
				{"id":"x","kind":"filter","function":"g","inputs":["m"]},
				{"id":"k","kind":"sink","connector":"print","inputs":["x"]}]}`,
			chains: []string{"Source: datagen -> Map: to euros -> Filter: g -> Sink: print"},
			slots:  2,
		},
		{
			name: "chaining off",
			plan: `{"weir_plan":1,"name":"c","config":{"pipeline.operator-chaining":"false"},"nodes":[{"id":"s","kind":"source","connector":"datagen"},
				{"id":"m","kind":"map","function":"f","inputs":["s"]},{"id":"k","kind":"sink","connector":"print","inputs":["m"]}]}`,
			chains: []string{"Source: datagen", "Map: f", "Sink: print"},
			edges:  []string{"s->m forward", "m->k forward"},
			slots:  1,
		},
		{
			name: "fan out does not chain",
			plan: `{"weir_plan":1,"name":"c","nodes":[{"id":"s","kind":"source","connector":"datagen"},
				{"id":"a","kind":"map","function":"f","inputs":["s"]},{"id":"b","kind":"map","function":"g","inputs":["s"]}]}`,
			chains: []string{"Source: datagen", "Map: f", "Map: g"},
			edges:  []string{"s->a forward", "s->b forward"},
			slots:  1,
		},
		{
			name: "union does not chain",
			plan: `{"weir_plan":1,"name":"c","nodes":[{"id":"s1","kind":"source","connector":"datagen","parallelism":3},
				{"id":"s2","kind":"source","connector":"datagen"},
				{"id":"u","kind":"map","function":"f","inputs":["s1","s2"]}]}`,
			chains: []string{"Source: datagen", "Source: datagen", "Map: f"},
			edges:  []string{"s1->u rebalance", "s2->u rebalance"},
			slots:  3,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Build(plan(t, tc.plan))
			if err != nil {
				t.Fatal(err)
			}
			var chains, edges []string
			for _, v := range g.Vertices {
				chains = append(chains, v.Name)
				for _, e := range v.Inputs {
					edges = append(edges, fmt.Sprintf("%s->%s %s", e.Source, e.Target, e.Partition))
				}
			}
			if !slices.Equal(chains, tc.chains) {
				t.Errorf("chains %q, want %q", chains, tc.chains)
			}
			if !slices.Equal(edges, tc.edges) {
				t.Errorf("edges %q, want %q", edges, tc.edges)
			}
			if g.Slots() != tc.slots {
				t.Errorf("slots %d, want %d", g.Slots(), tc.slots)
			}
		})
	}
}

func TestPickSlots(t *testing.T) {
	offers := func(spec ...string) []Slot { // "tm:n" = n slots
		var out []Slot
		for _, s := range spec {
			var tm string
			var n int
			fmt.Sscanf(strings.Replace(s, ":", " ", 1), "%s %d", &tm, &n)
			for i := n - 1; i >= 0; i-- { // offered out of order on purpose
				out = append(out, Slot{tm, i})
			}
		}
		return out
	}
	cases := []struct {
		name string
		need int
		free []Slot
		want string
		err  error
	}{
		{"spread over two", 4, offers("tm-b:4", "tm-a:4"), "[tm-a/0 tm-b/0 tm-a/1 tm-b/1]", nil},
		{"spreads before filling", 3, offers("tm-a:3", "tm-b:1"), "[tm-a/0 tm-b/0 tm-a/1]", nil},
		{"more free breaks ties", 2, offers("tm-a:1", "tm-b:3"), "[tm-b/0 tm-a/0]", nil},
		{"three managers", 5, offers("tm-c:2", "tm-a:2", "tm-b:2"), "[tm-a/0 tm-b/0 tm-c/0 tm-a/1 tm-b/1]", nil},
		{"exactly enough", 2, offers("tm-a:1", "tm-b:1"), "[tm-a/0 tm-b/0]", nil},
		{"too few", 3, offers("tm-a:1", "tm-b:1"), "", ErrNotEnoughSlots},
		{"none needed", 0, nil, "[]", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PickSlots(tc.need, tc.free)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if err == nil && fmt.Sprint(got) != tc.want {
				t.Fatalf("got %v, want %s", got, tc.want)
			}
		})
	}
}

func TestPlaceAndChannels(t *testing.T) {
	g, err := Build(plan(t, `{"weir_plan":1,"name":"wc","parallelism":4,"nodes":[`+wcNodes+`]}`))
	if err != nil {
		t.Fatal(err)
	}
	slots, err := PickSlots(g.Slots(), []Slot{{"a", 0}, {"a", 1}, {"b", 0}, {"b", 1}})
	if err != nil {
		t.Fatal(err)
	}
	subtasks, err := g.Place(slots)
	if err != nil {
		t.Fatal(err)
	}
	if len(subtasks) != 1+4+4 {
		t.Fatalf("%d subtasks", len(subtasks))
	}
	perSlot := map[Slot][]string{}
	for _, s := range subtasks {
		perSlot[s.Slot] = append(perSlot[s.Slot], s.ID())
	}
	// Slot sharing: slot 0 holds subtask 0 of every vertex.
	if got := fmt.Sprint(perSlot[slots[0]]); got != "[lines#0 words#0 counts#0]" {
		t.Fatalf("first shared slot holds %s", got)
	}
	if len(perSlot) != 4 {
		t.Fatalf("%d slots used", len(perSlot))
	}
	// Key groups of the keyed vertex cover 0..127 in 4 ranges.
	var ranges []string
	for _, s := range subtasks {
		if s.Vertex == "counts" {
			ranges = append(ranges, s.KeyGroups.String())
		}
	}
	if fmt.Sprint(ranges) != "[[0, 31] [32, 63] [64, 95] [96, 127]]" {
		t.Fatalf("key groups %v", ranges)
	}
	words := g.Vertex("words")
	ch, err := g.Channels(words.Inputs[0]) // lines (p1) -> words (p4), rebalance
	if err != nil || fmt.Sprint(ch) != "[[0 1 2 3]]" {
		t.Fatalf("rebalance channels %v %v", ch, err)
	}
	if _, err := g.Place(slots[:2]); !errors.Is(err, ErrNotEnoughSlots) {
		t.Fatalf("placing on too few slots: %v", err)
	}
	if _, err := g.Channels(Edge{Source: "nope", Target: "words"}); err == nil {
		t.Fatal("an edge from an unknown vertex was accepted")
	}
}
