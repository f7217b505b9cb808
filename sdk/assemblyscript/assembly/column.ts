// Zero-copy readers of input columns, and the input batch.

import { A_BUFFERS, A_CHILDREN, A_LENGTH, A_N_BUFFERS, A_N_CHILDREN, A_NULL_COUNT, A_OFFSET } from "./cdata";
import { DataType, Schema, TypeId, typeIdName } from "./types";

/** Counts the set bits of bits [off, off+n) of the bitmap at p. */
export function countSet(p: usize, off: i32, n: i32): i32 {
  if (n <= 0) return 0;
  let c: i32 = 0;
  let i = off;
  const end = off + n;
  // Up to the next byte boundary.
  while (i < end && (i & 7) != 0) {
    c += <i32>((load<u8>(p + (<usize>i >> 3)) >> <u8>(i & 7)) & 1);
    i++;
  }
  // 64 bits at a time.
  while (i + 64 <= end) {
    c += <i32>popcnt<u64>(load<u64>(p + (<usize>i >> 3)));
    i += 64;
  }
  while (i + 8 <= end) {
    c += <i32>popcnt<u32>(<u32>load<u8>(p + (<usize>i >> 3)));
    i += 8;
  }
  while (i < end) {
    c += <i32>((load<u8>(p + (<usize>i >> 3)) >> <u8>(i & 7)) & 1);
    i++;
  }
  return c;
}

/**
 * A validity (or bool values) bitmap: bit offset+i, LSB first. ptr 0 means
 * every bit is set (no nulls).
 */
export class Bitmap {
  ptr: usize = 0;
  offset: i32 = 0;
  length: i32 = 0;

  /** Whether bit i is set (always true without a buffer). */
  @inline get(i: i32): bool {
    if (this.ptr == 0) return true;
    const k = this.offset + i;
    return ((load<u8>(this.ptr + (<usize>k >> 3)) >> <u8>(k & 7)) & 1) != 0;
  }

  /** The number of clear bits (nulls, for a validity bitmap). */
  zeros(): i32 {
    if (this.ptr == 0) return 0;
    return this.length - countSet(this.ptr, this.offset, this.length);
  }
}

/** What every column reader has: its type, length, validity. */
export class Column {
  /** The column's type. */
  type: DataType;
  /** The column's physical kind. */
  id: TypeId;
  /** The column's name. */
  name: string;
  /** Number of rows. */
  length: i32 = 0;
  /** The validity bitmap (ptr 0: no nulls). */
  readonly validity: Bitmap = new Bitmap();
  /** Buffers of the current input: values/offsets, data (string types). */
  protected b1: usize = 0;
  protected b2: usize = 0;
  /** Element offset of row 0 in the buffers. */
  protected off: i32 = 0;
  private nulls: i32 = 0; // -1: not counted yet

  constructor(name: string, type: DataType) {
    this.name = name;
    this.type = type;
    this.id = type.id;
  }

  /** Whether row i is null. */
  @inline isNull(i: i32): bool { return !this.validity.get(i); }

  /** Whether row i is not null. */
  @inline isValid(i: i32): bool { return this.validity.get(i); }

  /** The number of null rows. */
  get nullCount(): i32 {
    if (this.nulls < 0) this.nulls = this.validity.zeros();
    return this.nulls;
  }

