// The guest exports of abi/SPEC.md §2. A job module's entry file re-exports
// them: export * from "@weirflow/sdk/exports";

import { Batch, Indexes } from "./column";
import { Builder } from "./builder";
import { exportSchema, hostString, importSchema } from "./cdata";
import { fail, hostError, takeError } from "./host";
import {
  AggregateFunction, FilterFunction, Kind, MapFunction, Operator, ProcessFunction, kindName, registered, registry,
} from "./operator";
import { planFunction } from "./plan";
import { Selection } from "./selection";
import { Table } from "./table";
import { Schema } from "./types";

/** One opened operator. */
class Instance {
  op: Operator;
  input: Batch;
  out: Builder | null = null;
  sel: Selection = new Selection();
  state: Table | null = null;
  other: Table | null = null;
  keys: Indexes = new Indexes();
  mapFn: MapFunction | null = null;
  filterFn: FilterFunction | null = null;
  processFn: ProcessFunction | null = null;
  aggFn: AggregateFunction | null = null;
  outSchema: usize = 0;
  stateSchema: usize = 0;

  constructor(op: Operator) {
    this.op = op;
    this.input = new Batch(op.input);
  }

  /** Releases the memory outside the garbage collector (builders, tables, schemas). */
  free(): void {
    const out = this.out, st = this.state, other = this.other;
    if (out !== null) out.free();
    if (st !== null) st.free();
    if (other !== null) other.free();
    this.sel.free();
    if (this.outSchema != 0) heap.free(this.outSchema);
    if (this.stateSchema != 0) heap.free(this.stateSchema);
    this.out = null;
    this.state = null;
    this.other = null;
    this.outSchema = 0;
    this.stateSchema = 0;
  }
}

const instances: Array<Instance | null> = [];
const freeSlots: i32[] = [];

/**
 * Reports msg as the call's error and returns status 1. Callers return its
 * result at once: it collects garbage, which is safe only when nothing on
 * the stack is used after.
 */
function failWith(msg: string): i32 {
  hostError(msg);
  __collect();
  return 1;
}

/**
 * Ends an export call: status 1 with the pending error (prefixed when
 * prefix is non-empty), else status 0. Collects garbage either way: the
 * minimal runtime only collects when told, and the stack is unwound here.
 */
function finish(prefix: string): i32 {
  const e = takeError();
  if (e !== null) return failWith(prefix.length > 0 ? prefix + ": " + e : e);
  // Nothing on the stack is used after this point.
  __collect();
  return 0;
}

function lookupInstance(h: u32): Instance | null {
  if (h == 0 || h > <u32>instances.length) return null;
  return instances[<i32>h - 1];
}

function badHandle(h: u32, k: Kind): i32 {
  const x = lookupInstance(h);
  if (x === null) return failWith("unknown operator handle " + h.toString());
  return failWith(x.op.name + ": operator handle " + h.toString() + " is a " + kindName(x.op.kind) + " operator, not " + kindName(k));
}

@inline function setRet(ret: usize, slot: i32, v: usize): void {
  store<u32>(ret + (<usize>slot << 2), <u32>v);
}

// weir_alloc blocks: heap.alloc memory is outside the garbage collector, so
// the host owns it until weir_free. Alignments above 16 (heap.alloc's) get
// a larger block whose start is stored just before the aligned pointer.

export function weir_abi_v1(): void {}

export function weir_alloc(size: u32, align: u32): u32 {
  if (align == 0 || (align & (align - 1)) != 0 || align > 64 || size > 0x40000000) return 0;
  const n = <usize>max<u32>(size, 1);
  if (align <= 16) return <u32>heap.alloc(n);
  const raw = heap.alloc(n + <usize>align + 4);
  const p = (raw + 4 + <usize>align - 1) & ~(<usize>align - 1);
  store<u32>(p - 4, <u32>raw);
  return <u32>p;
}

export function weir_free(ptr: u32, size: u32, align: u32): void {
  if (ptr == 0) return;
  if (align <= 16) heap.free(<usize>ptr);
  else heap.free(<usize>load<u32>(<usize>ptr - 4));
}

export function weir_plan(args: u32, argsLen: u32, ret: u32): i32 {
  const fn = planFunction;
  if (fn === null) return failWith("this module defines no plan (call definePlan at the top level)");
  let list: string[] = [];
  if (argsLen > 0) {
    let s = hostString(<usize>args, <usize>argsLen);
    if (s.endsWith("\0")) s = s.substring(0, s.length - 1);
    list = s.split("\0");
  }
  const p = fn(list);
  let text: string | null = null;
  if (p === null) {
    if (takeErrorPeek()) return finish("");
    fail("the plan function returned no plan");
  } else {
    text = p.toJSON();
  }
  if (text === null) return finish("");
  // The plan text stays valid until the next call (SPEC §3).
  const len = String.UTF8.byteLength(text);
  if (planText != 0) heap.free(planText);
  planText = heap.alloc(max<usize>(<usize>len, 1));
  String.UTF8.encodeUnsafe(changetype<usize>(text), text.length, planText);
  setRet(<usize>ret, 0, planText);
  setRet(<usize>ret, 1, <usize>len);
  return finish("");
}

