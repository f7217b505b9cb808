// Builders of output columns and batches. Their memory comes from heap.alloc
// (outside the garbage collector), is reused across calls and stays valid
// until the next call, as abi/SPEC.md §3 requires.

import { ArrayRegion } from "./cdata";
import { Batch, Bitmap, BoolColumn, Column, PrimitiveColumn, StringColumn, countSet, outOfRange } from "./column";
import { DataType, Schema, TypeId, typeIdName } from "./types";

/** Grows a heap block to at least need bytes (doubling); returns the new pointer. */
export function growBlock(p: usize, cap: usize, need: usize): usize {
  let c = cap << 1;
  if (c < need) c = need;
  if (c < 64) c = 64;
  return p == 0 ? heap.alloc(c) : heap.realloc(p, c);
}

/** Copies n bits from src (bit offset so) to dst (bit offset dof). */
export function copyBits(dst: usize, dof: i32, src: usize, so: i32, n: i32): void {
  if (n <= 0) return;
  if ((dof & 7) == 0 && (so & 7) == 0) {
    const full = n >> 3;
    memory.copy(dst + (<usize>dof >> 3), src + (<usize>so >> 3), <usize>full);
    const rest = n & 7;
    if (rest != 0) {
      const d = dst + (<usize>dof >> 3) + <usize>full;
      const m = <u8>((<u32>1 << <u32>rest) - 1);
      store<u8>(d, (load<u8>(d) & ~m) | (load<u8>(src + (<usize>so >> 3) + <usize>full) & m));
    }
    return;
  }
  let i = 0;
  // Bit by bit up to a destination byte boundary, then a byte at a time.
  while (i < n && ((dof + i) & 7) != 0) {
    setBit(dst, dof + i, getBit(src, so + i));
    i++;
  }
  const sh = <u32>((so + i) & 7);
  while (i + 8 <= n) {
    const s = src + (<usize>(so + i) >> 3);
    // 16 bits from the source, shifted to the byte we want; the second byte
    // is read only if the shift needs it.
    let w = <u32>load<u8>(s) >> sh;
    if (sh != 0) w |= <u32>load<u8>(s + 1) << (8 - sh);
    store<u8>(dst + (<usize>(dof + i) >> 3), <u8>w);
    i += 8;
  }
  while (i < n) {
    setBit(dst, dof + i, getBit(src, so + i));
    i++;
  }
}

@inline export function getBit(p: usize, i: i32): bool {
  return ((load<u8>(p + (<usize>i >> 3)) >> <u8>(i & 7)) & 1) != 0;
}

@inline export function setBit(p: usize, i: i32, v: bool): void {
  const a = p + (<usize>i >> 3);
  const m = <u8>(<u32>1 << <u32>(i & 7));
  store<u8>(a, v ? load<u8>(a) | m : load<u8>(a) & ~m);
}

/**
 * The validity of a column builder. The bitmap is allocated at the first
 * null; every bit past the column's length is kept set, so appending a
 * valid value costs nothing.
 */
class Validity {
  bits: usize = 0;
  cap: usize = 0; // bytes
  nulls: i32 = 0;

  /** Makes room for n rows (bitmap only once it exists). */
  @inline fit(n: i32): void {
    if (this.bits != 0) {
      const need = (<usize>n + 7) >> 3;
      if (need > this.cap) this.grow(need);
    }
  }

  grow(need: usize): void {
    const old = this.cap;
    let c = old << 1;
    if (c < need) c = need;
    if (c < 64) c = 64;
    this.bits = this.bits == 0 ? heap.alloc(c) : heap.realloc(this.bits, c);
    memory.fill(this.bits + old, 0xff, c - old);
    this.cap = c;
  }

  /** Marks row i null; len is the column length after the row. */
  setNull(i: i32, len: i32): void {
    const need = (<usize>len + 7) >> 3;
    if (need > this.cap) this.grow(need);
    const a = this.bits + (<usize>i >> 3);
    const m = <u8>(<u32>1 << <u32>(i & 7));
    const b = load<u8>(a);
    if (b & m) {
      store<u8>(a, b & ~m);
      this.nulls++;
    }
  }

