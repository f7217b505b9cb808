//! Column types, fields and schemas (SPEC §4.3).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The unit of a timestamp type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// Seconds (`tss:`).
    Second,
    /// Milliseconds (`tsm:`).
    Millisecond,
    /// Microseconds (`tsu:`).
    Microsecond,
    /// Nanoseconds (`tsn:`).
    Nanosecond,
}

impl TimeUnit {
    /// The unit's short name: `s`, `ms`, `us` or `ns`.
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Second => "s",
            TimeUnit::Millisecond => "ms",
            TimeUnit::Microsecond => "us",
            TimeUnit::Nanosecond => "ns",
        }
    }

    fn format_char(self) -> char {
        match self {
            TimeUnit::Second => 's',
            TimeUnit::Millisecond => 'm',
            TimeUnit::Microsecond => 'u',
            TimeUnit::Nanosecond => 'n',
        }
    }
}

/// The type of a column: one of the ABI v1 types.
///
/// Timestamps carry their unit and an optional time zone; every other type
/// is a plain variant. [`DataType::format`] gives the Arrow C Data Interface
/// format string, `Display` and [`FromStr`] the Weir name used in connector
/// schemas and test vectors (`float64`, `timestamp[ms, UTC]`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `bool` (`b`), bit-packed.
    Bool,
    /// `int8` (`c`).
    Int8,
    /// `int16` (`s`).
    Int16,
    /// `int32` (`i`).
    Int32,
    /// `int64` (`l`).
    Int64,
    /// `uint8` (`C`).
    Uint8,
    /// `uint16` (`S`).
    Uint16,
    /// `uint32` (`I`).
    Uint32,
    /// `uint64` (`L`).
    Uint64,
    /// `float32` (`f`).
    Float32,
    /// `float64` (`g`).
    Float64,
    /// `utf8` (`u`): strings.
    Utf8,
    /// `binary` (`z`): byte strings.
    Binary,
    /// `timestamp[unit]` or `timestamp[unit, zone]` (`ts?:zone`): i64 since
    /// the epoch.
    Timestamp(TimeUnit, Option<String>),
    /// `date32` (`tdD`): i32 days since the epoch.
    Date32,
}

/// The physical layout class of a type, used internally to dispatch.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phys {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
    Utf8,
    Binary,
    Timestamp,
    Date32,
}

impl Phys {
    /// Byte width of fixed-width values; 0 for bool and variable-width.
    pub(crate) fn width(self) -> usize {
        match self {
            Phys::I8 | Phys::U8 => 1,
            Phys::I16 | Phys::U16 => 2,
            Phys::I32 | Phys::U32 | Phys::F32 | Phys::Date32 => 4,
            Phys::I64 | Phys::U64 | Phys::F64 | Phys::Timestamp => 8,
            Phys::Bool | Phys::Utf8 | Phys::Binary => 0,
        }
    }

    pub(crate) fn is_var(self) -> bool {
        matches!(self, Phys::Utf8 | Phys::Binary)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Phys::Bool => "bool",
            Phys::I8 => "int8",
            Phys::I16 => "int16",
            Phys::I32 => "int32",
            Phys::I64 => "int64",
            Phys::U8 => "uint8",
            Phys::U16 => "uint16",
            Phys::U32 => "uint32",
            Phys::U64 => "uint64",
            Phys::F32 => "float32",
            Phys::F64 => "float64",
            Phys::Utf8 => "utf8",
            Phys::Binary => "binary",
            Phys::Timestamp => "timestamp",
            Phys::Date32 => "date32",
        }
    }
}

impl DataType {
    /// The timestamp type with the given unit and no time zone.
    pub fn timestamp(unit: TimeUnit) -> DataType {
        DataType::Timestamp(unit, None)
    }

    /// The timestamp type with the given unit and time zone.
    pub fn timestamp_tz(unit: TimeUnit, zone: impl Into<String>) -> DataType {
        let zone = zone.into();
        DataType::Timestamp(unit, if zone.is_empty() { None } else { Some(zone) })
    }

