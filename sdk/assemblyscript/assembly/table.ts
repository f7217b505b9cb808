// Mutable tables: the keyed state of process operators and the
// accumulators of aggregates (abi/SPEC.md §9.3, §9.4).

import { ArrayRegion, A_BUFFERS, A_CHILDREN, A_LENGTH, A_N_BUFFERS, A_N_CHILDREN, A_OFFSET } from "./cdata";
import { BoolColumn, Column, PrimitiveColumn, StringColumn, newColumn, outOfRange } from "./column";
import { getBit, growBlock, setBit } from "./builder";
import { DataType, Schema, TypeId, byteWidth, typeIdName } from "./types";

/** A column of a Table. Null values read as zero, false or empty. */
export abstract class TableColumn {
  readonly name: string;
  readonly type: DataType;
  readonly id: TypeId;
  length: i32 = 0;

  constructor(name: string, type: DataType) {
    this.name = name;
    this.type = type;
    this.id = type.id;
  }

  abstract reset(n: i32): void;
  /** Copies the values of the loaded input column; rows where zero(k) holds are zeroed. */
  abstract fill(c: Column, zero: StaticArray<u8>): void;
  abstract export(r: ArrayRegion, j: i32): void;
  /** Releases the column's memory. */
  abstract free(): void;
}

/** Fixed-width values (T as in PrimitiveColumn<T>), stored contiguously. */
export class PrimitiveTableColumn<T> extends TableColumn {
  private vals: usize = 0;
  private cap: usize = 0; // bytes

  /** Address of row 0's value. */
  get valuesPtr(): usize { return this.vals; }

  @inline get(k: i32): T {
    if (<u32>k >= <u32>this.length) outOfRange(this.name, k, this.length);
    return load<T>(this.vals + (<usize>k << alignof<T>()));
  }

  @inline set(k: i32, x: T): void {
    if (<u32>k >= <u32>this.length) outOfRange(this.name, k, this.length);
    store<T>(this.vals + (<usize>k << alignof<T>()), x);
  }

  @inline getUnchecked(k: i32): T { return load<T>(this.vals + (<usize>k << alignof<T>())); }
  @inline setUnchecked(k: i32, x: T): void { store<T>(this.vals + (<usize>k << alignof<T>()), x); }

  reset(n: i32): void {
    const bytes = max<usize>(<usize>n << alignof<T>(), 8);
    if (bytes > this.cap) {
      this.vals = growBlock(this.vals, this.cap, bytes);
      this.cap = max(this.cap << 1, max<usize>(bytes, 64));
    }
    memory.fill(this.vals, 0, <usize>n << alignof<T>());
    this.length = n;
  }

  fill(c: Column, zero: StaticArray<u8>): void {
    const pc = changetype<PrimitiveColumn<T>>(c);
    const n = this.length;
    memory.copy(this.vals, pc.valuesPtr, <usize>n << alignof<T>());
    for (let k = 0; k < n; k++) {
      if (unchecked(zero[k]) != 0 || pc.isNull(k)) store<T>(this.vals + (<usize>k << alignof<T>()), <T>0);
    }
  }

  export(r: ArrayRegion, j: i32): void {
    r.setChild(j, this.length, 0, 2, 0, this.vals, 0);
  }

  free(): void {
    if (this.vals != 0) heap.free(this.vals);
    this.vals = 0;
    this.cap = 0;
  }
}

/** Bool values. */
export class BoolTableColumn extends TableColumn {
  private vals: StaticArray<bool> = new StaticArray<bool>(0);
  private bits: usize = 0;
  private bitsCap: usize = 0;

  get(k: i32): bool {
    if (<u32>k >= <u32>this.length) outOfRange(this.name, k, this.length);
    return unchecked(this.vals[k]);
  }

  set(k: i32, x: bool): void {
    if (<u32>k >= <u32>this.length) outOfRange(this.name, k, this.length);
    unchecked(this.vals[k] = x);
  }

  reset(n: i32): void {
    if (this.vals.length < n) this.vals = new StaticArray<bool>(max(n, this.vals.length << 1));
    memory.fill(changetype<usize>(this.vals), 0, <usize>n);
    this.length = n;
  }

  fill(c: Column, zero: StaticArray<u8>): void {
    const bc = changetype<BoolColumn>(c);
    for (let k = 0; k < this.length; k++) {
      unchecked(this.vals[k] = unchecked(zero[k]) == 0 && bc.isValid(k) && bc.get(k));
    }
  }

  export(r: ArrayRegion, j: i32): void {
    const n = this.length;
    const nb = max<usize>((<usize>n + 7) >> 3, 1);
    if (nb > this.bitsCap) {
      this.bits = growBlock(this.bits, this.bitsCap, nb);
      this.bitsCap = max(this.bitsCap << 1, max<usize>(nb, 64));
    }
    memory.fill(this.bits, 0, nb);
    for (let k = 0; k < n; k++) if (unchecked(this.vals[k])) setBit(this.bits, k, true);
    r.setChild(j, n, 0, 2, 0, this.bits, 0);
  }

