// The AssemblyScript SDK's conformance module: it registers the functions
// of abi/SPEC.md §11.1 with the SDK's public API, so that the host's harness
// can run the ABI test vectors (abi/testdata/vectors) against it:
//
//   bash sdk/assemblyscript/build.sh bin
//   bin/weir abi check bin/sdk/conformance-as.wasm

import {
  AggregateFunction, Batch, Builder, DataType, FilterFunction, FlagSet, Indexes, MapFunction, Operator, Plan,
  ProcessFunction, Schema, Selection, Table, definePlan, fail, params, registerAggregate, registerFilter,
  registerFlatMap, registerMap, registerProcess,
} from "../assembly/index";

export * from "../assembly/exports";

// identity: the input unchanged (every type, nulls, offsets).
class Identity extends MapFunction {
  open(op: Operator): void {
    op.output = op.input.clone();
  }
  map(input: Batch, out: Builder): void {
    out.appendBatch(input);
  }
}

// scale_f64: y = x × factor; null stays null.
class ScaleF64 extends MapFunction {
  x: i32 = -1;
  factor: f64 = 0;
  open(op: Operator): void {
    this.x = op.column("x", DataType.Float64);
    this.factor = op.paramF64("factor");
    op.output = new Schema().add("y", DataType.Float64);
  }
  map(input: Batch, out: Builder): void {
    const xs = input.float64(this.x);
    const dst = out.float64(0).extendValidity(xs.validity, xs.nullCount);
    scale(dst, xs.valuesPtr, xs.length, this.factor);
  }
}

/** dst[i] = src[i] * f for n f64 values, two lanes at a time. */
function scale(dst: usize, src: usize, n: i32, f: f64): void {
  const fv = f64x2.splat(f);
  const bytes = <usize>n << 3;
  let i: usize = 0;
  for (; i + 64 <= bytes; i += 64) {
    const s = src + i, d = dst + i;
    v128.store(d, f64x2.mul(v128.load(s), fv));
    v128.store(d, f64x2.mul(v128.load(s, 16), fv), 16);
    v128.store(d, f64x2.mul(v128.load(s, 32), fv), 32);
    v128.store(d, f64x2.mul(v128.load(s, 48), fv), 48);
  }
  for (; i < bytes; i += 8) store<f64>(dst + i, load<f64>(src + i) * f);
}

// upper_utf8: ASCII a-z upper-cased; null stays null.
class UpperUtf8 extends MapFunction {
  s: i32 = -1;
  open(op: Operator): void {
    this.s = op.column("s", DataType.Utf8);
    op.output = new Schema().add("s", DataType.Utf8);
  }
  map(input: Batch, out: Builder): void {
    // Copy the column (offsets, validity, bytes), then upper-case the bytes
    // in place: the transformation keeps lengths.
    const b = out.utf8(0);
    b.appendColumn(input.utf8(this.s));
    upperASCII(b.dataPtr, b.byteLength);
  }
}

/** Upper-cases the ASCII letters of n bytes at p, 16 at a time; bytes >= 0x80 stay. */
function upperASCII(p: usize, n: i32): void {
  const a = i8x16.splat(0x61), z = i8x16.splat(0x7a), bit = i8x16.splat(0x20);
  const end = p + <usize>n;
  let q = p;
  for (; q + 16 <= end; q += 16) {
    const v = v128.load(q);
    const lower = v128.and(i8x16.ge_u(v, a), i8x16.le_u(v, z));
    v128.store(q, v128.xor(v, v128.and(lower, bit)));
  }
  for (; q < end; q++) {
    const c = load<u8>(q);
    if (<u8>(c - 0x61) < 26) store<u8>(q, c ^ 0x20);
  }
}

// gt_i64: keeps rows with non-null x > threshold.
class GtI64 extends FilterFunction {
  x: i32 = -1;
  threshold: i64 = 0;
  open(op: Operator): void {
    this.x = op.column("x", DataType.Int64);
    this.threshold = op.paramI64("threshold");
  }
  filter(input: Batch, sel: Selection): void {
    const xs = input.int64(this.x);
    const n = xs.length;
    if (n == 0) return;
    greater(sel.bitsPtr(), xs.valuesPtr, n, this.threshold);
    sel.mask(xs.validity);
  }
}