    pub(crate) fn phys(&self) -> Phys {
        match self {
            DataType::Bool => Phys::Bool,
            DataType::Int8 => Phys::I8,
            DataType::Int16 => Phys::I16,
            DataType::Int32 => Phys::I32,
            DataType::Int64 => Phys::I64,
            DataType::Uint8 => Phys::U8,
            DataType::Uint16 => Phys::U16,
            DataType::Uint32 => Phys::U32,
            DataType::Uint64 => Phys::U64,
            DataType::Float32 => Phys::F32,
            DataType::Float64 => Phys::F64,
            DataType::Utf8 => Phys::Utf8,
            DataType::Binary => Phys::Binary,
            DataType::Timestamp(..) => Phys::Timestamp,
            DataType::Date32 => Phys::Date32,
        }
    }

    /// The Arrow C Data Interface format string (`g`, `tsm:UTC`, ...).
    pub fn format(&self) -> String {
        let s = match self {
            DataType::Bool => "b",
            DataType::Int8 => "c",
            DataType::Int16 => "s",
            DataType::Int32 => "i",
            DataType::Int64 => "l",
            DataType::Uint8 => "C",
            DataType::Uint16 => "S",
            DataType::Uint32 => "I",
            DataType::Uint64 => "L",
            DataType::Float32 => "f",
            DataType::Float64 => "g",
            DataType::Utf8 => "u",
            DataType::Binary => "z",
            DataType::Date32 => "tdD",
            DataType::Timestamp(unit, tz) => {
                return format!("ts{}:{}", unit.format_char(), tz.as_deref().unwrap_or(""))
            }
        };
        s.to_string()
    }

    /// Parses an Arrow C Data Interface format string; `None` for formats
    /// outside ABI v1.
    pub fn from_format(f: &str) -> Option<DataType> {
        Some(match f {
            "b" => DataType::Bool,
            "c" => DataType::Int8,
            "s" => DataType::Int16,
            "i" => DataType::Int32,
            "l" => DataType::Int64,
            "C" => DataType::Uint8,
            "S" => DataType::Uint16,
            "I" => DataType::Uint32,
            "L" => DataType::Uint64,
            "f" => DataType::Float32,
            "g" => DataType::Float64,
            "u" => DataType::Utf8,
            "z" => DataType::Binary,
            "tdD" => DataType::Date32,
            _ => {
                let b = f.as_bytes();
                if b.len() < 4 || &b[..2] != b"ts" || b[3] != b':' {
                    return None;
                }
                let unit = match b[2] {
                    b's' => TimeUnit::Second,
                    b'm' => TimeUnit::Millisecond,
                    b'u' => TimeUnit::Microsecond,
                    b'n' => TimeUnit::Nanosecond,
                    _ => return None,
                };
                DataType::timestamp_tz(unit, &f[4..])
            }
        })
    }

    /// The unit of a timestamp type.
    pub fn unit(&self) -> Option<TimeUnit> {
        match self {
            DataType::Timestamp(u, _) => Some(*u),
            _ => None,
        }
    }

    /// The time zone of a timestamp type, if it has one.
    pub fn time_zone(&self) -> Option<&str> {
        match self {
            DataType::Timestamp(_, tz) => tz.as_deref(),
            _ => None,
        }
    }

    /// Whether a column of type `self` is acceptable where `want` is asked
    /// for: equal types, or any time zone when `want` is a timestamp without
    /// one (so `timestamp[ms]` accepts `timestamp[ms, UTC]`).
    pub fn accepts(want: &DataType, got: &DataType) -> bool {
        match (want, got) {
            (DataType::Timestamp(wu, None), DataType::Timestamp(gu, _)) => wu == gu,
            _ => want == got,
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Timestamp(u, None) => write!(f, "timestamp[{}]", u.name()),
            DataType::Timestamp(u, Some(tz)) => write!(f, "timestamp[{}, {}]", u.name(), tz),
            t => f.write_str(t.phys().name()),
        }
    }
}

