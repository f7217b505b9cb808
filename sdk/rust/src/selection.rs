//! The rows a filter keeps.

use crate::batch::Primitive;
use crate::bitmap::{get_bit, set_bits, Bitmap};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    None,
    All,
    Bits,
    Indexes,
}

/// Receives the rows a filter keeps; rows are dropped unless kept. The host
/// builds the output from its own copy of the input (SPEC §9.2), so a filter
/// never copies data. Ways to select, from most to least vectorised:
///
/// - [`Selection::keep_all`] / [`Selection::keep_none`] for whole batches;
/// - [`Selection::select`] (a predicate over a slice of values, eight rows
///   per byte without branches) or [`Selection::bits`] (the zeroed bitmap
///   to set bits in directly), then [`Selection::mask`] to drop rows where
///   a column is null;
/// - [`Selection::keep`] / [`Selection::set`] per row, or
///   [`Selection::push`] for increasing rows (sent as a selection vector).
///
/// The forms may be mixed; the SDK converts as needed.
#[derive(Debug)]
pub struct Selection {
    n: usize,
    mode: Mode,
    bits: Vec<u8>,
    idx: Vec<i32>,
}

impl Selection {
    /// An empty selection over a batch of `rows` rows. Filter functions get
    /// theirs from the SDK; `new` is for tests.
    pub fn new(rows: usize) -> Selection {
        Selection { n: rows, mode: Mode::None, bits: Vec::new(), idx: Vec::new() }
    }

    pub(crate) fn reset(&mut self, rows: usize) {
        self.n = rows;
        self.mode = Mode::None;
        self.idx.clear();
    }

    /// The number of rows of the batch being filtered.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Keeps every row.
    pub fn keep_all(&mut self) {
        self.mode = Mode::All;
        self.idx.clear();
    }

    /// Drops every row.
    pub fn keep_none(&mut self) {
        self.mode = Mode::None;
        self.idx.clear();
    }

    /// Switches to bitmap form and returns the bitmap, `ceil(len()/8)` bytes,
    /// least-significant bit first: set bit `i` to keep row `i`. Rows kept
    /// so far are already set; bits past `len()` must stay 0.
    pub fn bits(&mut self) -> &mut [u8] {
        if self.mode != Mode::Bits {
            self.switch_to_bits();
        }
        let nb = (self.n + 7) / 8;
        &mut self.bits[..nb]
    }

    fn switch_to_bits(&mut self) {
        let nb = (self.n + 7) / 8;
        if self.bits.len() < nb {
            self.bits.resize(nb, 0);
        }
        let b = &mut self.bits[..nb];
        match self.mode {
            Mode::All => {
                b.fill(0);
                set_bits(b, 0, self.n);
            }
            Mode::Indexes => {
                b.fill(0);
                for &i in &self.idx {
                    b[i as usize >> 3] |= 1 << (i & 7);
                }
                self.idx.clear();
            }
            Mode::None | Mode::Bits => b.fill(0),
        }
        self.mode = Mode::Bits;
    }

    /// Keeps row `i` iff `pred(values[i])`, for every row, replacing the
    /// selection so far. Packs eight rows per byte without branches.
    ///
    /// # Panics
    ///
    /// If `values.len() != len()`.
    #[inline]
    pub fn select<T: Copy, F: Fn(T) -> bool>(&mut self, values: &[T], pred: F) {
        assert_eq!(values.len(), self.n, "select over {} values for a batch of {} rows", values.len(), self.n);
        self.mode = Mode::None;
        pack_bits(self.bits(), values, pred);
    }

    /// Keeps row `i` iff `values[i] <op> rhs` (`sel.select_cmp(xs.values(),
    /// Cmp::Gt, t)`), for every row, replacing the selection so far. For
    /// 32- and 64-bit numbers it compares two or four values per wasm SIMD
    /// instruction and packs the lane masks with `bitmask`; floats compare
    /// as IEEE 754 (NaN is only `Ne`).
    ///
    /// # Panics
    ///
    /// If `values.len() != len()`.
    pub fn select_cmp<T: Primitive>(&mut self, values: &[T], op: Cmp, rhs: T) {
        assert_eq!(values.len(), self.n, "select over {} values for a batch of {} rows", values.len(), self.n);
        self.mode = Mode::None;
        T::select_cmp(self.bits(), values, op, rhs);
    }

