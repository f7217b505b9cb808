//! Mutable, row-addressable tables: keyed state and accumulators.

use std::borrow::Cow;
use std::marker::PhantomData;

use crate::batch::{load_struct, Batch, Primitive, RawColumn};
use crate::bitmap::get_bit;
use crate::builder::ExportRegion;
use crate::error::{Error, Result};
use crate::ffi::ArrowArray;
use crate::types::{Phys, Schema};

/// The values of one table column, by type.
#[doc(hidden)]
pub enum TableColumn {
    Bool(Vec<bool>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Utf8(Vec<String>),
    Binary(Vec<Vec<u8>>),
    Timestamp(Vec<i64>),
    Date32(Vec<i32>),
}

macro_rules! each_fixed_col {
    ($c:expr, $v:ident => $body:expr, $other:pat => $else:expr) => {
        match $c {
            TableColumn::I8($v) => $body,
            TableColumn::I16($v) => $body,
            TableColumn::I32($v) => $body,
            TableColumn::I64($v) => $body,
            TableColumn::U8($v) => $body,
            TableColumn::U16($v) => $body,
            TableColumn::U32($v) => $body,
            TableColumn::U64($v) => $body,
            TableColumn::F32($v) => $body,
            TableColumn::F64($v) => $body,
            TableColumn::Timestamp($v) => $body,
            TableColumn::Date32($v) => $body,
            $other => $else,
        }
    };
}

impl TableColumn {
    fn new(p: Phys) -> TableColumn {
        match p {
            Phys::Bool => TableColumn::Bool(Vec::new()),
            Phys::I8 => TableColumn::I8(Vec::new()),
            Phys::I16 => TableColumn::I16(Vec::new()),
            Phys::I32 => TableColumn::I32(Vec::new()),
            Phys::I64 => TableColumn::I64(Vec::new()),
            Phys::U8 => TableColumn::U8(Vec::new()),
            Phys::U16 => TableColumn::U16(Vec::new()),
            Phys::U32 => TableColumn::U32(Vec::new()),
            Phys::U64 => TableColumn::U64(Vec::new()),
            Phys::F32 => TableColumn::F32(Vec::new()),
            Phys::F64 => TableColumn::F64(Vec::new()),
            Phys::Utf8 => TableColumn::Utf8(Vec::new()),
            Phys::Binary => TableColumn::Binary(Vec::new()),
            Phys::Timestamp => TableColumn::Timestamp(Vec::new()),
            Phys::Date32 => TableColumn::Date32(Vec::new()),
        }
    }

    /// Sizes the column for `n` rows of zero values.
    fn reset(&mut self, n: usize) {
        match self {
            TableColumn::Bool(v) => {
                v.clear();
                v.resize(n, false);
            }
            TableColumn::Utf8(v) => {
                v.truncate(n);
                v.iter_mut().for_each(String::clear);
                v.resize_with(n, String::new);
            }
            TableColumn::Binary(v) => {
                v.truncate(n);
                v.iter_mut().for_each(Vec::clear);
                v.resize_with(n, Vec::new);
            }
            c => each_fixed_col!(c, v => { v.clear(); v.resize(n, Default::default()); }, _ => unreachable!()),
        }
    }
}

/// Export buffers of a bool or variable-width table column.
#[derive(Default)]
struct ExportBufs {
    bits: Vec<u8>,
    offsets: Vec<i32>,
    data: Vec<u8>,
}

/// A mutable, column-oriented table with random access by row: the keyed
/// state of a process operator (one row per distinct key of the batch) and
/// the accumulators of an aggregate operator (one row per accumulator).
///
/// Columns are read and written in place as slices (`table.i64_mut(0)?`);
/// [`Table::columns_mut`] hands out several columns at once. The SDK fills
/// the table from the host before the call and sends it back after. Values
/// are never null: a null in the host's copy reads as the zero value (0,
/// `false`, empty). A table is valid only during the call.
pub struct Table {
    schema: Schema,
    len: usize,
    cols: Vec<TableColumn>,
    exists: Vec<bool>,
    cleared: Vec<bool>,
    keyed: bool,
    raw: Vec<RawColumn>,
    bufs: Vec<ExportBufs>,
    region: Option<ExportRegion>,
    vbits: Vec<u8>,
    taken: Vec<bool>,
}

macro_rules! table_access {
    ($($get:ident, $get_mut:ident, $t:ty, $phys:ident;)*) => {
        $(
            #[doc = concat!("The values of column `j`, which must be ", stringify!($phys), " (see [`Table::primitive`]).")]
            pub fn $get(&self, j: usize) -> Result<&[$t]> {
                self.fixed::<$t>(j, Phys::$phys)
            }
            #[doc = concat!("The values of column `j`, which must be ", stringify!($phys), ", to modify in place.")]
            pub fn $get_mut(&mut self, j: usize) -> Result<&mut [$t]> {
                self.fixed_mut::<$t>(j, Phys::$phys)
            }
        )*
    };
}

impl Table {
    pub(crate) fn with_schema(schema: Schema, keyed: bool) -> Table {
        let cols = schema.fields().iter().map(|f| TableColumn::new(f.data_type.phys())).collect();
        let raw = schema.fields().iter().map(|f| RawColumn::empty(f.data_type.phys())).collect();
        let bufs = schema.fields().iter().map(|_| ExportBufs::default()).collect();
        Table {
            schema,
            len: 0,
            cols,
            exists: Vec::new(),
            cleared: Vec::new(),
            keyed,
            raw,
            bufs,
            region: None,
            vbits: Vec::new(),
            taken: Vec::new(),
        }
    }

