//! Arrow bitmaps: the read-only [`Bitmap`] view and the bit helpers the
//! builders use.

use std::fmt;

/// A read-only view of an Arrow bitmap (least-significant bit first), such as
/// the validity of a column or the values of a bool column.
///
/// A bitmap without storage, as columns without nulls have, has every bit
/// set. Row `i` of the view is bit `offset + i` of the bytes, where the
/// offset is 0..7.
#[derive(Clone, Copy)]
pub struct Bitmap<'a> {
    bytes: Option<&'a [u8]>,
    offset: usize,
    len: usize,
    /// Number of zero bits if known.
    zeros: Option<usize>,
}

impl<'a> Bitmap<'a> {
    /// A bitmap of `len` set bits without storage.
    pub fn all_set(len: usize) -> Bitmap<'a> {
        Bitmap { bytes: None, offset: 0, len, zeros: Some(0) }
    }

    /// A view of bits `[offset, offset+len)` of `bytes`.
    ///
    /// # Panics
    ///
    /// If `bytes` is shorter than `offset + len` bits.
    pub fn new(bytes: &'a [u8], offset: usize, len: usize) -> Bitmap<'a> {
        assert!(
            bytes.len() * 8 >= offset + len,
            "bitmap of {} bytes cannot hold bits {}..{}",
            bytes.len(),
            offset,
            offset + len
        );
        let bytes = &bytes[offset / 8..(offset + len + 7) / 8];
        Bitmap { bytes: Some(bytes), offset: offset % 8, len, zeros: None }
    }

    pub(crate) fn with_zeros(mut self, zeros: Option<usize>) -> Bitmap<'a> {
        if self.bytes.is_some() {
            self.zeros = zeros;
        }
        self
    }

    /// The number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the bitmap has no bits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bit `i`.
    ///
    /// # Panics
    ///
    /// If `i >= len()`.
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        assert!(i < self.len, "bit {} of a bitmap of {}", i, self.len);
        match self.bytes {
            None => true,
            Some(b) => {
                let k = i + self.offset;
                b[k >> 3] >> (k & 7) & 1 != 0
            }
        }
    }

    /// Whether the bitmap has storage; `false` means every bit is set.
    pub fn has_storage(&self) -> bool {
        self.bytes.is_some()
    }

    /// The bytes holding the bits and the bit offset (0..7) of bit 0 in the
    /// first byte, or `None` when the bitmap has no storage (all set).
    pub fn bytes(&self) -> Option<(&'a [u8], usize)> {
        self.bytes.map(|b| (b, self.offset))
    }

    /// The number of zero bits (for a validity bitmap, the null count).
    pub fn count_zeros(&self) -> usize {
        match (self.bytes, self.zeros) {
            (None, _) => 0,
            (_, Some(z)) => z,
            (Some(b), None) => self.len - count_ones(b, self.offset, self.len),
        }
    }

    /// The number of set bits.
    pub fn count_ones(&self) -> usize {
        self.len - self.count_zeros()
    }

    /// Whether every bit is set (cheap for bitmaps without storage).
    pub fn all(&self) -> bool {
        self.count_zeros() == 0
    }

    /// The bits as bools, in order.
    pub fn iter(&self) -> BitIter<'a> {
        BitIter { map: *self, i: 0 }
    }

    /// The indexes of the zero bits (for a validity bitmap, the null rows),
    /// in increasing order. Whole bytes of ones are skipped, so this is cheap
    /// when few bits are zero: a function can process every row without
    /// looking at validity, then correct the few null rows.
    pub fn iter_zeros(&self) -> ZeroIter<'a> {
        ZeroIter { map: *self, byte: 0, pending: 0 }
    }

    /// Bits `[start, start+len)` as a bitmap.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds.
    pub fn slice(&self, start: usize, len: usize) -> Bitmap<'a> {
        assert!(start + len <= self.len, "slice {}..{} of a bitmap of {}", start, start + len, self.len);
        match self.bytes {
            None => Bitmap::all_set(len),
            Some(b) => Bitmap::new(b, self.offset + start, len),
        }
    }
}

impl fmt::Debug for Bitmap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bitmap[")?;
        for b in self.iter() {
            f.write_str(if b { "1" } else { "0" })?;
        }
        f.write_str("]")
    }
}

