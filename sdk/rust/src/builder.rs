//! Builders of output batches, column by column.

use std::borrow::Cow;
use std::fmt;

use crate::batch::{Batch, BinaryColumn, BoolColumn, Primitive, PrimitiveColumn, RawColumn, Utf8Column};
use crate::bitmap::{copy_bits, set_bit, set_bits, Bitmap};
use crate::error::Result;
use crate::ffi::{ArrowArray, RELEASE_MARK};
use crate::types::{DataType, Phys, Schema};

/// The null bitmap of a column builder. It stays inactive (no bitmap, no cost
/// per value) until the first null; bits past the builder's length are 0.
#[derive(Default)]
pub(crate) struct Validity {
    bits: Vec<u8>,
    active: bool,
    nulls: usize,
}

impl Validity {
    /// Starts tracking nulls for a builder holding `n` values, all valid.
    fn activate(&mut self, n: usize) {
        self.bits.clear();
        self.bits.resize((n + 7) / 8, 0);
        set_bits(&mut self.bits, 0, n);
        self.active = true;
    }

    #[inline]
    fn fit(&mut self, n: usize) {
        let need = (n + 7) / 8;
        if self.bits.len() < need {
            self.bits.resize(need, 0);
        }
    }

    /// Records value `i` (the last one) as valid.
    #[inline]
    fn push_valid(&mut self, i: usize) {
        if self.active {
            self.fit(i + 1);
            self.bits[i >> 3] |= 1 << (i & 7);
        }
    }

    /// Records value `i` (the last one) as null.
    fn push_null(&mut self, i: usize) {
        if !self.active {
            self.activate(i);
        }
        self.fit(i + 1);
        self.nulls += 1;
    }

    /// Records `n` valid values starting at `i`.
    fn extend_valid(&mut self, i: usize, n: usize) {
        if self.active {
            self.fit(i + n);
            set_bits(&mut self.bits, i, i + n);
        }
    }

    /// Records `m.len()` values starting at `i` with the validity of `m`.
    fn extend_from(&mut self, i: usize, m: Bitmap<'_>) {
        let zeros = m.count_zeros();
        if zeros == 0 {
            self.extend_valid(i, m.len());
            return;
        }
        if !self.active {
            self.activate(i);
        }
        self.fit(i + m.len());
        if let Some((bytes, off)) = m.bytes() {
            copy_bits(&mut self.bits, i, bytes, off, m.len());
        }
        self.nulls += zeros;
    }

    /// Makes value `i` of `n` null.
    fn set_null(&mut self, i: usize, n: usize) {
        if !self.active {
            self.activate(n);
        }
        if self.bits[i >> 3] & (1 << (i & 7)) != 0 {
            self.bits[i >> 3] &= !(1 << (i & 7));
            self.nulls += 1;
        }
    }

    fn is_null(&self, i: usize) -> bool {
        self.active && self.bits[i >> 3] & (1 << (i & 7)) == 0
    }

    fn clear(&mut self) {
        self.bits.clear();
        self.active = false;
        self.nulls = 0;
    }

    /// Drops everything past value `n`.
    fn truncate(&mut self, n: usize) {
        if !self.active {
            return;
        }
        self.bits.truncate((n + 7) / 8);
        if n & 7 != 0 {
            let last = self.bits.len() - 1;
            self.bits[last] &= (1u8 << (n & 7)) - 1;
        }
        self.nulls = n - crate::bitmap::count_ones(&self.bits, 0, n);
    }

    /// The bitmap to export (NULL when there are no nulls) and null count.
    fn exported(&self) -> (*const u8, usize) {
        if !self.active || self.nulls == 0 {
            (std::ptr::null(), 0)
        } else {
            (self.bits.as_ptr(), self.nulls)
        }
    }
}

/// Builds a fixed-width column (numbers, timestamps, dates). It keeps its
/// memory when cleared, so a builder that has reached its working size does
/// not allocate.
#[derive(Default)]
pub struct PrimitiveBuilder<T> {
    values: Vec<T>,
    validity: Validity,
}

impl<T: Primitive> PrimitiveBuilder<T> {
    /// An empty builder.
    pub fn new() -> PrimitiveBuilder<T> {
        PrimitiveBuilder { values: Vec::new(), validity: Validity::default() }
    }

    /// The number of values appended.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Makes room for `n` more values.
    pub fn reserve(&mut self, n: usize) {
        self.values.reserve(n);
    }

    /// Appends a value.
    #[inline]
    pub fn push(&mut self, v: T) {
        let i = self.values.len();
        self.values.push(v);
        self.validity.push_valid(i);
    }

    /// Appends a null.
    pub fn push_null(&mut self) {
        let i = self.values.len();
        self.values.push(T::default());
        self.validity.push_null(i);
    }

    /// Appends a value or a null.
    #[inline]
    pub fn push_option(&mut self, v: Option<T>) {
        match v {
            Some(v) => self.push(v),
            None => self.push_null(),
        }
    }

    /// Appends non-null values.
    pub fn extend_from_slice(&mut self, vs: &[T]) {
        let i = self.values.len();
        self.values.extend_from_slice(vs);
        self.validity.extend_valid(i, vs.len());
    }

    /// Appends non-null values from an iterator: the vectorised way to fill
    /// a column from a computation (`b.extend_values(xs.iter().map(|x| x * 2.0))`).
    pub fn extend_values<I: IntoIterator<Item = T>>(&mut self, values: I) {
        let i = self.values.len();
        self.values.extend(values);
        let n = self.values.len() - i;
        self.validity.extend_valid(i, n);
    }