  free(): void {
    if (this.bits != 0) heap.free(this.bits);
    this.bits = 0;
    this.bitsCap = 0;
  }
}

/**
 * utf8 or binary values. Unchanged rows are read from the input in place;
 * set() keeps a copy of the new value.
 */
export class StringTableColumn extends TableColumn {
  private src: StringColumn | null = null;
  private zero: StaticArray<u8> = new StaticArray<u8>(0);
  private vals: Array<ArrayBuffer | null> = [];
  private offs: usize = 0;
  private offsCap: usize = 0;
  private data: usize = 0;
  private dataCap: usize = 0;

  reset(n: i32): void {
    this.src = null;
    this.vals.length = n;
    for (let k = 0; k < n; k++) unchecked(this.vals[k] = null);
    this.length = n;
  }

  fill(c: Column, zero: StaticArray<u8>): void {
    this.src = changetype<StringColumn>(c);
    this.zero = zero;
  }

  private fromInput(k: i32): bool {
    const s = this.src;
    return s !== null && unchecked(this.zero[k]) == 0 && s.isValid(k);
  }

  /** Byte length of row k's value. */
  byteLength(k: i32): i32 {
    if (<u32>k >= <u32>this.length) outOfRange(this.name, k, this.length);
    const v = unchecked(this.vals[k]);
    if (v !== null) return v.byteLength;
    return this.fromInput(k) ? this.src!.byteLength(k) : 0;
  }

  /** Row k decoded from UTF-8. */
  getString(k: i32): string {
    if (<u32>k >= <u32>this.length) outOfRange(this.name, k, this.length);
    const v = unchecked(this.vals[k]);
    if (v !== null) return String.UTF8.decode(v);
    return this.fromInput(k) ? this.src!.getString(k) : "";
  }

  /** A copy of row k's bytes. */
  getBytes(k: i32): Uint8Array {
    if (<u32>k >= <u32>this.length) outOfRange(this.name, k, this.length);
    const v = unchecked(this.vals[k]);
    if (v !== null) return Uint8Array.wrap(v.slice(0));
    return this.fromInput(k) ? this.src!.getBytes(k) : new Uint8Array(0);
  }

  /** Sets row k to the UTF-8 encoding of s. */
  setString(k: i32, s: string): void {
    if (<u32>k >= <u32>this.length) outOfRange(this.name, k, this.length);
    unchecked(this.vals[k] = String.UTF8.encode(s));
  }

  /** Sets row k to a copy of bytes. */
  setBytes(k: i32, bytes: Uint8Array): void {
    if (<u32>k >= <u32>this.length) outOfRange(this.name, k, this.length);
    unchecked(this.vals[k] = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }

  export(r: ArrayRegion, j: i32): void {
    const n = this.length;
    let size: usize = 0;
    for (let k = 0; k < n; k++) size += <usize>this.byteLength(k);
    const ob = (<usize>n + 1) << 2;
    if (ob > this.offsCap) {
      this.offs = growBlock(this.offs, this.offsCap, ob);
      this.offsCap = max(this.offsCap << 1, max<usize>(ob, 64));
    }
    if (size > this.dataCap || this.data == 0) {
      const need = max<usize>(size, 1);
      this.data = growBlock(this.data, this.dataCap, need);
      this.dataCap = max(this.dataCap << 1, max<usize>(need, 64));
    }
    let pos: i32 = 0;
    store<i32>(this.offs, 0);
    for (let k = 0; k < n; k++) {
      const v = unchecked(this.vals[k]);
      if (v !== null) {
        memory.copy(this.data + <usize>pos, changetype<usize>(v), <usize>v.byteLength);
        pos += v.byteLength;
      } else if (this.fromInput(k)) {
        const s = this.src!;
        const len = s.byteLength(k);
        memory.copy(this.data + <usize>pos, s.ptr(k), <usize>len);
        pos += len;
      }
      store<i32>(this.offs + (<usize>(k + 1) << 2), pos);
    }
    r.setChild(j, n, 0, 3, 0, this.offs, this.data);
  }

  free(): void {
    if (this.offs != 0) heap.free(this.offs);
    if (this.data != 0) heap.free(this.data);
    this.offs = 0;
    this.offsCap = 0;
    this.data = 0;
    this.dataCap = 0;
  }
}

function newTableColumn(name: string, t: DataType): TableColumn {
  switch (t.id) {
    case TypeId.Bool: return new BoolTableColumn(name, t);
    case TypeId.Int8: return new PrimitiveTableColumn<i8>(name, t);
    case TypeId.Int16: return new PrimitiveTableColumn<i16>(name, t);
    case TypeId.Int32: case TypeId.Date32: return new PrimitiveTableColumn<i32>(name, t);
    case TypeId.Int64: case TypeId.Timestamp: return new PrimitiveTableColumn<i64>(name, t);
    case TypeId.Uint8: return new PrimitiveTableColumn<u8>(name, t);
    case TypeId.Uint16: return new PrimitiveTableColumn<u16>(name, t);
    case TypeId.Uint32: return new PrimitiveTableColumn<u32>(name, t);
    case TypeId.Uint64: return new PrimitiveTableColumn<u64>(name, t);
    case TypeId.Float32: return new PrimitiveTableColumn<f32>(name, t);
    case TypeId.Float64: return new PrimitiveTableColumn<f64>(name, t);
    case TypeId.Utf8: case TypeId.Binary: return new StringTableColumn(name, t);
  }
  abort("unsupported type " + t.toString());
  return unreachable();
}

/**
 * Rows of typed, mutable columns: the state of a process operator (one row
 * per distinct key of the batch; exists(k) tells whether the key had state,
 * clear(k) drops it) or the accumulators of an aggregate. Values of missing
 * state and nulls read as zero, false or empty.
 */
export class Table {
  readonly schema: Schema;
  length: i32 = 0;
  readonly keyed: bool;
  readonly columns: TableColumn[] = [];
  private readers: Column[] = [];
  private existsFlags: StaticArray<u8> = new StaticArray<u8>(0);
  private clearFlags: StaticArray<u8> = new StaticArray<u8>(0);
  private zero: StaticArray<u8> = new StaticArray<u8>(0);
  private region: ArrayRegion;
  private vbits: usize = 0;
  private vbitsCap: usize = 0;