  /** Points the reader at child array a for rows [parentOff, parentOff+n). Returns an error or null. */
  load(a: usize, parentOff: i32, n: i32): string | null {
    const str = this.id == TypeId.Utf8 || this.id == TypeId.Binary;
    const want: i64 = str ? 3 : 2;
    if (a == 0) return "NULL array";
    const nb = load<i64>(a + A_N_BUFFERS);
    if (nb != want) return "has " + nb.toString() + " buffers, want " + want.toString();
    const aoff = load<i64>(a + A_OFFSET);
    const alen = load<i64>(a + A_LENGTH);
    if (aoff < 0 || aoff > 0x40000000 || alen < 0) return "has offset " + aoff.toString() + " and length " + alen.toString();
    if (n > 0 && alen < <i64>parentOff + <i64>n) {
      return "has length " + alen.toString() + ", batch needs " + (<i64>parentOff + <i64>n).toString();
    }
    const bufs = <usize>load<u32>(a + A_BUFFERS);
    if (bufs == 0) return "NULL buffers";
    const off = <i32>aoff + parentOff;
    this.off = off;
    this.length = n;
    const valid = <usize>load<u32>(bufs);
    this.b1 = <usize>load<u32>(bufs + 4);
    this.b2 = str ? <usize>load<u32>(bufs + 8) : 0;
    const v = this.validity;
    v.ptr = valid;
    v.offset = off;
    v.length = n;
    const nc = load<i64>(a + A_NULL_COUNT);
    if (valid == 0) this.nulls = 0;
    else if (nc >= 0 && parentOff == 0 && alen == <i64>n) this.nulls = <i32>nc;
    else this.nulls = -1;
    if (n > 0 && this.b1 == 0) return "NULL values buffer";
    return this.check();
  }

  /** Type-specific checks of the loaded buffers. */
  protected check(): string | null { return null; }
}

/**
 * A column of fixed-width values: T is i8, i16, i32, i64, u8, u16, u32,
 * u64, f32 or f64 (timestamps are i64, date32 is i32).
 */
export class PrimitiveColumn<T> extends Column {
  /** Address of row 0's value; row i is at valuesPtr + i * sizeof<T>(). */
  get valuesPtr(): usize {
    return this.b1 + (<usize>this.off << alignof<T>());
  }

  /** The value of row i (unspecified for a null row). */
  @inline get(i: i32): T {
    if (<u32>i >= <u32>this.length) outOfRange(this.name, i, this.length);
    return load<T>(this.b1 + ((<usize>this.off + <usize>i) << alignof<T>()));
  }

  /** The value of row i without a range check. */
  @inline getUnchecked(i: i32): T {
    return load<T>(this.b1 + ((<usize>this.off + <usize>i) << alignof<T>()));
  }

  /** Copies the values into a new typed array. */
  toArray(): StaticArray<T> {
    const a = new StaticArray<T>(this.length);
    memory.copy(changetype<usize>(a), this.valuesPtr, <usize>this.length << alignof<T>());
    return a;
  }
}

/** A bool column; values are a bitmap. */
export class BoolColumn extends Column {
  /** The values bitmap (ptr, bit offset). */
  readonly values: Bitmap = new Bitmap();

  protected check(): string | null {
    this.values.ptr = this.b1;
    this.values.offset = this.off;
    this.values.length = this.length;
    return null;
  }

  /** The value of row i (unspecified for a null row). */
  @inline get(i: i32): bool {
    if (<u32>i >= <u32>this.length) outOfRange(this.name, i, this.length);
    const k = this.off + i;
    return ((load<u8>(this.b1 + (<usize>k >> 3)) >> <u8>(k & 7)) & 1) != 0;
  }
}

/** A utf8 or binary column: i32 offsets into a data buffer. */
export class StringColumn extends Column {
  protected check(): string | null {
    if (this.length > 0) {
      const start = this.start(0), end = this.end(this.length - 1);
      if (start < 0 || end < start) return "bad offsets " + start.toString() + ".." + end.toString();
      if (end > start && this.b2 == 0) return "NULL data buffer";
    }
    return null;
  }

  /** Address of the offsets of row 0: offsets of row i at offsetsPtr + 4i (start) and + 4i + 4 (end). */
  get offsetsPtr(): usize { return this.b1 + (<usize>this.off << 2); }

  /** Address of the data buffer (offsets index into it). */
  get dataPtr(): usize { return this.b2; }

  /** Start offset of row i in the data buffer. */
  @inline start(i: i32): i32 { return load<i32>(this.b1 + ((<usize>this.off + <usize>i) << 2)); }

  /** End offset of row i in the data buffer. */
  @inline end(i: i32): i32 { return load<i32>(this.b1 + ((<usize>this.off + <usize>i + 1) << 2)); }