    /// A table of `schema` with `rows` rows of zero values, all of which
    /// exist (as accumulators do). Operator functions get their tables from
    /// the SDK; `new` is for tests.
    pub fn new(schema: Schema, rows: usize) -> Result<Table> {
        schema.validate()?;
        let mut t = Table::with_schema(schema, false);
        t.reset(rows, true);
        Ok(t)
    }

    /// A keyed-state table (as a process function gets) of `schema` with one
    /// row per entry of `exists`: `false` marks a key without state yet.
    /// For tests.
    pub fn new_state(schema: Schema, exists: &[bool]) -> Result<Table> {
        schema.validate()?;
        let mut t = Table::with_schema(schema, true);
        t.reset(exists.len(), false);
        t.exists.copy_from_slice(exists);
        Ok(t)
    }

    /// Sizes the table for `n` rows of zero values.
    pub(crate) fn reset(&mut self, n: usize, exist: bool) {
        self.len = n;
        self.exists.clear();
        self.exists.resize(n, exist);
        self.cleared.clear();
        self.cleared.resize(n, false);
        for c in &mut self.cols {
            c.reset(n);
        }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The columns.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Whether row `k` has state: it had state when the call began and
    /// [`Table::clear`] was not called for it. Accumulator rows always
    /// exist.
    ///
    /// # Panics
    ///
    /// If `k >= len()`.
    pub fn exists(&self, k: usize) -> bool {
        self.exists[k] && !self.cleared[k]
    }

    /// Drops the state of key row `k` when the call returns (process
    /// functions). By default every key of the batch keeps, or gets, the
    /// state held in its row.
    ///
    /// # Panics
    ///
    /// If `k >= len()`.
    pub fn clear(&mut self, k: usize) {
        self.cleared[k] = true;
    }

    /// Undoes [`Table::clear`] for row `k`.
    ///
    /// # Panics
    ///
    /// If `k >= len()`.
    pub fn keep(&mut self, k: usize) {
        self.cleared[k] = false;
    }

    fn type_error(&self, j: usize, want: &str) -> Error {
        type_error(&self.schema, j, want)
    }

    fn fixed<T: Primitive>(&self, j: usize, phys: Phys) -> Result<&[T]> {
        match self.cols.get(j).and_then(|c| T::table(c, phys)) {
            Some(v) => Ok(&v[..]),
            None => Err(self.type_error(j, phys.name())),
        }
    }

    fn fixed_mut<T: Primitive>(&mut self, j: usize, phys: Phys) -> Result<&mut [T]> {
        if self.cols.get(j).and_then(|c| T::table(c, phys)).is_none() {
            return Err(self.type_error(j, phys.name()));
        }
        match self.cols.get_mut(j).and_then(|c| T::table_mut(c, phys)) {
            Some(v) => Ok(&mut v[..]),
            None => unreachable!(),
        }
    }

    /// The values of column `j`, whose type must be `T::DATA_TYPE`.
    pub fn primitive<T: Primitive>(&self, j: usize) -> Result<&[T]> {
        self.fixed::<T>(j, T::PHYS)
    }

    /// The values of column `j`, whose type must be `T::DATA_TYPE`, to
    /// modify in place.
    pub fn primitive_mut<T: Primitive>(&mut self, j: usize) -> Result<&mut [T]> {
        self.fixed_mut::<T>(j, T::PHYS)
    }

    table_access! {
        i8, i8_mut, i8, I8;
        i16, i16_mut, i16, I16;
        i32, i32_mut, i32, I32;
        i64, i64_mut, i64, I64;
        u8, u8_mut, u8, U8;
        u16, u16_mut, u16, U16;
        u32, u32_mut, u32, U32;
        u64, u64_mut, u64, U64;
        f32, f32_mut, f32, F32;
        f64, f64_mut, f64, F64;
        timestamp, timestamp_mut, i64, Timestamp;
        date32, date32_mut, i32, Date32;
    }

    /// The values of column `j`, which must be bool.
    pub fn bool(&self, j: usize) -> Result<&[bool]> {
        match self.cols.get(j) {
            Some(TableColumn::Bool(v)) => Ok(v),
            _ => Err(self.type_error(j, "bool")),
        }
    }

    /// The values of column `j`, which must be bool, to modify in place.
    pub fn bool_mut(&mut self, j: usize) -> Result<&mut [bool]> {
        let Table { cols, schema, .. } = self;
        match cols.get_mut(j) {
            Some(TableColumn::Bool(v)) => Ok(v),
            _ => Err(type_error(schema, j, "bool")),
        }
    }

    /// The values of column `j`, which must be utf8.
    pub fn utf8(&self, j: usize) -> Result<&[String]> {
        match self.cols.get(j) {
            Some(TableColumn::Utf8(v)) => Ok(v),
            _ => Err(self.type_error(j, "utf8")),
        }
    }

    /// The values of column `j`, which must be utf8, to modify in place
    /// (the strings keep their capacity from call to call).
    pub fn utf8_mut(&mut self, j: usize) -> Result<&mut [String]> {
        let Table { cols, schema, .. } = self;
        match cols.get_mut(j) {
            Some(TableColumn::Utf8(v)) => Ok(v),
            _ => Err(type_error(schema, j, "utf8")),
        }
    }

    /// The values of column `j`, which must be binary.
    pub fn binary(&self, j: usize) -> Result<&[Vec<u8>]> {
        match self.cols.get(j) {
            Some(TableColumn::Binary(v)) => Ok(v),
            _ => Err(self.type_error(j, "binary")),
        }
    }

    /// The values of column `j`, which must be binary, to modify in place.
    pub fn binary_mut(&mut self, j: usize) -> Result<&mut [Vec<u8>]> {
        let Table { cols, schema, .. } = self;
        match cols.get_mut(j) {
            Some(TableColumn::Binary(v)) => Ok(v),
            _ => Err(type_error(schema, j, "binary")),
        }
    }

    /// Hands out several columns for writing at once:
    ///
    /// ```
    /// # use weir::{DataType, Table, schema};
    /// # let mut acc = Table::new(schema![("sum", DataType::Int64), ("n", DataType::Int64)], 2).unwrap();
    /// let mut cols = acc.columns_mut();
    /// let sums = cols.i64(0)?;
    /// let ns = cols.i64(1)?;
    /// sums[1] += 5;
    /// ns[1] += 1;
    /// # Ok::<(), weir::Error>(())
    /// ```
    ///
    /// Each column can be taken once; taking it again is an error.
    pub fn columns_mut(&mut self) -> ColumnsMut<'_> {
        self.taken.clear();
        self.taken.resize(self.cols.len(), false);
        ColumnsMut {
            cols: self.cols.as_mut_ptr(),
            n: self.cols.len(),
            taken: self.taken.as_mut_ptr(),
            schema: &self.schema,
            _t: PhantomData,
        }
    }