  constructor(schema: Schema, keyed: bool) {
    this.schema = schema;
    this.keyed = keyed;
    this.region = new ArrayRegion(schema.length);
    for (let j = 0; j < schema.length; j++) {
      const f = schema.fields[j];
      this.columns.push(newTableColumn(f.name, f.type));
      this.readers.push(newColumn(f.name, f.type));
    }
  }

  /** Whether row k holds state (always true for accumulators). */
  exists(k: i32): bool {
    if (<u32>k >= <u32>this.length) outOfRange("state", k, this.length);
    return !this.keyed || (unchecked(this.existsFlags[k]) != 0 && unchecked(this.clearFlags[k]) == 0);
  }

  /** Drops the state of row k (process state only): the key has no state after the call. */
  clear(k: i32): void {
    if (<u32>k >= <u32>this.length) outOfRange("state", k, this.length);
    assert(this.keyed, "Table.clear: accumulators cannot be cleared");
    unchecked(this.clearFlags[k] = 1);
  }

  /** Keeps (or creates) the state of row k; rows are kept unless cleared. */
  keep(k: i32): void {
    if (<u32>k >= <u32>this.length) outOfRange("state", k, this.length);
    unchecked(this.clearFlags[k] = 0);
  }

  private typed(j: i32, a: TypeId): TableColumn {
    const c = this.columns[j];
    if (c.id != a) abort("table column " + j.toString() + " (\"" + c.name + "\") is " + c.type.toString() + ", not " + typeIdName(a));
    return c;
  }

  bool(j: i32): BoolTableColumn { return changetype<BoolTableColumn>(this.typed(j, TypeId.Bool)); }
  int8(j: i32): PrimitiveTableColumn<i8> { return changetype<PrimitiveTableColumn<i8>>(this.typed(j, TypeId.Int8)); }
  int16(j: i32): PrimitiveTableColumn<i16> { return changetype<PrimitiveTableColumn<i16>>(this.typed(j, TypeId.Int16)); }
  int32(j: i32): PrimitiveTableColumn<i32> { return changetype<PrimitiveTableColumn<i32>>(this.typed(j, TypeId.Int32)); }
  int64(j: i32): PrimitiveTableColumn<i64> { return changetype<PrimitiveTableColumn<i64>>(this.typed(j, TypeId.Int64)); }
  uint8(j: i32): PrimitiveTableColumn<u8> { return changetype<PrimitiveTableColumn<u8>>(this.typed(j, TypeId.Uint8)); }
  uint16(j: i32): PrimitiveTableColumn<u16> { return changetype<PrimitiveTableColumn<u16>>(this.typed(j, TypeId.Uint16)); }
  uint32(j: i32): PrimitiveTableColumn<u32> { return changetype<PrimitiveTableColumn<u32>>(this.typed(j, TypeId.Uint32)); }
  uint64(j: i32): PrimitiveTableColumn<u64> { return changetype<PrimitiveTableColumn<u64>>(this.typed(j, TypeId.Uint64)); }
  float32(j: i32): PrimitiveTableColumn<f32> { return changetype<PrimitiveTableColumn<f32>>(this.typed(j, TypeId.Float32)); }
  float64(j: i32): PrimitiveTableColumn<f64> { return changetype<PrimitiveTableColumn<f64>>(this.typed(j, TypeId.Float64)); }
  timestamp(j: i32): PrimitiveTableColumn<i64> { return changetype<PrimitiveTableColumn<i64>>(this.typed(j, TypeId.Timestamp)); }
  date32(j: i32): PrimitiveTableColumn<i32> { return changetype<PrimitiveTableColumn<i32>>(this.typed(j, TypeId.Date32)); }
  utf8(j: i32): StringTableColumn { return changetype<StringTableColumn>(this.typed(j, TypeId.Utf8)); }
  binary(j: i32): StringTableColumn { return changetype<StringTableColumn>(this.typed(j, TypeId.Binary)); }