  /** Address of row i's bytes. */
  @inline ptr(i: i32): usize {
    if (<u32>i >= <u32>this.length) outOfRange(this.name, i, this.length);
    return this.b2 + <usize>this.start(i);
  }

  /** Byte length of row i. */
  @inline byteLength(i: i32): i32 {
    if (<u32>i >= <u32>this.length) outOfRange(this.name, i, this.length);
    return this.end(i) - this.start(i);
  }

  /** Row i decoded from UTF-8 (allocates an AssemblyScript string). */
  getString(i: i32): string {
    return String.UTF8.decodeUnsafe(this.ptr(i), <usize>this.byteLength(i));
  }

  /** A copy of row i's bytes. */
  getBytes(i: i32): Uint8Array {
    const n = this.byteLength(i);
    const a = new Uint8Array(n);
    memory.copy(a.dataStart, this.ptr(i), <usize>n);
    return a;
  }

  /** Whether row i's bytes equal the UTF-8 encoding of s. */
  equals(i: i32, s: string): bool {
    const n = this.byteLength(i);
    if (String.UTF8.byteLength(s) != n) return false;
    const b = String.UTF8.encode(s);
    return memory.compare(this.ptr(i), changetype<usize>(b), <usize>n) == 0;
  }
}

export function outOfRange(name: string, i: i32, n: i32): void {
  abort("column \"" + name + "\": row " + i.toString() + " out of range (" + n.toString() + " rows)");
}

/** Makes the reader for a column of type t. */
export function newColumn(name: string, t: DataType): Column {
  switch (t.id) {
    case TypeId.Bool: return new BoolColumn(name, t);
    case TypeId.Int8: return new PrimitiveColumn<i8>(name, t);
    case TypeId.Int16: return new PrimitiveColumn<i16>(name, t);
    case TypeId.Int32: case TypeId.Date32: return new PrimitiveColumn<i32>(name, t);
    case TypeId.Int64: case TypeId.Timestamp: return new PrimitiveColumn<i64>(name, t);
    case TypeId.Uint8: return new PrimitiveColumn<u8>(name, t);
    case TypeId.Uint16: return new PrimitiveColumn<u16>(name, t);
    case TypeId.Uint32: return new PrimitiveColumn<u32>(name, t);
    case TypeId.Uint64: return new PrimitiveColumn<u64>(name, t);
    case TypeId.Float32: return new PrimitiveColumn<f32>(name, t);
    case TypeId.Float64: return new PrimitiveColumn<f64>(name, t);
    case TypeId.Utf8: case TypeId.Binary: return new StringColumn(name, t);
  }
  abort("unsupported type " + t.toString());
  return unreachable();
}

/**
 * An input batch: zero-copy readers over the host's buffers, valid during
 * the call only. The readers are made once per operator and reused.
 */
export class Batch {
  readonly schema: Schema;
  /** Number of rows. */
  length: i32 = 0;
  readonly columns: Column[] = [];

  constructor(schema: Schema) {
    this.schema = schema;
    for (let j = 0; j < schema.length; j++) {
      const f = schema.fields[j];
      this.columns.push(newColumn(f.name, f.type));
    }
  }

  /** Number of columns. */
  get numColumns(): i32 { return this.columns.length; }

  /** Points the readers at the struct array a. Returns an error or null. */
  load(a: usize): string | null {
    if (a == 0) return "no input batch";
    const nc = load<i64>(a + A_N_CHILDREN);
    const cols = this.columns;
    if (nc != <i64>cols.length) return "input batch has " + nc.toString() + " columns, its schema " + cols.length.toString();
    const len = load<i64>(a + A_LENGTH);
    const off = load<i64>(a + A_OFFSET);
    if (len < 0 || len > 0x7fffffff) return "input batch has length " + len.toString();
    if (off < 0 || off > 0x40000000) return "input batch has offset " + off.toString();
    const n = <i32>len;
    this.length = n;
    const kids = <usize>load<u32>(a + A_CHILDREN);
    if (cols.length > 0 && kids == 0) return "input batch has NULL children";
    for (let j = 0; j < cols.length; j++) {
      const e = unchecked(cols[j]).load(<usize>load<u32>(kids + (<usize>j << 2)), <i32>off, n);
      if (e !== null) return "input column \"" + this.schema.fields[j].name + "\": " + e;
    }
    return null;
  }