let planText: usize = 0;

function takeErrorPeek(): bool {
  const e = takeError();
  if (e !== null) fail(e);
  return e !== null;
}

export function weir_open(kind: u32, name: u32, nameLen: u32, params: u32, paramsLen: u32, inSchema: u32, ret: u32): i32 {
  const fn = hostString(<usize>name, <usize>nameLen);
  if (!registry.has(fn)) {
    return failWith("no function \"" + fn + "\" is registered in this module (registered: " + registered().join(", ") + ")");
  }
  const r = registry.get(fn);
  if (<u32>r.kind != kind) {
    const k = kind >= 1 && kind <= 5 ? kindName(<Kind>kind) : "kind " + kind.toString();
    return failWith(fn + ": registered as a " + kindName(r.kind) + " function, opened as " + k);
  }
  const errs: string[] = [];
  const input = importSchema(<usize>inSchema, errs);
  if (input === null) return failWith(fn + ": " + errs[0]);
  const op = new Operator(fn, r.kind, hostString(<usize>params, <usize>paramsLen), input);
  const x = new Instance(op);
  takeError(); // nothing pending from an earlier call
  switch (r.kind) {
    case Kind.Map: case Kind.FlatMap: {
      const f = r.map!();
      x.mapFn = f;
      f.open(op);
      break;
    }
    case Kind.Filter: {
      const f = r.filter!();
      x.filterFn = f;
      f.open(op);
      break;
    }
    case Kind.Process: {
      const f = r.process!();
      x.processFn = f;
      f.open(op);
      break;
    }
    case Kind.Aggregate: {
      const f = r.aggregate!();
      x.aggFn = f;
      f.open(op);
      break;
    }
  }
  const e = takeError();
  if (e !== null) return failWith(fn + ": " + e);
  // Check both schemas before allocating anything outside the collector.
  const out = op.output, st = op.state;
  if (r.kind != Kind.Filter) {
    if (out === null) return failWith(fn + ": open did not set the output schema");
    const ve = out.validate();
    if (ve !== null) return failWith(fn + ": output schema: " + ve);
  }
  if (r.kind == Kind.Process || r.kind == Kind.Aggregate) {
    if (st === null) return failWith(fn + ": open did not set the " + (r.kind == Kind.Process ? "state" : "accumulator") + " schema");
    const ve = st.validate();
    if (ve !== null) return failWith(fn + ": state schema: " + ve);
  }
  if (r.kind != Kind.Filter) {
    x.out = new Builder(out!);
    x.outSchema = exportSchema(out!);
  }
  if (r.kind == Kind.Process || r.kind == Kind.Aggregate) {
    x.state = new Table(st!, r.kind == Kind.Process);
    if (r.kind == Kind.Aggregate) x.other = new Table(st!, false);
    x.stateSchema = exportSchema(st!);
  }
  let h: i32;
  if (freeSlots.length > 0) {
    h = freeSlots.pop();
    instances[h - 1] = x;
  } else {
    instances.push(x);
    h = instances.length;
  }
  setRet(<usize>ret, 0, <usize>h);
  setRet(<usize>ret, 1, x.outSchema);
  setRet(<usize>ret, 2, x.stateSchema);
  return finish("");
}

export function weir_close(h: u32): i32 {
  const x = lookupInstance(h);
  if (x === null) return failWith("unknown operator handle " + h.toString());
  const m = x.mapFn, f = x.filterFn, p = x.processFn, a = x.aggFn;
  if (m !== null) m.close();
  if (f !== null) f.close();
  if (p !== null) p.close();
  if (a !== null) a.close();
  x.free();
  instances[<i32>h - 1] = null;
  freeSlots.push(<i32>h);
  return finish(x.op.name);
}

export function weir_map(h: u32, input: u32, ret: u32): i32 {
  const x = lookupInstance(h);
  if (x === null || (x.op.kind != Kind.Map && x.op.kind != Kind.FlatMap)) return badHandle(h, Kind.Map);
  const fn = x.op.name;
  const le = x.input.load(<usize>input);
  if (le !== null) return failWith(fn + ": " + le);
  const out = x.out!;
  out.reset();
  x.mapFn!.map(x.input, out);
  if (takeErrorPeek()) return finish("");
  const errs: string[] = [];
  const addr = out.exportBatch(errs);
  if (errs.length > 0) return failWith(fn + ": " + errs[0]);
  if (x.op.kind == Kind.Map && out.length != x.input.length) {
    return failWith(fn + ": map produced " + out.length.toString() + " rows for " + x.input.length.toString() + " input rows");
  }
  setRet(<usize>ret, 0, addr);
  return finish("");
}

