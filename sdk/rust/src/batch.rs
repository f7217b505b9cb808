//! Read-only, zero-copy views of record batches and their columns.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use crate::bitmap::Bitmap;
use crate::error::{Error, Result};
use crate::ffi::ArrowArray;
use crate::types::{DataType, Phys, Schema};

mod sealed {
    pub trait Sealed {}
}

/// The Rust types holding the values of fixed-width columns: `i8` … `i64`,
/// `u8` … `u64`, `f32` and `f64` (timestamps are `i64`, date32 is `i32`).
pub trait Primitive: sealed::Sealed + Copy + Default + PartialEq + PartialOrd + fmt::Debug + 'static {
    /// The column type these values have in a plain column (`i64` is
    /// `int64`; timestamps and dates have their own accessors).
    const DATA_TYPE: DataType;
    #[doc(hidden)]
    const PHYS: Phys;
    #[doc(hidden)]
    fn builder(
        c: &mut crate::builder::ColumnBuilder,
        phys: Phys,
    ) -> Option<&mut crate::builder::PrimitiveBuilder<Self>>;
    #[doc(hidden)]
    fn table(c: &crate::table::TableColumn, phys: Phys) -> Option<&Vec<Self>>;
    #[doc(hidden)]
    fn table_mut(c: &mut crate::table::TableColumn, phys: Phys) -> Option<&mut Vec<Self>>;
    #[doc(hidden)]
    fn select_cmp(bits: &mut [u8], values: &[Self], op: crate::selection::Cmp, rhs: Self) {
        crate::selection::cmp_bits_scalar(bits, values, op, rhs)
    }
}

macro_rules! primitive {
    ($t:ty, $dt:expr, $phys:ident, $variant:ident $(, $alt_phys:ident => $alt:ident)? $(; simd $simd:ident)?) => {
        impl sealed::Sealed for $t {}
        impl Primitive for $t {
            const DATA_TYPE: DataType = $dt;
            const PHYS: Phys = Phys::$phys;
            fn builder(c: &mut crate::builder::ColumnBuilder, phys: Phys) -> Option<&mut crate::builder::PrimitiveBuilder<$t>> {
                match c {
                    crate::builder::ColumnBuilder::$variant(b) if phys == Phys::$phys => Some(b),
                    $(crate::builder::ColumnBuilder::$alt(b) if phys == Phys::$alt_phys => Some(b),)?
                    _ => None,
                }
            }
            fn table(c: &crate::table::TableColumn, phys: Phys) -> Option<&Vec<$t>> {
                match c {
                    crate::table::TableColumn::$variant(v) if phys == Phys::$phys => Some(v),
                    $(crate::table::TableColumn::$alt(v) if phys == Phys::$alt_phys => Some(v),)?
                    _ => None,
                }
            }
            fn table_mut(c: &mut crate::table::TableColumn, phys: Phys) -> Option<&mut Vec<$t>> {
                match c {
                    crate::table::TableColumn::$variant(v) if phys == Phys::$phys => Some(v),
                    $(crate::table::TableColumn::$alt(v) if phys == Phys::$alt_phys => Some(v),)?
                    _ => None,
                }
            }
            $(
                #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
                fn select_cmp(bits: &mut [u8], values: &[$t], op: crate::selection::Cmp, rhs: $t) {
                    crate::selection::simd::$simd(bits, values, op, rhs)
                }
            )?
        }
    };
}

primitive!(i8, DataType::Int8, I8, I8);
primitive!(i16, DataType::Int16, I16, I16);
primitive!(i32, DataType::Int32, I32, I32, Date32 => Date32; simd cmp_i32);
primitive!(i64, DataType::Int64, I64, I64, Timestamp => Timestamp; simd cmp_i64);
primitive!(u8, DataType::Uint8, U8, U8);
primitive!(u16, DataType::Uint16, U16, U16);
primitive!(u32, DataType::Uint32, U32, U32);
primitive!(u64, DataType::Uint64, U64, U64);
primitive!(f32, DataType::Float32, F32, F32; simd cmp_f32);
primitive!(f64, DataType::Float64, F64, F64; simd cmp_f64);

