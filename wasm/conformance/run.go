package conformance

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/wasm"
)

// Result is the outcome of one case.
type Result struct {
	Case string `json:"case"`
	File string `json:"file"`
	Pass bool   `json:"pass"`
	// Diff is the first difference, or the error, when the case failed.
	Diff string `json:"diff,omitempty"`
}

// Run runs every case against mod, each in a fresh instance, and returns one
// result per case. An error is returned only for problems outside the cases.
func Run(ctx context.Context, mod *wasm.Module, cases []Case, alloc memory.Allocator) []Result {
	results := make([]Result, 0, len(cases))
	for _, c := range cases {
		diff := runCase(ctx, mod, c, alloc)
		results = append(results, Result{Case: c.Name, File: c.File, Pass: diff == "", Diff: diff})
	}
	return results
}

func runCase(ctx context.Context, mod *wasm.Module, c Case, alloc memory.Allocator) (diff string) {
	kind, ok := abi.ParseKind(c.Kind)
	if !ok {
		return fmt.Sprintf("bad vector: unknown kind %q", c.Kind)
	}
	in, err := mod.Instantiate(ctx, wasm.InstanceOptions{Job: "conformance", Task: c.Name, Allocator: alloc})
	if err != nil {
		return "instantiate: " + err.Error()
	}
	defer in.Close(ctx)

	var inFields []arrow.Field
	switch {
	case c.Input != nil:
		inFields, err = c.Input.Fields()
	case c.Aggregate != nil && len(c.Aggregate.Add) > 0:
		inFields, err = c.Aggregate.Add[0].Input.Fields()
	case c.Aggregate != nil && c.Aggregate.Merge != nil && len(c.Aggregate.Merge.Add) > 0:
		inFields, err = c.Aggregate.Merge.Add[0].Input.Fields()
	default:
		inFields = []arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}
	}
	if err != nil {
		return "bad vector: " + err.Error()
	}
	op, err := in.Open(ctx, kind, c.Function, c.Params, arrow.NewSchema(inFields, nil))
	if c.OpenError != "" {
		if err == nil {
			return fmt.Sprintf("weir_open succeeded, want an error containing %q", c.OpenError)
		}
		if !strings.Contains(err.Error(), c.OpenError) {
			return fmt.Sprintf("weir_open error %q does not contain %q", err, c.OpenError)
		}
		return ""
	}
	if err != nil {
		return "weir_open: " + err.Error()
	}
	defer op.Close(ctx)

	got, gotState, err := invoke(ctx, op, c, alloc)
	defer func() {
		if got != nil {
			got.Release()
		}
		if gotState != nil {
			gotState.Release()
		}
	}()
	if c.ExpectError != "" {
		switch {
		case err == nil:
			return fmt.Sprintf("call succeeded, want an error containing %q", c.ExpectError)
		case !errors.Is(err, wasm.ErrGuest):
			return fmt.Sprintf("error %q is not a guest error (status 1)", err)
		case !strings.Contains(err.Error(), c.ExpectError):
			return fmt.Sprintf("error %q does not contain %q", err, c.ExpectError)
		}
		return ""
	}
	if err != nil {
		return err.Error()
	}
	if c.Expect == nil {
		return "bad vector: no expect, expectError or openError"
	}
	want, err := c.Expect.Record(alloc)
	if err != nil {
		return "bad vector: expect: " + err.Error()
	}
	defer want.Release()
	if d := DiffRecords(want, got); d != "" {
		return "output: " + d
	}
	if c.ExpectState != nil {
		ws, err := c.ExpectState.Struct(alloc)
		if err != nil {
			return "bad vector: expectState: " + err.Error()
		}
		defer ws.Release()
		if d := DiffStructs(ws, gotState); d != "" {
			return "state: " + d
		}
	}
	return ""
}

// invoke performs the calls of a case and returns the output (and state).
func invoke(ctx context.Context, op *wasm.Operator, c Case, alloc memory.Allocator) (arrow.Record, *array.Struct, error) {
	if op.Kind == abi.KindAggregate {
		return invokeAggregate(ctx, op, c, alloc)
	}
	if c.Input == nil {
		return nil, nil, errors.New("bad vector: no input")
	}
	rec, err := c.Input.Record(alloc)
	if err != nil {
		return nil, nil, fmt.Errorf("bad vector: input: %w", err)
	}
	defer rec.Release()
	switch op.Kind {
	case abi.KindMap, abi.KindFlatMap:
		out, err := op.Map(ctx, rec)
		return out, nil, err
	case abi.KindFilter:
		out, err := op.Filter(ctx, rec)
		return out, nil, err
	case abi.KindProcess:
		if c.State == nil {
			return nil, nil, errors.New("bad vector: process case without state")
		}
		st, err := c.State.Struct(alloc)
		if err != nil {
			return nil, nil, fmt.Errorf("bad vector: state: %w", err)
		}
		defer st.Release()
		return op.Process(ctx, rec, c.Keys, st)
	}
	return nil, nil, fmt.Errorf("bad vector: kind %s", op.Kind)
}