  isNull(i: i32): bool {
    return this.bits != 0 && !getBit(this.bits, i);
  }

  /** Appends n validity bits from m at row i. */
  extendFrom(i: i32, n: i32, m: Bitmap, knownNulls: i32): void {
    if (m.ptr == 0 || n == 0 || knownNulls == 0) return;
    const need = (<usize>(i + n) + 7) >> 3;
    if (need > this.cap) this.grow(need);
    copyBits(this.bits, i, m.ptr, m.offset, n);
    this.nulls += knownNulls > 0 ? knownNulls : n - countSet(this.bits, i, n);
  }

  /** Clears the first len rows (all valid again). */
  reset(len: i32): void {
    if (this.bits != 0 && this.nulls > 0) memory.fill(this.bits, 0xff, min<usize>((<usize>len + 7) >> 3, this.cap));
    this.nulls = 0;
  }

  free(): void {
    if (this.bits != 0) heap.free(this.bits);
    this.bits = 0;
    this.cap = 0;
  }

  /** The validity pointer to export (0 without nulls). */
  @inline exported(): usize { return this.nulls > 0 ? this.bits : 0; }
}

/** What every column builder has. */
export abstract class ColumnBuilder {
  readonly type: DataType;
  readonly id: TypeId;
  readonly name: string;
  /** Number of rows appended. */
  length: i32 = 0;
  protected v: Validity = new Validity();

  constructor(name: string, type: DataType) {
    this.name = name;
    this.type = type;
    this.id = type.id;
  }

  /** Number of null rows appended. */
  get nullCount(): i32 { return this.v.nulls; }

  /** Whether row i is null. */
  isNull(i: i32): bool {
    if (<u32>i >= <u32>this.length) outOfRange(this.name, i, this.length);
    return this.v.isNull(i);
  }

  /** Marks the already appended row i null. */
  setNull(i: i32): void {
    if (<u32>i >= <u32>this.length) outOfRange(this.name, i, this.length);
    this.v.setNull(i, this.length);
  }

  /** Appends a null row. */
  abstract appendNull(): void;
  /** Removes every row, keeping the memory. */
  abstract reset(): void;
  /** Appends all rows of c (a column of the same type). */
  abstract appendFrom(c: Column): void;
  /** Appends row i of c (a column of the same type). */
  abstract appendRow(c: Column, i: i32): void;
  /** Writes child j of r. */
  abstract export(r: ArrayRegion, j: i32): void;
  /** Releases the builder's memory (when its operator closes). */
  abstract free(): void;
}

/** A builder of fixed-width values (T as in PrimitiveColumn<T>). */
export class PrimitiveBuilder<T> extends ColumnBuilder {
  private vals: usize = 0;
  private cap: i32 = 0; // elements

  /** Makes room for n more rows. */
  @inline reserve(n: i32): void {
    const need = this.length + n;
    if (need > this.cap) this.growTo(need);
  }

  private growTo(need: i32): void {
    let c = this.cap << 1;
    if (c < need) c = need;
    if (c < 64) c = 64;
    const bytes = <usize>c << alignof<T>();
    this.vals = this.vals == 0 ? heap.alloc(bytes) : heap.realloc(this.vals, bytes);
    this.cap = c;
  }

  /** Address of row 0's value (changes when the builder grows). */
  get valuesPtr(): usize { return this.vals; }

  /** Appends a value. */
  @inline append(x: T): void {
    const n = this.length;
    if (n >= this.cap) this.growTo(n + 1);
    store<T>(this.vals + (<usize>n << alignof<T>()), x);
    this.length = n + 1;
    this.v.fit(n + 1);
  }

  appendNull(): void {
    const n = this.length;
    this.append(<T>0);
    this.v.setNull(n, n + 1);
  }

  /**
   * Appends n rows whose values the caller then writes; returns the address
   * of the first. The rows are valid unless marked null.
   */
  extend(n: i32): usize {
    this.reserve(n);
    const p = this.vals + (<usize>this.length << alignof<T>());
    this.length += n;
    this.v.fit(this.length);
    return p;
  }

