package wasm

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/arrow/batch"
	"github.com/weirflow/weir/arrow/cdata32"
)

// Plan calls weir_plan with the program arguments and returns the plan JSON
// (not yet decoded; see abi.DecodePlan).
func (in *Instance) Plan(ctx context.Context, args []string) ([]byte, error) {
	n := 0
	for _, a := range args {
		n += len(a) + 1
	}
	buf := make([]byte, 0, n)
	for _, a := range args {
		buf = append(append(buf, a...), 0)
	}
	reg, err := in.inputRegion(ctx, n+64)
	if err != nil {
		return nil, err
	}
	reg.Reset()
	p, err := reg.WriteBytes(buf)
	if err != nil {
		return nil, err
	}
	in.clearRet()
	if err := in.call(ctx, abi.ExportPlan, "", in.stackOf(p, uint32(n), in.ret)); err != nil {
		return nil, err
	}
	pp, pn := in.retSlot(0), in.retSlot(1)
	if pn > abi.MaxPlanBytes {
		return nil, in.fail(abi.ExportPlan, "", ErrBadOutput, fmt.Sprintf("plan of %d bytes exceeds %d", pn, abi.MaxPlanBytes))
	}
	b, ok := in.mem.Read(pp, pn)
	if !ok {
		return nil, in.fail(abi.ExportPlan, "", ErrBadOutput, fmt.Sprintf("plan at %#x+%d is outside memory", pp, pn))
	}
	return append([]byte(nil), b...), nil
}

// Operator is an opened guest operator.
type Operator struct {
	in       *Instance
	handle   uint32
	Kind     abi.Kind
	Function string
	// InSchema is the input batch schema; OutSchema the output (result)
	// schema; StateSchema the state (process) or accumulator (aggregate)
	// schema, nil for other kinds.
	InSchema, OutSchema, StateSchema *arrow.Schema
	stateType                        *arrow.StructType
	idx                              []int32
}

// Open opens the guest function for an operator kind over input batches of
// inSchema (SPEC §8).
func (in *Instance) Open(ctx context.Context, kind abi.Kind, function, params string, inSchema *arrow.Schema) (*Operator, error) {
	if !in.mod.Supports(kind) {
		return nil, &CallError{Module: in.mod.label(), Export: abi.ExportOpen, Function: function, Cause: ErrExports,
			Message: fmt.Sprintf("module lacks the exports of %s operators (%v)", kind, kind.Exports())}
	}
	fields := inSchema.Fields()
	reg, err := in.inputRegion(ctx, cdata32.SchemaSizeBound(fields)+len(function)+len(params)+64)
	if err != nil {
		return nil, err
	}
	reg.Reset()
	namePtr, err := reg.WriteBytes([]byte(function))
	if err != nil {
		return nil, err
	}
	paramsPtr, err := reg.WriteBytes([]byte(params))
	if err != nil {
		return nil, err
	}
	schemaPtr, err := cdata32.WriteSchema(reg, fields)
	if err != nil {
		return nil, fmt.Errorf("open %s: input schema: %w", function, err)
	}
	in.clearRet()
	stack := in.stackOf(uint32(kind), namePtr, uint32(len(function)), paramsPtr, uint32(len(params)), schemaPtr, in.ret)
	if err := in.call(ctx, abi.ExportOpen, function, stack); err != nil {
		return nil, err
	}
	op := &Operator{in: in, handle: in.retSlot(0), Kind: kind, Function: function, InSchema: inSchema}
	if op.handle == 0 {
		return nil, in.fail(abi.ExportOpen, function, ErrBadOutput, "handle 0")
	}
	mem := in.memory()
	if kind == abi.KindFilter {
		op.OutSchema = inSchema
	} else {
		out, err := cdata32.ReadSchema(mem, in.retSlot(1))
		if err != nil {
			return nil, in.fail(abi.ExportOpen, function, fmt.Errorf("%w: output schema: %w", ErrBadOutput, err), "")
		}
		op.OutSchema = arrow.NewSchema(out, nil)
	}
	if kind == abi.KindProcess || kind == abi.KindAggregate {
		st, err := cdata32.ReadSchema(mem, in.retSlot(2))
		if err != nil {
			return nil, in.fail(abi.ExportOpen, function, fmt.Errorf("%w: state schema: %w", ErrBadOutput, err), "")
		}
		op.StateSchema = arrow.NewSchema(st, nil)
		op.stateType = arrow.StructOf(st...)
	}
	return op, nil
}