func invokeAggregate(ctx context.Context, op *wasm.Operator, c Case, alloc memory.Allocator) (arrow.Record, *array.Struct, error) {
	a := c.Aggregate
	if a == nil {
		return nil, nil, errors.New("bad vector: aggregate case without aggregate")
	}
	acc, err := accumulate(ctx, op, a.Accumulators, a.Add, alloc)
	if err != nil {
		return nil, nil, err
	}
	if a.Merge != nil {
		other, err := accumulate(ctx, op, a.Merge.Accumulators, a.Merge.Add, alloc)
		if err != nil {
			acc.Release()
			return nil, nil, err
		}
		merged, err := op.AggMerge(ctx, acc, other, a.Merge.Groups)
		other.Release()
		acc.Release()
		if err != nil {
			return nil, nil, err
		}
		acc = merged
	}
	defer acc.Release()
	out, err := op.AggResult(ctx, acc)
	return out, nil, err
}

func accumulate(ctx context.Context, op *wasm.Operator, n int, adds []AggInput, alloc memory.Allocator) (*array.Struct, error) {
	acc, err := op.AggCreate(ctx, n)
	if err != nil {
		return nil, err
	}
	for i, add := range adds {
		rec, err := add.Input.Record(alloc)
		if err != nil {
			acc.Release()
			return nil, fmt.Errorf("bad vector: add %d: %w", i, err)
		}
		next, err := op.AggAdd(ctx, acc, rec, add.Groups)
		rec.Release()
		acc.Release()
		if err != nil {
			return nil, err
		}
		acc = next
	}
	return acc, nil
}

// DiffRecords compares by column name, type and logical values and returns
// the first difference, or "" when equal.
func DiffRecords(want, got arrow.Record) string {
	if got == nil {
		return "no output"
	}
	if want.NumCols() != got.NumCols() {
		return fmt.Sprintf("%d columns %v, want %d %v", got.NumCols(), got.Schema(), want.NumCols(), want.Schema())
	}
	if want.NumRows() != got.NumRows() {
		return fmt.Sprintf("%d rows, want %d", got.NumRows(), want.NumRows())
	}
	for i := 0; i < int(want.NumCols()); i++ {
		if want.ColumnName(i) != got.ColumnName(i) {
			return fmt.Sprintf("column %d is named %q, want %q", i, got.ColumnName(i), want.ColumnName(i))
		}
		if d := diffArrays(want.Column(i), got.Column(i), nil); d != "" {
			return fmt.Sprintf("column %q: %s", want.ColumnName(i), d)
		}
	}
	return ""
}

// DiffStructs compares struct arrays, ignoring values under null rows.
func DiffStructs(want, got *array.Struct) string {
	if got == nil {
		return "no state"
	}
	if want.Len() != got.Len() || want.NumField() != got.NumField() {
		return fmt.Sprintf("%d rows × %d columns, want %d × %d", got.Len(), got.NumField(), want.Len(), want.NumField())
	}
	for i := 0; i < want.Len(); i++ {
		if want.IsNull(i) != got.IsNull(i) {
			return fmt.Sprintf("row %d: null=%v, want null=%v", i, got.IsNull(i), want.IsNull(i))
		}
	}
	wt := want.DataType().(*arrow.StructType)
	for f := 0; f < want.NumField(); f++ {
		if d := diffArrays(want.Field(f), got.Field(f), want); d != "" {
			return fmt.Sprintf("column %q: %s", wt.Field(f).Name, d)
		}
	}
	return ""
}

func diffArrays(want, got arrow.Array, parent *array.Struct) string {
	if !arrow.TypeEqual(want.DataType(), got.DataType()) {
		return fmt.Sprintf("type %s, want %s", got.DataType(), want.DataType())
	}
	for i := 0; i < want.Len(); i++ {
		if parent != nil && parent.IsNull(i) {
			continue
		}
		if want.IsNull(i) != got.IsNull(i) {
			return fmt.Sprintf("row %d: got %s, want %s", i, valueStr(got, i), valueStr(want, i))
		}
		if want.IsNull(i) {
			continue
		}
		if !sameValue(want, got, i) {
			return fmt.Sprintf("row %d: got %s, want %s", i, valueStr(got, i), valueStr(want, i))
		}
	}
	return ""
}

func sameValue(want, got arrow.Array, i int) bool {
	switch w := want.(type) {
	case *array.Float64:
		a, b := w.Value(i), got.(*array.Float64).Value(i)
		return math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b)
	case *array.Float32:
		a, b := w.Value(i), got.(*array.Float32).Value(i)
		return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
	}
	return want.ValueStr(i) == got.ValueStr(i)
}

func valueStr(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "null"
	}
	s := a.ValueStr(i)
	if len(s) > 80 {
		s = fmt.Sprintf("%s…(%d bytes)", s[:80], len(s))
	}
	if a.DataType().ID() == arrow.STRING {
		return fmt.Sprintf("%q", s)
	}
	return s
}