    /// Appends `validity.len()` values from `values`, with their nulls copied
    /// from `validity` (typically an input column's, so that nulls pass
    /// through a map). Values under nulls are kept but unspecified to
    /// readers. Fails, appending nothing, if `values` does not yield exactly
    /// `validity.len()` items.
    pub fn extend_with_validity<I: IntoIterator<Item = T>>(&mut self, validity: Bitmap<'_>, values: I) -> Result<()> {
        let i = self.values.len();
        self.values.extend(values);
        let n = self.values.len() - i;
        if n != validity.len() {
            self.values.truncate(i);
            crate::bail!("{} values for a validity of {} rows", n, validity.len());
        }
        self.validity.extend_from(i, validity);
        Ok(())
    }

    /// Appends `n` non-null zero values and returns them for the caller to
    /// write.
    pub fn extend_zeroed(&mut self, n: usize) -> &mut [T] {
        let i = self.values.len();
        self.values.resize(i + n, T::default());
        self.validity.extend_valid(i, n);
        &mut self.values[i..]
    }

    /// Appends every row of `c`, nulls included, and returns the appended
    /// values so the caller can modify them in place.
    pub fn append_column(&mut self, c: &PrimitiveColumn<'_, T>) -> &mut [T] {
        let i = self.values.len();
        self.values.extend_from_slice(c.values());
        self.validity.extend_from(i, c.validity());
        &mut self.values[i..]
    }

    /// Makes the already appended value `i` null.
    ///
    /// # Panics
    ///
    /// If `i >= len()`.
    pub fn set_null(&mut self, i: usize) {
        assert!(i < self.values.len(), "set_null({}) on a builder of {} values", i, self.values.len());
        self.validity.set_null(i, self.values.len());
    }

    /// Whether appended value `i` is null.
    pub fn is_null(&self, i: usize) -> bool {
        assert!(i < self.values.len(), "is_null({}) on a builder of {} values", i, self.values.len());
        self.validity.is_null(i)
    }

    /// The number of nulls appended.
    pub fn null_count(&self) -> usize {
        self.validity.nulls
    }

    /// The values appended so far.
    pub fn values(&self) -> &[T] {
        &self.values
    }

    /// The values appended so far, to modify in place.
    pub fn values_mut(&mut self) -> &mut [T] {
        &mut self.values
    }

    /// Removes every value, keeping the memory.
    pub fn clear(&mut self) {
        self.values.clear();
        self.validity.clear();
    }

    fn truncate(&mut self, n: usize) {
        self.values.truncate(n);
        self.validity.truncate(n);
    }
}

impl<T: Primitive> Extend<T> for PrimitiveBuilder<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        self.extend_values(iter)
    }
}

impl<T: Primitive> Extend<Option<T>> for PrimitiveBuilder<T> {
    fn extend<I: IntoIterator<Item = Option<T>>>(&mut self, iter: I) {
        for v in iter {
            self.push_option(v);
        }
    }
}

/// Builds a bool column.
#[derive(Default)]
pub struct BoolBuilder {
    bits: Vec<u8>,
    len: usize,
    validity: Validity,
}

impl BoolBuilder {
    /// An empty builder.
    pub fn new() -> BoolBuilder {
        BoolBuilder::default()
    }

    /// The number of values appended.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn fit(&mut self, n: usize) {
        let need = (n + 7) / 8;
        if self.bits.len() < need {
            self.bits.resize(need, 0);
        }
    }

    /// Appends a value.
    pub fn push(&mut self, v: bool) {
        let i = self.len;
        self.fit(i + 1);
        set_bit(&mut self.bits, i, v);
        self.validity.push_valid(i);
        self.len += 1;
    }

    /// Appends a null.
    pub fn push_null(&mut self) {
        let i = self.len;
        self.fit(i + 1);
        set_bit(&mut self.bits, i, false);
        self.validity.push_null(i);
        self.len += 1;
    }

    /// Appends a value or a null.
    pub fn push_option(&mut self, v: Option<bool>) {
        match v {
            Some(v) => self.push(v),
            None => self.push_null(),
        }
    }

    /// Appends every row of `c`, nulls included.
    pub fn append_column(&mut self, c: &BoolColumn<'_>) {
        let (i, n) = (self.len, c.len());
        self.fit(i + n);
        match c.values().bytes() {
            Some((bytes, off)) => copy_bits(&mut self.bits, i, bytes, off, n),
            None => set_bits(&mut self.bits, i, i + n),
        }
        self.validity.extend_from(i, c.validity());
        self.len += n;
    }

    /// Makes the already appended value `i` null.
    ///
    /// # Panics
    ///
    /// If `i >= len()`.
    pub fn set_null(&mut self, i: usize) {
        assert!(i < self.len, "set_null({}) on a builder of {} values", i, self.len);
        self.validity.set_null(i, self.len);
    }

    /// The number of nulls appended.
    pub fn null_count(&self) -> usize {
        self.validity.nulls
    }

    /// The values appended so far.
    pub fn values(&self) -> Bitmap<'_> {
        if self.len == 0 {
            return Bitmap::all_set(0);
        }
        Bitmap::new(&self.bits, 0, self.len)
    }

    /// Removes every value, keeping the memory.
    pub fn clear(&mut self) {
        self.bits.clear();
        self.len = 0;
        self.validity.clear();
    }

    fn truncate(&mut self, n: usize) {
        self.len = n;
        self.bits.truncate((n + 7) / 8);
        self.validity.truncate(n);
    }
}

impl Extend<bool> for BoolBuilder {
    fn extend<I: IntoIterator<Item = bool>>(&mut self, iter: I) {
        for v in iter {
            self.push(v);
        }
    }
}

impl Extend<Option<bool>> for BoolBuilder {
    fn extend<I: IntoIterator<Item = Option<bool>>>(&mut self, iter: I) {
        for v in iter {
            self.push_option(v);
        }
    }
}

/// The shared part of the utf8 and binary builders.
struct VarBuilder {
    offsets: Vec<i32>, // len + 1, offsets[0] == 0
    data: Vec<u8>,
    validity: Validity,
}

impl Default for VarBuilder {
    fn default() -> VarBuilder {
        VarBuilder { offsets: vec![0], data: Vec::new(), validity: Validity::default() }
    }
}

