package main

// The Nexmark queries of examples/nexmark: their plans as the JobManager
// decodes them, every query run on one `weir local` against the rows of
// package reference, and `weir bench nexmark --json`.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/internal/nexmark"
	"github.com/weirflow/weir/internal/nexmark/reference"
)

// nexmarkQueries are the queries the example module runs.
var nexmarkQueries = []string{"q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8"}

// TestNexmarkPlans decodes every query's plan with abi.DecodePlan (through
// the module, as weir inspect does) and checks how each is wired.
func TestNexmarkPlans(t *testing.T) {
	module := exampleModule(t, "./nexmark")
	ctx := context.Background()
	for _, q := range nexmarkQueries {
		t.Run(q, func(t *testing.T) {
			rt, _, _, plan, err := loadJob(ctx, module, []string{"--query", q, "--events", "1000", "--parallelism", "2", "--output", "/tmp/x"})
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close(ctx)
			if plan.Name != "nexmark-"+q || plan.Parallelism != 2 {
				t.Errorf("plan %q at parallelism %d", plan.Name, plan.Parallelism)
			}
			for _, n := range plan.Nodes {
				switch {
				case n.Kind == "source" && (n.Connector != "nexmark" || n.ConnectorParams["events"] != "1000" || n.ConnectorParams["kinds"] == ""):
					t.Errorf("source %s: %s %v", n.ID, n.Connector, n.ConnectorParams)
				case n.Kind == "window" && len(n.KeyBy) == 0 && n.Parallelism != 1:
					t.Errorf("windowAll %s at parallelism %d", n.ID, n.Parallelism)
				case n.Kind == "join" && (n.Partition != "hash" || len(n.Inputs) != 2):
					t.Errorf("join %s: partition %q, inputs %v", n.ID, n.Partition, n.Inputs)
				case n.ID == "out" && (n.Connector != "file" || n.ConnectorParams["format"] != "jsonl"):
					t.Errorf("sink %s %v", n.Connector, n.ConnectorParams)
				}
				if n.Window != nil && n.Window.Time == abi.TimeEvent {
					if !eventTimeUpstream(plan, n.ID) {
						t.Errorf("event-time window %s has no source with eventTime upstream", n.ID)
					}
				}
			}
		})
	}
	// Without --output the results go to the blackhole sink.
	rt, _, _, plan, err := loadJob(ctx, module, []string{"--query", "q7"})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	if out := plan.Nodes[len(plan.Nodes)-1]; out.ID != "out" || out.Connector != "blackhole" {
		t.Errorf("last node %s %s, want the blackhole sink", out.ID, out.Connector)
	}
}

// eventTimeUpstream reports whether every source upstream of node id has
// eventTime.
func eventTimeUpstream(p *abi.Plan, id string) bool {
	byID := map[string]abi.Node{}
	for _, n := range p.Nodes {
		byID[n.ID] = n
	}
	var walk func(id string) bool
	walk = func(id string) bool {
		n := byID[id]
		if n.Kind == "source" {
			return n.EventTime != nil && n.EventTime.Column == "dateTime"
		}
		for _, in := range n.Inputs {
			up, _ := abi.SplitInput(in)
			if !walk(up) {
				return false
			}
		}
		return true
	}
	return walk(id)
}

// A nexmarkColumn is an output column and how its values are compared:
// 'i' int64, 'f' float64 (exact), 's' string, 't' timestamp (ms).
type nexmarkColumn struct {
	name string
	kind byte
}

// nexmarkColumns parses "name:kind ..." into columns.
func nexmarkColumns(spec string) []nexmarkColumn {
	var cols []nexmarkColumn
	for _, f := range strings.Fields(spec) {
		name, kind, _ := strings.Cut(f, ":")
		cols = append(cols, nexmarkColumn{name, kind[0]})
	}
	return cols
}

// nexmarkLine is a row as package reference writes it: its values in
// column order, joined by commas.
func nexmarkLine(vals ...any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		switch v := v.(type) {
		case int64:
			parts[i] = strconv.FormatInt(v, 10)
		case float64:
			parts[i] = strconv.FormatFloat(v, 'g', -1, 64)
		case string:
			parts[i] = v
		default:
			panic(fmt.Sprintf("value %v (%T)", v, v))
		}
	}
	return strings.Join(parts, ",")
}

