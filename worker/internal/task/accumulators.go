package task

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/arrow/batch"
	"github.com/weirflow/weir/wasm"
	"github.com/weirflow/weir/worker/internal/state"
)

// accumulators hold one accumulator per window slot (an int32 the window
// operator hands out and reuses).
type accumulators interface {
	// fields are the result columns.
	fields() []arrow.Field
	// add adds row rows[i] of rec into slot slots[i], for every i.
	add(ctx context.Context, rec arrow.Record, rows, slots []int32) error
	// merge merges slot from into slot into (session windows) and frees from.
	merge(ctx context.Context, into, from int32) error
	// results returns one result row per slot, as columns the caller owns.
	results(ctx context.Context, slots []int32) ([]arrow.Array, error)
	// free forgets a slot.
	free(slot int32)
	// encode appends a slot's accumulator to dst; decode sets a slot's
	// accumulator from bytes of encode and returns the rest.
	encode(dst []byte, slot int32) ([]byte, error)
	decode(ctx context.Context, slot int32, data []byte) ([]byte, error)
	close()
}

// nativeAggs are the built-in count, sum, min, max and avg: per aggregate
// a value per slot (int64 or float64), a count (avg; and whether min/max
// saw a value).
type nativeAggs struct {
	alloc memory.Allocator
	aggs  []nativeAgg
}

type nativeAgg struct {
	fn    string
	col   int
	float bool           // accumulates float64
	out   arrow.DataType // result type
	name  string
	i     []int64
	f     []float64
	n     []int64
}

func newNativeAggs(alloc memory.Allocator, in *arrow.Schema, specs []abi.Aggregate) (*nativeAggs, error) {
	na := &nativeAggs{alloc: alloc}
	for _, s := range specs {
		a := nativeAgg{fn: s.Fn, name: s.As, col: -1, out: arrow.PrimitiveTypes.Int64}
		if s.Fn != "count" {
			idx := in.FieldIndices(s.Column)
			if len(idx) != 1 {
				return nil, fmt.Errorf("aggregate %s(%s): no column %q in %s", s.Fn, s.Column, s.Column, in)
			}
			a.col = idx[0]
			dt := in.Field(a.col).Type
			switch dt.ID() {
			case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.TIMESTAMP, arrow.DATE32:
			case arrow.FLOAT32, arrow.FLOAT64:
				a.float = true
				a.out = arrow.PrimitiveTypes.Float64
			default:
				return nil, fmt.Errorf("aggregate %s(%s): cannot aggregate a %s", s.Fn, s.Column, dt)
			}
			if s.Fn == "min" || s.Fn == "max" {
				// The input's type where appendNumber writes it, else int64.
				switch dt.ID() {
				case arrow.INT32, arrow.INT64, arrow.TIMESTAMP, arrow.FLOAT32, arrow.FLOAT64:
					a.out = dt
				default:
					a.out = arrow.PrimitiveTypes.Int64
				}
			}
		}
		if s.Fn == "avg" {
			a.out = arrow.PrimitiveTypes.Float64
		}
		na.aggs = append(na.aggs, a)
	}
	return na, nil
}

// clone copies the accumulators (for a snapshot).
func (na *nativeAggs) clone() *nativeAggs {
	c := &nativeAggs{alloc: na.alloc, aggs: slices.Clone(na.aggs)}
	for i := range c.aggs {
		a := &c.aggs[i]
		a.i, a.f, a.n = slices.Clone(a.i), slices.Clone(a.f), slices.Clone(a.n)
	}
	return c
}

func (na *nativeAggs) fields() []arrow.Field {
	out := make([]arrow.Field, len(na.aggs))
	for i, a := range na.aggs {
		out[i] = arrow.Field{Name: a.name, Type: a.out, Nullable: a.fn != "count" && a.fn != "sum"}
	}
	return out
}

func (na *nativeAggs) grow(slot int32) {
	for i := range na.aggs {
		a := &na.aggs[i]
		for int(slot) >= len(a.n) {
			a.i = append(a.i, 0)
			a.f = append(a.f, 0)
			a.n = append(a.n, 0)
		}
	}
}

