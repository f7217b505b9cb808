package task

import (
	"context"
	"fmt"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// NoWatermark is the watermark before any: every timestamp is after it.
const NoWatermark = math.MinInt64

// MaxWatermark is the watermark of an ended input: every timer fires.
const MaxWatermark = math.MaxInt64

// TimeAware is an operator with event-time or processing-time timers:
// windows, joins, keyed process functions with timers.
type TimeAware interface {
	// OnWatermark advances the operator's event-time clock to wm (ms) and
	// returns what the timers it passed fire (the caller owns the batches).
	OnWatermark(ctx context.Context, wm int64) ([]arrow.Record, error)
	// NextProcessingTimer returns the operator's earliest processing-time
	// timer (ms since the epoch), if it has one.
	NextProcessingTimer() (int64, bool)
	// OnProcessingTime fires the processing-time timers up to now (ms).
	OnProcessingTime(ctx context.Context, now int64) ([]arrow.Record, error)
}

// SideOutputs is an operator with side outputs (a window's late rows).
type SideOutputs interface {
	// SideSchema is the schema of side output name (after Open), or nil if
	// the operator has no such output.
	SideSchema(name string) *arrow.Schema
	// SetSideOutput routes side output name to emit; without it the rows
	// are dropped (and counted).
	SetSideOutput(name string, emit func(arrow.Record) error)
}

// TwoInput is an operator with two inputs (a join); it heads its chain.
type TwoInput interface {
	Operator
	// OpenInputs prepares the operator for batches of the two schemas and
	// returns its output schema.
	OpenInputs(ctx context.Context, left, right *arrow.Schema) (*arrow.Schema, error)
	// ProcessInput consumes rec of input 0 or 1, as Process does.
	ProcessInput(ctx context.Context, input int, rec arrow.Record) ([]arrow.Record, error)
}

// TimeColumn reads an event-time column (a timestamp of any unit, or int64
// milliseconds) as milliseconds since the epoch.
type TimeColumn struct {
	index    int
	mul, div int64
}

// NewTimeColumn finds event-time column name of schema.
func NewTimeColumn(schema *arrow.Schema, name string) (TimeColumn, error) {
	idx := schema.FieldIndices(name)
	if len(idx) != 1 {
		return TimeColumn{}, fmt.Errorf("time column %q is not in %s", name, schema)
	}
	tc := TimeColumn{index: idx[0], mul: 1, div: 1}
	switch dt := schema.Field(idx[0]).Type.(type) {
	case *arrow.Int64Type:
	case *arrow.TimestampType:
		switch dt.Unit {
		case arrow.Second:
			tc.mul = 1000
		case arrow.Microsecond:
			tc.div = 1000
		case arrow.Nanosecond:
			tc.div = 1000_000
		}
	default:
		return TimeColumn{}, fmt.Errorf("time column %q is a %s; want a timestamp or int64 milliseconds", name, dt)
	}
	return tc, nil
}

// Millis appends the column's values of rec in ms to dst; nulls are an
// error (a row without event time cannot be placed).
func (tc TimeColumn) Millis(dst []int64, rec arrow.Record) ([]int64, error) {
	col := rec.Column(tc.index)
	if col.NullN() > 0 {
		return nil, fmt.Errorf("time column %q has %d null values", rec.Schema().Field(tc.index).Name, col.NullN())
	}
	vals, _ := int64Values(col)
	if tc.mul == 1 && tc.div == 1 {
		return append(dst, vals...), nil
	}
	for _, v := range vals {
		dst = append(dst, v*tc.mul/tc.div)
	}
	return dst, nil
}

// int64Values returns the values of an int64 or timestamp array (the
// array's own memory), and false for other types.
func int64Values(col arrow.Array) ([]int64, bool) {
	switch c := col.(type) {
	case *array.Int64:
		return c.Int64Values(), true
	case *array.Timestamp:
		return arrow.Int64Traits.CastFromBytes(arrow.TimestampTraits.CastToBytes(c.TimestampValues())), true
	}
	return nil, false
}

// floorMod is x mod m in [0, m) for m > 0.
func floorMod(x, m int64) int64 {
	r := x % m
	if r < 0 {
		r += m
	}
	return r
}