  /**
   * Like extend(validity.length), with the new rows' validity copied from
   * validity: the usual start of a map that keeps nulls null.
   */
  extendValidity(validity: Bitmap, knownNulls: i32 = -1): usize {
    const at = this.length;
    const p = this.extend(validity.length);
    this.v.extendFrom(at, validity.length, validity, knownNulls);
    return p;
  }

  /** Sets the value of the already appended row i. */
  @inline set(i: i32, x: T): void {
    if (<u32>i >= <u32>this.length) outOfRange(this.name, i, this.length);
    store<T>(this.vals + (<usize>i << alignof<T>()), x);
  }

  /** The value of the already appended row i. */
  @inline get(i: i32): T {
    if (<u32>i >= <u32>this.length) outOfRange(this.name, i, this.length);
    return load<T>(this.vals + (<usize>i << alignof<T>()));
  }

  /** Appends every row of c (values and nulls) with bulk copies; returns the address of the first new value. */
  appendColumn(c: PrimitiveColumn<T>): usize {
    const n = c.length;
    const at = this.length;
    const p = this.extend(n);
    memory.copy(p, c.valuesPtr, <usize>n << alignof<T>());
    this.v.extendFrom(at, n, c.validity, c.nullCount);
    return p;
  }

  appendFrom(c: Column): void {
    this.appendColumn(changetype<PrimitiveColumn<T>>(checkSame(this, c)));
  }

  appendRow(c: Column, i: i32): void {
    const pc = changetype<PrimitiveColumn<T>>(checkSame(this, c));
    if (pc.isNull(i)) this.appendNull();
    else this.append(pc.get(i));
  }

  reset(): void {
    this.v.reset(this.length);
    this.length = 0;
  }

  free(): void {
    if (this.vals != 0) heap.free(this.vals);
    this.vals = 0;
    this.cap = 0;
    this.length = 0;
    this.v.free();
  }

  export(r: ArrayRegion, j: i32): void {
    if (this.vals == 0) this.growTo(1);
    r.setChild(j, this.length, <i64>this.v.nulls, 2, this.v.exported(), this.vals, 0);
  }
}

function checkSame(b: ColumnBuilder, c: Column): Column {
  if (b.id != c.id || (b.id == TypeId.Timestamp && !b.type.equals(c.type))) {
    abort("cannot append column \"" + c.name + "\" (" + c.type.toString() + ") to output column \"" + b.name + "\" (" + b.type.toString() + ")");
  }
  return c;
}

/** A builder of bool values. */
export class BoolBuilder extends ColumnBuilder {
  private bits: usize = 0;
  private cap: usize = 0; // bytes

  @inline private fit(n: i32): void {
    const need = (<usize>n + 7) >> 3;
    if (need > this.cap) {
      this.bits = growBlock(this.bits, this.cap, need);
      this.cap = max(this.cap << 1, max<usize>(need, 64));
    }
    this.v.fit(n);
  }

  append(x: bool): void {
    const n = this.length;
    this.fit(n + 1);
    setBit(this.bits, n, x);
    this.length = n + 1;
  }

  appendNull(): void {
    const n = this.length;
    this.append(false);
    this.v.setNull(n, n + 1);
  }

  /** Sets the value of the already appended row i. */
  set(i: i32, x: bool): void {
    if (<u32>i >= <u32>this.length) outOfRange(this.name, i, this.length);
    setBit(this.bits, i, x);
  }

  get(i: i32): bool {
    if (<u32>i >= <u32>this.length) outOfRange(this.name, i, this.length);
    return getBit(this.bits, i);
  }

  /** Appends every row of c. */
  appendColumn(c: BoolColumn): void {
    const n = c.length;
    const at = this.length;
    this.fit(at + n);
    copyBits(this.bits, at, c.values.ptr, c.values.offset, n);
    this.length = at + n;
    this.v.extendFrom(at, n, c.validity, c.nullCount);
  }

  appendFrom(c: Column): void { this.appendColumn(changetype<BoolColumn>(checkSame(this, c))); }

  appendRow(c: Column, i: i32): void {
    const bc = changetype<BoolColumn>(checkSame(this, c));
    if (bc.isNull(i)) this.appendNull();
    else this.append(bc.get(i));
  }