func (na *nativeAggs) free(slot int32) {
	for i := range na.aggs {
		a := &na.aggs[i]
		if int(slot) < len(a.n) {
			a.i[slot], a.f[slot], a.n[slot] = 0, 0, 0
		}
	}
}

// columnValues returns a numeric column (a type newNativeAggs accepts) as
// int64s or float64s.
func columnValues(col arrow.Array) ([]int64, []float64) {
	if vals, ok := int64Values(col); ok {
		return vals, nil
	}
	switch c := col.(type) {
	case *array.Float64:
		return nil, c.Float64Values()
	case *array.Float32:
		return nil, widen[float64](c.Float32Values())
	case *array.Int8:
		return widen[int64](c.Int8Values()), nil
	case *array.Int16:
		return widen[int64](c.Int16Values()), nil
	case *array.Int32:
		return widen[int64](c.Int32Values()), nil
	case *array.Uint8:
		return widen[int64](c.Uint8Values()), nil
	case *array.Uint16:
		return widen[int64](c.Uint16Values()), nil
	case *array.Uint32:
		return widen[int64](c.Uint32Values()), nil
	case *array.Date32:
		return widen[int64](c.Date32Values()), nil
	}
	return make([]int64, col.Len()), nil
}

// widen converts values to a wider numeric type.
func widen[W int64 | float64, T ~int8 | ~int16 | ~int32 | ~uint8 | ~uint16 | ~uint32 | ~float32](vals []T) []W {
	out := make([]W, len(vals))
	for i, v := range vals {
		out[i] = W(v)
	}
	return out
}

func (na *nativeAggs) add(_ context.Context, rec arrow.Record, rows, slots []int32) error {
	if len(slots) == 0 {
		return nil
	}
	maxSlot := int32(0)
	for _, s := range slots {
		maxSlot = max(maxSlot, s)
	}
	na.grow(maxSlot)
	for ai := range na.aggs {
		a := &na.aggs[ai]
		if a.fn == "count" {
			for _, s := range slots {
				a.i[s]++
			}
			continue
		}
		col := rec.Column(a.col)
		ints, floats := columnValues(col)
		nulls := col.NullN() > 0
		for k, r := range rows {
			if nulls && col.IsNull(int(r)) {
				continue
			}
			s := slots[k]
			if a.float {
				v := floats[r]
				switch {
				case a.fn == "sum" || a.fn == "avg":
					a.f[s] += v
				case a.n[s] == 0 || a.fn == "min" && v < a.f[s] || a.fn == "max" && v > a.f[s]:
					a.f[s] = v
				}
			} else {
				v := ints[r]
				switch {
				case a.fn == "sum" || a.fn == "avg":
					a.i[s] += v
				case a.n[s] == 0 || a.fn == "min" && v < a.i[s] || a.fn == "max" && v > a.i[s]:
					a.i[s] = v
				}
			}
			a.n[s]++
		}
	}
	return nil
}

func (na *nativeAggs) merge(_ context.Context, into, from int32) error {
	na.grow(max(into, from))
	for ai := range na.aggs {
		a := &na.aggs[ai]
		if a.n[from] == 0 && a.fn != "count" {
			continue
		}
		switch {
		case a.fn == "count":
			a.i[into] += a.i[from]
		case a.fn == "sum" || a.fn == "avg":
			a.i[into] += a.i[from]
			a.f[into] += a.f[from]
		case a.n[into] == 0,
			a.fn == "min" && (a.float && a.f[from] < a.f[into] || !a.float && a.i[from] < a.i[into]),
			a.fn == "max" && (a.float && a.f[from] > a.f[into] || !a.float && a.i[from] > a.i[into]):
			a.i[into], a.f[into] = a.i[from], a.f[from]
		}
		a.n[into] += a.n[from]
	}
	na.free(from)
	return nil
}

