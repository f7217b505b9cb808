package weir

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
)

// This file holds the portable bodies of the guest exports (SPEC §2). The
// wasip1 build exports them with //go:wasmexport (exports_wasip1.go); native
// tests call them directly against the emulated linear memory.

// instance is one opened operator.
type instance struct {
	op     Operator
	in     Batch
	out    *Builder
	sel    Selection
	state  *Table // process state or aggregate accumulators
	other  *Table // aggregate merge input
	mapFn  MapFunc
	filter FilterFunc
	proc   ProcessFunc
	agg    *Aggregator
	// schemas keeps the exported output and state schemas reachable.
	schemas [][]byte
}

var (
	instances []*instance // handle h is instances[h-1]
	freeSlots []uint32
)

func fail(err error) int32 {
	hostError(err.Error())
	return 1
}

func failf(format string, args ...any) int32 {
	return fail(fmt.Errorf(format, args...))
}

// catch turns a panic in an export into status 1 with the panic message.
// name is the function being run, if known.
func catch(status *int32, name *string) {
	r := recover()
	if r == nil {
		return
	}
	msg := fmt.Sprint(r)
	if *name != "" {
		msg = *name + ": panic: " + msg
	} else {
		msg = "panic: " + msg
	}
	hostLog(LevelError, msg+"\n"+string(debug.Stack()))
	hostError(msg)
	*status = 1
}

func setRet(ret uint32, slot int, v uint32) {
	*(*uint32)(ptrAt(ret + uint32(4*slot))) = v
}

func lookup(h uint32, kinds ...Kind) (*instance, error) {
	if h == 0 || h > uint32(len(instances)) || instances[h-1] == nil {
		return nil, fmt.Errorf("unknown operator handle %d", h)
	}
	x := instances[h-1]
	for _, k := range kinds {
		if x.op.Kind == k {
			return x, nil
		}
	}
	return nil, fmt.Errorf("%s: operator handle %d is a %s operator", x.op.Name, h, x.op.Kind)
}

func abiOpen(kind, name, nameLen, params, paramsLen, inSchema, ret uint32) (status int32) {
	var fn string
	defer catch(&status, &fn)
	fn = hostString(name, nameLen)
	r, ok := registry[fn]
	if !ok {
		return failf("no function %q is registered in this module (registered: %s)", fn, strings.Join(Registered(), ", "))
	}
	if r.kind != Kind(kind) {
		return failf("%s: registered as a %s function, opened as %s", fn, r.kind, Kind(kind))
	}
	in, err := importSchema(inSchema)
	if err != nil {
		return failf("%s: %v", fn, err)
	}
	x := &instance{op: Operator{Name: fn, Kind: r.kind, Params: hostString(params, paramsLen), Input: in}}
	op := &x.op
	switch r.kind {
	case KindMap, KindFlatMap:
		x.mapFn, err = r.map_(op)
		if err == nil && x.mapFn == nil {
			err = errors.New("open returned no function")
		}
	case KindFilter:
		x.filter, err = r.filter(op)
		if err == nil && x.filter == nil {
			err = errors.New("open returned no function")
		}
	case KindProcess:
		x.proc, err = r.process(op)
		if err == nil && x.proc == nil {
			err = errors.New("open returned no function")
		}
	case KindAggregate:
		x.agg, err = r.agg(op)
		if err == nil && (x.agg == nil || x.agg.Add == nil || x.agg.Merge == nil || x.agg.Result == nil) {
			err = errors.New("open must return an Aggregator with Add, Merge and Result")
		}
	}
	if err != nil {
		return failf("%s: %v", fn, err)
	}
	if r.kind != KindFilter {
		if op.Output == nil {
			return failf("%s: open did not set the output schema", fn)
		}
		if err := op.Output.Validate(); err != nil {
			return failf("%s: output schema: %v", fn, err)
		}
		x.out = NewBuilder(op.Output)
	}
	if r.kind == KindProcess || r.kind == KindAggregate {
		if err := op.State.Validate(); err != nil {
			return failf("%s: state schema: %v", fn, err)
		}
		if r.kind == KindProcess {
			if err := validateTimers(op.State); err != nil {
				return failf("%s: state schema: %v", fn, err)
			}
		}
		x.state = newTable(op.State, r.kind == KindProcess)
		if r.kind == KindAggregate {
			x.other = newTable(op.State, false)
		}
	}
	x.in = newBatch(in)

	var h uint32
	if n := len(freeSlots); n > 0 {
		h = freeSlots[n-1]
		freeSlots = freeSlots[:n-1]
		instances[h-1] = x
	} else {
		instances = append(instances, x)
		h = uint32(len(instances))
	}
	setRet(ret, 0, h)
	if x.out != nil {
		a, mem := exportSchema(op.Output)
		x.schemas = append(x.schemas, mem)
		setRet(ret, 1, a)
	}
	if x.state != nil {
		a, mem := exportSchema(op.State)
		x.schemas = append(x.schemas, mem)
		setRet(ret, 2, a)
	}
	return 0
}