/// Where one column's buffers are, for the duration of a call.
#[derive(Clone)]
pub(crate) struct RawColumn {
    pub phys: Phys,
    /// Validity bitmap (NULL: all valid); bit `offset + i` is row `i`.
    pub validity: *const u8,
    /// Values (bool: value bitmap; utf8/binary: i32 offsets).
    pub values: *const u8,
    /// utf8/binary data.
    pub data: *const u8,
    /// Element offset of row 0 in every buffer.
    pub offset: usize,
    /// Null count of the batch's rows, if known.
    pub zeros: Option<usize>,
    /// utf8/binary: 0 unchecked, 1 offsets checked, 2 UTF-8 checked too.
    pub checked: Cell<u8>,
}

impl RawColumn {
    pub(crate) fn empty(phys: Phys) -> RawColumn {
        RawColumn {
            phys,
            validity: std::ptr::null(),
            values: std::ptr::null(),
            data: std::ptr::null(),
            offset: 0,
            zeros: Some(0),
            checked: Cell::new(0),
        }
    }

    /// Points the column at the child array `a`, for rows
    /// `[parent_off, parent_off + n)`.
    ///
    /// # Safety
    ///
    /// `a` must be NULL or point to a readable ArrowArray whose buffers hold
    /// what its length and offset say.
    pub(crate) unsafe fn load(&mut self, a: *const ArrowArray, parent_off: usize, n: usize) -> Result<()> {
        if a.is_null() {
            crate::bail!("NULL ArrowArray");
        }
        let a = &*a;
        let want = if self.phys.is_var() { 3 } else { 2 };
        if a.n_buffers != want {
            crate::bail!("has {} buffers, want {}", a.n_buffers, want);
        }
        if a.offset < 0 || a.length < 0 {
            crate::bail!("has offset {} and length {}", a.offset, a.length);
        }
        if (a.length as u64) < (parent_off + n) as u64 && n > 0 {
            crate::bail!("has length {}, the batch needs {}", a.length, parent_off + n);
        }
        if a.buffers.is_null() {
            crate::bail!("NULL buffers array");
        }
        let bufs = std::slice::from_raw_parts(a.buffers, want as usize);
        self.offset = a.offset as usize + parent_off;
        self.validity = bufs[0];
        self.values = bufs[1];
        self.data = if want == 3 { bufs[2] } else { std::ptr::null() };
        self.checked.set(0);
        self.zeros = if self.validity.is_null() {
            Some(0)
        } else if a.null_count >= 0 && parent_off == 0 && a.length as usize == n {
            Some(a.null_count as usize)
        } else {
            None
        };
        if n > 0 && self.values.is_null() {
            crate::bail!("NULL values buffer");
        }
        let align = match self.phys {
            Phys::Bool => 1,
            Phys::Utf8 | Phys::Binary => 4,
            p => p.width(),
        };
        if n > 0 && (self.values as usize) % align != 0 {
            crate::bail!("values buffer at {:p} is not {}-byte aligned", self.values, align);
        }
        Ok(())
    }
}

/// A read-only view of a record batch: columns of equal length in Arrow
/// layout, typically the input of an operator call.
///
/// Batches handed to operator functions live in memory the host owns and
/// are valid only during the call; so is every column view, slice and
/// string obtained from them (nothing is copied). The typed accessors
/// (`f64`, `utf8`, ...) check the column's type and return an error naming
/// the column if it is not the one asked for; check types once at open with
/// [`Schema::lookup`] and the accessors cannot fail.
pub struct Batch<'a> {
    schema: &'a Schema,
    len: usize,
    cols: Cow<'a, [RawColumn]>,
}

impl<'a> Batch<'a> {
    pub(crate) fn from_raw(schema: &'a Schema, len: usize, cols: Cow<'a, [RawColumn]>) -> Batch<'a> {
        debug_assert_eq!(schema.len(), cols.len());
        Batch { schema, len, cols }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of columns.
    pub fn num_columns(&self) -> usize {
        self.cols.len()
    }