impl FromStr for DataType {
    type Err = Error;

    /// Parses a Weir type name (`float64`, `timestamp[ms, UTC]`), as printed
    /// by `Display`, or an Arrow format string.
    fn from_str(s: &str) -> Result<DataType> {
        let s = s.trim();
        let named = match s {
            "bool" => Some(DataType::Bool),
            "int8" => Some(DataType::Int8),
            "int16" => Some(DataType::Int16),
            "int32" => Some(DataType::Int32),
            "int64" => Some(DataType::Int64),
            "uint8" => Some(DataType::Uint8),
            "uint16" => Some(DataType::Uint16),
            "uint32" => Some(DataType::Uint32),
            "uint64" => Some(DataType::Uint64),
            "float32" => Some(DataType::Float32),
            "float64" => Some(DataType::Float64),
            "utf8" => Some(DataType::Utf8),
            "binary" => Some(DataType::Binary),
            "date32" => Some(DataType::Date32),
            _ => None,
        };
        if let Some(t) = named {
            return Ok(t);
        }
        if let Some(rest) = s.strip_prefix("timestamp[") {
            let body = rest.strip_suffix(']').ok_or_else(|| crate::err!("bad type {:?}: missing ]", s))?;
            let (unit, tz) = match body.find(',') {
                Some(i) => (&body[..i], body[i + 1..].trim()),
                None => (body, ""),
            };
            let unit = match unit.trim() {
                "s" => TimeUnit::Second,
                "ms" => TimeUnit::Millisecond,
                "us" => TimeUnit::Microsecond,
                "ns" => TimeUnit::Nanosecond,
                u => return Err(crate::err!("bad type {:?}: unknown time unit {:?}", s, u)),
            };
            return Ok(DataType::timestamp_tz(unit, tz));
        }
        DataType::from_format(s).ok_or_else(|| crate::err!("unknown type {:?}", s))
    }
}

/// A named, typed column of a [`Schema`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    /// The column name (non-empty, unique in its schema).
    pub name: String,
    /// The column type.
    pub data_type: DataType,
    /// Whether the column may hold nulls (the Arrow nullable flag). `true`
    /// for fields made with [`Field::new`].
    pub nullable: bool,
}

impl Field {
    /// A nullable column.
    pub fn new(name: impl Into<String>, data_type: DataType) -> Field {
        Field { name: name.into(), data_type, nullable: true }
    }

    /// A column declared never to hold nulls.
    pub fn not_null(name: impl Into<String>, data_type: DataType) -> Field {
        Field { name: name.into(), data_type, nullable: false }
    }
}

impl fmt::Display for Field {
    /// `name:type`, with ` not null` for non-nullable columns.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.data_type)?;
        if !self.nullable {
            f.write_str(" not null")?;
        }
        Ok(())
    }
}

/// The ordered columns of a batch, of a keyed state or of an accumulator.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Schema {
    fields: Vec<Field>,
}

impl Schema {
    /// A schema of the given fields. Use [`Schema::validate`] (the SDK does
    /// for the schemas an operator declares) to check names and types.
    pub fn new(fields: Vec<Field>) -> Schema {
        Schema { fields }
    }

    /// The fields.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the schema has no columns.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Column `j`.
    pub fn field(&self, j: usize) -> &Field {
        &self.fields[j]
    }

    /// The index of the column called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// The index of the column called `name`, checked to have one of `types`
    /// (any type if `types` is empty; a timestamp type without a zone accepts
    /// that unit in any zone). The errors read `input has no column "x"
    /// (columns: a, b)` and `column "x" is utf8, want float64`: return them
    /// from an operator's `open`, which prefixes them with the function name.
    pub fn lookup(&self, name: &str, types: &[DataType]) -> Result<usize> {
        let i = match self.index_of(name) {
            Some(i) => i,
            None => {
                let names: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
                let names = if names.is_empty() { "none".to_string() } else { names.join(", ") };
                return Err(crate::err!("input has no column {:?} (columns: {})", name, names));
            }
        };
        let got = &self.fields[i].data_type;
        if types.is_empty() || types.iter().any(|w| DataType::accepts(w, got)) {
            return Ok(i);
        }
        let want: Vec<String> = types.iter().map(|t| t.to_string()).collect();
        Err(crate::err!("column {:?} is {}, want {}", name, got, want.join(" or ")))
    }