    /// Fills the table from the struct array at `a`.
    ///
    /// # Safety
    ///
    /// `a` must be NULL or point to a readable struct ArrowArray.
    pub(crate) unsafe fn load(&mut self, a: usize, what: &str) -> Result<()> {
        let (n, off, sv) = load_struct(a, &self.schema, &mut self.raw, what)?;
        self.reset(n, true);
        if !sv.is_null() && n > 0 {
            let bits = std::slice::from_raw_parts(sv, (off + n + 7) / 8);
            for (k, e) in self.exists.iter_mut().enumerate() {
                *e = get_bit(bits, off + k);
            }
        }
        let Table { schema, cols, raw, exists, .. } = self;
        let view = Batch::from_raw(schema, n, Cow::Borrowed(&raw[..]));
        for (j, c) in cols.iter_mut().enumerate() {
            let valid = view.validity(j);
            let keep = |k: usize| exists[k] && valid.get(k);
            let name = &schema[j].name;
            let ctx = |e: Error| e.context(format!("{} column {:?}", what, name));
            match c {
                TableColumn::Bool(v) => {
                    let col = view.bool(j).map_err(ctx)?;
                    for (k, x) in v.iter_mut().enumerate() {
                        *x = keep(k) && col.value(k);
                    }
                }
                TableColumn::Utf8(v) => {
                    // Only the values of existing, non-null rows are read:
                    // what lies under null rows need not be UTF-8.
                    let col = view.utf8_bytes(j).map_err(ctx)?;
                    for (k, s) in v.iter_mut().enumerate() {
                        if keep(k) {
                            let text = std::str::from_utf8(col.value(k))
                                .map_err(|_| ctx(crate::err!("invalid UTF-8 in row {}", k)))?;
                            s.push_str(text);
                        }
                    }
                }
                TableColumn::Binary(v) => {
                    let col = view.binary(j).map_err(ctx)?;
                    for (k, s) in v.iter_mut().enumerate() {
                        if keep(k) {
                            s.extend_from_slice(col.value(k));
                        }
                    }
                }
                c => each_fixed_col!(c, v => {
                    let col = view.primitive(j).map_err(ctx)?;
                    v.copy_from_slice(col.values());
                    if !valid.all() || exists.iter().any(|e| !e) {
                        for (k, x) in v.iter_mut().enumerate() {
                            if !keep(k) {
                                *x = Default::default();
                            }
                        }
                    }
                }, _ => unreachable!()),
            }
        }
        Ok(())
    }