impl VarBuilder {
    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    #[inline]
    fn push(&mut self, v: &[u8]) {
        let i = self.len();
        self.data.extend_from_slice(v);
        self.offsets.push(self.data.len() as i32);
        self.validity.push_valid(i);
    }

    fn push_null(&mut self) {
        let i = self.len();
        self.offsets.push(self.data.len() as i32);
        self.validity.push_null(i);
    }

    fn push_slot(&mut self, n: usize) -> &mut [u8] {
        let i = self.len();
        let d = self.data.len();
        self.data.resize(d + n, 0);
        self.offsets.push(self.data.len() as i32);
        self.validity.push_valid(i);
        &mut self.data[d..]
    }

    fn append_column(&mut self, c: &BinaryColumn<'_>) -> &mut [u8] {
        let i = self.len();
        let d = self.data.len();
        self.data.extend_from_slice(c.values_bytes());
        let src = c.offsets();
        let delta = d as i32 - src[0];
        self.offsets.extend(src[1..].iter().map(|&o| o + delta));
        self.validity.extend_from(i, c.validity());
        &mut self.data[d..]
    }

    fn extend_raw(&mut self, n: usize, size: usize) -> (&mut [i32], &mut [u8]) {
        let i = self.len();
        let d = self.data.len();
        self.data.resize(d + size, 0);
        let last = *self.offsets.last().unwrap_or(&0);
        self.offsets.resize(i + 1 + n, last);
        self.validity.extend_valid(i, n);
        (&mut self.offsets[i..], &mut self.data[d..])
    }

    fn value(&self, i: usize) -> &[u8] {
        &self.data[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    fn set_null(&mut self, i: usize) {
        assert!(i < self.len(), "set_null({}) on a builder of {} values", i, self.len());
        self.validity.set_null(i, self.len());
    }

    fn clear(&mut self) {
        self.offsets.truncate(1);
        self.data.clear();
        self.validity.clear();
    }

    fn truncate(&mut self, n: usize) {
        self.offsets.truncate(n + 1);
        self.data.truncate(self.offsets[n] as usize);
        self.validity.truncate(n);
    }
}

/// Builds a utf8 column. Values are copied into the builder.
///
/// Besides `push(&str)`, it offers byte-level fast paths
/// ([`Utf8Builder::append_column`], [`Utf8Builder::push_slot`],
/// [`Utf8Builder::extend_raw`]) that let the caller write bytes directly:
/// those bytes must be valid UTF-8 when the operator returns (the host
/// checks and refuses the batch otherwise), so the builder hands its values
/// back as bytes, never as `&str`.
#[derive(Default)]
pub struct Utf8Builder {
    v: VarBuilder,
}

/// Builds a binary column. Values are copied into the builder.
#[derive(Default)]
pub struct BinaryBuilder {
    v: VarBuilder,
}

macro_rules! var_common {
    ($t:ty, $item:ty, $col:ty, $bytes:ident) => {
        impl $t {
            /// An empty builder.
            pub fn new() -> Self {
                Self::default()
            }
            /// The number of values appended.
            pub fn len(&self) -> usize {
                self.v.len()
            }
            /// Whether nothing was appended.
            pub fn is_empty(&self) -> bool {
                self.v.len() == 0
            }
            /// Makes room for `n` more values totalling `bytes` bytes.
            pub fn reserve(&mut self, n: usize, bytes: usize) {
                self.v.offsets.reserve(n);
                self.v.data.reserve(bytes);
            }
            /// Appends a value.
            #[inline]
            pub fn push(&mut self, v: &$item) {
                self.v.push(v.$bytes());
            }
            /// Appends a null.
            pub fn push_null(&mut self) {
                self.v.push_null();
            }
            /// Appends a value or a null.
            pub fn push_option(&mut self, v: Option<&$item>) {
                match v {
                    Some(v) => self.push(v),
                    None => self.push_null(),
                }
            }
            /// Appends one value of `n` bytes and returns those bytes
            /// (zeroed) for the caller to write: a transformed value without
            /// an intermediate copy.
            pub fn push_slot(&mut self, n: usize) -> &mut [u8] {
                self.v.push_slot(n)
            }
            /// Appends `n` non-null values whose bytes total `size`, for
            /// callers that write offsets and bytes themselves (the
            /// vectorised path). Returns the `n + 1` offsets of the new
            /// values, of which `offsets[0]` (the start of the first) is set
            /// and the others are `offsets[0]`, and the `size` bytes (zeroed)
            /// they occupy, which start at `offsets[0]`. The caller sets
            /// `offsets[1..]` to non-decreasing values ending at
            /// `offsets[0] + size`.
            pub fn extend_raw(&mut self, n: usize, size: usize) -> (&mut [i32], &mut [u8]) {
                self.v.extend_raw(n, size)
            }
            /// The bytes of appended value `i`.
            pub fn value_bytes(&self, i: usize) -> &[u8] {
                self.v.value(i)
            }
            /// Makes the already appended value `i` null (its bytes stay in
            /// the data buffer).
            ///
            /// # Panics
            ///
            /// If `i >= len()`.
            pub fn set_null(&mut self, i: usize) {
                self.v.set_null(i)
            }
            /// Whether appended value `i` is null.
            pub fn is_null(&self, i: usize) -> bool {
                assert!(i < self.v.len(), "is_null({}) on a builder of {} values", i, self.v.len());
                self.v.validity.is_null(i)
            }
            /// The number of nulls appended.
            pub fn null_count(&self) -> usize {
                self.v.validity.nulls
            }
            /// Removes every value, keeping the memory.
            pub fn clear(&mut self) {
                self.v.clear()
            }
        }

        impl<'s> Extend<&'s $item> for $t {
            fn extend<I: IntoIterator<Item = &'s $item>>(&mut self, iter: I) {
                for v in iter {
                    self.push(v);
                }
            }
        }

        impl<'s> Extend<Option<&'s $item>> for $t {
            fn extend<I: IntoIterator<Item = Option<&'s $item>>>(&mut self, iter: I) {
                for v in iter {
                    self.push_option(v);
                }
            }
        }
    };
}