    /// Checks that every column has a non-empty, unique name.
    pub fn validate(&self) -> Result<()> {
        for (i, f) in self.fields.iter().enumerate() {
            if f.name.is_empty() {
                crate::bail!("column {} has no name", i);
            }
            if self.fields[..i].iter().any(|g| g.name == f.name) {
                crate::bail!("duplicate column {:?}", f.name);
            }
        }
        Ok(())
    }
}

impl From<Vec<Field>> for Schema {
    fn from(fields: Vec<Field>) -> Schema {
        Schema { fields }
    }
}

impl std::ops::Index<usize> for Schema {
    type Output = Field;
    fn index(&self, j: usize) -> &Field {
        &self.fields[j]
    }
}

impl<'a> IntoIterator for &'a Schema {
    type Item = &'a Field;
    type IntoIter = std::slice::Iter<'a, Field>;
    fn into_iter(self) -> Self::IntoIter {
        self.fields.iter()
    }
}

impl fmt::Display for Schema {
    /// Comma-separated `name:type` pairs, as [`FromStr`] reads them:
    /// `auction:int64,price:float64,date_time:timestamp[ms]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, fd) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}", fd)?;
        }
        Ok(())
    }
}

impl FromStr for Schema {
    type Err = Error;

    /// Parses comma-separated `name:type` pairs; a pair may end with
    /// ` not null`. Commas inside brackets (`timestamp[ms, UTC]`) do not
    /// separate columns.
    fn from_str(text: &str) -> Result<Schema> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Schema::default());
        }
        let mut parts = Vec::new();
        let (mut depth, mut start) = (0i32, 0usize);
        for (i, c) in text.char_indices() {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&text[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&text[start..]);
        let mut fields = Vec::with_capacity(parts.len());
        for p in parts {
            let colon = p.find(':').ok_or_else(|| crate::err!("schema column {:?}: want name:type", p.trim()))?;
            let name = p[..colon].trim();
            let mut typ = p[colon + 1..].trim();
            let mut nullable = true;
            if let Some(t) = typ.strip_suffix(" not null") {
                typ = t.trim();
                nullable = false;
            }
            let data_type: DataType = typ.parse().map_err(|e: Error| e.context(format!("schema column {:?}", name)))?;
            fields.push(Field { name: name.to_string(), data_type, nullable });
        }
        let s = Schema { fields };
        s.validate().map_err(|e| e.context("schema"))?;
        Ok(s)
    }
}