    /// Keeps row `i` iff `keep[i]`, for every row.
    ///
    /// # Panics
    ///
    /// If `keep.len() != len()`.
    pub fn set_bools(&mut self, keep: &[bool]) {
        self.select(keep, |k| k);
    }

    /// Keeps row `i`.
    ///
    /// # Panics
    ///
    /// If `i >= len()`.
    pub fn keep(&mut self, i: usize) {
        assert!(i < self.n, "keep({}) in a selection of {} rows", i, self.n);
        match self.mode {
            Mode::All => return,
            Mode::Bits => {}
            _ => self.switch_to_bits(),
        }
        self.bits[i >> 3] |= 1 << (i & 7);
    }

    /// Keeps row `i` if `keep`, drops it otherwise.
    ///
    /// # Panics
    ///
    /// If `i >= len()`.
    pub fn set(&mut self, i: usize, keep: bool) {
        if keep {
            return self.keep(i);
        }
        assert!(i < self.n, "set({}) in a selection of {} rows", i, self.n);
        if self.mode == Mode::None {
            return;
        }
        if self.mode != Mode::Bits {
            self.switch_to_bits();
        }
        self.bits[i >> 3] &= !(1 << (i & 7));
    }

    /// Keeps row `i`, which should be greater than every row pushed before
    /// (a selection vector, cheap when few rows are kept). Rows out of order
    /// are accepted but switch to bitmap form.
    ///
    /// # Panics
    ///
    /// If `i >= len()`.
    pub fn push(&mut self, i: usize) {
        assert!(i < self.n, "push({}) in a selection of {} rows", i, self.n);
        match self.mode {
            Mode::All => return,
            Mode::Bits => {
                self.bits[i >> 3] |= 1 << (i & 7);
                return;
            }
            Mode::Indexes => {
                if *self.idx.last().unwrap_or(&-1) >= i as i32 {
                    self.switch_to_bits();
                    self.bits[i >> 3] |= 1 << (i & 7);
                    return;
                }
            }
            Mode::None => {}
        }
        self.idx.push(i as i32);
        self.mode = Mode::Indexes;
    }

    /// Drops every row whose bit in `m` is not set: typically a column's
    /// validity, so that null rows are dropped.
    ///
    /// # Panics
    ///
    /// If `m.len() != len()`.
    pub fn mask(&mut self, m: Bitmap<'_>) {
        assert_eq!(m.len(), self.n, "mask of {} bits for a batch of {} rows", m.len(), self.n);
        let (src, off) = match m.bytes() {
            Some(x) => x,
            None => return,
        };
        match self.mode {
            Mode::None => return,
            Mode::Indexes => {
                self.idx.retain(|&i| get_bit(src, off + i as usize));
                return;
            }
            Mode::All => self.switch_to_bits(),
            Mode::Bits => {}
        }
        let nb = (self.n + 7) / 8;
        let b = &mut self.bits[..nb];
        if off == 0 {
            for (d, s) in b.iter_mut().zip(src) {
                *d &= *s;
            }
            return;
        }
        for (i, d) in b.iter_mut().enumerate() {
            let lo = src[i] >> off;
            let hi = if i + 1 < src.len() { src[i + 1] << (8 - off) } else { 0 };
            *d &= lo | hi;
        }
    }

    /// The rows kept so far, in increasing order (for tests).
    pub fn kept(&self) -> Vec<usize> {
        match self.mode {
            Mode::None => Vec::new(),
            Mode::All => (0..self.n).collect(),
            Mode::Bits => (0..self.n).filter(|&i| get_bit(&self.bits, i)).collect(),
            Mode::Indexes => self.idx.iter().map(|&i| i as usize).collect(),
        }
    }

    /// The selection kind, pointer and count of SPEC §9.2.
    pub(crate) fn result(&self) -> (u32, *const u8, usize) {
        match self.mode {
            Mode::All => (2, std::ptr::null(), 0),
            Mode::Bits => (0, self.bits.as_ptr(), 0),
            Mode::Indexes if !self.idx.is_empty() => (1, self.idx.as_ptr() as *const u8, self.idx.len()),
            _ => (3, std::ptr::null(), 0),
        }
    }
}

/// A comparison for [`Selection::select_cmp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

