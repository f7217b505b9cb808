package weir_test

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	weir "github.com/weirflow/weir/sdk/go"
)

// A complete job module: two functions and a plan. Build it with
// GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared.
func Example() {
	// In package main:
	//
	//	func init() { ... }
	//	func main() {}
	weir.FlatMap("split", func(op *weir.Operator) (weir.MapFunc, error) {
		line, err := op.Input.Lookup("line", weir.Utf8)
		if err != nil {
			return nil, err
		}
		op.Output = weir.Schema{{Name: "word", Type: weir.Utf8}}
		return func(in *weir.Batch, out *weir.Builder) error {
			lines, words := in.Utf8(line), out.Utf8(0)
			for i := range lines.Len() {
				for _, w := range strings.Fields(lines.Value(i)) {
					words.Append(w)
				}
			}
			return nil
		}, nil
	})
	weir.DefinePlan(func(args []string) (*weir.Plan, error) {
		fs := weir.NewFlagSet("split")
		input := fs.String("input", "", "input file")
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		p := weir.NewPlan("split")
		p.Source("file", weir.Params{"path": *input, "format": "lines"}).
			FlatMap("split").
			Sink("print", nil)
		return p, nil
	})
}

func openScale(op *weir.Operator) (weir.MapFunc, error) {
	x, err := op.Input.Lookup("x", weir.Float64)
	if err != nil {
		return nil, err
	}
	factor, err := strconv.ParseFloat(op.Params, 64)
	if err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	op.Output = weir.Schema{{Name: "y", Type: weir.Float64}}
	return func(in *weir.Batch, out *weir.Builder) error {
		xs := in.Float64(x)
		ys := out.Float64(0).ExtendValidity(xs.Validity()) // nulls pass through
		for i, v := range xs.Values() {
			ys[i] = v * factor
		}
		return nil
	}, nil
}

func ExampleMap() {
	weir.Map("scale_f64", openScale)
}

// Operator functions can be tested natively, without the host: call the open
// function, build an input batch and run the batch function on it.
func ExampleMapFunc() {
	op := &weir.Operator{Name: "scale_f64", Params: "2", Input: weir.Schema{{Name: "x", Type: weir.Float64}}}
	fn, err := openScale(op)
	if err != nil {
		fmt.Println(err)
		return
	}
	in := weir.NewBuilder(op.Input)
	in.Float64(0).AppendValues([]float64{1, 2.5})
	in.Float64(0).AppendNull()
	batch, _ := in.Batch()

	out := weir.NewBuilder(op.Output)
	if err := fn(batch, out); err != nil {
		fmt.Println(err)
		return
	}
	res, _ := out.Batch()
	ys := res.Float64(0)
	for i := range ys.Len() {
		if ys.IsNull(i) {
			fmt.Println("null")
		} else {
			fmt.Println(ys.Value(i))
		}
	}

	// Open errors name the problem; the SDK prefixes them with the function name.
	_, err = openScale(&weir.Operator{Name: "scale_f64", Input: weir.Schema{{Name: "z", Type: weir.Float64}}})
	fmt.Println(err)
	// Output:
	// 2
	// 5
	// null
	// input has no column "x" (columns: z)
}

func ExampleFilter() {
	weir.Filter("gt_i64", func(op *weir.Operator) (weir.FilterFunc, error) {
		x, err := op.Input.Lookup("x", weir.Int64)
		if err != nil {
			return nil, err
		}
		t, err := strconv.ParseInt(op.Params, 10, 64)
		if err != nil {
			return nil, err
		}
		return func(in *weir.Batch, sel *weir.Selection) error {
			xs := in.Int64(x)
			bits := sel.Bits() // one bit per row, all clear
			for i, v := range xs.Values() {
				if v > t {
					bits[i>>3] |= 1 << (i & 7)
				}
			}
			sel.Mask(xs.Validity()) // drop null rows
			return nil
		}, nil
	})
}

func ExampleProcess() {
	// count: for every row, the number of rows seen so far with its key.
	weir.Process("count", func(op *weir.Operator) (weir.ProcessFunc, error) {
		word, err := op.Input.Lookup("word", weir.Utf8)
		if err != nil {
			return nil, err
		}
		op.Output = weir.Schema{{Name: "word", Type: weir.Utf8}, {Name: "count", Type: weir.Int64}}
		op.State = weir.Schema{{Name: "count", Type: weir.Int64}}
		return func(in *weir.Batch, keys []int32, state *weir.Table, out *weir.Builder) error {
			counts := state.Int64(0) // one row per distinct key of the batch
			out.Utf8(0).AppendColumn(in.Utf8(word))
			cs := out.Int64(1).Extend(len(keys))
			for i, k := range keys {
				counts[k]++
				cs[i] = counts[k]
			}
			return nil
		}, nil
	})
}