var_common!(Utf8Builder, str, Utf8Column, as_bytes);
var_common!(BinaryBuilder, [u8], BinaryColumn, as_ref);

impl Utf8Builder {
    /// Appends every row of `c`, nulls included, and returns the bytes of the
    /// appended values (their concatenation) so the caller can apply a
    /// length-preserving transformation in place, such as ASCII case
    /// mapping.
    pub fn append_column(&mut self, c: &Utf8Column<'_>) -> &mut [u8] {
        self.v.append_column(&c.as_binary())
    }
}

impl BinaryBuilder {
    /// Appends every row of `c`, nulls included, and returns the bytes of the
    /// appended values.
    pub fn append_column(&mut self, c: &BinaryColumn<'_>) -> &mut [u8] {
        self.v.append_column(c)
    }
}

impl Extend<String> for Utf8Builder {
    fn extend<I: IntoIterator<Item = String>>(&mut self, iter: I) {
        for v in iter {
            self.push(&v);
        }
    }
}

/// The builder of one column, by type.
#[doc(hidden)]
pub enum ColumnBuilder {
    Bool(BoolBuilder),
    I8(PrimitiveBuilder<i8>),
    I16(PrimitiveBuilder<i16>),
    I32(PrimitiveBuilder<i32>),
    I64(PrimitiveBuilder<i64>),
    U8(PrimitiveBuilder<u8>),
    U16(PrimitiveBuilder<u16>),
    U32(PrimitiveBuilder<u32>),
    U64(PrimitiveBuilder<u64>),
    F32(PrimitiveBuilder<f32>),
    F64(PrimitiveBuilder<f64>),
    Utf8(Utf8Builder),
    Binary(BinaryBuilder),
    Timestamp(PrimitiveBuilder<i64>),
    Date32(PrimitiveBuilder<i32>),
}

/// Runs `$body` with `$b` bound to the inner builder of every variant.
macro_rules! each_builder {
    ($c:expr, $b:ident => $body:expr) => {
        match $c {
            ColumnBuilder::Bool($b) => $body,
            ColumnBuilder::I8($b) => $body,
            ColumnBuilder::I16($b) => $body,
            ColumnBuilder::I32($b) => $body,
            ColumnBuilder::I64($b) => $body,
            ColumnBuilder::U8($b) => $body,
            ColumnBuilder::U16($b) => $body,
            ColumnBuilder::U32($b) => $body,
            ColumnBuilder::U64($b) => $body,
            ColumnBuilder::F32($b) => $body,
            ColumnBuilder::F64($b) => $body,
            ColumnBuilder::Utf8($b) => $body,
            ColumnBuilder::Binary($b) => $body,
            ColumnBuilder::Timestamp($b) => $body,
            ColumnBuilder::Date32($b) => $body,
        }
    };
}

/// Runs `$body` with `$b` bound to the inner builder of every fixed-width
/// variant, `$other` for the rest.
macro_rules! each_fixed {
    ($c:expr, $b:ident => $body:expr, $other:pat => $else:expr) => {
        match $c {
            ColumnBuilder::I8($b) => $body,
            ColumnBuilder::I16($b) => $body,
            ColumnBuilder::I32($b) => $body,
            ColumnBuilder::I64($b) => $body,
            ColumnBuilder::U8($b) => $body,
            ColumnBuilder::U16($b) => $body,
            ColumnBuilder::U32($b) => $body,
            ColumnBuilder::U64($b) => $body,
            ColumnBuilder::F32($b) => $body,
            ColumnBuilder::F64($b) => $body,
            ColumnBuilder::Timestamp($b) => $body,
            ColumnBuilder::Date32($b) => $body,
            $other => $else,
        }
    };
}

impl ColumnBuilder {
    fn new(t: &DataType) -> ColumnBuilder {
        match t.phys() {
            Phys::Bool => ColumnBuilder::Bool(BoolBuilder::new()),
            Phys::I8 => ColumnBuilder::I8(PrimitiveBuilder::new()),
            Phys::I16 => ColumnBuilder::I16(PrimitiveBuilder::new()),
            Phys::I32 => ColumnBuilder::I32(PrimitiveBuilder::new()),
            Phys::I64 => ColumnBuilder::I64(PrimitiveBuilder::new()),
            Phys::U8 => ColumnBuilder::U8(PrimitiveBuilder::new()),
            Phys::U16 => ColumnBuilder::U16(PrimitiveBuilder::new()),
            Phys::U32 => ColumnBuilder::U32(PrimitiveBuilder::new()),
            Phys::U64 => ColumnBuilder::U64(PrimitiveBuilder::new()),
            Phys::F32 => ColumnBuilder::F32(PrimitiveBuilder::new()),
            Phys::F64 => ColumnBuilder::F64(PrimitiveBuilder::new()),
            Phys::Utf8 => ColumnBuilder::Utf8(Utf8Builder::new()),
            Phys::Binary => ColumnBuilder::Binary(BinaryBuilder::new()),
            Phys::Timestamp => ColumnBuilder::Timestamp(PrimitiveBuilder::new()),
            Phys::Date32 => ColumnBuilder::Date32(PrimitiveBuilder::new()),
        }
    }

    fn len(&self) -> usize {
        each_builder!(self, b => b.len())
    }

    fn clear(&mut self) {
        each_builder!(self, b => b.clear())
    }

    fn truncate(&mut self, n: usize) {
        match self {
            ColumnBuilder::Bool(b) => b.truncate(n),
            ColumnBuilder::Utf8(b) => b.v.truncate(n),
            ColumnBuilder::Binary(b) => b.v.truncate(n),
            c => each_fixed!(c, b => b.truncate(n), _ => unreachable!()),
        }
    }