/// Builds a [`Schema`] from `name: type` pairs:
/// `weir::schema![("y", DataType::Float64), ("n", DataType::Int64)]`.
#[macro_export]
macro_rules! schema {
    ($(($name:expr, $t:expr)),* $(,)?) => {
        $crate::Schema::new(::std::vec![$($crate::Field::new($name, $t)),*])
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_names_round_trip() {
        let cases = [
            (DataType::Bool, "b", "bool"),
            (DataType::Int8, "c", "int8"),
            (DataType::Int16, "s", "int16"),
            (DataType::Int32, "i", "int32"),
            (DataType::Int64, "l", "int64"),
            (DataType::Uint8, "C", "uint8"),
            (DataType::Uint16, "S", "uint16"),
            (DataType::Uint32, "I", "uint32"),
            (DataType::Uint64, "L", "uint64"),
            (DataType::Float32, "f", "float32"),
            (DataType::Float64, "g", "float64"),
            (DataType::Utf8, "u", "utf8"),
            (DataType::Binary, "z", "binary"),
            (DataType::Date32, "tdD", "date32"),
            (DataType::timestamp(TimeUnit::Second), "tss:", "timestamp[s]"),
            (DataType::timestamp(TimeUnit::Millisecond), "tsm:", "timestamp[ms]"),
            (DataType::timestamp(TimeUnit::Microsecond), "tsu:", "timestamp[us]"),
            (DataType::timestamp_tz(TimeUnit::Nanosecond, "UTC"), "tsn:UTC", "timestamp[ns, UTC]"),
            (
                DataType::timestamp_tz(TimeUnit::Millisecond, "Europe/Paris"),
                "tsm:Europe/Paris",
                "timestamp[ms, Europe/Paris]",
            ),
        ];
        for (t, format, name) in cases {
            assert_eq!(t.format(), format);
            assert_eq!(t.to_string(), name);
            assert_eq!(DataType::from_format(format), Some(t.clone()), "{}", format);
            assert_eq!(name.parse::<DataType>().unwrap(), t, "{}", name);
            assert_eq!(format.parse::<DataType>().unwrap(), t, "{}", format);
        }
    }

    #[test]
    fn bad_types() {
        let cases = [
            ("decimal", "unknown type \"decimal\""),
            ("timestamp[ms", "missing ]"),
            ("timestamp[h]", "unknown time unit \"h\""),
            ("+s", "unknown type"),
            ("tsx:", "unknown type"),
        ];
        for (s, want) in cases {
            let e = s.parse::<DataType>().unwrap_err();
            assert!(e.message().contains(want), "{}: {}", s, e);
        }
        assert_eq!(DataType::from_format("tsm"), None);
        assert_eq!(DataType::from_format("+s"), None);
    }

    #[test]
    fn schema_text() {
        let s: Schema = "auction:int64, price:float64,when:timestamp[ms, UTC] not null".parse().unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[2], Field::not_null("when", DataType::timestamp_tz(TimeUnit::Millisecond, "UTC")));
        assert_eq!(s.to_string(), "auction:int64,price:float64,when:timestamp[ms, UTC] not null");
        assert_eq!(s.to_string().parse::<Schema>().unwrap(), s);
        assert!("".parse::<Schema>().unwrap().is_empty());
        let errs = [
            ("a:int64,a:utf8", "schema: duplicate column \"a\""),
            ("a", "want name:type"),
            ("a:int65", "schema column \"a\": unknown type \"int65\""),
            (":int64", "column 0 has no name"),
        ];
        for (text, want) in errs {
            let e = text.parse::<Schema>().unwrap_err();
            assert!(e.message().contains(want), "{}: {}", text, e);
        }
    }

    #[test]
    fn lookup() {
        let s = crate::schema![
            ("x", DataType::Float64),
            ("t", DataType::timestamp_tz(TimeUnit::Millisecond, "UTC")),
            ("s", DataType::Utf8),
        ];
        let ms = DataType::timestamp(TimeUnit::Millisecond);
        let cases: Vec<(&str, Vec<DataType>, std::result::Result<usize, &str>)> = vec![
            ("x", vec![DataType::Float64], Ok(0)),
            ("x", vec![], Ok(0)),
            ("t", vec![ms.clone()], Ok(1)),
            ("t", vec![DataType::timestamp_tz(TimeUnit::Millisecond, "UTC")], Ok(1)),
            (
                "t",
                vec![DataType::timestamp(TimeUnit::Second)],
                Err("column \"t\" is timestamp[ms, UTC], want timestamp[s]"),
            ),
            ("s", vec![DataType::Float64, DataType::Int64], Err("column \"s\" is utf8, want float64 or int64")),
            ("y", vec![DataType::Float64], Err("input has no column \"y\" (columns: x, t, s)")),
        ];
        for (name, types, want) in cases {
            match (s.lookup(name, &types), want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w),
                (Err(g), Err(w)) => assert_eq!(g.message(), w),
                (g, w) => panic!("lookup({}) = {:?}, want {:?}", name, g, w),
            }
        }
        assert_eq!(
            Schema::default().lookup("x", &[]).unwrap_err().message(),
            "input has no column \"x\" (columns: none)"
        );
    }
}