  reset(): void {
    this.v.reset(this.length);
    this.length = 0;
  }

  free(): void {
    if (this.bits != 0) heap.free(this.bits);
    this.bits = 0;
    this.cap = 0;
    this.length = 0;
    this.v.free();
  }

  export(r: ArrayRegion, j: i32): void {
    if (this.bits == 0) this.fit(8);
    r.setChild(j, this.length, <i64>this.v.nulls, 2, this.v.exported(), this.bits, 0);
  }
}

/** A builder of utf8 or binary values. */
export class StringBuilder extends ColumnBuilder {
  private offs: usize = 0; // i32 offsets, length+1 of them
  private offCap: i32 = 0; // offsets
  private data: usize = 0;
  private dataLen: i32 = 0;
  private dataCap: usize = 0;

  constructor(name: string, type: DataType) {
    super(name, type);
    this.fitRows(1);
    store<i32>(this.offs, 0);
  }

  @inline private fitRows(n: i32): void {
    if (n + 1 > this.offCap) {
      this.offs = growBlock(this.offs, <usize>this.offCap << 2, <usize>(n + 1) << 2);
      this.offCap = max(this.offCap << 1, max(n + 1, 16));
    }
    this.v.fit(n);
  }

  @inline private fitData(n: i32): void {
    if (<usize>n > this.dataCap) {
      this.data = growBlock(this.data, this.dataCap, <usize>n);
      this.dataCap = max(this.dataCap << 1, max<usize>(<usize>n, 64));
    }
  }

  /** Bytes appended so far. */
  get byteLength(): i32 { return this.dataLen; }

  /** Appends the UTF-8 encoding of s (utf8) or its code units' UTF-8 (binary). */
  append(s: string): void {
    const len = String.UTF8.byteLength(s);
    const p = this.reserve(len);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, p);
    this.commit(len);
  }

  /** Appends n bytes from p. */
  appendBytes(p: usize, n: i32): void {
    const d = this.reserve(n);
    memory.copy(d, p, <usize>n);
    this.commit(n);
  }

  /** Appends the bytes of a. */
  appendArray(a: Uint8Array): void { this.appendBytes(a.dataStart, a.length); }

  /**
   * Low-level append: returns the address where up to n bytes of the next
   * value may be written; commit(len) then ends the value. The address is
   * valid until the next append.
   */
  reserve(n: i32): usize {
    this.fitData(this.dataLen + n);
    return this.data + <usize>this.dataLen;
  }

  /** Ends the value written after reserve() with its byte length. */
  commit(len: i32): void {
    const n = this.length;
    this.fitRows(n + 1);
    this.dataLen += len;
    store<i32>(this.offs + (<usize>(n + 1) << 2), this.dataLen);
    this.length = n + 1;
  }

  appendNull(): void {
    const n = this.length;
    this.commit(0);
    this.v.setNull(n, n + 1);
  }

  /** Appends every row of c with bulk copies. */
  appendColumn(c: StringColumn): void {
    const n = c.length;
    if (n == 0) return;
    const at = this.length;
    const first = c.start(0), last = c.end(n - 1);
    const bytes = last - first;
    this.fitRows(at + n);
    const d = this.reserve(bytes);
    if (bytes > 0) memory.copy(d, c.dataPtr + <usize>first, <usize>bytes);
    const delta = this.dataLen - first;
    const src = c.offsetsPtr + 4, dst = this.offs + (<usize>(at + 1) << 2);
    for (let i: usize = 0; i < <usize>n; i++) {
      store<i32>(dst + (i << 2), load<i32>(src + (i << 2)) + delta);
    }
    this.dataLen += bytes;
    this.length = at + n;
    this.v.extendFrom(at, n, c.validity, c.nullCount);
  }

  appendFrom(c: Column): void { this.appendColumn(changetype<StringColumn>(checkSame(this, c))); }

  appendRow(c: Column, i: i32): void {
    const sc = changetype<StringColumn>(checkSame(this, c));
    if (sc.isNull(i)) this.appendNull();
    else this.appendBytes(sc.ptr(i), sc.byteLength(i));
  }

  /** Address of the data buffer (changes when it grows). */
  get dataPtr(): usize { return this.data; }

  /** Address of the offsets (length+1 of them). */
  get offsetsPtr(): usize { return this.offs; }

  /** Row i as an AssemblyScript string (decoded from UTF-8). */
  getString(i: i32): string {
    if (<u32>i >= <u32>this.length) outOfRange(this.name, i, this.length);
    const s = load<i32>(this.offs + (<usize>i << 2)), e = load<i32>(this.offs + (<usize>(i + 1) << 2));
    return String.UTF8.decodeUnsafe(this.data + <usize>s, <usize>(e - s));
  }

  reset(): void {
    this.v.reset(this.length);
    this.length = 0;
    this.dataLen = 0;
  }

  free(): void {
    if (this.offs != 0) heap.free(this.offs);
    if (this.data != 0) heap.free(this.data);
    this.offs = 0;
    this.offCap = 0;
    this.data = 0;
    this.dataCap = 0;
    this.dataLen = 0;
    this.length = 0;
    this.v.free();
  }

  export(r: ArrayRegion, j: i32): void {
    if (this.data == 0) this.fitData(1);
    r.setChild(j, this.length, <i64>this.v.nulls, 3, this.v.exported(), this.offs, this.data);
  }
}