    /// The columns' names and types.
    pub fn schema(&self) -> &'a Schema {
        self.schema
    }

    fn col(&self, j: usize, want: Phys) -> Result<&RawColumn> {
        let c =
            self.cols.get(j).ok_or_else(|| crate::err!("no column {} in a batch of {} columns", j, self.cols.len()))?;
        if c.phys != want {
            let f = &self.schema[j];
            crate::bail!("column {} ({:?}) is {}, not {}", j, f.name, f.data_type, want.name());
        }
        Ok(c)
    }

    /// The validity of column `j` (bit set = not null).
    ///
    /// # Panics
    ///
    /// If there is no column `j`.
    pub fn validity(&self, j: usize) -> Bitmap<'a> {
        let c = &self.cols[j];
        self.bitmap(c.validity, c.offset).with_zeros(c.zeros)
    }

    /// The number of nulls in column `j`.
    ///
    /// # Panics
    ///
    /// If there is no column `j`.
    pub fn null_count(&self, j: usize) -> usize {
        self.validity(j).count_zeros()
    }

    fn bitmap(&self, p: *const u8, offset: usize) -> Bitmap<'a> {
        if p.is_null() || self.len == 0 {
            return Bitmap::all_set(self.len);
        }
        // SAFETY: the host's (or builder's) bitmap covers offset+len bits.
        let bytes = unsafe { std::slice::from_raw_parts(p, (offset + self.len + 7) / 8) };
        Bitmap::new(bytes, offset, self.len)
    }

    fn fixed<T: Primitive>(&self, j: usize, phys: Phys) -> Result<PrimitiveColumn<'a, T>> {
        let c = self.col(j, phys)?;
        let values: &'a [T] = if self.len == 0 {
            &[]
        } else {
            // SAFETY: load checked the pointer is non-NULL and aligned; the
            // buffer holds offset+len values.
            unsafe { std::slice::from_raw_parts((c.values as *const T).add(c.offset), self.len) }
        };
        Ok(PrimitiveColumn { values, validity: self.bitmap(c.validity, c.offset).with_zeros(c.zeros) })
    }

    /// Column `j`, whose type must be `T::DATA_TYPE` (`input.primitive::<f64>(j)`).
    pub fn primitive<T: Primitive>(&self, j: usize) -> Result<PrimitiveColumn<'a, T>> {
        self.fixed(j, T::PHYS)
    }

    /// Column `j`, which must be int8.
    pub fn i8(&self, j: usize) -> Result<PrimitiveColumn<'a, i8>> {
        self.fixed(j, Phys::I8)
    }
    /// Column `j`, which must be int16.
    pub fn i16(&self, j: usize) -> Result<PrimitiveColumn<'a, i16>> {
        self.fixed(j, Phys::I16)
    }
    /// Column `j`, which must be int32.
    pub fn i32(&self, j: usize) -> Result<PrimitiveColumn<'a, i32>> {
        self.fixed(j, Phys::I32)
    }
    /// Column `j`, which must be int64.
    pub fn i64(&self, j: usize) -> Result<PrimitiveColumn<'a, i64>> {
        self.fixed(j, Phys::I64)
    }
    /// Column `j`, which must be uint8.
    pub fn u8(&self, j: usize) -> Result<PrimitiveColumn<'a, u8>> {
        self.fixed(j, Phys::U8)
    }
    /// Column `j`, which must be uint16.
    pub fn u16(&self, j: usize) -> Result<PrimitiveColumn<'a, u16>> {
        self.fixed(j, Phys::U16)
    }
    /// Column `j`, which must be uint32.
    pub fn u32(&self, j: usize) -> Result<PrimitiveColumn<'a, u32>> {
        self.fixed(j, Phys::U32)
    }
    /// Column `j`, which must be uint64.
    pub fn u64(&self, j: usize) -> Result<PrimitiveColumn<'a, u64>> {
        self.fixed(j, Phys::U64)
    }
    /// Column `j`, which must be float32.
    pub fn f32(&self, j: usize) -> Result<PrimitiveColumn<'a, f32>> {
        self.fixed(j, Phys::F32)
    }
    /// Column `j`, which must be float64.
    pub fn f64(&self, j: usize) -> Result<PrimitiveColumn<'a, f64>> {
        self.fixed(j, Phys::F64)
    }
    /// Column `j`, which must be a timestamp (any unit and zone: see the
    /// schema), as i64 values since the epoch.
    pub fn timestamp(&self, j: usize) -> Result<PrimitiveColumn<'a, i64>> {
        self.fixed(j, Phys::Timestamp)
    }
    /// Column `j`, which must be date32, as i32 days since the epoch.
    pub fn date32(&self, j: usize) -> Result<PrimitiveColumn<'a, i32>> {
        self.fixed(j, Phys::Date32)
    }

    /// Column `j`, which must be bool.
    pub fn bool(&self, j: usize) -> Result<BoolColumn<'a>> {
        let c = self.col(j, Phys::Bool)?;
        Ok(BoolColumn {
            values: self.bitmap(c.values, c.offset),
            validity: self.bitmap(c.validity, c.offset).with_zeros(c.zeros),
        })
    }

    /// Column `j`, which must be binary.
    pub fn binary(&self, j: usize) -> Result<BinaryColumn<'a>> {
        let c = self.col(j, Phys::Binary)?;
        self.var(j, c)
    }

    /// Column `j`, which must be utf8. The first call per batch checks that
    /// the column's bytes are valid UTF-8 with every value on a character
    /// boundary (O(bytes)); later calls are free.
    pub fn utf8(&self, j: usize) -> Result<Utf8Column<'a>> {
        let c = self.col(j, Phys::Utf8)?;
        let bin = self.var(j, c)?;
        if c.checked.get() < 2 {
            bin.check_utf8().map_err(|e| e.context(format!("column {:?}", self.schema[j].name)))?;
            c.checked.set(2);
        }
        Ok(Utf8Column { bin })
    }

    /// Column `j`, which must be utf8, as bytes without the UTF-8 check: for
    /// byte-level fast paths.
    pub fn utf8_bytes(&self, j: usize) -> Result<BinaryColumn<'a>> {
        let c = self.col(j, Phys::Utf8)?;
        self.var(j, c)
    }

    fn var(&self, j: usize, c: &RawColumn) -> Result<BinaryColumn<'a>> {
        let validity = self.bitmap(c.validity, c.offset).with_zeros(c.zeros);
        if self.len == 0 {
            return Ok(BinaryColumn { offsets: &[0], data: &[], validity });
        }
        // SAFETY: load checked the offsets pointer (non-NULL, aligned); the
        // buffer holds offset+len+1 offsets.
        let offsets: &'a [i32] =
            unsafe { std::slice::from_raw_parts((c.values as *const i32).add(c.offset), self.len + 1) };
        if c.checked.get() == 0 {
            check_offsets(offsets).map_err(|e| e.context(format!("column {:?}", self.schema[j].name)))?;
            if offsets[self.len] > 0 && c.data.is_null() {
                crate::bail!("column {:?}: NULL data buffer", self.schema[j].name);
            }
            c.checked.set(1);
        }
        let end = offsets[self.len] as usize;
        let data: &'a [u8] = if end == 0 {
            &[]
        } else {
            // SAFETY: the data buffer holds at least offsets[len] bytes.
            unsafe { std::slice::from_raw_parts(c.data, end) }
        };
        Ok(BinaryColumn { offsets, data, validity })
    }
}