func abiClose(h uint32) (status int32) {
	var fn string
	defer catch(&status, &fn)
	if _, err := lookup(h, KindMap, KindFlatMap, KindFilter, KindProcess, KindAggregate); err != nil {
		return fail(err)
	}
	instances[h-1] = nil
	freeSlots = append(freeSlots, h)
	return 0
}

func abiMap(h, in, ret uint32) (status int32) {
	var fn string
	defer catch(&status, &fn)
	x, err := lookup(h, KindMap, KindFlatMap)
	if err != nil {
		return fail(err)
	}
	fn = x.op.Name
	defer x.in.release()
	if err := x.in.load(in); err != nil {
		return failf("%s: %v", fn, err)
	}
	x.out.Reset()
	if err := x.mapFn(&x.in, x.out); err != nil {
		return fail(err)
	}
	addr, rows, err := x.out.export()
	if err != nil {
		return failf("%s: %v", fn, err)
	}
	if x.op.Kind == KindMap && rows != x.in.n {
		return failf("%s: map produced %d rows for %d input rows", fn, rows, x.in.n)
	}
	setRet(ret, 0, addr)
	return 0
}

func abiFilter(h, in, ret uint32) (status int32) {
	var fn string
	defer catch(&status, &fn)
	x, err := lookup(h, KindFilter)
	if err != nil {
		return fail(err)
	}
	fn = x.op.Name
	defer x.in.release()
	if err := x.in.load(in); err != nil {
		return failf("%s: %v", fn, err)
	}
	x.sel.reset(x.in.n)
	if err := x.filter(&x.in, &x.sel); err != nil {
		return fail(err)
	}
	k, p, c := x.sel.result()
	setRet(ret, 0, k)
	setRet(ret, 1, p)
	setRet(ret, 2, c)
	return 0
}

func checkIndexes(idx []int32, n int, what string) error {
	// Branch-free scan; locate the culprit only if there is one.
	var bad uint32
	for _, k := range idx {
		bad |= uint32(b2u(uint32(k) >= uint32(n)))
	}
	if bad == 0 {
		return nil
	}
	for i, k := range idx {
		if uint32(k) >= uint32(n) {
			return fmt.Errorf("%s %d of row %d is out of range (%d rows)", what, k, i, n)
		}
	}
	return nil
}

func abiProcess(h, in, keys, state, ret uint32) (status int32) {
	var fn string
	defer catch(&status, &fn)
	x, err := lookup(h, KindProcess)
	if err != nil {
		return fail(err)
	}
	fn = x.op.Name
	defer x.in.release()
	defer x.state.release()
	if err := x.in.load(in); err != nil {
		return failf("%s: %v", fn, err)
	}
	if err := x.state.load(state, "state"); err != nil {
		return failf("%s: %v", fn, err)
	}
	k := i32s(keys, x.in.n)
	if err := checkIndexes(k, x.state.n, "key index"); err != nil {
		return failf("%s: %v", fn, err)
	}
	x.out.Reset()
	if err := x.proc(&x.in, k, x.state, x.out); err != nil {
		return fail(err)
	}
	addr, _, err := x.out.export()
	if err != nil {
		return failf("%s: %v", fn, err)
	}
	setRet(ret, 0, addr)
	setRet(ret, 1, x.state.export())
	return 0
}