/** Makes the builder of a column of type t. */
export function newColumnBuilder(name: string, t: DataType): ColumnBuilder {
  switch (t.id) {
    case TypeId.Bool: return new BoolBuilder(name, t);
    case TypeId.Int8: return new PrimitiveBuilder<i8>(name, t);
    case TypeId.Int16: return new PrimitiveBuilder<i16>(name, t);
    case TypeId.Int32: case TypeId.Date32: return new PrimitiveBuilder<i32>(name, t);
    case TypeId.Int64: case TypeId.Timestamp: return new PrimitiveBuilder<i64>(name, t);
    case TypeId.Uint8: return new PrimitiveBuilder<u8>(name, t);
    case TypeId.Uint16: return new PrimitiveBuilder<u16>(name, t);
    case TypeId.Uint32: return new PrimitiveBuilder<u32>(name, t);
    case TypeId.Uint64: return new PrimitiveBuilder<u64>(name, t);
    case TypeId.Float32: return new PrimitiveBuilder<f32>(name, t);
    case TypeId.Float64: return new PrimitiveBuilder<f64>(name, t);
    case TypeId.Utf8: case TypeId.Binary: return new StringBuilder(name, t);
  }
  abort("unsupported type " + t.toString());
  return unreachable();
}

/**
 * Builds an output batch of a fixed schema. The SDK resets it before each
 * call; its memory is kept, so a steady-state call does not allocate.
 */
export class Builder {
  readonly schema: Schema;
  readonly columns: ColumnBuilder[] = [];
  private region: ArrayRegion;
  /** Rows of a batch without columns (see setLength). */
  private rows: i32 = 0;

  constructor(schema: Schema) {
    this.schema = schema;
    this.region = new ArrayRegion(schema.length);
    for (let j = 0; j < schema.length; j++) {
      const f = schema.fields[j];
      this.columns.push(newColumnBuilder(f.name, f.type));
    }
  }

  get numColumns(): i32 { return this.columns.length; }

  /** Number of rows: that of column 0, or the count set by setLength without columns. */
  get length(): i32 {
    return this.columns.length > 0 ? unchecked(this.columns[0]).length : this.rows;
  }

  /** Sets the row count of a builder without columns. */
  setLength(n: i32): void {
    assert(this.columns.length == 0, "Builder.setLength: only for batches without columns");
    this.rows = n;
  }

  reset(): void {
    for (let j = 0; j < this.columns.length; j++) unchecked(this.columns[j]).reset();
    this.rows = 0;
  }

  /** Releases the builder's memory; it must not be used after. The SDK calls it when the operator closes. */
  free(): void {
    for (let j = 0; j < this.columns.length; j++) unchecked(this.columns[j]).free();
    this.region.free();
  }

  column(j: i32): ColumnBuilder { return this.columns[j]; }