export function weir_filter(h: u32, input: u32, ret: u32): i32 {
  const x = lookupInstance(h);
  if (x === null || x.op.kind != Kind.Filter) return badHandle(h, Kind.Filter);
  const le = x.input.load(<usize>input);
  if (le !== null) return failWith(x.op.name + ": " + le);
  x.sel.reset(x.input.length);
  x.filterFn!.filter(x.input, x.sel);
  if (takeErrorPeek()) return finish("");
  x.sel.result(<usize>ret);
  return finish("");
}

export function weir_process(h: u32, input: u32, keys: u32, state: u32, ret: u32): i32 {
  const x = lookupInstance(h);
  if (x === null || x.op.kind != Kind.Process) return badHandle(h, Kind.Process);
  const fn = x.op.name;
  const le = x.input.load(<usize>input);
  if (le !== null) return failWith(fn + ": " + le);
  const st = x.state!;
  const se = st.load(<usize>state, "state");
  if (se !== null) return failWith(fn + ": " + se);
  const k = x.keys;
  k.ptr = <usize>keys;
  k.length = x.input.length;
  if (k.length > 0 && keys == 0) return failWith(fn + ": NULL key indexes");
  const ke = k.check(st.length, "key index");
  if (ke !== null) return failWith(fn + ": " + ke);
  const out = x.out!;
  out.reset();
  x.processFn!.process(x.input, k, st, out);
  if (takeErrorPeek()) return finish("");
  const errs: string[] = [];
  const addr = out.exportBatch(errs);
  if (errs.length > 0) return failWith(fn + ": " + errs[0]);
  setRet(<usize>ret, 0, addr);
  setRet(<usize>ret, 1, st.export());
  return finish("");
}

export function weir_agg_create(h: u32, n: u32, ret: u32): i32 {
  const x = lookupInstance(h);
  if (x === null || x.op.kind != Kind.Aggregate) return badHandle(h, Kind.Aggregate);
  if (n > 1 << 28) return failWith(x.op.name + ": cannot create " + n.toString() + " accumulators");
  const acc = x.state!;
  acc.reset(<i32>n);
  x.aggFn!.init(acc);
  if (takeErrorPeek()) return finish("");
  setRet(<usize>ret, 0, acc.export());
  return finish("");
}

export function weir_agg_add(h: u32, accp: u32, input: u32, groups: u32, ret: u32): i32 {
  const x = lookupInstance(h);
  if (x === null || x.op.kind != Kind.Aggregate) return badHandle(h, Kind.Aggregate);
  const fn = x.op.name;
  const acc = x.state!;
  const ae = acc.load(<usize>accp, "accumulator");
  if (ae !== null) return failWith(fn + ": " + ae);
  const le = x.input.load(<usize>input);
  if (le !== null) return failWith(fn + ": " + le);
  const g = x.keys;
  g.ptr = <usize>groups;
  g.length = x.input.length;
  if (g.length > 0 && groups == 0) return failWith(fn + ": NULL group indexes");
  const ge = g.check(acc.length, "group");
  if (ge !== null) return failWith(fn + ": " + ge);
  x.aggFn!.add(acc, x.input, g);
  if (takeErrorPeek()) return finish("");
  setRet(<usize>ret, 0, acc.export());
  return finish("");
}

export function weir_agg_merge(h: u32, accp: u32, otherp: u32, groups: u32, ret: u32): i32 {
  const x = lookupInstance(h);
  if (x === null || x.op.kind != Kind.Aggregate) return badHandle(h, Kind.Aggregate);
  const fn = x.op.name;
  const acc = x.state!, other = x.other!;
  const ae = acc.load(<usize>accp, "accumulator");
  if (ae !== null) return failWith(fn + ": " + ae);
  const oe = other.load(<usize>otherp, "accumulator");
  if (oe !== null) return failWith(fn + ": " + oe);
  const g = x.keys;
  g.ptr = <usize>groups;
  g.length = other.length;
  if (g.length > 0 && groups == 0) return failWith(fn + ": NULL group indexes");
  const ge = g.check(acc.length, "group");
  if (ge !== null) return failWith(fn + ": " + ge);
  x.aggFn!.merge(acc, other, g);
  if (takeErrorPeek()) return finish("");
  setRet(<usize>ret, 0, acc.export());
  return finish("");
}

export function weir_agg_result(h: u32, accp: u32, ret: u32): i32 {
  const x = lookupInstance(h);
  if (x === null || x.op.kind != Kind.Aggregate) return badHandle(h, Kind.Aggregate);
  const fn = x.op.name;
  const acc = x.state!;
  const ae = acc.load(<usize>accp, "accumulator");
  if (ae !== null) return failWith(fn + ": " + ae);
  const out = x.out!;
  out.reset();
  x.aggFn!.result(acc, out);
  if (takeErrorPeek()) return finish("");
  const errs: string[] = [];
  const addr = out.exportBatch(errs);
  if (errs.length > 0) return failWith(fn + ": " + errs[0]);
  if (out.length != acc.length) {
    return failWith(fn + ": result has " + out.length.toString() + " rows for " + acc.length.toString() + " accumulators");
  }
  setRet(<usize>ret, 0, addr);
  return finish("");
}