    /// Appends every row of column `j` of `input`, which has this column's
    /// physical type.
    fn append_from(&mut self, input: &Batch<'_>, j: usize) -> Result<()> {
        match self {
            ColumnBuilder::Bool(b) => {
                b.append_column(&input.bool(j)?);
            }
            ColumnBuilder::I8(b) => {
                b.append_column(&input.i8(j)?);
            }
            ColumnBuilder::I16(b) => {
                b.append_column(&input.i16(j)?);
            }
            ColumnBuilder::I32(b) => {
                b.append_column(&input.i32(j)?);
            }
            ColumnBuilder::I64(b) => {
                b.append_column(&input.i64(j)?);
            }
            ColumnBuilder::U8(b) => {
                b.append_column(&input.u8(j)?);
            }
            ColumnBuilder::U16(b) => {
                b.append_column(&input.u16(j)?);
            }
            ColumnBuilder::U32(b) => {
                b.append_column(&input.u32(j)?);
            }
            ColumnBuilder::U64(b) => {
                b.append_column(&input.u64(j)?);
            }
            ColumnBuilder::F32(b) => {
                b.append_column(&input.f32(j)?);
            }
            ColumnBuilder::F64(b) => {
                b.append_column(&input.f64(j)?);
            }
            ColumnBuilder::Timestamp(b) => {
                b.append_column(&input.timestamp(j)?);
            }
            ColumnBuilder::Date32(b) => {
                b.append_column(&input.date32(j)?);
            }
            // utf8 is copied as bytes: the host checked them on the way in
            // and checks them again on the way out.
            ColumnBuilder::Utf8(b) => {
                b.v.append_column(&input.utf8_bytes(j)?);
            }
            ColumnBuilder::Binary(b) => {
                b.v.append_column(&input.binary(j)?);
            }
        }
        Ok(())
    }

    /// Fills the child array `a` and its 3 buffer slots.
    fn export(&self, a: &mut ArrowArray, bufs: &mut [*const u8]) -> Result<()> {
        a.offset = 0;
        a.n_children = 0;
        let (validity, nulls, values, data, n_buffers) = match self {
            ColumnBuilder::Bool(b) => {
                let (v, n) = b.validity.exported();
                // Never a NULL values buffer for a non-empty column.
                let p = if b.len == 0 { std::ptr::null() } else { b.bits.as_ptr() };
                (v, n, p, std::ptr::null(), 2)
            }
            ColumnBuilder::Utf8(b) => var_export(&b.v)?,
            ColumnBuilder::Binary(b) => var_export(&b.v)?,
            c => each_fixed!(c, b => {
                let (v, n) = b.validity.exported();
                let p = if b.values.is_empty() { std::ptr::null() } else { b.values.as_ptr().cast::<u8>() };
                (v, n, p, std::ptr::null(), 2)
            }, _ => unreachable!()),
        };
        a.length = self.len() as i64;
        a.null_count = nulls as i64;
        a.n_buffers = n_buffers;
        bufs[0] = validity;
        bufs[1] = values;
        bufs[2] = data;
        Ok(())
    }

    fn raw(&self) -> RawColumn {
        let mut r = RawColumn::empty(Phys::Bool);
        let (phys, validity, values, data) = match self {
            ColumnBuilder::Bool(b) => (Phys::Bool, &b.validity, b.bits.as_ptr(), std::ptr::null()),
            ColumnBuilder::Utf8(b) => (Phys::Utf8, &b.v.validity, b.v.offsets.as_ptr().cast::<u8>(), b.v.data.as_ptr()),
            ColumnBuilder::Binary(b) => {
                (Phys::Binary, &b.v.validity, b.v.offsets.as_ptr().cast::<u8>(), b.v.data.as_ptr())
            }
            ColumnBuilder::I8(b) => (Phys::I8, &b.validity, b.values.as_ptr().cast::<u8>(), std::ptr::null()),
            ColumnBuilder::I16(b) => (Phys::I16, &b.validity, b.values.as_ptr().cast::<u8>(), std::ptr::null()),
            ColumnBuilder::I32(b) => (Phys::I32, &b.validity, b.values.as_ptr().cast::<u8>(), std::ptr::null()),
            ColumnBuilder::I64(b) => (Phys::I64, &b.validity, b.values.as_ptr().cast::<u8>(), std::ptr::null()),
            ColumnBuilder::U8(b) => (Phys::U8, &b.validity, b.values.as_ptr().cast::<u8>(), std::ptr::null()),
            ColumnBuilder::U16(b) => (Phys::U16, &b.validity, b.values.as_ptr().cast::<u8>(), std::ptr::null()),
            ColumnBuilder::U32(b) => (Phys::U32, &b.validity, b.values.as_ptr().cast::<u8>(), std::ptr::null()),
            ColumnBuilder::U64(b) => (Phys::U64, &b.validity, b.values.as_ptr().cast::<u8>(), std::ptr::null()),
            ColumnBuilder::F32(b) => (Phys::F32, &b.validity, b.values.as_ptr().cast::<u8>(), std::ptr::null()),
            ColumnBuilder::F64(b) => (Phys::F64, &b.validity, b.values.as_ptr().cast::<u8>(), std::ptr::null()),
            ColumnBuilder::Timestamp(b) => {
                (Phys::Timestamp, &b.validity, b.values.as_ptr().cast::<u8>(), std::ptr::null())
            }
            ColumnBuilder::Date32(b) => (Phys::Date32, &b.validity, b.values.as_ptr().cast::<u8>(), std::ptr::null()),
        };
        let (vp, nulls) = validity.exported();
        r.phys = phys;
        r.validity = vp;
        r.values = values;
        r.data = data;
        r.zeros = Some(nulls);
        r
    }
}