// Close closes the operator in the guest.
func (op *Operator) Close(ctx context.Context) error {
	if op.in.closed {
		return nil
	}
	return op.in.call(ctx, abi.ExportClose, op.Function, op.in.stackOf(op.handle))
}

func (op *Operator) checkInput(rec arrow.Record) error {
	if !rec.Schema().Equal(op.InSchema) {
		return fmt.Errorf("wasm: %s: batch schema %s differs from the schema opened with %s", op.Function, rec.Schema(), op.InSchema)
	}
	return nil
}

func (op *Operator) badOutput(export string, err error) error {
	return op.in.fail(export, op.Function, fmt.Errorf("%w: %w", ErrBadOutput, err), "")
}

// writeBatch copies rec (plus extra bytes of room) into the input region.
func (op *Operator) region(ctx context.Context, n int) (*cdata32.Region, error) {
	reg, err := op.in.inputRegion(ctx, n)
	if err != nil {
		return nil, err
	}
	reg.Reset()
	return reg, nil
}

// callOnBatch copies rec into the guest and calls export(handle, batch, ret),
// the signature map, flatmap and filter share. Results are in the return
// area.
func (op *Operator) callOnBatch(ctx context.Context, export string, rec arrow.Record) error {
	if err := op.checkInput(rec); err != nil {
		return err
	}
	reg, err := op.region(ctx, cdata32.BatchSizeBound(rec))
	if err != nil {
		return err
	}
	p, err := cdata32.WriteBatch(reg, rec)
	if err != nil {
		return fmt.Errorf("wasm: %s: write input: %w", op.Function, err)
	}
	in := op.in
	in.clearRet()
	return in.call(ctx, export, op.Function, in.stackOf(op.handle, p, in.ret))
}

// Map runs a map or flatmap operator over one batch. The caller owns the
// returned record and must Release it; rec is only read.
func (op *Operator) Map(ctx context.Context, rec arrow.Record) (arrow.Record, error) {
	if op.Kind != abi.KindMap && op.Kind != abi.KindFlatMap {
		return nil, fmt.Errorf("wasm: %s is a %s operator, not map", op.Function, op.Kind)
	}
	if err := op.callOnBatch(ctx, abi.ExportMap, rec); err != nil {
		return nil, err
	}
	in := op.in
	out, err := cdata32.ReadBatch(in.memory(), in.retSlot(0), op.OutSchema, in.alloc)
	if err != nil {
		return nil, op.badOutput(abi.ExportMap, err)
	}
	if op.Kind == abi.KindMap && out.NumRows() != rec.NumRows() {
		n := out.NumRows()
		out.Release()
		return nil, op.badOutput(abi.ExportMap, fmt.Errorf("map returned %d rows for %d input rows", n, rec.NumRows()))
	}
	return out, nil
}

