package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/arrow/batch"
	"github.com/weirflow/weir/wasm"
)

// maxTryRows bounds what `weir try` reads from a source.
const maxTryRows = 1 << 20

// runTry runs a job's plan on one batch read from its file source, in this
// process, through the same host the TaskManagers use; sinks print instead of
// writing.
func runTry(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("try", flag.ContinueOnError)
	limit := fs.Int("limit", 20, "rows to print per sink")
	top := fs.Int("top", 0, "print the N rows with the largest last column, one per value of the first column (e.g. top words)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	path, progArgs, err := splitArgs(fs)
	if err != nil {
		return err
	}
	rt, _, in, plan, err := loadJob(ctx, path, progArgs)
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	alloc := memory.DefaultAllocator
	outputs := map[string]arrow.Record{}
	defer func() {
		for _, r := range outputs {
			r.Release()
		}
	}()
	for _, n := range plan.Nodes {
		var out arrow.Record
		switch {
		case n.Kind == "source":
			out, err = readSource(alloc, n)
		case len(n.Inputs) != 1:
			err = fmt.Errorf("node %q has %d inputs; weir try runs single-input chains", n.ID, len(n.Inputs))
		case n.Kind == "sink":
			rec := outputs[n.Inputs[0]]
			fmt.Fprintf(w, "sink %s (%s, %d rows):\n", n.ID, n.Connector, rec.NumRows())
			if err := printRecord(w, rec, *limit, *top); err != nil {
				return fmt.Errorf("node %q: %w", n.ID, err)
			}
			continue
		default:
			out, err = runNode(ctx, in, n, outputs[n.Inputs[0]])
		}
		if err != nil {
			return fmt.Errorf("node %q: %w", n.ID, err)
		}
		outputs[n.ID] = out
	}
	return nil
}

func readSource(alloc memory.Allocator, n abi.Node) (arrow.Record, error) {
	p := n.ConnectorParams
	if n.Connector != "file" {
		return nil, fmt.Errorf("weir try reads file sources only, not %q", n.Connector)
	}
	f, err := os.Open(p["path"])
	if err != nil {
		return nil, err
	}
	defer f.Close()
	switch p["format"] {
	case "lines", "":
		b := array.NewStringBuilder(alloc)
		defer b.Release()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() && b.Len() < maxTryRows {
			b.Append(sc.Text())
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
		col := b.NewArray()
		defer col.Release()
		schema := arrow.NewSchema([]arrow.Field{{Name: "line", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
		return array.NewRecord(schema, []arrow.Array{col}, int64(col.Len())), nil
	case "jsonl":
		schema, err := batch.ParseSchema(p["schema"])
		if err != nil {
			return nil, fmt.Errorf("file source schema: %w", err)
		}
		rd := array.NewJSONReader(f, schema, array.WithAllocator(alloc), array.WithChunk(maxTryRows))
		defer rd.Release()
		if !rd.Next() {
			if err := rd.Err(); err != nil {
				return nil, err
			}
			return array.NewRecord(schema, emptyColumns(alloc, schema), 0), nil
		}
		rec := rd.Record()
		rec.Retain()
		return rec, rd.Err()
	}
	return nil, fmt.Errorf("weir try reads lines and jsonl files, not %q", p["format"])
}

func emptyColumns(alloc memory.Allocator, schema *arrow.Schema) []arrow.Array {
	cols := make([]arrow.Array, schema.NumFields())
	for i, f := range schema.Fields() {
		b := array.NewBuilder(alloc, f.Type)
		cols[i] = b.NewArray()
		b.Release()
	}
	return cols
}

func runNode(ctx context.Context, in *wasm.Instance, n abi.Node, rec arrow.Record) (arrow.Record, error) {
	kind, _ := abi.ParseKind(n.Kind)
	op, err := in.Open(ctx, kind, n.Function, n.FunctionParams, rec.Schema())
	if err != nil {
		return nil, err
	}
	defer op.Close(ctx)
	switch kind {
	case abi.KindMap, abi.KindFlatMap:
		return op.Map(ctx, rec)
	case abi.KindFilter:
		return op.Filter(ctx, rec)
	case abi.KindProcess:
		keys, ngroups, err := batch.NewGrouper().Group(nil, rec, n.KeyBy)
		if err != nil {
			return nil, err
		}
		state, err := nullState(op.StateSchema, ngroups)
		if err != nil {
			return nil, err
		}
		defer state.Release()
		out, newState, err := op.Process(ctx, rec, keys, state)
		if err != nil {
			return nil, err
		}
		newState.Release()
		return out, nil
	case abi.KindAggregate:
		return runAggregate(ctx, op, n, rec)
	}
	return nil, fmt.Errorf("unsupported kind %s", n.Kind)
}

func runAggregate(ctx context.Context, op *wasm.Operator, n abi.Node, rec arrow.Record) (arrow.Record, error) {
	groups := make([]int32, rec.NumRows())
	ngroups := 1
	if len(n.KeyBy) > 0 {
		var err error
		if groups, ngroups, err = batch.NewGrouper().Group(groups[:0], rec, n.KeyBy); err != nil {
			return nil, err
		}
	}
	acc, err := op.AggCreate(ctx, ngroups)
	if err != nil {
		return nil, err
	}
	next, err := op.AggAdd(ctx, acc, rec, groups)
	acc.Release()
	if err != nil {
		return nil, err
	}
	defer next.Release()
	return op.AggResult(ctx, next)
}

// nullState returns n state rows that are all null (no state yet).
func nullState(schema *arrow.Schema, n int) (*array.Struct, error) {
	b := array.NewStructBuilder(memory.DefaultAllocator, arrow.StructOf(schema.Fields()...))
	defer b.Release()
	for range n {
		b.AppendNull()
	}
	return b.NewStructArray(), nil
}

func printRecord(w io.Writer, rec arrow.Record, limit, top int) error {
	if rec == nil {
		return errors.New("no input")
	}
	rows := make([]int, rec.NumRows())
	for i := range rows {
		rows[i] = i
	}
	if top > 0 && rec.NumCols() >= 2 {
		rows = topRows(rec, top)
		limit = top
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	names := make([]string, rec.NumCols())
	for i := range names {
		names[i] = rec.ColumnName(i)
	}
	fmt.Fprintln(tw, "  "+strings.Join(names, "\t"))
	for k, r := range rows {
		if k == limit {
			fmt.Fprintf(tw, "  … %d more rows\n", len(rows)-limit)
			break
		}
		vals := make([]string, rec.NumCols())
		for c := range vals {
			col := rec.Column(c)
			if col.IsNull(r) {
				vals[c] = "null"
			} else {
				vals[c] = col.ValueStr(r)
			}
		}
		fmt.Fprintln(tw, "  "+strings.Join(vals, "\t"))
	}
	return tw.Flush()
}

// topRows keeps, per value of the first column, the row with the largest
// last column, and returns the n largest of those.
func topRows(rec arrow.Record, n int) []int {
	first, last := rec.Column(0), rec.Column(int(rec.NumCols())-1)
	best := map[string]int{}
	num := func(r int) float64 {
		v, _ := strconv.ParseFloat(last.ValueStr(r), 64)
		return v
	}
	for r := 0; r < int(rec.NumRows()); r++ {
		if last.IsNull(r) {
			continue
		}
		k := first.ValueStr(r)
		if b, ok := best[k]; !ok || num(r) > num(b) {
			best[k] = r
		}
	}
	rows := make([]int, 0, len(best))
	for _, r := range best {
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b int) int {
		if c := cmp.Compare(num(b), num(a)); c != 0 {
			return c
		}
		return strings.Compare(first.ValueStr(a), first.ValueStr(b))
	})
	return rows[:min(n, len(rows))]
}