/// Sets `bits` (`ceil(values.len()/8)` bytes) to `pred` of each value, eight
/// per byte.
#[inline]
fn pack_bits<T: Copy, F: Fn(T) -> bool>(bits: &mut [u8], values: &[T], pred: F) {
    let mut chunks = values.chunks_exact(8);
    for (byte, c) in bits.iter_mut().zip(&mut chunks) {
        *byte = (pred(c[0]) as u8)
            | (pred(c[1]) as u8) << 1
            | (pred(c[2]) as u8) << 2
            | (pred(c[3]) as u8) << 3
            | (pred(c[4]) as u8) << 4
            | (pred(c[5]) as u8) << 5
            | (pred(c[6]) as u8) << 6
            | (pred(c[7]) as u8) << 7;
    }
    let rem = chunks.remainder();
    if !rem.is_empty() {
        let mut b = 0u8;
        for (k, &v) in rem.iter().enumerate() {
            b |= (pred(v) as u8) << k;
        }
        bits[values.len() / 8] = b;
    }
}

/// The portable comparison: one scalar compare per value.
pub(crate) fn cmp_bits_scalar<T: Copy + PartialOrd>(bits: &mut [u8], values: &[T], op: Cmp, rhs: T) {
    match op {
        Cmp::Lt => pack_bits(bits, values, |x| x < rhs),
        Cmp::Le => pack_bits(bits, values, |x| x <= rhs),
        Cmp::Gt => pack_bits(bits, values, |x| x > rhs),
        Cmp::Ge => pack_bits(bits, values, |x| x >= rhs),
        Cmp::Eq => pack_bits(bits, values, |x| x == rhs),
        Cmp::Ne => pack_bits(bits, values, |x| x != rhs),
    }
}