func (na *nativeAggs) results(_ context.Context, slots []int32) ([]arrow.Array, error) {
	out := make([]arrow.Array, 0, len(na.aggs))
	for _, s := range slots {
		na.grow(s)
	}
	for _, a := range na.aggs {
		b := array.NewBuilder(na.alloc, a.out)
		b.Reserve(len(slots))
		for _, s := range slots {
			switch {
			case a.fn == "count":
				b.(*array.Int64Builder).Append(a.i[s])
			case a.fn == "avg":
				if a.n[s] == 0 {
					b.AppendNull()
				} else if a.float {
					b.(*array.Float64Builder).Append(a.f[s] / float64(a.n[s]))
				} else {
					b.(*array.Float64Builder).Append(float64(a.i[s]) / float64(a.n[s]))
				}
			case a.n[s] == 0 && a.fn != "sum":
				b.AppendNull()
			default:
				appendNumber(b, a.i[s], a.f[s])
			}
		}
		out = append(out, b.NewArray())
		b.Release()
	}
	return out, nil
}

// appendNumber appends an accumulated value to a builder of its result type.
func appendNumber(b array.Builder, i int64, f float64) {
	switch b := b.(type) {
	case *array.Int64Builder:
		b.Append(i)
	case *array.Int32Builder:
		b.Append(int32(i))
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(i))
	case *array.Float64Builder:
		b.Append(f)
	case *array.Float32Builder:
		b.Append(float32(f))
	default:
		b.AppendNull()
	}
}

func (na *nativeAggs) encode(dst []byte, slot int32) ([]byte, error) {
	na.grow(slot)
	for _, a := range na.aggs {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(a.i[slot]))
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(a.f[slot]))
		dst = binary.LittleEndian.AppendUint64(dst, uint64(a.n[slot]))
	}
	return dst, nil
}

func (na *nativeAggs) decode(_ context.Context, slot int32, data []byte) ([]byte, error) {
	na.grow(slot)
	if len(data) < 24*len(na.aggs) {
		return nil, fmt.Errorf("%w: window accumulator of %d bytes, want %d", state.ErrCorrupt, len(data), 24*len(na.aggs))
	}
	for ai := range na.aggs {
		a := &na.aggs[ai]
		a.i[slot] = int64(binary.LittleEndian.Uint64(data))
		a.f[slot] = math.Float64frombits(binary.LittleEndian.Uint64(data[8:]))
		a.n[slot] = int64(binary.LittleEndian.Uint64(data[16:]))
		data = data[24:]
	}
	return data, nil
}

func (na *nativeAggs) close() {}

// guestAggs are a guest aggregate function's accumulators (weir_agg_*),
// kept on the host in a state.Store keyed by slot.
type guestAggs struct {
	op    *wasm.Operator
	alloc memory.Allocator
	store *state.Store
	res   *arrow.Schema
}

func newGuestAggs(op *wasm.Operator, alloc memory.Allocator) (*guestAggs, error) {
	st, err := state.New(op.StateSchema.Fields(), 1, state.WithAllocator(alloc))
	if err != nil {
		return nil, err
	}
	return &guestAggs{op: op, alloc: alloc, store: st, res: op.OutSchema}, nil
}

func slotKey(s int32) string {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(s))
	return string(b[:])
}

func (g *guestAggs) fields() []arrow.Field { return g.res.Fields() }

// gather returns the accumulators of slots (fresh ones for new slots); the
// caller releases it.
func (g *guestAggs) gather(ctx context.Context, keys []string) (*array.Struct, error) {
	acc, err := g.store.Gather(g.alloc, keys)
	if err != nil || acc.NullN() == 0 {
		return acc, err
	}
	defer acc.Release()
	var fresh []int32
	for i := range keys {
		if acc.IsNull(i) {
			fresh = append(fresh, int32(i))
		}
	}
	created, err := g.op.AggCreate(ctx, len(fresh))
	if err != nil {
		return nil, err
	}
	defer created.Release()
	names := make([]string, len(fresh))
	for i, k := range fresh {
		names[i] = keys[k]
	}
	if err := g.store.Scatter(names, created); err != nil {
		return nil, err
	}
	return g.store.Gather(g.alloc, keys)
}