// readNexmark reads the rows the file sink wrote into dir, the values of
// each in the order of cols.
func readNexmark(t *testing.T, dir string, cols []nexmarkColumn) [][]any {
	t.Helper()
	var rows [][]any
	for _, line := range readParts(t, dir) {
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if len(m) != len(cols) {
			t.Fatalf("row %s: want the columns %v", line, cols)
		}
		row := make([]any, len(cols))
		for j, c := range cols {
			v, ok := m[c.name]
			if !ok {
				t.Fatalf("row %s has no column %q", line, c.name)
			}
			var err error
			switch c.kind {
			case 'i':
				row[j], err = v.(json.Number).Int64()
			case 'f':
				row[j], err = v.(json.Number).Float64()
			case 's':
				row[j] = v.(string)
			case 't':
				var ts time.Time
				ts, err = time.Parse(time.RFC3339Nano, v.(string))
				row[j] = ts.UnixMilli()
			}
			if err != nil {
				t.Fatalf("row %s, column %s: %v", line, c.name, err)
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// nexmarkLines returns the rows as sorted lines, as package reference
// gives its results.
func nexmarkLines(rows [][]any) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = nexmarkLine(r...)
	}
	slices.Sort(out)
	return out
}

// nexmarkOutputs are the columns each query writes.
var nexmarkOutputs = map[string]string{
	"q0": "auction:i bidder:i price:i channel:s url:s dateTime:t extra:s",
	"q1": "auction:i bidder:i price:f dateTime:t extra:s",
	"q2": "auction:i price:i",
	"q3": "name:s city:s state:s id:i",
	"q4": "category:i avg:f auctions:i",
	"q5": "windowStart:t windowEnd:t auction:i count:i",
	"q7": "auction:i price:i bidder:i dateTime:t extra:s",
	"q8": "id:i name:s windowStart:t",
}

// lastPerCategory keeps, of q4's running averages, the final one of each
// category (the row that averages the most auctions) as category, avg.
func lastPerCategory(rows [][]any) [][]any {
	last := map[int64][]any{}
	for _, r := range rows {
		c := r[0].(int64)
		if l, ok := last[c]; !ok || r[2].(int64) > l[2].(int64) {
			last[c] = r
		}
	}
	out := make([][]any, 0, len(last))
	for _, r := range last {
		out = append(out, r[:2])
	}
	return out
}

// TestNexmarkQueries runs every query on one `weir local` at parallelism
// 2 over 40 000 events (80 s of event time, out of order by up to half a
// second) and compares its rows with package reference's.
func TestNexmarkQueries(t *testing.T) {
	const events, tps, outOfOrder = 40_000, 500, 250
	c := startLocal(t, 1, 2)
	module := c.upload(t, exampleModule(t, "./nexmark"))
	cfg := nexmark.DefaultConfig()
	cfg.NumEvents, cfg.FirstEventRate, cfg.OutOfOrderGroupSize = events, tps, outOfOrder
	stream, err := reference.Events(cfg, events)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range nexmarkQueries {
		t.Run(q, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			runFinished(t, c, module, 2, "--query", q, "--events", strconv.Itoa(events), "--tps", strconv.Itoa(tps),
				"--gen", "outOfOrderGroupSize="+strconv.Itoa(outOfOrder), "--parallelism", "2", "--output", out)
			got := readNexmark(t, out, nexmarkColumns(nexmarkOutputs[q]))
			if q == "q4" {
				got = lastPerCategory(got)
			}
			w, err := reference.Run(q, stream)
			if err != nil {
				t.Fatal(err)
			}
			if len(w) == 0 {
				t.Fatalf("the stream gives %s no rows", q)
			}
			g := nexmarkLines(got)
			t.Logf("%s: %d rows", q, len(g))
			if len(g) != len(w) {
				t.Errorf("%d rows, want %d", len(g), len(w))
			}
			for i := range min(len(g), len(w)) {
				if g[i] != w[i] {
					t.Fatalf("first difference at sorted row %d:\n got %s\nwant %s", i, g[i], w[i])
				}
			}
		})
	}
}

// TestBenchNexmarkJSON runs `weir bench nexmark --json` on a small stream
// and checks what it reports.
func TestBenchNexmarkJSON(t *testing.T) {
	bin := weirBinary(t)
	module := exampleModule(t, "./nexmark")
	cmd := exec.Command(bin, "bench", "nexmark", "--query", "q1", "--events", "50000", "-p", "2", "--json",
		"--module", module, "--checkpoint-interval", "100ms", "--warmup=false")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("weir bench: %v\n%s", err, stderr.String())
	}
	var r map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	for _, k := range []string{"query", "events", "seconds", "events_per_sec", "cores", "events_per_sec_per_core",
		"parallelism", "checkpoints_completed", "checkpoint_interval_ms", "cores_from", "cpu_seconds", "job_id"} {
		if _, ok := r[k]; !ok {
			t.Errorf("no %q in %s", k, stdout.String())
		}
	}
	num := func(k string) float64 { f, _ := r[k].(float64); return f }
	if r["query"] != "q1" || num("events") != 50000 || num("parallelism") != 2 || r["cores_from"] != coresProcessCPU ||
		num("checkpoint_interval_ms") != 100 {
		t.Errorf("report %s", stdout.String())
	}
	if num("seconds") <= 0 || num("cores") <= 0 || num("cpu_seconds") <= 0 {
		t.Errorf("measurements %s", stdout.String())
	}
	if eps := num("events_per_sec"); eps*num("seconds") < 49999 || eps*num("seconds") > 50001 ||
		num("events_per_sec_per_core")*num("cores") < eps*0.999 || num("events_per_sec_per_core")*num("cores") > eps*1.001 {
		t.Errorf("rates do not add up: %s", stdout.String())
	}
}