impl fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Batch({} rows: {})", self.len, self.schema)
    }
}

/// Whether every byte is ASCII: 64 bytes per step with wasm SIMD (the
/// common case of utf8 columns, checked before the full UTF-8 validation).
fn all_ascii(b: &[u8]) -> bool {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        let mut chunks = b.chunks_exact(64);
        let mut acc = u8x16_splat(0);
        for c in &mut chunks {
            let p = c.as_ptr() as *const v128;
            // SAFETY: c holds 64 bytes, four vectors; v128_load has no
            // alignment requirement.
            let (a, b, c, d) = unsafe { (v128_load(p), v128_load(p.add(1)), v128_load(p.add(2)), v128_load(p.add(3))) };
            acc = v128_or(acc, v128_or(v128_or(a, b), v128_or(c, d)));
        }
        u8x16_bitmask(acc) == 0 && chunks.remainder().is_ascii()
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        b.is_ascii()
    }
}

/// Checks that offsets are non-negative and non-decreasing.
fn check_offsets(offs: &[i32]) -> Result<()> {
    if offs[0] < 0 {
        crate::bail!("negative offset {}", offs[0]);
    }
    // Branch-free scan; locate the culprit only if there is one.
    let bad = offs.windows(2).fold(false, |bad, w| bad | (w[1] < w[0]));
    if bad {
        let i = offs.windows(2).position(|w| w[1] < w[0]).unwrap_or(0);
        crate::bail!("offsets decrease at value {} ({} after {})", i, offs[i + 1], offs[i]);
    }
    Ok(())
}

