// Command windows is a Weir job module showing event time and windows over
// sensor readings (csv: sensor, ts, value) that arrive out of order:
//
//   - per sensor, tumbling windows with native aggregates (count, avg, max)
//     and allowed lateness; rows later than that go to the late side output;
//   - per sensor, session windows with a guest aggregate function, spread
//     (max - min of the readings of a session), merged as sessions join.
//
// Plan: source file (csv, event time from ts, bounded out-of-orderness) →
// keyBy sensor → tumbling window → sink <output>/windows; its late rows →
// sink <output>/late; the source → keyBy sensor → session window (spread) →
// sink <output>/sessions. All sinks write jsonl.
//
// Build:
//
//	cd examples && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o ../bin/examples/windows.wasm ./windows
package main

import (
	"errors"
	"path/filepath"
	"time"

	weir "github.com/weirflow/weir/sdk/go"
)

func main() {}

func init() {
	weir.Aggregate("spread", openSpread)
	weir.DefinePlan(plan)
}

// Schema is the csv schema of the input.
const Schema = "sensor:utf8,ts:timestamp[ms],value:float64"

// plan: --input FILE --output DIR [--window D] [--lateness D] [--gap D]
// [--out-of-order D] [--parallelism N]
func plan(args []string) (*weir.Plan, error) {
	fs := weir.NewFlagSet("windows")
	input := fs.String("input", "", "csv file of readings: sensor, ts (RFC 3339 or ms), value (required)")
	output := fs.String("output", "windows-out", "directory for windows/, late/ and sessions/ (jsonl)")
	window := fs.Duration("window", 10*time.Second, "size of the tumbling windows")
	lateness := fs.Duration("lateness", 0, "allowed lateness of the tumbling windows")
	gap := fs.Duration("gap", 5*time.Second, "gap that ends a session")
	ooo := fs.Duration("out-of-order", 2*time.Second, "how far out of order readings may come (watermark lag)")
	parallelism := fs.Int("parallelism", 1, "parallelism of the windows")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *input == "" {
		return nil, errors.New("windows: --input FILE is required")
	}
	sink := func(dir string) weir.Params {
		return weir.Params{"path": filepath.Join(*output, dir), "format": "jsonl"}
	}
	p := weir.NewPlan("windows").Parallelism(*parallelism)
	readings := p.Source("file", weir.Params{"path": *input, "format": "csv", "schema": Schema}).ID("readings").
		Parallelism(1).EventTime("ts", *ooo)
	tumbling := readings.KeyBy("sensor").
		Window(weir.Tumbling(*window), weir.TimeColumn("ts"), weir.AllowedLateness(*lateness)).
		Aggregate(weir.Count("n"), weir.Avg("value", "avg"), weir.Max("value", "max")).ID("tumbling")
	tumbling.Sink("file", sink("windows")).ID("windows-out")
	tumbling.Late().Sink("file", sink("late")).ID("late-out")
	readings.KeyBy("sensor").Window(weir.Session(*gap), weir.TimeColumn("ts")).
		AggregateFunc("spread").ID("sessions").
		Sink("file", sink("sessions")).ID("sessions-out")
	return p, nil
}

// spread: the difference between the highest and the lowest value of a
// window (null for a window without values). Accumulator: lo, hi, n.
func openSpread(op *weir.Operator) (*weir.Aggregator, error) {
	value, err := op.Input.Lookup("value", weir.Float64)
	if err != nil {
		return nil, err
	}
	op.State = weir.Schema{{Name: "lo", Type: weir.Float64}, {Name: "hi", Type: weir.Float64}, {Name: "n", Type: weir.Int64}}
	op.Output = weir.Schema{{Name: "spread", Type: weir.Float64}}
	fold := func(lo, hi []float64, n []int64, g int32, l, h float64, k int64) {
		if n[g] == 0 || l < lo[g] {
			lo[g] = l
		}
		if n[g] == 0 || h > hi[g] {
			hi[g] = h
		}
		n[g] += k
	}
	return &weir.Aggregator{
		Add: func(acc *weir.Table, in *weir.Batch, groups []int32) error {
			lo, hi, n := acc.Float64(0), acc.Float64(1), acc.Int64(2)
			vals := in.Float64(value)
			for i, g := range groups {
				if vals.IsValid(i) {
					v := vals.Value(i)
					fold(lo, hi, n, g, v, v, 1)
				}
			}
			return nil
		},
		Merge: func(acc, other *weir.Table, groups []int32) error {
			lo, hi, n := acc.Float64(0), acc.Float64(1), acc.Int64(2)
			olo, ohi, on := other.Float64(0), other.Float64(1), other.Int64(2)
			for i, g := range groups {
				if on[i] > 0 {
					fold(lo, hi, n, g, olo[i], ohi[i], on[i])
				}
			}
			return nil
		},
		Result: func(acc *weir.Table, out *weir.Builder) error {
			lo, hi, n := acc.Float64(0), acc.Float64(1), acc.Int64(2)
			b := out.Float64(0)
			for i := range n {
				if n[i] == 0 {
					b.AppendNull()
				} else {
					b.Append(hi[i] - lo[i])
				}
			}
			return nil
		},
	}, nil
}
