// The wasm32 layout of the Arrow C Data Interface structures (abi/SPEC.md
// §4.1), and reading/writing schemas.

import { DataType, Field, Schema } from "./types";

// ArrowArray, 64 bytes.
export const A_LENGTH: usize = 0;
export const A_NULL_COUNT: usize = 8;
export const A_OFFSET: usize = 16;
export const A_N_BUFFERS: usize = 24;
export const A_N_CHILDREN: usize = 32;
export const A_BUFFERS: usize = 40;
export const A_CHILDREN: usize = 44;
export const A_DICTIONARY: usize = 48;
export const A_RELEASE: usize = 52;
export const ARRAY_SIZE: usize = 64;

// ArrowSchema, 48 bytes.
export const S_FORMAT: usize = 0;
export const S_NAME: usize = 4;
export const S_METADATA: usize = 8;
export const S_FLAGS: usize = 16;
export const S_N_CHILDREN: usize = 24;
export const S_CHILDREN: usize = 32;
export const S_DICTIONARY: usize = 36;
export const S_RELEASE: usize = 40;
export const SCHEMA_SIZE: usize = 48;

export const FLAG_NULLABLE: i64 = 2;
/** Written into release of exported structures; the host ignores it. */
export const RELEASE_MARK: u32 = 1;

/** Reads the NUL-terminated UTF-8 string at p (at most 64 KiB). */
export function cString(p: usize): string {
  if (p == 0) return "";
  let n: usize = 0;
  while (n < 65536 && load<u8>(p + n) != 0) n++;
  return String.UTF8.decodeUnsafe(p, n);
}

/** Reads a (ptr, len) UTF-8 string passed by the host. */
export function hostString(p: usize, n: usize): string {
  if (n == 0) return "";
  return String.UTF8.decodeUnsafe(p, n);
}

/**
 * Reads a struct ("+s") schema at p. Returns the schema, or null with the
 * reason in err[0].
 */
export function importSchema(p: usize, err: string[]): Schema | null {
  if (p == 0) { err.push("no input schema"); return null; }
  const f = cString(load<u32>(p + S_FORMAT));
  if (f != "+s") { err.push("input schema has format \"" + f + "\", want a struct (+s)"); return null; }
  const n = load<i64>(p + S_N_CHILDREN);
  if (n < 0 || n > 65536) { err.push("input schema has " + n.toString() + " children"); return null; }
  const kids = <usize>load<u32>(p + S_CHILDREN);
  if (n > 0 && kids == 0) { err.push("input schema has NULL children"); return null; }
  const s = new Schema();
  for (let j: i32 = 0; j < <i32>n; j++) {
    const c = <usize>load<u32>(kids + (<usize>j << 2));
    if (c == 0) { err.push("input schema child " + j.toString() + " is NULL"); return null; }
    const name = cString(load<u32>(c + S_NAME));
    const t = new DataType(cString(load<u32>(c + S_FORMAT)));
    const nullable = (load<i64>(c + S_FLAGS) & FLAG_NULLABLE) != 0;
    if (!t.valid) {
      err.push("input column \"" + name + "\" has unsupported Arrow format \"" + t.format + "\"");
      return null;
    }
    s.fields.push(new Field(name, t, nullable));
  }
  return s;
}

/**
 * Writes s as a struct ("+s") ArrowSchema into memory from heap.alloc that
 * stays allocated until freeSchema. Returns its address.
 */
