package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/worker"
)

// maxTryRows bounds how many output rows `weir try` keeps to print.
const maxTryRows = 1 << 20

// runTry runs a linear job in this process with the TaskManager's own
// connectors and operators (worker.RunLinear) and prints what reaches the
// sink instead of writing it; with --write the sink runs for real.
func runTry(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("try", flag.ContinueOnError)
	limit := fs.Int("limit", 20, "rows to print")
	top := fs.Int("top", 0, "print the N rows with the largest last column, one per value of the first column (e.g. top words)")
	write := fs.Bool("write", false, "run the plan's sink instead of printing its input")
	batchRows := fs.Int("batch-rows", 1024, "rows per source batch")
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
	opts := worker.LocalOptions{Alloc: alloc, BatchRows: *batchRows}
	var outs []arrow.Record
	defer func() {
		for _, r := range outs {
			r.Release()
		}
	}()
	rows := int64(0)
	if !*write {
		opts.Output = func(rec arrow.Record) error {
			if rows < maxTryRows {
				rec.Retain()
				outs = append(outs, rec)
			}
			rows += rec.NumRows()
			return nil
		}
	}
	if err := worker.RunLinear(ctx, in, plan, opts); err != nil {
		return err
	}
	if *write {
		sink := plan.Nodes[len(plan.Nodes)-1]
		_, err := fmt.Fprintf(w, "sink %s (%s) written: %v\n", sink.ID, sink.Connector, sink.ConnectorParams)
		return err
	}
	sink := plan.Nodes[len(plan.Nodes)-1]
	fmt.Fprintf(w, "sink %s (%s, %d rows):\n", sink.ID, sink.Connector, rows)
	if len(outs) == 0 {
		return nil
	}
	all, err := concat(alloc, outs)
	if err != nil {
		return err
	}
	defer all.Release()
	return printRecord(w, all, *limit, *top)
}

// concat joins batches of one schema into one record (the caller releases it).
func concat(alloc memory.Allocator, recs []arrow.Record) (arrow.Record, error) {
	schema := recs[0].Schema()
	cols := make([]arrow.Array, schema.NumFields())
	for c := range cols {
		parts := make([]arrow.Array, len(recs))
		for i, r := range recs {
			parts[i] = r.Column(c)
		}
		var err error
		if cols[c], err = array.Concatenate(parts, alloc); err != nil {
			for _, done := range cols[:c] {
				done.Release()
			}
			return nil, err
		}
	}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	return array.NewRecord(schema, cols, int64(cols[0].Len())), nil
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
