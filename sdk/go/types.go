package weir

import (
	"fmt"
	"strings"
)

// DataType is the type of a column. Its value is the Arrow C Data Interface
// format string of the type (for example "g" for float64 or "tsm:UTC" for a
// millisecond timestamp in UTC), so DataType values can be compared with ==.
//
// Use the predefined constants for the fixed types and [Timestamp] for
// timestamps with a time zone.
type DataType string

// The ABI v1 column types (SPEC §4.3).
const (
	Bool    DataType = "b"
	Int8    DataType = "c"
	Int16   DataType = "s"
	Int32   DataType = "i"
	Int64   DataType = "l"
	Uint8   DataType = "C"
	Uint16  DataType = "S"
	Uint32  DataType = "I"
	Uint64  DataType = "L"
	Float32 DataType = "f"
	Float64 DataType = "g"
	Utf8    DataType = "u"
	Binary  DataType = "z"
	Date32  DataType = "tdD"

	TimestampS  DataType = "tss:" // timestamp[s] without a time zone
	TimestampMs DataType = "tsm:" // timestamp[ms] without a time zone
	TimestampUs DataType = "tsu:" // timestamp[us] without a time zone
	TimestampNs DataType = "tsn:" // timestamp[ns] without a time zone
)

// TimeUnit is the unit of a timestamp type.
type TimeUnit byte

// Timestamp units.
const (
	Second      TimeUnit = 's'
	Millisecond TimeUnit = 'm'
	Microsecond TimeUnit = 'u'
	Nanosecond  TimeUnit = 'n'
)

// String returns the unit's short name: "s", "ms", "us" or "ns".
func (u TimeUnit) String() string {
	switch u {
	case Second:
		return "s"
	case Millisecond:
		return "ms"
	case Microsecond:
		return "us"
	case Nanosecond:
		return "ns"
	}
	return fmt.Sprintf("TimeUnit(%q)", byte(u))
}

// Timestamp returns the timestamp type with the given unit and time zone
// (empty for none).
func Timestamp(unit TimeUnit, tz string) DataType {
	return DataType("ts" + string(rune(unit)) + ":" + tz)
}

// typeID is the internal, physical classification of a DataType.
type typeID uint8

const (
	tInvalid typeID = iota
	tBool
	tInt8
	tInt16
	tInt32
	tInt64
	tUint8
	tUint16
	tUint32
	tUint64
	tFloat32
	tFloat64
	tUtf8
	tBinary
	tTimestamp
	tDate32
)

var typeNames = [...]string{
	tInvalid: "invalid", tBool: "bool", tInt8: "int8", tInt16: "int16", tInt32: "int32",
	tInt64: "int64", tUint8: "uint8", tUint16: "uint16", tUint32: "uint32", tUint64: "uint64",
	tFloat32: "float32", tFloat64: "float64", tUtf8: "utf8", tBinary: "binary",
	tTimestamp: "timestamp", tDate32: "date32",
}

// byteWidth is the width of one value of a fixed-width type, 0 for bool and
// variable-width types.
var byteWidth = [...]int{
	tInt8: 1, tUint8: 1, tInt16: 2, tUint16: 2, tInt32: 4, tUint32: 4, tFloat32: 4,
	tDate32: 4, tInt64: 8, tUint64: 8, tFloat64: 8, tTimestamp: 8,
	tBool: 0, tUtf8: 0, tBinary: 0, tInvalid: 0,
}

func (t DataType) id() typeID {
	switch t {
	case Bool:
		return tBool
	case Int8:
		return tInt8
	case Int16:
		return tInt16
	case Int32:
		return tInt32
	case Int64:
		return tInt64
	case Uint8:
		return tUint8
	case Uint16:
		return tUint16
	case Uint32:
		return tUint32
	case Uint64:
		return tUint64
	case Float32:
		return tFloat32
	case Float64:
		return tFloat64
	case Utf8:
		return tUtf8
	case Binary:
		return tBinary
	case Date32:
		return tDate32
	}
	if len(t) >= 4 && t[:2] == "ts" && t[3] == ':' {
		switch TimeUnit(t[2]) {
		case Second, Millisecond, Microsecond, Nanosecond:
			return tTimestamp
		}
	}
	return tInvalid
}

// Valid reports whether t is one of the ABI v1 types.
func (t DataType) Valid() bool { return t.id() != tInvalid }

// IsTimestamp reports whether t is a timestamp type (any unit, any zone).
func (t DataType) IsTimestamp() bool { return t.id() == tTimestamp }

// Unit returns the unit of a timestamp type, or 0 for other types.
func (t DataType) Unit() TimeUnit {
	if !t.IsTimestamp() {
		return 0
	}
	return TimeUnit(t[2])
}

// TimeZone returns the time zone of a timestamp type ("" if none or not a
// timestamp).
func (t DataType) TimeZone() string {
	if !t.IsTimestamp() {
		return ""
	}
	return string(t[4:])
}

// Format returns the Arrow C Data Interface format string of t.
func (t DataType) Format() string { return string(t) }

// String returns the Weir name of the type as used in test vectors and
// connector schemas: "int64", "utf8", "timestamp[ms]", "timestamp[ms, UTC]".
// An invalid type prints as "invalid(<format>)".
func (t DataType) String() string {
	id := t.id()
	switch id {
	case tInvalid:
		return fmt.Sprintf("invalid(%q)", string(t))
	case tTimestamp:
		if tz := t.TimeZone(); tz != "" {
			return "timestamp[" + t.Unit().String() + ", " + tz + "]"
		}
		return "timestamp[" + t.Unit().String() + "]"
	}
	return typeNames[id]
}