func ExampleAggregate() {
	// avg_f64: the mean of column x, null for empty groups.
	weir.Aggregate("avg_f64", func(op *weir.Operator) (*weir.Aggregator, error) {
		x, err := op.Input.Lookup("x", weir.Float64)
		if err != nil {
			return nil, err
		}
		op.State = weir.Schema{{Name: "sum", Type: weir.Float64}, {Name: "n", Type: weir.Int64}}
		op.Output = weir.Schema{{Name: "avg", Type: weir.Float64}}
		return &weir.Aggregator{
			Add: func(acc *weir.Table, in *weir.Batch, groups []int32) error {
				xs := in.Float64(x)
				sum, n := acc.Float64(0), acc.Int64(1)
				for i, g := range groups {
					if xs.IsValid(i) {
						sum[g] += xs.Value(i)
						n[g]++
					}
				}
				return nil
			},
			Merge: func(acc, other *weir.Table, groups []int32) error {
				sum, n := acc.Float64(0), acc.Int64(1)
				osum, on := other.Float64(0), other.Int64(1)
				for i, g := range groups {
					sum[g] += osum[i]
					n[g] += on[i]
				}
				return nil
			},
			Result: func(acc *weir.Table, out *weir.Builder) error {
				sum, n := acc.Float64(0), acc.Int64(1)
				avg := out.Float64(0)
				for k := range acc.Len() {
					if n[k] == 0 {
						avg.AppendNull()
					} else {
						avg.Append(sum[k] / float64(n[k]))
					}
				}
				return nil
			},
		}, nil
	})
}

func ExampleNewPlan() {
	p := weir.NewPlan("wordcount").Parallelism(2)
	p.Source("file", weir.Params{"path": "in.txt", "format": "lines"}).
		FlatMap("tokenize").
		KeyBy("word").Process("count").
		Sink("file", weir.Params{"path": "out", "format": "jsonl"})
	js, err := p.JSON()
	if err != nil {
		fmt.Println(err)
		return
	}
	os.Stdout.Write(js)
	// Output:
	// {"weir_plan":1,"name":"wordcount","parallelism":2,"nodes":[{"id":"source-file","kind":"source","connector":"file","params":{"format":"lines","path":"in.txt"}},{"id":"tokenize","kind":"flatmap","function":"tokenize","inputs":["source-file"]},{"id":"count","kind":"process","function":"count","inputs":["tokenize"],"keyBy":["word"]},{"id":"sink-file","kind":"sink","connector":"file","params":{"format":"jsonl","path":"out"},"inputs":["count"]}]}
}

func ExamplePlan_JSON_error() {
	p := weir.NewPlan("broken")
	p.Source("file", nil).Process("count") // no KeyBy
	_, err := p.JSON()
	fmt.Println(err)
	// Output:
	// plan "broken": process node "count" needs KeyBy
}

func ExampleNewFlagSet() {
	fs := weir.NewFlagSet("wordcount")
	input := fs.String("input", "", "input file")
	output := fs.String("output", "out", "output directory")
	err := fs.Parse([]string{"--input", "book.txt"})
	fmt.Println(*input, *output, err)
	err = fs.Parse([]string{"--verbose"})
	fmt.Println(err)
	// Output:
	// book.txt out <nil>
	// flag provided but not defined: -verbose
}

func ExampleParseSchema() {
	s, err := weir.ParseSchema("auction:int64,price:float64,date_time:timestamp[ms, UTC]")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range s {
		fmt.Println(f.Name, f.Type, f.Type.Format())
	}
	fmt.Println(s)
	// Output:
	// auction int64 l
	// price float64 g
	// date_time timestamp[ms, UTC] tsm:UTC
	// auction:int64,price:float64,date_time:timestamp[ms, UTC]
}

func ExampleSchema_Lookup() {
	in := weir.Schema{{Name: "x", Type: weir.Utf8}}
	_, err := in.Lookup("x", weir.Float64)
	fmt.Println(err)
	_, err = in.Lookup("y")
	fmt.Println(err)
	// Output:
	// column "x" is utf8, want float64
	// input has no column "y" (columns: x)
}

// ExtendRaw writes the offsets and bytes of many strings at once.
func ExampleStringBuilder_ExtendRaw() {
	b := weir.NewBuilder(weir.Schema{{Name: "s", Type: weir.Utf8}})
	words := []string{"ab", "", "cde"}
	size := 0
	for _, w := range words {
		size += len(w)
	}
	offs, data := b.Utf8(0).ExtendRaw(len(words), size)
	pos := 0
	for k, w := range words {
		pos += copy(data[pos:], w)
		offs[k+1] = offs[0] + int32(pos)
	}
	batch, _ := b.Batch()
	s := batch.Utf8(0)
	for i := range s.Len() {
		fmt.Printf("%q\n", s.Value(i))
	}
	// Output:
	// "ab"
	// ""
	// "cde"
}

func ExampleLog() {
	weir.Map("checked", func(op *weir.Operator) (weir.MapFunc, error) {
		op.Output = op.Input
		return func(in *weir.Batch, out *weir.Builder) error {
			if in.Len() == 0 {
				weir.Log(weir.LevelWarn, "empty batch")
			}
			if in.NumCols() == 0 {
				return errors.New("no columns") // fails the call with this message
			}
			return out.AppendBatch(in)
		}, nil
	})
}