/// A read-only, zero-copy view of a fixed-width column, adjusted for the
/// Arrow offset: row `i` is `values()[i]`.
#[derive(Clone, Copy)]
pub struct PrimitiveColumn<'a, T> {
    values: &'a [T],
    validity: Bitmap<'a>,
}

impl<'a, T: Primitive> PrimitiveColumn<'a, T> {
    /// A column view of `values` with the given validity (tests, or
    /// building inputs by hand).
    ///
    /// # Panics
    ///
    /// If the lengths differ.
    pub fn new(values: &'a [T], validity: Bitmap<'a>) -> PrimitiveColumn<'a, T> {
        assert_eq!(values.len(), validity.len(), "values and validity lengths differ");
        PrimitiveColumn { values, validity }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Every row's value, including the unspecified values under nulls.
    pub fn values(&self) -> &'a [T] {
        self.values
    }

    /// The value of row `i` (unspecified if the row is null).
    pub fn value(&self, i: usize) -> T {
        self.values[i]
    }

    /// Row `i`, `None` if null.
    pub fn get(&self, i: usize) -> Option<T> {
        if self.validity.get(i) {
            Some(self.values[i])
        } else {
            None
        }
    }

    /// Whether row `i` is null.
    pub fn is_null(&self, i: usize) -> bool {
        !self.validity.get(i)
    }

    /// Whether row `i` is not null.
    pub fn is_valid(&self, i: usize) -> bool {
        self.validity.get(i)
    }

    /// The number of null rows.
    pub fn null_count(&self) -> usize {
        self.validity.count_zeros()
    }

    /// The validity bitmap (bit set = not null).
    pub fn validity(&self) -> Bitmap<'a> {
        self.validity
    }

    /// The rows as `Option<T>`, `None` for nulls.
    pub fn iter(&self) -> PrimitiveIter<'a, T> {
        PrimitiveIter { values: self.values.iter(), validity: self.validity.iter() }
    }
}

impl<T: Primitive> fmt::Debug for PrimitiveColumn<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a, T: Primitive> IntoIterator for PrimitiveColumn<'a, T> {
    type Item = Option<T>;
    type IntoIter = PrimitiveIter<'a, T>;
    fn into_iter(self) -> PrimitiveIter<'a, T> {
        self.iter()
    }
}

/// Iterator over the rows of a [`PrimitiveColumn`].
pub struct PrimitiveIter<'a, T> {
    values: std::slice::Iter<'a, T>,
    validity: crate::bitmap::BitIter<'a>,
}

impl<T: Primitive> Iterator for PrimitiveIter<'_, T> {
    type Item = Option<T>;
    #[inline]
    fn next(&mut self) -> Option<Option<T>> {
        let v = *self.values.next()?;
        let ok = self.validity.next().unwrap_or(true);
        Some(if ok { Some(v) } else { None })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.values.size_hint()
    }
}

impl<T: Primitive> ExactSizeIterator for PrimitiveIter<'_, T> {}

/// A read-only view of a bool column.
#[derive(Clone, Copy)]
pub struct BoolColumn<'a> {
    values: Bitmap<'a>,
    validity: Bitmap<'a>,
}