// ParseType parses a Weir type name ("float64", "timestamp[ms, UTC]", ...), as
// printed by [DataType.String]. It also accepts an Arrow format string.
func ParseType(s string) (DataType, error) {
	t, err := parseType(s)
	if err != nil {
		return "", fmt.Errorf("weir: %w", err)
	}
	return t, nil
}

func parseType(s string) (DataType, error) {
	s = strings.TrimSpace(s)
	for id := tBool; id <= tDate32; id++ {
		if id != tTimestamp && typeNames[id] == s {
			return typeByID[id], nil
		}
	}
	if rest, ok := strings.CutPrefix(s, "timestamp["); ok {
		body, ok := strings.CutSuffix(rest, "]")
		if !ok {
			return "", fmt.Errorf("bad type %q: missing ]", s)
		}
		unit, tz, _ := strings.Cut(body, ",")
		tz = strings.TrimSpace(tz)
		var u TimeUnit
		switch strings.TrimSpace(unit) {
		case "s":
			u = Second
		case "ms":
			u = Millisecond
		case "us":
			u = Microsecond
		case "ns":
			u = Nanosecond
		default:
			return "", fmt.Errorf("bad type %q: unknown time unit %q", s, unit)
		}
		return Timestamp(u, tz), nil
	}
	if t := DataType(s); t.Valid() {
		return t, nil
	}
	return "", fmt.Errorf("unknown type %q", s)
}

var typeByID = [...]DataType{
	tBool: Bool, tInt8: Int8, tInt16: Int16, tInt32: Int32, tInt64: Int64,
	tUint8: Uint8, tUint16: Uint16, tUint32: Uint32, tUint64: Uint64,
	tFloat32: Float32, tFloat64: Float64, tUtf8: Utf8, tBinary: Binary,
	tTimestamp: TimestampMs, tDate32: Date32, tInvalid: "",
}

// Field is a named, typed column of a [Schema].
type Field struct {
	Name string
	Type DataType
	// NotNull declares that the column never holds nulls (the Arrow
	// nullable flag is cleared). The zero value, a nullable column, is the
	// usual choice.
	NotNull bool
}

// String returns "name:type", the form used by [ParseSchema].
func (f Field) String() string {
	s := f.Name + ":" + f.Type.String()
	if f.NotNull {
		s += " not null"
	}
	return s
}

// Schema is the ordered list of columns of a batch, of an operator's state or
// of an aggregate's accumulator.
type Schema []Field

// Index returns the index of the column called name, or -1.
func (s Schema) Index(name string) int {
	for i := range s {
		if s[i].Name == name {
			return i
		}
	}
	return -1
}

// Lookup returns the index of the column called name and checks that its type
// is one of types (any type if none are given). A timestamp type without a
// time zone, such as [TimestampMs], accepts timestamps of that unit in any
// zone. Its errors read
// `input has no column "x"` and `column "x" is utf8, want float64`, and are
// meant to be returned from an operator's open function, which prefixes them
// with the function name.
func (s Schema) Lookup(name string, types ...DataType) (int, error) {
	i := s.Index(name)
	if i < 0 {
		return -1, fmt.Errorf("input has no column %q (columns: %s)", name, s.names())
	}
	if len(types) == 0 {
		return i, nil
	}
	t := s[i].Type
	for _, want := range types {
		if t == want || (want.IsTimestamp() && want.TimeZone() == "" && t.IsTimestamp() && t.Unit() == want.Unit()) {
			return i, nil
		}
	}
	want := make([]string, len(types))
	for k, w := range types {
		want[k] = w.String()
	}
	return -1, fmt.Errorf("column %q is %s, want %s", name, t, strings.Join(want, " or "))
}

func (s Schema) names() string {
	if len(s) == 0 {
		return "none"
	}
	n := make([]string, len(s))
	for i := range s {
		n[i] = s[i].Name
	}
	return strings.Join(n, ", ")
}

// Validate checks that every column has a non-empty, unique name and a valid
// type.
func (s Schema) Validate() error {
	seen := make(map[string]bool, len(s))
	for i, f := range s {
		if f.Name == "" {
			return fmt.Errorf("column %d has no name", i)
		}
		if seen[f.Name] {
			return fmt.Errorf("duplicate column %q", f.Name)
		}
		seen[f.Name] = true
		if !f.Type.Valid() {
			return fmt.Errorf("column %q has unsupported type %s", f.Name, f.Type)
		}
	}
	return nil
}

// String returns the schema as comma-separated "name:type" pairs, for example
// "auction:int64,price:float64,date_time:timestamp[ms]". [ParseSchema] reads
// it back.
func (s Schema) String() string {
	parts := make([]string, len(s))
	for i, f := range s {
		parts[i] = f.String()
	}
	return strings.Join(parts, ",")
}

// ParseSchema parses comma-separated "name:type" pairs as printed by
// [Schema.String]. A pair may end with " not null". Commas inside brackets
// (as in "timestamp[ms, UTC]") do not separate columns.
func ParseSchema(text string) (Schema, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return Schema{}, nil
	}
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, text[start:i])
				start = i + 1
			}
		}
	}
	parts = append(parts, text[start:])
	s := make(Schema, 0, len(parts))
	for _, p := range parts {
		name, typ, ok := strings.Cut(p, ":")
		if !ok {
			return nil, fmt.Errorf("weir: schema column %q: want name:type", strings.TrimSpace(p))
		}
		f := Field{Name: strings.TrimSpace(name)}
		typ = strings.TrimSpace(typ)
		if t, ok := strings.CutSuffix(typ, " not null"); ok {
			typ, f.NotNull = strings.TrimSpace(t), true
		}
		var err error
		if f.Type, err = parseType(typ); err != nil {
			return nil, fmt.Errorf("weir: schema column %q: %w", f.Name, err)
		}
		s = append(s, f)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("weir: schema: %w", err)
	}
	return s, nil
}