fn var_export(v: &VarBuilder) -> Result<(*const u8, usize, *const u8, *const u8, i64)> {
    if v.data.len() > i32::MAX as usize {
        crate::bail!("column holds {} bytes, more than an Arrow column can (2 GiB)", v.data.len());
    }
    let (p, n) = v.validity.exported();
    let data = if v.data.is_empty() { std::ptr::null() } else { v.data.as_ptr() };
    Ok((p, n, v.offsets.as_ptr().cast::<u8>(), data, 3))
}

/// Guest memory holding an exported struct array: the parent ArrowArray,
/// one child per column and their pointer arrays. Allocated once, rewritten
/// by every export; the heap blocks never move while the region lives.
pub(crate) struct ExportRegion {
    parent: Box<ArrowArray>,
    parent_bufs: Box<[*const u8; 1]>,
    kids: Box<[ArrowArray]>,
    kid_ptrs: Box<[*const ArrowArray]>,
    kid_bufs: Box<[*const u8]>,
}

impl ExportRegion {
    pub(crate) fn new(n: usize) -> ExportRegion {
        let mut r = ExportRegion {
            parent: Box::new(ArrowArray::EMPTY),
            parent_bufs: Box::new([std::ptr::null()]),
            kids: (0..n).map(|_| ArrowArray::EMPTY).collect(),
            kid_ptrs: vec![std::ptr::null(); n].into_boxed_slice(),
            kid_bufs: vec![std::ptr::null(); 3 * n].into_boxed_slice(),
        };
        for j in 0..n {
            r.kid_ptrs[j] = &r.kids[j] as *const ArrowArray;
            r.kids[j].buffers = r.kid_bufs[3 * j..].as_ptr();
            r.kids[j].release = RELEASE_MARK;
        }
        r.parent.n_buffers = 1;
        r.parent.n_children = n as i64;
        r.parent.buffers = r.parent_bufs.as_ptr();
        r.parent.children = if n > 0 { r.kid_ptrs.as_ptr() } else { std::ptr::null() };
        r
    }

    /// Sets the parent's row count and struct validity.
    pub(crate) fn begin(&mut self, rows: usize, validity: *const u8, nulls: usize) {
        self.parent.length = rows as i64;
        self.parent.null_count = nulls as i64;
        self.parent.offset = 0;
        self.parent_bufs[0] = validity;
    }

    pub(crate) fn child(&mut self, j: usize) -> (&mut ArrowArray, &mut [*const u8]) {
        (&mut self.kids[j], &mut self.kid_bufs[3 * j..3 * j + 3])
    }

    pub(crate) fn addr(&self) -> *const ArrowArray {
        &*self.parent as *const ArrowArray
    }
}

/// Builds a batch of a fixed schema, column by column. Operator functions
/// receive one, already cleared, for their output; it owns its memory and
/// reuses it from call to call, so steady-state calls do not allocate.
///
/// The typed accessors (`f64(j)`, `utf8(j)`, ...) return the builder of
/// column `j`, or an error naming the column if it does not have that type.
/// Every column must have the same length when the operator returns.
pub struct BatchBuilder {
    schema: Schema,
    cols: Vec<ColumnBuilder>,
    rows: usize,
    region: Option<ExportRegion>,
}

impl fmt::Debug for BatchBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BatchBuilder({} rows: {})", self.len(), self.schema)
    }
}

macro_rules! typed_builder {
    ($($(#[$doc:meta])* $name:ident, $variant:ident, $t:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&mut self, j: usize) -> Result<&mut $t> {
                let (schema, cols) = (&self.schema, &mut self.cols);
                match cols.get_mut(j) {
                    Some(ColumnBuilder::$variant(b)) => Ok(b),
                    Some(_) => Err(crate::err!("output column {} ({:?}) is {}, not {}", j, schema[j].name, schema[j].data_type, Phys::$variant.name())),
                    None => Err(crate::err!("no output column {} (the output has {})", j, schema.len())),
                }
            }
        )*
    };
}

impl BatchBuilder {
    /// A builder for batches of `schema`, which must be valid (see
    /// [`Schema::validate`]). Operator functions get their builders from the
    /// SDK; `new` is for tests and for building batches by hand.
    pub fn new(schema: Schema) -> Result<BatchBuilder> {
        schema.validate()?;
        let cols = schema.fields().iter().map(|f| ColumnBuilder::new(&f.data_type)).collect();
        Ok(BatchBuilder { schema, cols, rows: 0, region: None })
    }

    /// The schema of the batches built.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The number of columns.
    pub fn num_columns(&self) -> usize {
        self.cols.len()
    }

    /// The number of rows: the length of the first column (all must have the
    /// same length), or the count set by [`BatchBuilder::add_rows`] for a
    /// schema without columns.
    pub fn len(&self) -> usize {
        match self.cols.first() {
            Some(c) => c.len(),
            None => self.rows,
        }
    }

    /// Whether no rows were built.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `n` rows to a batch without columns (for batches with columns,
    /// the columns' length is the row count).
    pub fn add_rows(&mut self, n: usize) {
        self.rows += n;
    }

    /// Empties every column, keeping the memory.
    pub fn clear(&mut self) {
        for c in &mut self.cols {
            c.clear();
        }
        self.rows = 0;
    }

    /// Keeps the first `n` rows of every column.
    pub fn truncate(&mut self, n: usize) {
        for c in &mut self.cols {
            if c.len() > n {
                c.truncate(n);
            }
        }
        self.rows = self.rows.min(n);
    }

    /// The builder of column `j`, which must hold `T` values of type
    /// `T::DATA_TYPE` (`out.primitive::<f64>(0)`).
    pub fn primitive<T: Primitive>(&mut self, j: usize) -> Result<&mut PrimitiveBuilder<T>> {
        let (schema, cols) = (&self.schema, &mut self.cols);
        let c =
            cols.get_mut(j).ok_or_else(|| crate::err!("no output column {} (the output has {})", j, schema.len()))?;
        T::builder(c, T::PHYS).ok_or_else(|| {
            crate::err!("output column {} ({:?}) is {}, not {}", j, schema[j].name, schema[j].data_type, T::DATA_TYPE)
        })
    }