export function exportSchema(s: Schema): usize {
  const n = <usize>s.length;
  let size: usize = SCHEMA_SIZE * (n + 1) + 4 * n + 3;
  const formats = new Array<ArrayBuffer>(<i32>n);
  const names = new Array<ArrayBuffer>(<i32>n);
  for (let j = 0; j < <i32>n; j++) {
    const f = s.fields[j];
    formats[j] = String.UTF8.encode(f.type.format, true);
    names[j] = String.UTF8.encode(f.name, true);
    size += <usize>formats[j].byteLength + <usize>names[j].byteLength;
  }
  const base = heap.alloc(size);
  memory.fill(base, 0, size);
  const kids = base + SCHEMA_SIZE * (n + 1);
  let pos = kids + 4 * n;
  store<u8>(pos, 0x2b); // "+s\0"
  store<u8>(pos + 1, 0x73);
  store<u8>(pos + 2, 0);
  store<u32>(base + S_FORMAT, <u32>pos);
  pos += 3;
  store<i64>(base + S_N_CHILDREN, <i64>n);
  store<u32>(base + S_CHILDREN, n > 0 ? <u32>kids : 0);
  store<u32>(base + S_RELEASE, RELEASE_MARK);
  for (let j = 0; j < <i32>n; j++) {
    const k = base + SCHEMA_SIZE * (<usize>j + 1);
    const fb = formats[j], nb = names[j];
    memory.copy(pos, changetype<usize>(fb), fb.byteLength);
    store<u32>(k + S_FORMAT, <u32>pos);
    pos += fb.byteLength;
    memory.copy(pos, changetype<usize>(nb), nb.byteLength);
    store<u32>(k + S_NAME, <u32>pos);
    pos += nb.byteLength;
    if (s.fields[j].nullable) store<i64>(k + S_FLAGS, FLAG_NULLABLE);
    store<u32>(k + S_RELEASE, RELEASE_MARK);
    store<u32>(kids + (<usize>j << 2), <u32>k);
  }
  return base;
}

/**
 * Guest memory holding an exported struct array: the parent ArrowArray, one
 * child per column, their pointer arrays. Allocated once, rewritten by every
 * export.
 */
export class ArrayRegion {
  readonly addr: usize;
  readonly n: i32;
  private parentBufs: usize;

  constructor(n: i32) {
    this.n = n;
    const un = <usize>n;
    const size = ARRAY_SIZE * (un + 1) + 4 * un + 4 + 12 * un;
    const a = heap.alloc(size);
    memory.fill(a, 0, size);
    this.addr = a;
    const kidPtrs = a + ARRAY_SIZE * (un + 1);
    this.parentBufs = kidPtrs + 4 * un;
    const kidBufs = this.parentBufs + 4;
    store<i64>(a + A_N_BUFFERS, 1);
    store<i64>(a + A_N_CHILDREN, <i64>n);
    store<u32>(a + A_BUFFERS, <u32>this.parentBufs);
    store<u32>(a + A_CHILDREN, n > 0 ? <u32>kidPtrs : 0);
    store<u32>(a + A_RELEASE, RELEASE_MARK);
    for (let j: usize = 0; j < un; j++) {
      const k = a + ARRAY_SIZE * (j + 1);
      store<u32>(kidPtrs + 4 * j, <u32>k);
      store<u32>(k + A_BUFFERS, <u32>(kidBufs + 12 * j));
      store<u32>(k + A_RELEASE, RELEASE_MARK);
    }
  }

  /** Releases the region's memory; the region must not be used after. */
  free(): void {
    heap.free(this.addr);
  }

  /** Sets the parent's row count and struct validity. */
  begin(rows: i32, valid: usize, nulls: i64): void {
    store<i64>(this.addr + A_LENGTH, <i64>rows);
    store<i64>(this.addr + A_NULL_COUNT, nulls);
    store<u32>(this.parentBufs, <u32>valid);
  }

  /** The address of child j's ArrowArray. */
  child(j: i32): usize {
    return this.addr + ARRAY_SIZE * (<usize>j + 1);
  }

  /** Fills child j. */
  setChild(j: i32, length: i32, nulls: i64, nBuffers: i32, b0: usize, b1: usize, b2: usize): void {
    const k = this.child(j);
    store<i64>(k + A_LENGTH, <i64>length);
    store<i64>(k + A_NULL_COUNT, nulls);
    store<i64>(k + A_OFFSET, 0);
    store<i64>(k + A_N_BUFFERS, <i64>nBuffers);
    const bufs = <usize>load<u32>(k + A_BUFFERS);
    store<u32>(bufs, <u32>b0);
    store<u32>(bufs + 4, <u32>b1);
    store<u32>(bufs + 8, <u32>b2);
  }
}