  /** The reader of column j. */
  column(j: i32): Column { return this.columns[j]; }

  private typed(j: i32, a: TypeId, b: TypeId = TypeId.Invalid): Column {
    const c = this.columns[j];
    if (c.id != a && c.id != b) {
      abort("column " + j.toString() + " (\"" + c.name + "\") is " + c.type.toString() + ", not " + typeIdName(a));
    }
    return c;
  }

  bool(j: i32): BoolColumn { return changetype<BoolColumn>(this.typed(j, TypeId.Bool)); }
  int8(j: i32): PrimitiveColumn<i8> { return changetype<PrimitiveColumn<i8>>(this.typed(j, TypeId.Int8)); }
  int16(j: i32): PrimitiveColumn<i16> { return changetype<PrimitiveColumn<i16>>(this.typed(j, TypeId.Int16)); }
  int32(j: i32): PrimitiveColumn<i32> { return changetype<PrimitiveColumn<i32>>(this.typed(j, TypeId.Int32)); }
  int64(j: i32): PrimitiveColumn<i64> { return changetype<PrimitiveColumn<i64>>(this.typed(j, TypeId.Int64)); }
  uint8(j: i32): PrimitiveColumn<u8> { return changetype<PrimitiveColumn<u8>>(this.typed(j, TypeId.Uint8)); }
  uint16(j: i32): PrimitiveColumn<u16> { return changetype<PrimitiveColumn<u16>>(this.typed(j, TypeId.Uint16)); }
  uint32(j: i32): PrimitiveColumn<u32> { return changetype<PrimitiveColumn<u32>>(this.typed(j, TypeId.Uint32)); }
  uint64(j: i32): PrimitiveColumn<u64> { return changetype<PrimitiveColumn<u64>>(this.typed(j, TypeId.Uint64)); }
  float32(j: i32): PrimitiveColumn<f32> { return changetype<PrimitiveColumn<f32>>(this.typed(j, TypeId.Float32)); }
  float64(j: i32): PrimitiveColumn<f64> { return changetype<PrimitiveColumn<f64>>(this.typed(j, TypeId.Float64)); }
  /** A timestamp column: i64 in its type's unit since the epoch. */
  timestamp(j: i32): PrimitiveColumn<i64> { return changetype<PrimitiveColumn<i64>>(this.typed(j, TypeId.Timestamp)); }
  /** A date32 column: i32 days since the epoch. */
  date32(j: i32): PrimitiveColumn<i32> { return changetype<PrimitiveColumn<i32>>(this.typed(j, TypeId.Date32)); }
  utf8(j: i32): StringColumn { return changetype<StringColumn>(this.typed(j, TypeId.Utf8)); }
  binary(j: i32): StringColumn { return changetype<StringColumn>(this.typed(j, TypeId.Binary)); }
}

/** The i32 key (process) or group (aggregate) index of each input row. */
export class Indexes {
  /** Address of the first index. */
  ptr: usize = 0;
  length: i32 = 0;

  @inline get(i: i32): i32 {
    if (<u32>i >= <u32>this.length) outOfRange("indexes", i, this.length);
    return load<i32>(this.ptr + (<usize>i << 2));
  }

  @inline getUnchecked(i: i32): i32 { return load<i32>(this.ptr + (<usize>i << 2)); }

  /** Checks every index is in 0..n; returns an error or null. */
  check(n: i32, what: string): string | null {
    let bad: u32 = 0;
    const p = this.ptr;
    for (let i = 0; i < this.length; i++) bad |= <u32>(<u32>load<i32>(p + (<usize>i << 2)) >= <u32>n);
    if (bad == 0) return null;
    for (let i = 0; i < this.length; i++) {
      const k = load<i32>(p + (<usize>i << 2));
      if (<u32>k >= <u32>n) return what + " " + k.toString() + " of row " + i.toString() + " is out of range (" + n.toString() + " rows)";
    }
    return null;
  }
}