impl<'a> BoolColumn<'a> {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.values.len()
    }
    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
    /// The value bitmap (values under nulls unspecified).
    pub fn values(&self) -> Bitmap<'a> {
        self.values
    }
    /// The value of row `i` (unspecified if the row is null).
    pub fn value(&self, i: usize) -> bool {
        self.values.get(i)
    }
    /// Row `i`, `None` if null.
    pub fn get(&self, i: usize) -> Option<bool> {
        if self.validity.get(i) {
            Some(self.values.get(i))
        } else {
            None
        }
    }
    /// Whether row `i` is null.
    pub fn is_null(&self, i: usize) -> bool {
        !self.validity.get(i)
    }
    /// The number of null rows.
    pub fn null_count(&self) -> usize {
        self.validity.count_zeros()
    }
    /// The validity bitmap (bit set = not null).
    pub fn validity(&self) -> Bitmap<'a> {
        self.validity
    }
    /// The rows as `Option<bool>`.
    pub fn iter(&self) -> impl Iterator<Item = Option<bool>> + 'a {
        self.values.iter().zip(self.validity.iter()).map(|(v, ok)| if ok { Some(v) } else { None })
    }
}

impl fmt::Debug for BoolColumn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A read-only, zero-copy view of a binary column, or of a utf8 column's
/// bytes. Values alias the batch memory.
#[derive(Clone, Copy)]
pub struct BinaryColumn<'a> {
    /// `len + 1` offsets into `data`, non-negative and non-decreasing.
    offsets: &'a [i32],
    data: &'a [u8],
    validity: Bitmap<'a>,
}

impl<'a> BinaryColumn<'a> {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }
    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.offsets.len() == 1
    }
    /// The bytes of row `i` (empty for nulls, usually).
    #[inline]
    pub fn value(&self, i: usize) -> &'a [u8] {
        &self.data[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }
    /// Row `i`, `None` if null.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        if self.validity.get(i) {
            Some(self.value(i))
        } else {
            None
        }
    }
    /// The `len() + 1` offsets of the rows into [`BinaryColumn::data`]: row
    /// `i` is `data()[offsets()[i]..offsets()[i+1]]`. They need not start
    /// at 0.
    pub fn offsets(&self) -> &'a [i32] {
        self.offsets
    }
    /// The data buffer, up to the end of the last row.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
    /// The bytes of all rows, from the first row's start to the last row's
    /// end.
    pub fn values_bytes(&self) -> &'a [u8] {
        &self.data[self.offsets[0] as usize..]
    }
    /// Whether row `i` is null.
    pub fn is_null(&self, i: usize) -> bool {
        !self.validity.get(i)
    }
    /// Whether row `i` is not null.
    pub fn is_valid(&self, i: usize) -> bool {
        self.validity.get(i)
    }
    /// The number of null rows.
    pub fn null_count(&self) -> usize {
        self.validity.count_zeros()
    }
    /// The validity bitmap (bit set = not null).
    pub fn validity(&self) -> Bitmap<'a> {
        self.validity
    }
    /// The rows as `Option<&[u8]>`.
    pub fn iter(&self) -> BinaryIter<'a> {
        BinaryIter { col: *self, i: 0 }
    }

    fn check_utf8(&self) -> Result<()> {
        let bytes = self.values_bytes();
        if all_ascii(bytes) {
            // Valid, and every offset is a character boundary.
            return Ok(());
        }
        if let Err(e) = std::str::from_utf8(bytes) {
            let at = self.offsets[0] as usize + e.valid_up_to();
            let row = self.offsets.partition_point(|&o| (o as usize) <= at).saturating_sub(1);
            crate::bail!("invalid UTF-8 in row {}", row);
        }
        let base = self.offsets[0] as usize;
        for (i, &o) in self.offsets.iter().enumerate() {
            // A value boundary inside a character: the byte there is a
            // continuation byte (10xxxxxx).
            let k = o as usize - base;
            if k < bytes.len() && (bytes[k] as i8) < -0x40 {
                crate::bail!("row {} starts inside a UTF-8 character", i);
            }
        }
        Ok(())
    }
}

impl fmt::Debug for BinaryColumn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator over the rows of a [`BinaryColumn`].
pub struct BinaryIter<'a> {
    col: BinaryColumn<'a>,
    i: usize,
}

impl<'a> Iterator for BinaryIter<'a> {
    type Item = Option<&'a [u8]>;
    fn next(&mut self) -> Option<Option<&'a [u8]>> {
        if self.i >= self.col.len() {
            return None;
        }
        let v = self.col.get(self.i);
        self.i += 1;
        Some(v)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.col.len() - self.i;
        (n, Some(n))
    }
}

