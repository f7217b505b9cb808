// Command stream is a Weir job module that streams generated rows through
// a Wasm map into a sink: the job of the exchange, backpressure and memory
// tests and benchmarks.
//
// Plan: source sequence (key, seq; parallelism 1) → rebalance → map scale
// (adds scaled = seq × factor) → sink blackhole (optionally rate-limited: a
// slow sink) or file (jsonl).
//
// Build:
//
//	cd examples && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o ../bin/examples/stream.wasm ./stream
package main

import (
	"fmt"
	"strconv"
	"strings"

	weir "github.com/weirflow/weir/sdk/go"
)

func main() {}

func init() {
	weir.Map("scale", openScale)
	weir.DefinePlan(plan)
}

// plan: [--keys N] [--count N] [--source-rate R] [--sink-rate R] [--output DIR]
func plan(args []string) (*weir.Plan, error) {
	fs := weir.NewFlagSet("stream")
	keys := fs.Int("keys", 16, "distinct keys of the sequence")
	count := fs.Int("count", 100000, "rows per key (0: unbounded)")
	sourceRate := fs.String("source-rate", "", "rows per second of the whole source (empty: as fast as possible)")
	sinkRate := fs.String("sink-rate", "", "rows per second per sink subtask (empty: as fast as possible)")
	factor := fs.Int("factor", 3, "the map multiplies seq by this")
	output := fs.String("output", "", "write jsonl here instead of discarding rows in a blackhole")
	failAt := fs.Int("fail-at", 0, "a failure drill: the map fails on the row with this seq (0: never)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	src := weir.Params{"keys": strconv.Itoa(*keys)}
	if *count == 0 {
		src["unbounded"] = "true"
	} else {
		src["count"] = strconv.Itoa(*count)
	}
	if *sourceRate != "" {
		src["rate"] = *sourceRate
	}
	p := weir.NewPlan("stream")
	s := p.Source("sequence", src).ID("numbers").Parallelism(1).
		Map("scale", fmt.Sprintf("%d,%d", *factor, *failAt)).ID("scale")
	if *output != "" {
		s.Sink("file", weir.Params{"path": *output, "format": "jsonl"}).ID("out")
	} else {
		sink := weir.Params{}
		if *sinkRate != "" {
			sink["rate"] = *sinkRate
		}
		s.Sink("blackhole", sink).ID("out")
	}
	return p, nil
}

// scale: key, seq → key, seq, scaled (seq × factor). Params "factor,failAt":
// with failAt > 0 the map logs and fails on the first row whose seq is
// failAt (a poison record, for failure drills).
func openScale(op *weir.Operator) (weir.MapFunc, error) {
	seq, err := op.Input.Lookup("seq", weir.Int64)
	if err != nil {
		return nil, err
	}
	f, fail, _ := strings.Cut(op.Params, ",")
	factor, err := strconv.ParseInt(f, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("scale: params must be \"factor,failAt\" integers: %w", err)
	}
	failAt := int64(0)
	if fail != "" {
		if failAt, err = strconv.ParseInt(fail, 10, 64); err != nil {
			return nil, fmt.Errorf("scale: params must be \"factor,failAt\" integers: %w", err)
		}
	}
	op.Output = append(append(weir.Schema{}, op.Input...), weir.Field{Name: "scaled", Type: weir.Int64})
	return func(in *weir.Batch, out *weir.Builder) error {
		for j := range in.NumCols() {
			if err := out.CopyColumn(j, in, j); err != nil {
				return err
			}
		}
		vals := in.Int64(seq).Values()
		dst := out.Int64(in.NumCols()).Extend(len(vals))
		for i, v := range vals {
			if failAt > 0 && v == failAt {
				weir.Logf(weir.LevelWarn, "scale: poison record at seq %d", v)
				return fmt.Errorf("scale: refusing the poison record seq=%d", v)
			}
			dst[i] = v * factor
		}
		return nil
	}, nil
}