/** Sets bit i of bits iff vals[i] > t, for n i64 values; 8 rows (one byte) per step. */
function greater(bits: usize, vals: usize, n: i32, t: i64): void {
  const tv = i64x2.splat(t);
  const full = n & ~7;
  for (let i = 0; i < full; i += 8) {
    const p = vals + (<usize>i << 3);
    const m = i64x2.bitmask(i64x2.gt_s(v128.load(p), tv))
      | (i64x2.bitmask(i64x2.gt_s(v128.load(p, 16), tv)) << 2)
      | (i64x2.bitmask(i64x2.gt_s(v128.load(p, 32), tv)) << 4)
      | (i64x2.bitmask(i64x2.gt_s(v128.load(p, 48), tv)) << 6);
    store<u8>(bits + (<usize>i >> 3), <u8>m);
  }
  if (full < n) {
    let b: u32 = 0;
    for (let i = full; i < n; i++) b |= <u32>(load<i64>(vals + (<usize>i << 3)) > t) << <u32>(i & 7);
    store<u8>(bits + (<usize>full >> 3), <u8>b);
  }
}

@inline function isLetter(c: u32): bool { return ((c | 0x20) - 0x61) < 26; }

// tokenize: per row, maximal runs of ASCII letters, lower-cased, in order;
// null lines emit nothing.
class Tokenize extends MapFunction {
  line: i32 = -1;
  open(op: Operator): void {
    this.line = op.column("line", DataType.Utf8);
    op.output = new Schema().add("word", DataType.Utf8);
  }
  map(input: Batch, out: Builder): void {
    const lines = input.utf8(this.line);
    const words = out.utf8(0);
    const n = lines.length;
    for (let i = 0; i < n; i++) {
      if (lines.isNull(i)) continue;
      const len = lines.byteLength(i);
      if (len == 0) continue;
      const src = lines.ptr(i);
      // The words of a line fit in its length: reserve once, commit per word.
      let d = words.reserve(len);
      let k = 0;
      while (k < len) {
        while (k < len && !isLetter(load<u8>(src + <usize>k))) k++;
        if (k >= len) break;
        const start = k;
        while (k < len) {
          const c = <u32>load<u8>(src + <usize>k);
          if (!isLetter(c)) break;
          store<u8>(d + <usize>(k - start), <u8>(c | 0x20));
          k++;
        }
        words.commit(k - start);
        d += <usize>(k - start);
      }
    }
  }
}

// count: per input row, the key and the key's count including that row;
// state count: int64.
class Count extends ProcessFunction {
  key: i32 = -1;
  open(op: Operator): void {
    this.key = op.column("key", DataType.Int64);
    op.output = new Schema().add("key", DataType.Int64).add("count", DataType.Int64);
    op.state = new Schema().add("count", DataType.Int64);
  }
  process(input: Batch, keys: Indexes, state: Table, out: Builder): void {
    const counts = state.int64(0);
    out.int64(0).appendColumn(input.int64(this.key));
    const cs = out.int64(1).extend(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const k = keys.getUnchecked(i);
      const c = counts.get(k) + 1;
      counts.setUnchecked(k, c);
      store<i64>(cs + (<usize>i << 3), c);
    }
  }
}

