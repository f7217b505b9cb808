// Command wordcount is a Weir job module counting the words of a text file.
//
// Plan: source file (one utf8 column "line" per line) → flatmap tokenize
// (column "word") → keyBy word → process count (emits word, count for every
// word occurrence, the count so far) → sink file (jsonl).
//
// Build:
//
//	cd examples && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o ../bin/examples/wordcount.wasm ./wordcount
package main

import (
	"errors"

	weir "github.com/weirflow/weir/sdk/go"
)

func main() {}

func init() {
	weir.FlatMap("tokenize", openTokenize)
	weir.Process("count", openCount)
	weir.DefinePlan(plan)
}

// plan: --input FILE --output DIR [--parallelism N]
func plan(args []string) (*weir.Plan, error) {
	fs := weir.NewFlagSet("wordcount")
	input := fs.String("input", "", "text file to count the words of (required)")
	output := fs.String("output", "wordcount-out", "directory to write the counts to (jsonl)")
	parallelism := fs.Int("parallelism", 1, "parallelism of the job")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *input == "" {
		return nil, errors.New("wordcount: --input FILE is required")
	}
	p := weir.NewPlan("wordcount").Parallelism(*parallelism)
	p.Source("file", weir.Params{"path": *input, "format": "lines"}).ID("lines").Parallelism(1).
		FlatMap("tokenize").ID("words").
		KeyBy("word").Process("count").ID("counts").
		Sink("file", weir.Params{"path": *output, "format": "jsonl"}).ID("out")
	return p, nil
}

// tokenize: line (utf8) → word (utf8), one row per word; null lines emit
// nothing.
func openTokenize(op *weir.Operator) (weir.MapFunc, error) {
	line, err := op.Input.Lookup("line", weir.Utf8)
	if err != nil {
		return nil, err
	}
	op.Output = weir.Schema{{Name: "word", Type: weir.Utf8, NotNull: true}}
	var tok Tokenizer
	return func(in *weir.Batch, out *weir.Builder) error {
		lines := in.Utf8(line)
		emit := out.Utf8(0).AppendBytes
		for i := range lines.Len() {
			if lines.IsValid(i) {
				tok.Words(lines.Bytes(i), emit)
			}
		}
		return nil
	}, nil
}

// count: keyed by word; for every input row emits the word and the number
// of times it has been seen so far, so the largest count of a word is its
// total. State: count int64 per word.
func openCount(op *weir.Operator) (weir.ProcessFunc, error) {
	word, err := op.Input.Lookup("word", weir.Utf8)
	if err != nil {
		return nil, err
	}
	op.Output = weir.Schema{{Name: "word", Type: weir.Utf8}, {Name: "count", Type: weir.Int64, NotNull: true}}
	op.State = weir.Schema{{Name: "count", Type: weir.Int64, NotNull: true}}
	return func(in *weir.Batch, keys []int32, state *weir.Table, out *weir.Builder) error {
		counts := state.Int64(0)
		out.Utf8(0).AppendColumn(in.Utf8(word))
		cs := out.Int64(1).Extend(len(keys))
		for i, k := range keys {
			counts[k]++
			cs[i] = counts[k]
		}
		return nil
	}, nil
}