    /// Writes the table as a struct array and returns its address.
    pub(crate) fn export(&mut self) -> *const ArrowArray {
        let n = self.len;
        let ncols = self.cols.len();
        let mut validity = std::ptr::null();
        let mut nulls = 0;
        if self.keyed {
            nulls = self.cleared.iter().filter(|&&c| c).count();
            if nulls > 0 {
                self.vbits.clear();
                self.vbits.resize((n + 7) / 8, 0);
                for (k, &c) in self.cleared.iter().enumerate() {
                    if !c {
                        self.vbits[k >> 3] |= 1 << (k & 7);
                    }
                }
                validity = self.vbits.as_ptr();
            }
        }
        let region = self.region.get_or_insert_with(|| ExportRegion::new(ncols));
        region.begin(n, validity, nulls);
        for (j, c) in self.cols.iter().enumerate() {
            let (a, slots) = region.child(j);
            let b = &mut self.bufs[j];
            a.length = n as i64;
            a.null_count = 0;
            a.offset = 0;
            a.n_children = 0;
            slots[0] = std::ptr::null();
            slots[2] = std::ptr::null();
            a.n_buffers = 2;
            match c {
                TableColumn::Bool(v) => {
                    b.bits.clear();
                    b.bits.resize((n + 7) / 8, 0);
                    for (k, &x) in v.iter().enumerate() {
                        b.bits[k >> 3] |= (x as u8) << (k & 7);
                    }
                    slots[1] = if n == 0 { std::ptr::null() } else { b.bits.as_ptr() };
                }
                TableColumn::Utf8(v) => {
                    export_var(b, v.iter().map(|s| s.as_bytes()));
                    a.n_buffers = 3;
                    slots[1] = b.offsets.as_ptr().cast::<u8>();
                    slots[2] = if b.data.is_empty() { std::ptr::null() } else { b.data.as_ptr() };
                }
                TableColumn::Binary(v) => {
                    export_var(b, v.iter().map(|s| &s[..]));
                    a.n_buffers = 3;
                    slots[1] = b.offsets.as_ptr().cast::<u8>();
                    slots[2] = if b.data.is_empty() { std::ptr::null() } else { b.data.as_ptr() };
                }
                c => each_fixed_col!(c, v => {
                    slots[1] = if n == 0 { std::ptr::null() } else { v.as_ptr().cast::<u8>() };
                }, _ => unreachable!()),
            }
        }
        region.addr()
    }
}

fn type_error(schema: &Schema, j: usize, want: &str) -> Error {
    match schema.fields().get(j) {
        Some(f) => crate::err!("table column {} ({:?}) is {}, not {}", j, f.name, f.data_type, want),
        None => crate::err!("no table column {} (the table has {})", j, schema.len()),
    }
}

fn export_var<'v>(b: &mut ExportBufs, values: impl Iterator<Item = &'v [u8]>) {
    b.offsets.clear();
    b.data.clear();
    b.offsets.push(0);
    for v in values {
        b.data.extend_from_slice(v);
        b.offsets.push(b.data.len() as i32);
    }
}

