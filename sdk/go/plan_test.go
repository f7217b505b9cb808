//go:build !wasip1

package weir

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPlanJSON(t *testing.T) {
	tests := []struct {
		name  string
		build func() *Plan
		want  string
	}{
		{
			name: "spec example",
			build: func() *Plan {
				p := NewPlan("wordcount").Parallelism(2).MaxParallelism(128).Config("pipeline.buffer-timeout", "100ms")
				p.Source("file", Params{"path": "in.txt", "format": "lines"}).ID("lines").Parallelism(1).
					FlatMap("tokenize").ID("words").
					KeyBy("word").Process("count").ID("counts").
					Sink("file", Params{"path": "out", "format": "jsonl"}).ID("out")
				return p
			},
			want: `{"weir_plan":1,"name":"wordcount","parallelism":2,"maxParallelism":128,` +
				`"config":{"pipeline.buffer-timeout":"100ms"},"nodes":[` +
				`{"id":"lines","kind":"source","connector":"file","params":{"format":"lines","path":"in.txt"},"parallelism":1},` +
				`{"id":"words","kind":"flatmap","function":"tokenize","inputs":["lines"]},` +
				`{"id":"counts","kind":"process","function":"count","inputs":["words"],"keyBy":["word"]},` +
				`{"id":"out","kind":"sink","connector":"file","params":{"format":"jsonl","path":"out"},"inputs":["counts"]}]}`,
		},
		{
			name: "generated ids, params, rebalance, names",
			build: func() *Plan {
				p := NewPlan("j")
				s := p.Source("gen", nil)
				a := s.Map("scale", "0.5").Name("Scale it")
				b := a.Rebalance().Filter("keep", "1", "2").Parallelism(4)
				b.Map("scale").Map("scale").Aggregate("sum").Sink("print", nil)
				return p
			},
			want: `{"weir_plan":1,"name":"j","nodes":[` +
				`{"id":"source-gen","kind":"source","connector":"gen"},` +
				`{"id":"scale","kind":"map","function":"scale","params":"0.5","inputs":["source-gen"],"name":"Scale it"},` +
				`{"id":"keep","kind":"filter","function":"keep","params":"1,2","inputs":["scale"],"partition":"rebalance","parallelism":4},` +
				`{"id":"scale-2","kind":"map","function":"scale","inputs":["keep"]},` +
				`{"id":"scale-3","kind":"map","function":"scale","inputs":["scale-2"]},` +
				`{"id":"sum","kind":"aggregate","function":"sum","inputs":["scale-3"]},` +
				`{"id":"sink-print","kind":"sink","connector":"print","inputs":["sum"]}]}`,
		},
		{
			name: "union and explicit id reserved before generated ones",
			build: func() *Plan {
				p := NewPlan("u")
				a := p.Source("file", Params{"path": "a"})
				b := p.Source("file", Params{"path": "b"}).ID("source-file")
				a.Union(b).KeyBy("k", "v").Process("f/x")
				return p
			},
			want: `{"weir_plan":1,"name":"u","nodes":[` +
				`{"id":"source-file-2","kind":"source","connector":"file","params":{"path":"a"}},` +
				`{"id":"source-file","kind":"source","connector":"file","params":{"path":"b"}},` +
				`{"id":"f_x","kind":"process","function":"f/x","inputs":["source-file-2","source-file"],"keyBy":["k","v"]}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.build().JSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("JSON:\n got %s\nwant %s", got, tt.want)
			}
			var v map[string]any
			if err := json.Unmarshal(got, &v); err != nil {
				t.Errorf("not JSON: %v", err)
			}
		})
	}
}

func TestPlanErrors(t *testing.T) {
	tests := []struct {
		name  string
		build func() *Plan
		err   string
	}{
		{"no nodes", func() *Plan { return NewPlan("x") }, "no nodes"},
		{"no name", func() *Plan {
			p := NewPlan("")
			p.Source("s", nil)
			return p
		}, "no name"},
		{"process without keyBy", func() *Plan {
			p := NewPlan("x")
			p.Source("s", nil).Process("count")
			return p
		}, `process node "count" needs KeyBy`},
		{"duplicate id", func() *Plan {
			p := NewPlan("x")
			p.Source("s", nil).ID("a").Map("m").ID("a")
			return p
		}, `duplicate node id "a"`},
		{"bad id", func() *Plan {
			p := NewPlan("x")
			p.Source("s", nil).ID("a b")
			return p
		}, `node id "a b"`},
		{"read from sink", func() *Plan {
			p := NewPlan("x")
			p.Source("s", nil).Sink("k", nil).Map("m")
			return p
		}, "reads from sink"},
		{"empty function", func() *Plan {
			p := NewPlan("x")
			p.Source("s", nil).Map("")
			return p
		}, "no function name"},
		{"bad parallelism", func() *Plan {
			p := NewPlan("x")
			p.Source("s", nil).Parallelism(0)
			return p
		}, "parallelism 0"},
		{"parallelism above max", func() *Plan {
			p := NewPlan("x").MaxParallelism(4)
			p.Source("s", nil).Parallelism(8)
			return p
		}, "exceeds max parallelism 4"},
		{"keyBy without columns", func() *Plan {
			p := NewPlan("x")
			p.Source("s", nil).KeyBy().Process("p")
			return p
		}, "KeyBy with no columns"},
		{"name on union", func() *Plan {
			p := NewPlan("x")
			a := p.Source("s", nil)
			a.Union(a).Name("u")
			return p
		}, "Name on a union"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.build().JSON()
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestPlanArgsAndFlags(t *testing.T) {
	saved := planFunc
	defer func() { planFunc = saved }()
	planFunc = nil
	if _, err := BuildPlan(nil); err == nil {
		t.Error("BuildPlan without a plan succeeded")
	}
	var gotArgs []string
	DefinePlan(func(args []string) (*Plan, error) {
		gotArgs = args
		fs := NewFlagSet("t")
		in := fs.String("input", "", "input file")
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		p := NewPlan("t")
		p.Source("file", Params{"path": *in}).Sink("print", nil)
		return p, nil
	})
	js, err := BuildPlan([]string{"--input", "a b.txt"})
	if err != nil || !strings.Contains(string(js), `"path":"a b.txt"`) {
		t.Errorf("BuildPlan = %s, %v", js, err)
	}

	// Through the export: NUL-terminated arguments, including an empty one.
	ret := abiAlloc(64, 8)
	for _, tt := range []struct {
		raw  string
		args []string
	}{
		{"", nil},
		{"--input\x00x.txt\x00", []string{"--input", "x.txt"}},
		{"--input\x00\x00", []string{"--input", ""}},
	} {
		p, n := hostBytes(tt.raw)
		if st := abiPlan(p, n, ret); st != 0 {
			t.Errorf("weir_plan(%q) failed: %s", tt.raw, lastError)
			continue
		}
		if strings.Join(gotArgs, "|") != strings.Join(tt.args, "|") || len(gotArgs) != len(tt.args) {
			t.Errorf("weir_plan(%q) args = %q, want %q", tt.raw, gotArgs, tt.args)
		}
		text := string(bytesAt(slot(ret, 0), int(slot(ret, 1))))
		if !strings.HasPrefix(text, `{"weir_plan":1,"name":"t"`) {
			t.Errorf("plan text %s", text)
		}
	}
	p, n := hostBytes("--nope\x00")
	if st := abiPlan(p, n, ret); st != 1 || !strings.Contains(lastError, "flag provided but not defined") {
		t.Errorf("bad flag: status %d, %q", st, lastError)
	}
}
