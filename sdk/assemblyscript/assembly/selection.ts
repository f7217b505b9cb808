// The rows a filter keeps (abi/SPEC.md §9.2).

import { Bitmap } from "./column";
import { copyBits } from "./builder";

// Selection kinds of weir_filter.
export const SEL_BITMAP: u32 = 0;
export const SEL_VECTOR: u32 = 1;
export const SEL_ALL: u32 = 2;
export const SEL_NONE: u32 = 3;

/**
 * The rows a filter keeps: a bitmap (keep, set, mask, bitsPtr), a
 * selection vector of increasing row numbers (append), all or none. It
 * starts as "none" for every batch. Memory is reused across calls.
 */
export class Selection {
  /** Number of input rows. */
  length: i32 = 0;
  private mode: u32 = SEL_NONE;
  private bits: usize = 0;
  private bitsCap: usize = 0;
  private idx: usize = 0;
  private idxLen: i32 = 0;
  private idxCap: i32 = 0;

  reset(n: i32): void {
    this.length = n;
    this.mode = SEL_NONE;
    this.idxLen = 0;
  }

  /** Releases the selection's memory. */
  free(): void {
    if (this.bits != 0) heap.free(this.bits);
    if (this.idx != 0) heap.free(this.idx);
    this.bits = 0;
    this.bitsCap = 0;
    this.idx = 0;
    this.idxCap = 0;
    this.idxLen = 0;
  }

  /** Keeps every row. */
  keepAll(): void { this.mode = SEL_ALL; this.idxLen = 0; }

  /** Keeps no row. */
  keepNone(): void { this.mode = SEL_NONE; this.idxLen = 0; }

  /**
   * Switches to a bitmap and returns the address of its (length+7)/8 bytes,
   * LSB first, for the filter to write directly (bit i set: keep row i).
   * Rows kept so far stay kept.
   */
  bitsPtr(): usize {
    if (this.mode != SEL_BITMAP) this.toBits();
    return this.bits;
  }

  private toBits(): void {
    const nb = (<usize>this.length + 7) >> 3;
    if (nb > this.bitsCap) {
      let c = max<usize>(this.bitsCap << 1, max<usize>(nb, 64));
      if (this.bits != 0) heap.free(this.bits);
      this.bits = heap.alloc(c);
      this.bitsCap = c;
    }
    const b = this.bits;
    if (this.mode == SEL_ALL) {
      memory.fill(b, 0xff, nb);
    } else {
      memory.fill(b, 0, nb);
      if (this.mode == SEL_VECTOR) {
        for (let k = 0; k < this.idxLen; k++) {
          const i = load<i32>(this.idx + (<usize>k << 2));
          store<u8>(b + (<usize>i >> 3), load<u8>(b + (<usize>i >> 3)) | <u8>(<u32>1 << <u32>(i & 7)));
        }
        this.idxLen = 0;
      }
    }
    this.mode = SEL_BITMAP;
  }

  private checkRow(i: i32): void {
    if (<u32>i >= <u32>this.length) abort("Selection: row " + i.toString() + " out of range (" + this.length.toString() + " rows)");
  }

  /** Keeps row i. */
  keep(i: i32): void {
    this.checkRow(i);
    if (this.mode == SEL_ALL) return;
    if (this.mode != SEL_BITMAP) this.toBits();
    const a = this.bits + (<usize>i >> 3);
    store<u8>(a, load<u8>(a) | <u8>(<u32>1 << <u32>(i & 7)));
  }

  /** Keeps (true) or drops (false) row i. */
  set(i: i32, keep: bool): void {
    if (keep) { this.keep(i); return; }
    this.checkRow(i);
    if (this.mode == SEL_NONE) return;
    if (this.mode != SEL_BITMAP) this.toBits();
    const a = this.bits + (<usize>i >> 3);
    store<u8>(a, load<u8>(a) & ~<u8>(<u32>1 << <u32>(i & 7)));
  }

  /** Whether row i is kept so far. */
  isKept(i: i32): bool {
    this.checkRow(i);
    switch (this.mode) {
      case SEL_ALL: return true;
      case SEL_NONE: return false;
      case SEL_BITMAP: return ((load<u8>(this.bits + (<usize>i >> 3)) >> <u8>(i & 7)) & 1) != 0;
    }
    for (let k = 0; k < this.idxLen; k++) if (load<i32>(this.idx + (<usize>k << 2)) == i) return true;
    return false;
  }

  /**
   * Drops the rows whose bit in m is clear (m: a column's validity), so
   * that null rows are not kept. A bitmap without a buffer changes nothing.
   */
  mask(m: Bitmap): void {
    if (m.ptr == 0 || this.mode == SEL_NONE) return;
    if (this.mode != SEL_BITMAP) this.toBits();
    const n = this.length;
    const b = this.bits;
    if ((m.offset & 7) == 0) {
      const src = m.ptr + (<usize>m.offset >> 3);
      const nb = (<usize>n + 7) >> 3;
      let k: usize = 0;
      for (; k + 8 <= nb; k += 8) store<u64>(b + k, load<u64>(b + k) & load<u64>(src + k));
      for (; k < nb; k++) store<u8>(b + k, load<u8>(b + k) & load<u8>(src + k));
      return;
    }
    // Unaligned: AND one byte of the shifted validity at a time.
    const tmp = heap.alloc(8);
    for (let i = 0; i < n; i += 8) {
      const c = min(8, n - i);
      store<u8>(tmp, 0xff);
      copyBits(tmp, 0, m.ptr, m.offset + i, c);
      const a = b + (<usize>i >> 3);
      store<u8>(a, load<u8>(a) & load<u8>(tmp));
    }
    heap.free(tmp);
  }

  /**
   * Appends row i to a selection vector; rows must be appended in strictly
   * increasing order. A bitmap or "all" selection cannot be mixed with it.
   */
  append(i: i32): void {
    this.checkRow(i);
    if (this.mode == SEL_NONE) { this.mode = SEL_VECTOR; this.idxLen = 0; }
    if (this.mode != SEL_VECTOR) abort("Selection.append after keepAll or a bitmap write");
    const n = this.idxLen;
    if (n > 0 && load<i32>(this.idx + (<usize>(n - 1) << 2)) >= i) {
      abort("Selection.append: row " + i.toString() + " after row " + load<i32>(this.idx + (<usize>(n - 1) << 2)).toString() + " (rows must increase)");
    }
    if (n >= this.idxCap) {
      const c = max(this.idxCap << 1, 64);
      this.idx = this.idx == 0 ? heap.alloc(<usize>c << 2) : heap.realloc(this.idx, <usize>c << 2);
      this.idxCap = c;
    }
    store<i32>(this.idx + (<usize>n << 2), i);
    this.idxLen = n + 1;
  }

  /** The result slots of weir_filter: kind, pointer, count. */
  result(ret: usize): void {
    let mode = this.mode;
    if (mode == SEL_VECTOR && this.idxLen == 0) mode = SEL_NONE;
    if (this.length == 0) mode = SEL_NONE;
    store<u32>(ret, mode);
    store<u32>(ret + 4, mode == SEL_BITMAP ? <u32>this.bits : mode == SEL_VECTOR ? <u32>this.idx : 0);
    store<u32>(ret + 8, mode == SEL_VECTOR ? <u32>this.idxLen : 0);
  }
}