func abiAggCreate(h, n, ret uint32) (status int32) {
	var fn string
	defer catch(&status, &fn)
	x, err := lookup(h, KindAggregate)
	if err != nil {
		return fail(err)
	}
	fn = x.op.Name
	defer x.state.release()
	if n > 1<<28 {
		return failf("%s: cannot create %d accumulators", fn, n)
	}
	x.state.reset(int(n))
	if x.agg.Init != nil {
		if err := x.agg.Init(x.state); err != nil {
			return fail(err)
		}
	}
	setRet(ret, 0, x.state.export())
	return 0
}

func abiAggAdd(h, acc, in, groups, ret uint32) (status int32) {
	var fn string
	defer catch(&status, &fn)
	x, err := lookup(h, KindAggregate)
	if err != nil {
		return fail(err)
	}
	fn = x.op.Name
	defer x.in.release()
	defer x.state.release()
	if err := x.state.load(acc, "accumulator"); err != nil {
		return failf("%s: %v", fn, err)
	}
	if err := x.in.load(in); err != nil {
		return failf("%s: %v", fn, err)
	}
	g := i32s(groups, x.in.n)
	if err := checkIndexes(g, x.state.n, "group"); err != nil {
		return failf("%s: %v", fn, err)
	}
	if err := x.agg.Add(x.state, &x.in, g); err != nil {
		return fail(err)
	}
	setRet(ret, 0, x.state.export())
	return 0
}

func abiAggMerge(h, acc, other, groups, ret uint32) (status int32) {
	var fn string
	defer catch(&status, &fn)
	x, err := lookup(h, KindAggregate)
	if err != nil {
		return fail(err)
	}
	fn = x.op.Name
	defer x.state.release()
	defer x.other.release()
	if err := x.state.load(acc, "accumulator"); err != nil {
		return failf("%s: %v", fn, err)
	}
	if err := x.other.load(other, "accumulator"); err != nil {
		return failf("%s: %v", fn, err)
	}
	g := i32s(groups, x.other.n)
	if err := checkIndexes(g, x.state.n, "group"); err != nil {
		return failf("%s: %v", fn, err)
	}
	if err := x.agg.Merge(x.state, x.other, g); err != nil {
		return fail(err)
	}
	setRet(ret, 0, x.state.export())
	return 0
}

func abiAggResult(h, acc, ret uint32) (status int32) {
	var fn string
	defer catch(&status, &fn)
	x, err := lookup(h, KindAggregate)
	if err != nil {
		return fail(err)
	}
	fn = x.op.Name
	defer x.state.release()
	if err := x.state.load(acc, "accumulator"); err != nil {
		return failf("%s: %v", fn, err)
	}
	x.out.Reset()
	if err := x.agg.Result(x.state, x.out); err != nil {
		return fail(err)
	}
	addr, rows, err := x.out.export()
	if err != nil {
		return failf("%s: %v", fn, err)
	}
	if rows != x.state.n {
		return failf("%s: result has %d rows for %d accumulators", fn, rows, x.state.n)
	}
	setRet(ret, 0, addr)
	return 0
}

// planText keeps the last plan returned by weir_plan alive (SPEC §3).
var planText []byte

func abiPlan(args, argsLen, ret uint32) (status int32) {
	fn := "weir_plan"
	defer catch(&status, &fn)
	if planFunc == nil {
		return failf("this module defines no plan (call weir.DefinePlan from an init function)")
	}
	var list []string
	if argsLen > 0 {
		s := hostString(args, argsLen)
		s = strings.TrimSuffix(s, "\x00")
		list = strings.Split(s, "\x00")
	}
	p, err := planFunc(list)
	if err != nil {
		return fail(err)
	}
	if p == nil {
		return failf("the plan function returned no plan")
	}
	js, err := p.JSON()
	if err != nil {
		return fail(err)
	}
	planText = makeSlice[byte](len(js))
	copy(planText, js)
	setRet(ret, 0, addrOf(unsafePointer(planText)))
	setRet(ret, 1, uint32(len(planText)))
	return 0
}
