// Command exactlyonce is a Weir job module whose output proves exactly-once
// processing: every record of a sequence must appear exactly once in the
// committed output, with a per-key count kept in state equal to its seq.
//
// Plan: source sequence (key, seq; K keys, N seqs per key, optional rate for
// the whole job) → keyBy key → process count (state: count int64 per key;
// emits key, seq, count) → sink file (jsonl, two-phase commit when the job
// takes checkpoints). `weir verify --keys K --count N DIR` checks the output.
//
// Build:
//
//	cd examples && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o ../bin/examples/exactlyonce.wasm ./exactlyonce
package main

import (
	"errors"
	"strconv"

	weir "github.com/weirflow/weir/sdk/go"
)

func main() {}

func init() {
	weir.Process("count", openCount)
	weir.DefinePlan(plan)
}

// plan: --keys K --count N [--rate R] --output DIR [--parallelism P]
// [--checkpoint-interval DUR]
func plan(args []string) (*weir.Plan, error) {
	fs := weir.NewFlagSet("exactlyonce")
	keys := fs.Int("keys", 0, "number of keys K (required, ≥ 1)")
	count := fs.Int("count", 0, "records per key N (required, ≥ 1): seqs 1..N")
	rate := fs.String("rate", "", "records per second for the whole job (empty: as fast as possible)")
	output := fs.String("output", "", "directory to write the (key, seq, count) records to, as JSON Lines (required)")
	parallelism := fs.Int("parallelism", 0, "default parallelism of the job (0: the plan's default or weir run -p)")
	interval := fs.String("checkpoint-interval", "", "take a checkpoint this often (e.g. 1s; empty: as configured with weir run -D checkpoint.interval=...)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case *keys < 1:
		return nil, errors.New("exactlyonce: --keys K (≥ 1) is required")
	case *count < 1:
		return nil, errors.New("exactlyonce: --count N (≥ 1) is required")
	case *output == "":
		return nil, errors.New("exactlyonce: --output DIR is required")
	case fs.NArg() > 0:
		return nil, errors.New("exactlyonce: unexpected argument " + strconv.Quote(fs.Arg(0)))
	}
	// The sequence source's rate is already the whole job's, shared by its
	// subtasks in proportion to their keys.
	src := weir.Params{"keys": strconv.Itoa(*keys), "count": strconv.Itoa(*count)}
	if *rate != "" {
		src["rate"] = *rate
	}
	p := weir.NewPlan("exactlyonce")
	if *parallelism != 0 {
		p.Parallelism(*parallelism)
	}
	if *interval != "" {
		p.Config("checkpoint.interval", *interval)
	}
	p.Source("sequence", src).ID("sequence").
		KeyBy("key").Process("count").ID("count").
		Sink("file", weir.Params{"path": *output, "format": "jsonl"}).ID("out")
	return p, nil
}

// count: keyed by key; for every input row emits key, seq and the number of
// rows of the key seen so far (its state), so with exactly-once processing
// of an in-order sequence count == seq on every row.
func openCount(op *weir.Operator) (weir.ProcessFunc, error) {
	key, err := op.Input.Lookup("key", weir.Int64)
	if err != nil {
		return nil, err
	}
	seq, err := op.Input.Lookup("seq", weir.Int64)
	if err != nil {
		return nil, err
	}
	op.Output = weir.Schema{
		{Name: "key", Type: weir.Int64, NotNull: true},
		{Name: "seq", Type: weir.Int64, NotNull: true},
		{Name: "count", Type: weir.Int64, NotNull: true},
	}
	op.State = weir.Schema{{Name: "count", Type: weir.Int64, NotNull: true}}
	return func(in *weir.Batch, keys []int32, state *weir.Table, out *weir.Builder) error {
		counts := state.Int64(0)
		out.Int64(0).AppendColumn(in.Int64(key))
		out.Int64(1).AppendColumn(in.Int64(seq))
		cs := out.Int64(2).Extend(len(keys))
		for i, k := range keys {
			counts[k]++
			cs[i] = counts[k]
		}
		return nil
	}, nil
}