  private typed(j: i32, a: TypeId): ColumnBuilder {
    const c = this.columns[j];
    if (c.id != a) abort("output column " + j.toString() + " (\"" + c.name + "\") is " + c.type.toString() + ", not " + typeIdName(a));
    return c;
  }

  bool(j: i32): BoolBuilder { return changetype<BoolBuilder>(this.typed(j, TypeId.Bool)); }
  int8(j: i32): PrimitiveBuilder<i8> { return changetype<PrimitiveBuilder<i8>>(this.typed(j, TypeId.Int8)); }
  int16(j: i32): PrimitiveBuilder<i16> { return changetype<PrimitiveBuilder<i16>>(this.typed(j, TypeId.Int16)); }
  int32(j: i32): PrimitiveBuilder<i32> { return changetype<PrimitiveBuilder<i32>>(this.typed(j, TypeId.Int32)); }
  int64(j: i32): PrimitiveBuilder<i64> { return changetype<PrimitiveBuilder<i64>>(this.typed(j, TypeId.Int64)); }
  uint8(j: i32): PrimitiveBuilder<u8> { return changetype<PrimitiveBuilder<u8>>(this.typed(j, TypeId.Uint8)); }
  uint16(j: i32): PrimitiveBuilder<u16> { return changetype<PrimitiveBuilder<u16>>(this.typed(j, TypeId.Uint16)); }
  uint32(j: i32): PrimitiveBuilder<u32> { return changetype<PrimitiveBuilder<u32>>(this.typed(j, TypeId.Uint32)); }
  uint64(j: i32): PrimitiveBuilder<u64> { return changetype<PrimitiveBuilder<u64>>(this.typed(j, TypeId.Uint64)); }
  float32(j: i32): PrimitiveBuilder<f32> { return changetype<PrimitiveBuilder<f32>>(this.typed(j, TypeId.Float32)); }
  float64(j: i32): PrimitiveBuilder<f64> { return changetype<PrimitiveBuilder<f64>>(this.typed(j, TypeId.Float64)); }
  timestamp(j: i32): PrimitiveBuilder<i64> { return changetype<PrimitiveBuilder<i64>>(this.typed(j, TypeId.Timestamp)); }
  date32(j: i32): PrimitiveBuilder<i32> { return changetype<PrimitiveBuilder<i32>>(this.typed(j, TypeId.Date32)); }
  utf8(j: i32): StringBuilder { return changetype<StringBuilder>(this.typed(j, TypeId.Utf8)); }
  binary(j: i32): StringBuilder { return changetype<StringBuilder>(this.typed(j, TypeId.Binary)); }

  /** Appends every row of input column src to output column dst (same type). */
  copyColumn(dst: i32, input: Batch, src: i32): void {
    this.columns[dst].appendFrom(input.columns[src]);
  }

  /** Appends every row of input (same schema as the builder's, column for column). */
  appendBatch(input: Batch): void {
    if (input.columns.length != this.columns.length) {
      abort("appendBatch: input has " + input.columns.length.toString() + " columns, the builder " + this.columns.length.toString());
    }
    for (let j = 0; j < this.columns.length; j++) unchecked(this.columns[j]).appendFrom(unchecked(input.columns[j]));
    if (this.columns.length == 0) this.rows += input.length;
  }

  /** Appends row i of input, column for column. */
  appendRow(input: Batch, i: i32): void {
    for (let j = 0; j < this.columns.length; j++) unchecked(this.columns[j]).appendRow(unchecked(input.columns[j]), i);
    if (this.columns.length == 0) this.rows++;
  }

  /**
   * Writes the batch's ArrowArray; returns its address and checks every
   * column has the same length (an error message, or null, in err).
   */
  exportBatch(err: string[]): usize {
    const n = this.length;
    for (let j = 0; j < this.columns.length; j++) {
      const c = unchecked(this.columns[j]);
      if (c.length != n) {
        err.push("output column \"" + c.name + "\" has " + c.length.toString() + " rows, column \"" + this.columns[0].name + "\" " + n.toString());
        return 0;
      }
    }
    this.region.begin(n, 0, 0);
    for (let j = 0; j < this.columns.length; j++) unchecked(this.columns[j]).export(this.region, j);
    return this.region.addr;
  }
}