impl ExactSizeIterator for BinaryIter<'_> {}

/// A read-only, zero-copy view of a utf8 column whose contents were checked
/// to be valid UTF-8: values are `&str` without further checks.
#[derive(Clone, Copy)]
pub struct Utf8Column<'a> {
    bin: BinaryColumn<'a>,
}

impl<'a> Utf8Column<'a> {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.bin.len()
    }
    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.bin.is_empty()
    }
    /// Row `i` as a string (usually empty for nulls).
    #[inline]
    pub fn value(&self, i: usize) -> &'a str {
        let b = self.bin.value(i);
        // SAFETY: Batch::utf8 checked the bytes and that every offset is a
        // character boundary.
        unsafe { std::str::from_utf8_unchecked(b) }
    }
    /// Row `i`, `None` if null.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        if self.bin.validity.get(i) {
            Some(self.value(i))
        } else {
            None
        }
    }
    /// Whether row `i` is null.
    pub fn is_null(&self, i: usize) -> bool {
        self.bin.is_null(i)
    }
    /// Whether row `i` is not null.
    pub fn is_valid(&self, i: usize) -> bool {
        self.bin.is_valid(i)
    }
    /// The number of null rows.
    pub fn null_count(&self) -> usize {
        self.bin.null_count()
    }
    /// The validity bitmap (bit set = not null).
    pub fn validity(&self) -> Bitmap<'a> {
        self.bin.validity
    }
    /// The same column as bytes.
    pub fn as_binary(&self) -> BinaryColumn<'a> {
        self.bin
    }
    /// The rows as `Option<&str>`.
    pub fn iter(&self) -> Utf8Iter<'a> {
        Utf8Iter { col: *self, i: 0 }
    }
}

impl fmt::Debug for Utf8Column<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for Utf8Column<'a> {
    type Item = Option<&'a str>;
    type IntoIter = Utf8Iter<'a>;
    fn into_iter(self) -> Utf8Iter<'a> {
        self.iter()
    }
}

/// Iterator over the rows of a [`Utf8Column`].
pub struct Utf8Iter<'a> {
    col: Utf8Column<'a>,
    i: usize,
}