    typed_builder! {
        /// The builder of column `j`, which must be bool.
        bool, Bool, BoolBuilder;
        /// The builder of column `j`, which must be int8.
        i8, I8, PrimitiveBuilder<i8>;
        /// The builder of column `j`, which must be int16.
        i16, I16, PrimitiveBuilder<i16>;
        /// The builder of column `j`, which must be int32.
        i32, I32, PrimitiveBuilder<i32>;
        /// The builder of column `j`, which must be int64.
        i64, I64, PrimitiveBuilder<i64>;
        /// The builder of column `j`, which must be uint8.
        u8, U8, PrimitiveBuilder<u8>;
        /// The builder of column `j`, which must be uint16.
        u16, U16, PrimitiveBuilder<u16>;
        /// The builder of column `j`, which must be uint32.
        u32, U32, PrimitiveBuilder<u32>;
        /// The builder of column `j`, which must be uint64.
        u64, U64, PrimitiveBuilder<u64>;
        /// The builder of column `j`, which must be float32.
        f32, F32, PrimitiveBuilder<f32>;
        /// The builder of column `j`, which must be float64.
        f64, F64, PrimitiveBuilder<f64>;
        /// The builder of column `j`, which must be a timestamp (values in
        /// the unit of its type).
        timestamp, Timestamp, PrimitiveBuilder<i64>;
        /// The builder of column `j`, which must be date32 (days since the
        /// epoch).
        date32, Date32, PrimitiveBuilder<i32>;
        /// The builder of column `j`, which must be utf8.
        utf8, Utf8, Utf8Builder;
        /// The builder of column `j`, which must be binary.
        binary, Binary, BinaryBuilder;
    }

    /// Appends every row of column `src` of `input` to column `dst`. The
    /// columns must have the same type.
    pub fn copy_column(&mut self, dst: usize, input: &Batch<'_>, src: usize) -> Result<()> {
        let (df, sf) = match (self.schema.fields().get(dst), input.schema().fields().get(src)) {
            (Some(d), Some(s)) => (d, s),
            _ => crate::bail!("cannot copy column {} into column {}: no such column", src, dst),
        };
        if df.data_type != sf.data_type {
            crate::bail!(
                "cannot copy column {:?} ({}) into column {:?} ({})",
                sf.name,
                sf.data_type,
                df.name,
                df.data_type
            );
        }
        self.cols[dst].append_from(input, src)
    }

    /// Appends every row of `input`, whose column types must match the
    /// builder's column by column.
    pub fn append_batch(&mut self, input: &Batch<'_>) -> Result<()> {
        if input.num_columns() != self.cols.len() {
            crate::bail!("cannot append a batch of {} columns to a batch of {}", input.num_columns(), self.cols.len());
        }
        for j in 0..self.cols.len() {
            self.copy_column(j, input, j)?;
        }
        self.rows += input.len();
        Ok(())
    }

    /// The row count, or an error if columns differ in length.
    fn check(&self) -> Result<usize> {
        let n = self.len();
        for (j, c) in self.cols.iter().enumerate() {
            if c.len() != n {
                crate::bail!(
                    "output column {:?} has {} rows but column {:?} has {}",
                    self.schema[j].name,
                    c.len(),
                    self.schema[0].name,
                    n
                );
            }
        }
        Ok(n)
    }