func (g *guestAggs) add(ctx context.Context, rec arrow.Record, rows, slots []int32) error {
	if len(rows) == 0 {
		return nil
	}
	index := map[int32]int32{}
	var keys []string
	groups := make([]int32, len(rows))
	for i, s := range slots {
		gi, ok := index[s]
		if !ok {
			gi = int32(len(keys))
			index[s] = gi
			keys = append(keys, slotKey(s))
		}
		groups[i] = gi
	}
	in, err := batch.Take(g.alloc, rec, rows)
	if err != nil {
		return err
	}
	defer in.Release()
	acc, err := g.gather(ctx, keys)
	if err != nil {
		return err
	}
	next, err := g.op.AggAdd(ctx, acc, in, groups)
	acc.Release()
	if err != nil {
		return err
	}
	defer next.Release()
	return g.store.Scatter(keys, next)
}

func (g *guestAggs) merge(ctx context.Context, into, from int32) error {
	acc, err := g.gather(ctx, []string{slotKey(into)})
	if err != nil {
		return err
	}
	defer acc.Release()
	other, err := g.gather(ctx, []string{slotKey(from)})
	if err != nil {
		return err
	}
	defer other.Release()
	merged, err := g.op.AggMerge(ctx, acc, other, []int32{0})
	if err != nil {
		return err
	}
	defer merged.Release()
	g.free(from)
	return g.store.Scatter([]string{slotKey(into)}, merged)
}

func (g *guestAggs) results(ctx context.Context, slots []int32) ([]arrow.Array, error) {
	keys := make([]string, len(slots))
	for i, s := range slots {
		keys[i] = slotKey(s)
	}
	acc, err := g.gather(ctx, keys)
	if err != nil {
		return nil, err
	}
	defer acc.Release()
	res, err := g.op.AggResult(ctx, acc)
	if err != nil {
		return nil, err
	}
	defer res.Release()
	cols := make([]arrow.Array, res.NumCols())
	for i, c := range res.Columns() {
		c.Retain()
		cols[i] = c
	}
	return cols, nil
}

func (g *guestAggs) free(slot int32) {
	g.store.Delete(slotKey(slot))
}

func (g *guestAggs) encode(dst []byte, slot int32) ([]byte, error) {
	acc, err := g.store.Gather(g.alloc, []string{slotKey(slot)})
	if err != nil {
		return nil, err
	}
	defer acc.Release()
	if acc.IsNull(0) {
		return append(dst, 0), nil
	}
	dst = append(dst, 1)
	for f := 0; f < acc.NumField(); f++ {
		if dst, err = batch.AppendKey(dst, acc.Field(f), 0); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

func (g *guestAggs) decode(_ context.Context, slot int32, data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty window accumulator", state.ErrCorrupt)
	}
	if data[0] == 0 {
		return data[1:], nil
	}
	data = data[1:]
	fields := g.store.Type().Fields()
	cols := make([]arrow.Array, len(fields))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, f := range fields {
		b := array.NewBuilder(g.alloc, f.Type)
		var err error
		data, err = batch.AppendDecoded(b, data)
		if err != nil {
			b.Release()
			return nil, fmt.Errorf("%w: window accumulator: %w", state.ErrCorrupt, err)
		}
		cols[i] = b.NewArray()
		b.Release()
	}
	sa := structOf(g.store.Type(), cols)
	defer sa.Release()
	return data, g.store.Scatter([]string{slotKey(slot)}, sa)
}

func (g *guestAggs) close() {}

// structOf makes a struct array of type typ (nullability included) from
// columns of equal length; the caller releases it, cols stay the caller's.
func structOf(typ *arrow.StructType, cols []arrow.Array) *array.Struct {
	children := make([]arrow.ArrayData, len(cols))
	n := 0
	for i, c := range cols {
		children[i] = c.Data()
		n = c.Len()
	}
	data := array.NewData(typ, n, []*memory.Buffer{nil}, children, 0, 0)
	defer data.Release()
	return array.NewStructData(data)
}