  private fitFlags(n: i32): void {
    if (this.existsFlags.length < n) {
      const c = max(n, this.existsFlags.length << 1);
      this.existsFlags = new StaticArray<u8>(c);
      this.clearFlags = new StaticArray<u8>(c);
      this.zero = new StaticArray<u8>(c);
    }
  }

  /** n fresh rows, all zero (and, for state, none existing). */
  reset(n: i32): void {
    this.length = n;
    this.fitFlags(n);
    memory.fill(changetype<usize>(this.existsFlags), this.keyed ? 0 : 1, <usize>n);
    memory.fill(changetype<usize>(this.clearFlags), 0, <usize>n);
    for (let j = 0; j < this.columns.length; j++) unchecked(this.columns[j]).reset(n);
  }

  /** Loads the struct array at a. Returns an error or null. */
  load(a: usize, what: string): string | null {
    if (a == 0) return "no " + what + " array";
    const nc = load<i64>(a + A_N_CHILDREN);
    if (nc != <i64>this.columns.length) return what + " array has " + nc.toString() + " columns, its schema " + this.columns.length.toString();
    const len = load<i64>(a + A_LENGTH);
    if (len < 0 || len > 0x7fffffff) return what + " array has length " + len.toString();
    const off = load<i64>(a + A_OFFSET);
    if (off < 0 || off > 0x40000000) return what + " array has offset " + off.toString();
    const n = <i32>len;
    this.reset(n);
    const poff = <i32>off;
    let sv: usize = 0;
    if (load<i64>(a + A_N_BUFFERS) >= 1) {
      const bufs = <usize>load<u32>(a + A_BUFFERS);
      if (bufs != 0) sv = <usize>load<u32>(bufs);
    }
    for (let k = 0; k < n; k++) {
      const e: u8 = sv == 0 || getBit(sv, poff + k) ? 1 : 0;
      unchecked(this.existsFlags[k] = this.keyed ? e : 1);
      unchecked(this.zero[k] = e ^ 1);
    }
    const kids = <usize>load<u32>(a + A_CHILDREN);
    if (this.columns.length > 0 && kids == 0) return what + " array has NULL children";
    for (let j = 0; j < this.columns.length; j++) {
      const rd = unchecked(this.readers[j]);
      const err = rd.load(<usize>load<u32>(kids + (<usize>j << 2)), poff, n);
      if (err !== null) return what + " column \"" + this.schema.fields[j].name + "\": " + err;
      unchecked(this.columns[j]).fill(rd, this.zero);
    }
    return null;
  }

  /** Releases the table's memory; it must not be used after. */
  free(): void {
    for (let j = 0; j < this.columns.length; j++) unchecked(this.columns[j]).free();
    this.region.free();
    if (this.vbits != 0) heap.free(this.vbits);
    this.vbits = 0;
    this.vbitsCap = 0;
  }

  /** Writes the table as a struct array; returns its address. */
  export(): usize {
    const n = this.length;
    let valid: usize = 0;
    let nulls: i64 = 0;
    if (this.keyed) {
      for (let k = 0; k < n; k++) nulls += <i64>unchecked(this.clearFlags[k]);
      if (nulls > 0) {
        const nb = (<usize>n + 7) >> 3;
        if (nb > this.vbitsCap) {
          this.vbits = growBlock(this.vbits, this.vbitsCap, nb);
          this.vbitsCap = max(this.vbitsCap << 1, max<usize>(nb, 64));
        }
        memory.fill(this.vbits, 0, nb);
        for (let k = 0; k < n; k++) if (unchecked(this.clearFlags[k]) == 0) setBit(this.vbits, k, true);
        valid = this.vbits;
      }
    }
    this.region.begin(n, valid, nulls);
    for (let j = 0; j < this.columns.length; j++) unchecked(this.columns[j]).export(this.region, j);
    return this.region.addr;
  }
}