// sum_i64: accumulator (sum, n) over non-null x; result sum, null when n = 0.
class SumI64 extends AggregateFunction {
  x: i32 = -1;
  open(op: Operator): void {
    this.x = op.column("x", DataType.Int64);
    op.state = new Schema().add("sum", DataType.Int64).add("n", DataType.Int64);
    op.output = new Schema().add("sum", DataType.Int64);
  }
  add(acc: Table, input: Batch, groups: Indexes): void {
    const xs = input.int64(this.x);
    const sums = acc.int64(0).valuesPtr, ns = acc.int64(1).valuesPtr;
    const vals = xs.valuesPtr, gs = groups.ptr;
    const n = groups.length;
    const nulls = xs.nullCount;
    if (nulls * 16 > n) {
      // Many nulls: mask every row (0 for nulls), without branches.
      const v = xs.validity;
      for (let i = 0; i < n; i++) {
        const g = <usize>load<i32>(gs + (<usize>i << 2)) << 3;
        const k = v.offset + i;
        const m = <i64>((load<u8>(v.ptr + (<usize>k >> 3)) >> <u8>(k & 7)) & 1);
        store<i64>(sums + g, load<i64>(sums + g) + (load<i64>(vals + (<usize>i << 3)) & -m));
        store<i64>(ns + g, load<i64>(ns + g) + m);
      }
      return;
    }
    addAll(sums, ns, vals, gs, n);
    if (nulls == 0) return;
    // Few nulls: every row was added; take back the null ones, found a
    // byte of the validity bitmap at a time.
    const v = xs.validity;
    for (let i = 0; i < n; i++) {
      const k = v.offset + i;
      if ((k & 7) == 0 && i + 8 <= n && load<u8>(v.ptr + (<usize>k >> 3)) == 0xff) {
        i += 7;
        continue;
      }
      if (((load<u8>(v.ptr + (<usize>k >> 3)) >> <u8>(k & 7)) & 1) == 0) {
        const g = <usize>load<i32>(gs + (<usize>i << 2)) << 3;
        store<i64>(sums + g, load<i64>(sums + g) - load<i64>(vals + (<usize>i << 3)));
        store<i64>(ns + g, load<i64>(ns + g) - 1);
      }
    }
  }
  merge(acc: Table, other: Table, groups: Indexes): void {
    const sums = acc.int64(0), ns = acc.int64(1);
    const osums = other.int64(0), ons = other.int64(1);
    for (let i = 0; i < groups.length; i++) {
      const g = groups.get(i);
      sums.set(g, sums.get(g) + osums.get(i));
      ns.set(g, ns.get(g) + ons.get(i));
    }
  }
  result(acc: Table, out: Builder): void {
    const sums = acc.int64(0), ns = acc.int64(1);
    const rb = out.int64(0);
    for (let k = 0; k < acc.length; k++) {
      if (ns.get(k) == 0) rb.appendNull();
      else rb.append(sums.get(k));
    }
  }
}

/** Adds vals[i] into group gs[i], for n rows. */
function addAll(sums: usize, ns: usize, vals: usize, gs: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const g = <usize>load<i32>(gs + (<usize>i << 2)) << 3;
    store<i64>(sums + g, load<i64>(sums + g) + load<i64>(vals + (<usize>i << 3)));
    store<i64>(ns + g, load<i64>(ns + g) + 1);
  }
}

// fail: fails every call with exactly the params text as its message.
class Fail extends MapFunction {
  msg: string = "";
  open(op: Operator): void {
    op.output = op.input.clone();
    this.msg = op.params;
  }
  map(input: Batch, out: Builder): void {
    fail(this.msg);
  }
}

registerMap("identity", (): MapFunction => new Identity());
registerMap("scale_f64", (): MapFunction => new ScaleF64());
registerMap("upper_utf8", (): MapFunction => new UpperUtf8());
registerFilter("gt_i64", (): FilterFunction => new GtI64());
registerFlatMap("tokenize", (): MapFunction => new Tokenize());
registerProcess("count", (): ProcessFunction => new Count());
registerAggregate("sum_i64", (): AggregateFunction => new SumI64());
registerMap("fail", (): MapFunction => new Fail());

// plan: identity over a file, to give the module a valid plan.
definePlan((args: string[]): Plan | null => {
  const flags = new FlagSet("conformance")
    .string("input", "in.jsonl", "input file (jsonl)")
    .string("output", "out", "output directory");
  if (!flags.parse(args)) return null;
  const p = new Plan("conformance");
  p.source("file", params(["path", flags.get("input"), "format", "jsonl", "schema", "x:int64"]))
    .map("identity")
    .sink("file", params(["path", flags.get("output"), "format", "jsonl"]));
  return p;
});