/// Several columns of a [`Table`] borrowed for writing at once (see
/// [`Table::columns_mut`]). Each column can be taken once.
pub struct ColumnsMut<'t> {
    cols: *mut TableColumn,
    n: usize,
    taken: *mut bool,
    schema: &'t Schema,
    _t: PhantomData<&'t mut Table>,
}

macro_rules! columns_access {
    ($($name:ident, $t:ty, $phys:ident;)*) => {
        $(
            #[doc = concat!("Column `j`, which must be ", stringify!($phys), ".")]
            pub fn $name(&mut self, j: usize) -> Result<&'t mut [$t]> {
                self.fixed::<$t>(j, Phys::$phys)
            }
        )*
    };
}

impl<'t> ColumnsMut<'t> {
    fn take(&mut self, j: usize) -> Result<&'t mut TableColumn> {
        if j >= self.n {
            crate::bail!("no table column {} (the table has {})", j, self.n);
        }
        // SAFETY: j < n; each column is handed out at most once (taken), so
        // the &mut references never alias; they live as long as the table
        // borrow 't held by this value.
        unsafe {
            if *self.taken.add(j) {
                crate::bail!("table column {} ({:?}) is already borrowed", j, self.schema[j].name);
            }
            *self.taken.add(j) = true;
            Ok(&mut *self.cols.add(j))
        }
    }

    fn type_error(&self, j: usize, want: &str) -> Error {
        let f = &self.schema[j];
        crate::err!("table column {} ({:?}) is {}, not {}", j, f.name, f.data_type, want)
    }

    fn fixed<T: Primitive>(&mut self, j: usize, phys: Phys) -> Result<&'t mut [T]> {
        let c = self.take(j)?;
        match T::table_mut(c, phys) {
            Some(v) => Ok(&mut v[..]),
            None => {
                // SAFETY: give the column back: it was not handed out.
                unsafe { *self.taken.add(j) = false };
                Err(self.type_error(j, phys.name()))
            }
        }
    }

    /// Column `j`, whose type must be `T::DATA_TYPE`.
    pub fn primitive<T: Primitive>(&mut self, j: usize) -> Result<&'t mut [T]> {
        self.fixed::<T>(j, T::PHYS)
    }

    columns_access! {
        i8, i8, I8;
        i16, i16, I16;
        i32, i32, I32;
        i64, i64, I64;
        u8, u8, U8;
        u16, u16, U16;
        u32, u32, U32;
        u64, u64, U64;
        f32, f32, F32;
        f64, f64, F64;
        timestamp, i64, Timestamp;
        date32, i32, Date32;
    }

    /// Column `j`, which must be bool.
    pub fn bool(&mut self, j: usize) -> Result<&'t mut [bool]> {
        match self.take(j)? {
            TableColumn::Bool(v) => Ok(v),
            _ => {
                unsafe { *self.taken.add(j) = false };
                Err(self.type_error(j, "bool"))
            }
        }
    }

    /// Column `j`, which must be utf8.
    pub fn utf8(&mut self, j: usize) -> Result<&'t mut [String]> {
        match self.take(j)? {
            TableColumn::Utf8(v) => Ok(v),
            _ => {
                unsafe { *self.taken.add(j) = false };
                Err(self.type_error(j, "utf8"))
            }
        }
    }

    /// Column `j`, which must be binary.
    pub fn binary(&mut self, j: usize) -> Result<&'t mut [Vec<u8>]> {
        match self.take(j)? {
            TableColumn::Binary(v) => Ok(v),
            _ => {
                unsafe { *self.taken.add(j) = false };
                Err(self.type_error(j, "binary"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::BatchBuilder;
    use crate::schema;
    use crate::types::DataType;

    #[test]
    fn columns_mut_hands_out_each_column_once() {
        let mut t =
            Table::new(schema![("a", DataType::Int64), ("b", DataType::Utf8), ("c", DataType::Bool)], 2).unwrap();
        {
            let mut cols = t.columns_mut();
            let a = cols.i64(0).unwrap();
            let b = cols.utf8(1).unwrap();
            assert_eq!(cols.i64(0).unwrap_err().message(), "table column 0 (\"a\") is already borrowed");
            assert_eq!(cols.f64(2).unwrap_err().message(), "table column 2 (\"c\") is bool, not float64");
            assert!(cols.bool(2).is_ok(), "a failed take gives the column back");
            assert_eq!(cols.bool(3).unwrap_err().message(), "no table column 3 (the table has 3)");
            a[1] = 7;
            b[0].push('x');
        }
        assert_eq!(t.i64(0).unwrap(), &[0, 7]);
        assert_eq!(t.utf8(1).unwrap(), &["x".to_string(), String::new()]);
        assert_eq!(t.f64(0).unwrap_err().message(), "table column 0 (\"a\") is int64, not float64");
    }

    #[test]
    fn load_and_export_round_trip() {
        // Build a state array with a null struct row and a null value.
        let s = schema![("n", DataType::Int64), ("w", DataType::Utf8), ("f", DataType::Bool)];
        let mut b = BatchBuilder::new(s.clone()).unwrap();
        b.i64(0).unwrap().extend([Some(5), Some(6), None]);
        b.utf8(1).unwrap().extend([Some("a"), Some("bb"), Some("c")]);
        b.bool(2).unwrap().extend([Some(true), Some(true), Some(true)]);
        let (addr, _) = b.export().unwrap();
        // Mark row 1 as "no state" through the struct validity.
        let valid = [0b101u8];
        let arr = unsafe { &mut *(addr as *mut ArrowArray) };
        let bufs = unsafe { &mut *(arr.buffers as *mut [*const u8; 1]) };
        bufs[0] = valid.as_ptr();
        arr.null_count = 1;

        let mut t = Table::with_schema(s, true);
        unsafe { t.load(addr as usize, "state").unwrap() };
        assert_eq!((t.exists(0), t.exists(1), t.exists(2)), (true, false, true));
        assert_eq!(t.i64(0).unwrap(), &[5, 0, 0]);
        assert_eq!(t.utf8(1).unwrap(), &["a".to_string(), String::new(), "c".to_string()]);
        assert_eq!(t.bool(2).unwrap(), &[true, false, true]);

        t.i64_mut(0).unwrap()[1] = 9;
        t.clear(2);
        assert!(!t.exists(2));
        let out = t.export();
        let arr = unsafe { &*out };
        assert_eq!((arr.length, arr.null_count), (3, 1));
        let sv = unsafe { *arr.buffers };
        assert_eq!(unsafe { *sv }, 0b011);
        let kid = unsafe { &**arr.children };
        let vals = unsafe { std::slice::from_raw_parts(*kid.buffers.add(1) as *const i64, 3) };
        assert_eq!(vals, &[5, 9, 0]);
    }
}