impl<'a> IntoIterator for Bitmap<'a> {
    type Item = bool;
    type IntoIter = BitIter<'a>;
    fn into_iter(self) -> BitIter<'a> {
        self.iter()
    }
}

/// Iterator over the bits of a [`Bitmap`].
#[derive(Clone)]
pub struct BitIter<'a> {
    map: Bitmap<'a>,
    i: usize,
}

impl Iterator for BitIter<'_> {
    type Item = bool;
    #[inline]
    fn next(&mut self) -> Option<bool> {
        if self.i >= self.map.len {
            return None;
        }
        let v = match self.map.bytes {
            None => true,
            Some(b) => {
                let k = self.i + self.map.offset;
                b[k >> 3] >> (k & 7) & 1 != 0
            }
        };
        self.i += 1;
        Some(v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.map.len - self.i;
        (n, Some(n))
    }
}

impl ExactSizeIterator for BitIter<'_> {}

/// Iterator over the indexes of the zero bits of a [`Bitmap`] (see
/// [`Bitmap::iter_zeros`]).
#[derive(Clone)]
pub struct ZeroIter<'a> {
    map: Bitmap<'a>,
    /// Next byte to load.
    byte: usize,
    /// Zero bits of the loaded byte not yet returned, as set bits.
    pending: u8,
}

impl Iterator for ZeroIter<'_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        let bytes = self.map.bytes?;
        let (off, len) = (self.map.offset, self.map.len);
        loop {
            if self.pending != 0 {
                let k = self.pending.trailing_zeros() as usize;
                self.pending &= self.pending - 1;
                let bit = (self.byte - 1) * 8 + k;
                if bit >= off + len {
                    self.pending = 0;
                    return None;
                }
                if bit >= off {
                    return Some(bit - off);
                }
                continue;
            }
            if self.byte * 8 >= off + len {
                return None;
            }
            self.pending = !bytes[self.byte];
            self.byte += 1;
        }
    }
}

/// Counts the set bits in `[off, off+n)` of `data`.
pub(crate) fn count_ones(data: &[u8], off: usize, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let end = off + n;
    let mut c = 0usize;
    let mut i = off;
    while i < end && i & 7 != 0 {
        c += (data[i >> 3] >> (i & 7) & 1) as usize;
        i += 1;
    }
    let first = i >> 3;
    let last = end >> 3;
    if first < last {
        let whole = &data[first..last];
        let mut chunks = whole.chunks_exact(8);
        for ch in &mut chunks {
            let w = u64::from_le_bytes([ch[0], ch[1], ch[2], ch[3], ch[4], ch[5], ch[6], ch[7]]);
            c += w.count_ones() as usize;
        }
        for &b in chunks.remainder() {
            c += b.count_ones() as usize;
        }
        i = last << 3;
    }
    while i < end {
        c += (data[i >> 3] >> (i & 7) & 1) as usize;
        i += 1;
    }
    c
}

#[inline]
pub(crate) fn get_bit(b: &[u8], i: usize) -> bool {
    b[i >> 3] >> (i & 7) & 1 != 0
}

#[inline]
pub(crate) fn set_bit(b: &mut [u8], i: usize, v: bool) {
    if v {
        b[i >> 3] |= 1 << (i & 7);
    } else {
        b[i >> 3] &= !(1 << (i & 7));
    }
}

/// Sets bits `[from, to)` of `b` to 1.
pub(crate) fn set_bits(b: &mut [u8], mut from: usize, to: usize) {
    while from < to && from & 7 != 0 {
        b[from >> 3] |= 1 << (from & 7);
        from += 1;
    }
    if from + 8 <= to {
        let whole = (to - from) >> 3;
        b[from >> 3..(from >> 3) + whole].fill(0xff);
        from += whole << 3;
    }
    while from < to {
        b[from >> 3] |= 1 << (from & 7);
        from += 1;
    }
}