// Filter runs a filter operator and returns the kept rows. The caller owns
// the result and must Release it; rec is only read.
func (op *Operator) Filter(ctx context.Context, rec arrow.Record) (arrow.Record, error) {
	if op.Kind != abi.KindFilter {
		return nil, fmt.Errorf("wasm: %s is a %s operator, not filter", op.Function, op.Kind)
	}
	if err := op.callOnBatch(ctx, abi.ExportFilter, rec); err != nil {
		return nil, err
	}
	in := op.in
	rows := int(rec.NumRows())
	kind, sp, count := in.retSlot(0), in.retSlot(1), in.retSlot(2)
	idx := op.idx[:0]
	switch kind {
	case abi.SelectAll:
		rec.Retain()
		return rec, nil
	case abi.SelectNone:
		return rec.NewSlice(0, 0), nil
	case abi.SelectBitmap:
		bm, ok := in.mem.Read(sp, uint32(bitutil.BytesForBits(int64(rows))))
		if !ok {
			return nil, op.badOutput(abi.ExportFilter, fmt.Errorf("selection bitmap at %#x is outside memory", sp))
		}
		idx = batch.IndicesFromBitmap(idx, bm, rows)
	case abi.SelectVector:
		if int(count) > rows {
			return nil, op.badOutput(abi.ExportFilter, fmt.Errorf("selection of %d rows from %d", count, rows))
		}
		b, ok := in.mem.Read(sp, 4*count)
		if !ok {
			return nil, op.badOutput(abi.ExportFilter, fmt.Errorf("selection vector at %#x+%d is outside memory", sp, count))
		}
		prev := int32(-1)
		for i := 0; i < int(count); i++ {
			v := int32(le32(b[4*i:]))
			if v <= prev || int(v) >= rows {
				return nil, op.badOutput(abi.ExportFilter, fmt.Errorf("selection vector element %d is %d (must increase, within 0..%d)", i, v, rows))
			}
			idx = append(idx, v)
			prev = v
		}
	default:
		return nil, op.badOutput(abi.ExportFilter, fmt.Errorf("unknown selection kind %d", kind))
	}
	op.idx = idx
	if len(idx) == rows {
		rec.Retain()
		return rec, nil
	}
	return batch.Take(in.alloc, rec, idx)
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func checkIndexes(what string, idx []int32, rows, limit int) error {
	if len(idx) != rows {
		return fmt.Errorf("wasm: %d %s for %d rows", len(idx), what, rows)
	}
	for i, k := range idx {
		if k < 0 || int(k) >= limit {
			return fmt.Errorf("wasm: %s[%d] = %d is outside 0..%d", what, i, k, limit)
		}
	}
	return nil
}

// Process runs a keyed process operator over one batch (SPEC §9.3): keys[i]
// is the state row of input row i. It returns the output rows and the new
// state (same length as state). The caller owns both results.
func (op *Operator) Process(ctx context.Context, rec arrow.Record, keys []int32, state *array.Struct) (arrow.Record, *array.Struct, error) {
	if op.Kind != abi.KindProcess {
		return nil, nil, fmt.Errorf("wasm: %s is a %s operator, not process", op.Function, op.Kind)
	}
	if err := op.checkInput(rec); err != nil {
		return nil, nil, err
	}
	if err := checkIndexes("keys", keys, int(rec.NumRows()), state.Len()); err != nil {
		return nil, nil, err
	}
	reg, err := op.region(ctx, cdata32.BatchSizeBound(rec)+cdata32.StructSizeBound(state)+4*len(keys)+cdata32.BufferAlign)
	if err != nil {
		return nil, nil, err
	}
	p, err := cdata32.WriteBatch(reg, rec)
	if err != nil {
		return nil, nil, fmt.Errorf("wasm: %s: write input: %w", op.Function, err)
	}
	kp, err := reg.WriteInt32s(keys)
	if err != nil {
		return nil, nil, err
	}
	sp, err := cdata32.WriteStruct(reg, state)
	if err != nil {
		return nil, nil, fmt.Errorf("wasm: %s: write state: %w", op.Function, err)
	}
	in := op.in
	in.clearRet()
	if err := in.call(ctx, abi.ExportProcess, op.Function, in.stackOf(op.handle, p, kp, sp, in.ret)); err != nil {
		return nil, nil, err
	}
	mem := in.memory()
	out, err := cdata32.ReadBatch(mem, in.retSlot(0), op.OutSchema, in.alloc)
	if err != nil {
		return nil, nil, op.badOutput(abi.ExportProcess, fmt.Errorf("output: %w", err))
	}
	ns, err := op.readState(mem, in.retSlot(1), state.Len())
	if err != nil {
		out.Release()
		return nil, nil, op.badOutput(abi.ExportProcess, err)
	}
	return out, ns, nil
}

func (op *Operator) readState(mem []byte, p uint32, rows int) (*array.Struct, error) {
	st, err := cdata32.ReadStruct(mem, p, op.StateSchema.Fields(), op.in.alloc)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if st.Len() != rows {
		n := st.Len()
		st.Release()
		return nil, fmt.Errorf("state has %d rows, want %d", n, rows)
	}
	return st, nil
}

// AggCreate returns n fresh accumulators. The caller owns the result.
func (op *Operator) AggCreate(ctx context.Context, n int) (*array.Struct, error) {
	if err := op.isAgg(); err != nil {
		return nil, err
	}
	in := op.in
	in.clearRet()
	if err := in.call(ctx, abi.ExportAggCreate, op.Function, in.stackOf(op.handle, uint32(n), in.ret)); err != nil {
		return nil, err
	}
	acc, err := op.readState(in.memory(), in.retSlot(0), n)
	if err != nil {
		return nil, op.badOutput(abi.ExportAggCreate, err)
	}
	return acc, nil
}

// AggAdd adds input row i into accumulator groups[i] and returns the updated
// accumulators. The caller owns the result; acc and rec are only read.
func (op *Operator) AggAdd(ctx context.Context, acc *array.Struct, rec arrow.Record, groups []int32) (*array.Struct, error) {
	if err := op.isAgg(); err != nil {
		return nil, err
	}
	if err := op.checkInput(rec); err != nil {
		return nil, err
	}
	if err := checkIndexes("groups", groups, int(rec.NumRows()), acc.Len()); err != nil {
		return nil, err
	}
	return op.aggApply(ctx, abi.ExportAggAdd, acc, groups, cdata32.BatchSizeBound(rec), func(reg *cdata32.Region) (uint32, error) {
		return cdata32.WriteBatch(reg, rec)
	})
}

// AggMerge merges other[i] into acc[groups[i]] and returns the updated
// accumulators. The caller owns the result.
func (op *Operator) AggMerge(ctx context.Context, acc, other *array.Struct, groups []int32) (*array.Struct, error) {
	if err := op.isAgg(); err != nil {
		return nil, err
	}
	if err := checkIndexes("groups", groups, other.Len(), acc.Len()); err != nil {
		return nil, err
	}
	return op.aggApply(ctx, abi.ExportAggMerge, acc, groups, cdata32.StructSizeBound(other), func(reg *cdata32.Region) (uint32, error) {
		return cdata32.WriteStruct(reg, other)
	})
}

// aggApply writes the accumulators, a second argument (size bound n, written
// by write) and the group indexes, then calls export on them.
func (op *Operator) aggApply(ctx context.Context, export string, acc *array.Struct, groups []int32, n int, write func(*cdata32.Region) (uint32, error)) (*array.Struct, error) {
	reg, err := op.region(ctx, cdata32.StructSizeBound(acc)+n+4*len(groups)+cdata32.BufferAlign)
	if err != nil {
		return nil, err
	}
	ap, err := cdata32.WriteStruct(reg, acc)
	if err != nil {
		return nil, fmt.Errorf("wasm: %s: write accumulators: %w", op.Function, err)
	}
	second, err := write(reg)
	if err != nil {
		return nil, fmt.Errorf("wasm: %s: write input: %w", op.Function, err)
	}
	gp, err := reg.WriteInt32s(groups)
	if err != nil {
		return nil, err
	}
	return op.aggCall(ctx, export, acc.Len(), ap, second, gp)
}

func (op *Operator) aggCall(ctx context.Context, export string, rows int, a, b, c uint32) (*array.Struct, error) {
	in := op.in
	in.clearRet()
	if err := in.call(ctx, export, op.Function, in.stackOf(op.handle, a, b, c, in.ret)); err != nil {
		return nil, err
	}
	acc, err := op.readState(in.memory(), in.retSlot(0), rows)
	if err != nil {
		return nil, op.badOutput(export, err)
	}
	return acc, nil
}

// AggResult returns one result row per accumulator. The caller owns it.
func (op *Operator) AggResult(ctx context.Context, acc *array.Struct) (arrow.Record, error) {
	if err := op.isAgg(); err != nil {
		return nil, err
	}
	reg, err := op.region(ctx, cdata32.StructSizeBound(acc))
	if err != nil {
		return nil, err
	}
	ap, err := cdata32.WriteStruct(reg, acc)
	if err != nil {
		return nil, err
	}
	in := op.in
	in.clearRet()
	if err := in.call(ctx, abi.ExportAggResult, op.Function, in.stackOf(op.handle, ap, in.ret)); err != nil {
		return nil, err
	}
	out, err := cdata32.ReadBatch(in.memory(), in.retSlot(0), op.OutSchema, in.alloc)
	if err != nil {
		return nil, op.badOutput(abi.ExportAggResult, err)
	}
	if out.NumRows() != int64(acc.Len()) {
		n := out.NumRows()
		out.Release()
		return nil, op.badOutput(abi.ExportAggResult, fmt.Errorf("result has %d rows for %d accumulators", n, acc.Len()))
	}
	return out, nil
}

func (op *Operator) isAgg() error {
	if op.Kind != abi.KindAggregate {
		return fmt.Errorf("wasm: %s is a %s operator, not aggregate", op.Function, op.Kind)
	}
	return nil
}