impl<'a> Iterator for Utf8Iter<'a> {
    type Item = Option<&'a str>;
    fn next(&mut self) -> Option<Option<&'a str>> {
        if self.i >= self.col.len() {
            return None;
        }
        let v = self.col.get(self.i);
        self.i += 1;
        Some(v)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.col.len() - self.i;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Utf8Iter<'_> {}

/// Reads the struct array at `a` into `cols` (one per field of `schema`) and
/// returns its row count and element offset. `what` names the array in
/// errors ("input batch", "state").
///
/// # Safety
///
/// `a` must be NULL or point to a readable ArrowArray laid out as SPEC §4.
pub(crate) unsafe fn load_struct(
    a: usize,
    schema: &Schema,
    cols: &mut [RawColumn],
    what: &str,
) -> Result<(usize, usize, *const u8)> {
    let a = a as *const ArrowArray;
    if a.is_null() {
        crate::bail!("no {}", what);
    }
    let arr = &*a;
    if arr.n_children != schema.len() as i64 {
        crate::bail!("{} has {} columns, its schema {}", what, arr.n_children, schema.len());
    }
    if arr.length < 0 || arr.length > i32::MAX as i64 || arr.offset < 0 || arr.offset > i32::MAX as i64 {
        crate::bail!("{} has length {} and offset {}", what, arr.length, arr.offset);
    }
    let n = arr.length as usize;
    let off = arr.offset as usize;
    let mut struct_validity = std::ptr::null();
    if arr.n_buffers >= 1 && !arr.buffers.is_null() {
        struct_validity = *arr.buffers;
    }
    if schema.is_empty() {
        return Ok((n, off, struct_validity));
    }
    if arr.children.is_null() {
        crate::bail!("{} has NULL children", what);
    }
    let kids = std::slice::from_raw_parts(arr.children, schema.len());
    for (j, c) in cols.iter_mut().enumerate() {
        c.load(kids[j], off, n).map_err(|e: Error| e.context(format!("{} column {:?}", what, schema[j].name)))?;
    }
    Ok((n, off, struct_validity))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::BatchBuilder;
    use crate::schema;

    #[test]
    fn typed_accessors_check_types() {
        let mut b = BatchBuilder::new(schema![("x", DataType::Float64), ("s", DataType::Utf8)]).unwrap();
        b.f64(0).unwrap().extend_from_slice(&[1.0, 2.5]);
        b.utf8(1).unwrap().extend(["a", "bé"]);
        let batch = b.as_batch().unwrap();
        assert_eq!(batch.f64(0).unwrap().values(), &[1.0, 2.5]);
        assert_eq!(batch.utf8(1).unwrap().iter().collect::<Vec<_>>(), [Some("a"), Some("bé")]);
        let cases: Vec<(Result<()>, &str)> = vec![
            (batch.i64(0).map(|_| ()), "column 0 (\"x\") is float64, not int64"),
            (batch.utf8(0).map(|_| ()), "column 0 (\"x\") is float64, not utf8"),
            (batch.f64(1).map(|_| ()), "column 1 (\"s\") is utf8, not float64"),
            (batch.binary(1).map(|_| ()), "is utf8, not binary"),
            (batch.f64(2).map(|_| ()), "no column 2 in a batch of 2 columns"),
        ];
        for (got, want) in cases {
            let e = got.unwrap_err();
            assert!(e.message().contains(want), "{} does not contain {}", e, want);
        }
    }

    #[test]
    fn utf8_checks() {
        let cases: Vec<(&[u8], Vec<i32>, Option<&str>)> = vec![
            (b"abc", vec![0, 1, 3], None),
            ("é".as_bytes(), vec![0, 2], None),
            ("é".as_bytes(), vec![0, 1, 2], Some("row 1 starts inside a UTF-8 character")),
            (b"a\xffb", vec![0, 1, 3], Some("invalid UTF-8 in row 1")),
            (b"ab", vec![0, 2, 1], Some("offsets decrease at value 1 (1 after 2)")),
        ];
        for (data, offs, want) in cases {
            let n = offs.len() - 1;
            let col = BinaryColumn { offsets: &offs, data, validity: Bitmap::all_set(n) };
            let got = check_offsets(&offs).and_then(|_| col.check_utf8());
            match (got, want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert_eq!(e.message(), w),
                (g, w) => panic!("{:?} {:?}: got {:?}, want {:?}", data, offs, g, w),
            }
        }
    }

    #[test]
    fn ascii_check() {
        let mut text = vec![b'a'; 200];
        assert!(all_ascii(&text) && all_ascii(&[]));
        for at in [0, 63, 64, 130, 199] {
            let saved = text[at];
            text[at] = 0xc3;
            assert!(!all_ascii(&text), "non-ASCII byte at {}", at);
            text[at] = saved;
        }
    }

    #[test]
    fn iterators_and_nulls() {
        let mut b =
            BatchBuilder::new(schema![("x", DataType::Int64), ("b", DataType::Bool), ("z", DataType::Binary)]).unwrap();
        b.i64(0).unwrap().extend([Some(1), None, Some(3)]);
        b.bool(1).unwrap().extend([None, Some(true), Some(false)]);
        b.binary(2).unwrap().extend([Some(&b"\x00\xff"[..]), Some(&b""[..]), None]);
        let batch = b.as_batch().unwrap();
        let x = batch.i64(0).unwrap();
        assert_eq!(x.iter().collect::<Vec<_>>(), [Some(1), None, Some(3)]);
        assert_eq!((x.null_count(), x.is_null(1), x.get(2)), (1, true, Some(3)));
        assert_eq!(batch.bool(1).unwrap().iter().collect::<Vec<_>>(), [None, Some(true), Some(false)]);
        let z = batch.binary(2).unwrap();
        assert_eq!(z.iter().collect::<Vec<_>>(), [Some(&b"\x00\xff"[..]), Some(&b""[..]), None]);
        assert_eq!(batch.null_count(2), 1);
        assert_eq!(format!("{:?}", x), "[Some(1), None, Some(3)]");
    }
}