/// Copies `n` bits from `src` at bit `src_off` into `dst` at bit `dst_off`.
/// Bits of `dst` outside the destination range are preserved.
pub(crate) fn copy_bits(dst: &mut [u8], dst_off: usize, src: &[u8], src_off: usize, n: usize) {
    if n == 0 {
        return;
    }
    if dst_off & 7 == 0 && src_off & 7 == 0 {
        let (d, s, whole) = (dst_off >> 3, src_off >> 3, n >> 3);
        dst[d..d + whole].copy_from_slice(&src[s..s + whole]);
        let r = n & 7;
        if r != 0 {
            let mask = (1u8 << r) - 1;
            dst[d + whole] = dst[d + whole] & !mask | src[s + whole] & mask;
        }
        return;
    }
    if dst_off & 7 == 0 {
        // Destination byte-aligned: each output byte from two source bytes.
        let (d, s, sh) = (dst_off >> 3, src_off >> 3, (src_off & 7) as u32);
        let whole = n >> 3;
        let src = &src[s..];
        for k in 0..whole {
            let lo = src[k] >> sh;
            let hi = if k + 1 < src.len() { src[k + 1] << (8 - sh) } else { 0 };
            dst[d + k] = lo | hi;
        }
        for i in whole << 3..n {
            set_bit(dst, dst_off + i, get_bit(src, sh as usize + i));
        }
        return;
    }
    for i in 0..n {
        set_bit(dst, dst_off + i, get_bit(src, src_off + i));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits_of(b: &[u8], off: usize, n: usize) -> Vec<bool> {
        (0..n).map(|i| get_bit(b, off + i)).collect()
    }

    #[test]
    fn count_ones_matches_a_bit_loop() {
        let data: Vec<u8> = (0..40u32).map(|i| (i * 37 + 11) as u8).collect();
        for (off, n) in [(0, 0), (0, 320), (3, 100), (7, 1), (5, 250), (8, 64), (1, 318)] {
            let want = bits_of(&data, off, n).iter().filter(|&&b| b).count();
            assert_eq!(count_ones(&data, off, n), want, "off {} n {}", off, n);
        }
    }

    #[test]
    fn copy_bits_all_alignments() {
        let src: Vec<u8> = (0..16u32).map(|i| (i * 73 + 5) as u8).collect();
        for src_off in 0..9 {
            for dst_off in [0usize, 3, 8, 13] {
                for n in [0usize, 1, 7, 8, 9, 40, 100] {
                    let mut dst = vec![0xA5u8; 20];
                    let before = dst.clone();
                    copy_bits(&mut dst, dst_off, &src, src_off, n);
                    assert_eq!(
                        bits_of(&dst, dst_off, n),
                        bits_of(&src, src_off, n),
                        "src_off {} dst_off {} n {}",
                        src_off,
                        dst_off,
                        n
                    );
                    for i in (0..dst_off).chain(dst_off + n..160) {
                        assert_eq!(get_bit(&dst, i), get_bit(&before, i), "bit {} outside the copy changed", i);
                    }
                }
            }
        }
    }

    #[test]
    fn set_bits_ranges() {
        for (from, to) in [(0, 0), (0, 8), (3, 5), (3, 30), (8, 64), (7, 9)] {
            let mut b = vec![0u8; 10];
            set_bits(&mut b, from, to);
            for i in 0..80 {
                assert_eq!(get_bit(&b, i), i >= from && i < to, "bit {} of {}..{}", i, from, to);
            }
        }
    }

    #[test]
    fn bitmap_view() {
        let bytes = [0b1010_1100u8, 0b0000_0001];
        let m = Bitmap::new(&bytes, 2, 8);
        assert_eq!(m.iter().collect::<Vec<_>>(), [true, true, false, true, false, true, true, false]);
        assert_eq!(m.count_zeros(), 3);
        assert_eq!(m.count_ones(), 5);
        assert!(!m.all());
        let s = m.slice(3, 4);
        assert_eq!(s.iter().collect::<Vec<_>>(), [true, false, true, true]);
        let all = Bitmap::all_set(5);
        assert!(all.all() && all.get(4) && !all.has_storage());
        assert_eq!(format!("{:?}", s), "Bitmap[1011]");
    }

    #[test]
    fn iter_zeros_matches_iter() {
        let data: Vec<u8> = vec![0xff, 0b1110_1101, 0xff, 0xff, 0x00, 0b0111_1111, 0xff];
        for (off, n) in [(0, 56), (3, 40), (7, 1), (9, 30), (0, 0), (12, 20), (33, 20)] {
            let m = Bitmap::new(&data, off, n);
            let want: Vec<usize> = m.iter().enumerate().filter(|(_, b)| !b).map(|(i, _)| i).collect();
            assert_eq!(m.iter_zeros().collect::<Vec<_>>(), want, "off {} n {}", off, n);
        }
        assert_eq!(Bitmap::all_set(10).iter_zeros().count(), 0);
    }
}