/// wasm SIMD comparisons: whole groups of eight values with v128 compares
/// and `bitmask`, the rest with [`cmp_bits_scalar`]. Clang and rustc do not
/// find this on their own: they extract the lanes one by one.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) mod simd {
    use super::{cmp_bits_scalar, Cmp};
    use core::arch::wasm32::*;

    /// Packs `f(values, rhs)` lane masks, eight values per byte, for the
    /// whole groups of eight; returns how many values it did.
    #[inline(always)]
    fn pack<T: Copy, const LANES: usize, F: Fn(v128) -> u8>(bits: &mut [u8], values: &[T], f: F) -> usize {
        let full = values.len() / 8 * 8;
        for (byte, c) in bits.iter_mut().zip(values[..full].chunks_exact(8)) {
            let p = c.as_ptr() as *const v128;
            let mut m = 0u8;
            for k in 0..8 / LANES {
                // SAFETY: c holds 8 values, that is 8/LANES vectors;
                // v128_load has no alignment requirement.
                let v = unsafe { v128_load(p.add(k)) };
                m |= f(v) << (k * LANES);
            }
            *byte = m;
        }
        full
    }

    macro_rules! cmp_fn {
        ($name:ident, $t:ty, $splat:ident, $bitmask:ident, $lanes:expr, [$lt:ident, $le:ident, $gt:ident, $ge:ident, $eq:ident, $ne:ident]) => {
            pub(crate) fn $name(bits: &mut [u8], values: &[$t], op: Cmp, rhs: $t) {
                let r = $splat(rhs);
                let full = match op {
                    Cmp::Lt => pack::<$t, $lanes, _>(bits, values, |v| $bitmask($lt(v, r)) as u8),
                    Cmp::Le => pack::<$t, $lanes, _>(bits, values, |v| $bitmask($le(v, r)) as u8),
                    Cmp::Gt => pack::<$t, $lanes, _>(bits, values, |v| $bitmask($gt(v, r)) as u8),
                    Cmp::Ge => pack::<$t, $lanes, _>(bits, values, |v| $bitmask($ge(v, r)) as u8),
                    Cmp::Eq => pack::<$t, $lanes, _>(bits, values, |v| $bitmask($eq(v, r)) as u8),
                    Cmp::Ne => pack::<$t, $lanes, _>(bits, values, |v| $bitmask($ne(v, r)) as u8),
                };
                if full < values.len() {
                    cmp_bits_scalar(&mut bits[full / 8..], &values[full..], op, rhs);
                }
            }
        };
    }

    cmp_fn!(cmp_i64, i64, i64x2_splat, i64x2_bitmask, 2, [i64x2_lt, i64x2_le, i64x2_gt, i64x2_ge, i64x2_eq, i64x2_ne]);
    cmp_fn!(cmp_f64, f64, f64x2_splat, i64x2_bitmask, 2, [f64x2_lt, f64x2_le, f64x2_gt, f64x2_ge, f64x2_eq, f64x2_ne]);
    cmp_fn!(cmp_i32, i32, i32x4_splat, i32x4_bitmask, 4, [i32x4_lt, i32x4_le, i32x4_gt, i32x4_ge, i32x4_eq, i32x4_ne]);
    cmp_fn!(cmp_f32, f32, f32x4_splat, i32x4_bitmask, 4, [f32x4_lt, f32x4_le, f32x4_gt, f32x4_ge, f32x4_eq, f32x4_ne]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_conversions() {
        type Op = fn(&mut Selection);
        // Each case: operations over 10 rows, kept rows, result kind.
        let cases: Vec<(&str, Vec<Op>, Vec<usize>, u32)> = vec![
            ("none", vec![], vec![], 3),
            ("all", vec![|s| s.keep_all()], (0..10).collect(), 2),
            ("push", vec![|s| s.push(1), |s| s.push(7)], vec![1, 7], 1),
            ("push out of order", vec![|s| s.push(7), |s| s.push(1)], vec![1, 7], 0),
            ("keep", vec![|s| s.keep(3), |s| s.keep(9)], vec![3, 9], 0),
            ("all then drop", vec![|s| s.keep_all(), |s| s.set(0, false)], (1..10).collect(), 0),
            ("push then keep", vec![|s| s.push(2), |s| s.keep(5)], vec![2, 5], 0),
            ("select", vec![|s| s.select(&[0, 5, 1, 6, 9, 2, 7, 7, 8, 1], |x: i32| x > 4)], vec![1, 3, 4, 6, 7, 8], 0),
            (
                "bools",
                vec![|s| s.set_bools(&[true, false, false, false, false, false, false, false, false, true])],
                vec![0, 9],
                0,
            ),
            (
                "mask",
                vec![|s| s.keep_all(), |s| s.mask(Bitmap::new(&[0b1111_0110, 0b11], 1, 10))],
                vec![0, 1, 3, 4, 5, 6, 7, 8],
                0,
            ),
            (
                "mask indexes",
                vec![|s| s.push(0), |s| s.push(2), |s| s.mask(Bitmap::new(&[0b1111_0110, 0b11], 1, 10))],
                vec![0],
                1,
            ),
            ("mask all set", vec![|s| s.push(2), |s| s.mask(Bitmap::all_set(10))], vec![2], 1),
        ];
        for (name, ops, want, kind) in cases {
            let mut s = Selection::new(10);
            for op in ops {
                op(&mut s);
            }
            assert_eq!(s.kept(), want, "{}", name);
            assert_eq!(s.result().0, kind, "{}", name);
        }
    }

    #[test]
    fn select_cmp_matches_scalar() {
        let ints: Vec<i64> = (0..37).map(|i| (i * 7919 % 23) - 11).collect();
        let floats: Vec<f64> = ints.iter().map(|&i| i as f64 / 2.0).chain([f64::NAN, -0.0, f64::INFINITY]).collect();
        for op in [Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge, Cmp::Eq, Cmp::Ne] {
            let want = |x: f64, r: f64| match op {
                Cmp::Lt => x < r,
                Cmp::Le => x <= r,
                Cmp::Gt => x > r,
                Cmp::Ge => x >= r,
                Cmp::Eq => x == r,
                Cmp::Ne => x != r,
            };
            for rhs in [-3i64, 0, 5] {
                let mut s = Selection::new(ints.len());
                s.select_cmp(&ints, op, rhs);
                let expect: Vec<usize> = (0..ints.len()).filter(|&i| want(ints[i] as f64, rhs as f64)).collect();
                assert_eq!(s.kept(), expect, "{:?} {}", op, rhs);
                let small: Vec<i32> = ints.iter().map(|&x| x as i32).collect();
                let mut s = Selection::new(small.len());
                s.select_cmp(&small, op, rhs as i32);
                assert_eq!(s.kept(), expect, "i32 {:?} {}", op, rhs);
            }
            for rhs in [-1.5f64, 0.0, f64::NAN] {
                let mut s = Selection::new(floats.len());
                s.select_cmp(&floats, op, rhs);
                let expect: Vec<usize> = (0..floats.len()).filter(|&i| want(floats[i], rhs)).collect();
                assert_eq!(s.kept(), expect, "f64 {:?} {}", op, rhs);
            }
        }
    }

    #[test]
    fn reset_reuses_memory() {
        let mut s = Selection::new(20);
        s.keep(19);
        s.reset(9);
        s.keep(0);
        assert_eq!(s.kept(), [0]);
        assert_eq!(s.bits(), &[1, 0]);
    }
}