    /// A read-only view of the rows built so far (for tests, and for
    /// operators that read back what they built). Fails if the columns
    /// differ in length.
    pub fn as_batch(&self) -> Result<Batch<'_>> {
        let n = self.check()?;
        let cols: Vec<RawColumn> = self.cols.iter().map(|c| c.raw()).collect();
        Ok(Batch::from_raw(&self.schema, n, Cow::Owned(cols)))
    }

    /// Writes the batch as Arrow C structures and returns the address of the
    /// ArrowArray and the row count.
    pub(crate) fn export(&mut self) -> Result<(*const ArrowArray, usize)> {
        let n = self.check()?;
        let ncols = self.cols.len();
        let region = self.region.get_or_insert_with(|| ExportRegion::new(ncols));
        region.begin(n, std::ptr::null(), 0);
        for (j, c) in self.cols.iter().enumerate() {
            let (a, bufs) = region.child(j);
            c.export(a, bufs).map_err(|e| e.context(format!("output column {:?}", self.schema[j].name)))?;
        }
        Ok((region.addr(), n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema;
    use crate::types::TimeUnit;

    #[test]
    fn primitive_builder_nulls() {
        // Each case: operations, then expected values (None = null).
        type Op = fn(&mut PrimitiveBuilder<i64>);
        type Case = (&'static str, Vec<Op>, Vec<Option<i64>>);
        let cases: Vec<Case> = vec![
            ("push", vec![|b| b.push(1), |b| b.push(2)], vec![Some(1), Some(2)]),
            ("null first", vec![|b| b.push_null(), |b| b.push(2)], vec![None, Some(2)]),
            (
                "null late",
                vec![|b| b.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9]), |b| b.push_null()],
                (1..10).map(Some).chain([None]).collect(),
            ),
            (
                "set_null",
                vec![|b| b.extend_from_slice(&[1, 2, 3]), |b| b.set_null(1), |b| b.set_null(1)],
                vec![Some(1), None, Some(3)],
            ),
            (
                "zeroed",
                vec![|b| {
                    b.extend_zeroed(2)[1] = 7;
                }],
                vec![Some(0), Some(7)],
            ),
            ("options", vec![|b| b.extend([Some(5), None, None])], vec![Some(5), None, None]),
            (
                "truncate",
                vec![|b| b.extend([Some(5), None, Some(6), None]), |b| b.truncate(3)],
                vec![Some(5), None, Some(6)],
            ),
        ];
        for (name, ops, want) in cases {
            let mut b = PrimitiveBuilder::<i64>::new();
            for op in ops {
                op(&mut b);
            }
            let got: Vec<Option<i64>> =
                (0..b.len()).map(|i| if b.is_null(i) { None } else { Some(b.values()[i]) }).collect();
            assert_eq!(got, want, "{}", name);
            assert_eq!(b.null_count(), want.iter().filter(|v| v.is_none()).count(), "{}", name);
        }
    }

    #[test]
    fn extend_with_validity_length_mismatch() {
        let mut b = PrimitiveBuilder::<f64>::new();
        let bits = [0b101u8];
        let e = b.extend_with_validity(Bitmap::new(&bits, 0, 3), [1.0, 2.0]).unwrap_err();
        assert_eq!(e.message(), "2 values for a validity of 3 rows");
        assert_eq!(b.len(), 0);
        b.extend_with_validity(Bitmap::new(&bits, 0, 3), [1.0, 2.0, 3.0]).unwrap();
        assert_eq!((b.null_count(), b.is_null(1)), (1, true));
    }

    #[test]
    fn batch_builder_round_trip_every_type() {
        let s = schema![
            ("b", DataType::Bool),
            ("i8", DataType::Int8),
            ("i16", DataType::Int16),
            ("i32", DataType::Int32),
            ("i64", DataType::Int64),
            ("u8", DataType::Uint8),
            ("u16", DataType::Uint16),
            ("u32", DataType::Uint32),
            ("u64", DataType::Uint64),
            ("f32", DataType::Float32),
            ("f64", DataType::Float64),
            ("s", DataType::Utf8),
            ("z", DataType::Binary),
            ("ts", DataType::timestamp_tz(TimeUnit::Microsecond, "UTC")),
            ("d", DataType::Date32),
        ];
        let mut b = BatchBuilder::new(s.clone()).unwrap();
        b.bool(0).unwrap().extend([Some(true), None]);
        b.i8(1).unwrap().extend([Some(-1i8), None]);
        b.i16(2).unwrap().extend([Some(-300i16), None]);
        b.i32(3).unwrap().extend([Some(1 << 20), None]);
        b.i64(4).unwrap().extend([Some(i64::MIN), None]);
        b.u8(5).unwrap().extend([Some(255u8), None]);
        b.u16(6).unwrap().extend([Some(65535u16), None]);
        b.u32(7).unwrap().extend([Some(u32::MAX), None]);
        b.u64(8).unwrap().extend([Some(u64::MAX), None]);
        b.f32(9).unwrap().extend([Some(1.5f32), None]);
        b.f64(10).unwrap().extend([Some(-0.0), None]);
        b.utf8(11).unwrap().extend([Some("héllo"), None]);
        b.binary(12).unwrap().extend([Some(&[0u8, 255][..]), None]);
        b.timestamp(13).unwrap().extend([Some(1_700_000_000_000_000i64), None]);
        b.date32(14).unwrap().extend([Some(19000), None]);
        let batch = b.as_batch().unwrap();
        assert_eq!(batch.len(), 2);
        for j in 0..s.len() {
            assert_eq!(batch.null_count(j), 1, "column {}", j);
        }
        assert_eq!(batch.bool(0).unwrap().get(0), Some(true));
        assert_eq!(batch.u64(8).unwrap().get(0), Some(u64::MAX));
        assert_eq!(batch.f64(10).unwrap().value(0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(batch.utf8(11).unwrap().get(0), Some("héllo"));
        assert_eq!(batch.timestamp(13).unwrap().get(0), Some(1_700_000_000_000_000));
        assert_eq!(batch.date32(14).unwrap().get(0), Some(19000));

        // Copy through append_batch into a second builder.
        let mut c = BatchBuilder::new(s).unwrap();
        c.append_batch(&batch).unwrap();
        c.append_batch(&batch).unwrap();
        let copy = c.as_batch().unwrap();
        assert_eq!(copy.len(), 4);
        assert_eq!(copy.utf8(11).unwrap().iter().collect::<Vec<_>>(), [Some("héllo"), None, Some("héllo"), None]);
        assert_eq!(copy.bool(0).unwrap().iter().collect::<Vec<_>>(), [Some(true), None, Some(true), None]);
    }

    #[test]
    fn builder_errors() {
        let mut b = BatchBuilder::new(schema![("x", DataType::Float64), ("y", DataType::Int64)]).unwrap();
        let cases: Vec<(String, &str)> = vec![
            (b.i64(0).err().unwrap().to_string(), "output column 0 (\"x\") is float64, not int64"),
            (b.utf8(2).err().unwrap().to_string(), "no output column 2 (the output has 2)"),
            (b.primitive::<i32>(1).err().unwrap().to_string(), "output column 1 (\"y\") is int64, not int32"),
            (
                BatchBuilder::new(schema![("a", DataType::Int8), ("a", DataType::Int8)]).unwrap_err().to_string(),
                "duplicate column \"a\"",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
        b.f64(0).unwrap().push(1.0);
        assert_eq!(b.as_batch().unwrap_err().message(), "output column \"y\" has 0 rows but column \"x\" has 1");
        assert_eq!(b.export().unwrap_err().message(), "output column \"y\" has 0 rows but column \"x\" has 1");
    }

    #[test]
    fn string_builder_fast_paths() {
        let mut u = Utf8Builder::new();
        u.push("ab");
        u.push_slot(3).copy_from_slice(b"xyz");
        let (offs, data) = u.extend_raw(2, 3);
        assert_eq!(offs, &[5, 5, 5]);
        data.copy_from_slice(b"pqr");
        offs[1] = 6;
        offs[2] = 8;
        u.push_null();
        let got: Vec<&[u8]> = (0..u.len()).map(|i| u.value_bytes(i)).collect();
        assert_eq!(got, [&b"ab"[..], b"xyz", b"p", b"qr", b""]);
        assert!(u.is_null(4) && !u.is_null(3));
    }
}
