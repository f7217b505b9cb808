package connector

// Conversions between Arrow values and text, shared by the file source (CSV,
// JSON Lines), the file sink and the print sink.
//
// Text forms (CSV fields, JSON strings):
//   - bool: strconv.ParseBool syntax in, "true"/"false" out
//   - ints, uints: decimal; in, a number with an integral value such as 1e3
//     or 2.0 is accepted too; out of range is an error
//   - floats: strconv.ParseFloat syntax (also NaN, Inf); out, the shortest
//     text that reads back to the same value
//   - utf8: the text itself; binary: standard base64
//   - date32: YYYY-MM-DD, or an integer count of days since 1970-01-01
//   - timestamp: RFC 3339 (fraction optional; without a zone the column's
//     zone, else UTC), or an integer count of the column's unit since the
//     epoch; out, RFC 3339 with exactly the unit's digits of fraction (none
//     for s, 3 for ms, 6 for us, 9 for ns) in the column's zone (UTC, "Z",
//     when it has none)

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// loadZone resolves an Arrow timestamp time zone: empty (UTC), an IANA name
// or a fixed offset "+hh:mm".
func loadZone(tz string) (*time.Location, error) {
	if tz == "" || tz == "UTC" || tz == "Z" {
		return time.UTC, nil
	}
	if tz[0] == '+' || tz[0] == '-' {
		t, err := time.Parse("-07:00", tz)
		if err != nil {
			return nil, fmt.Errorf("bad time zone offset %q: %w", tz, err)
		}
		_, off := t.Zone()
		return time.FixedZone(tz, off), nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: %w", tz, err)
	}
	return loc, nil
}

// zones returns the location of each timestamp column of schema (nil for the
// other columns).
func zones(schema *arrow.Schema) ([]*time.Location, error) {
	locs := make([]*time.Location, schema.NumFields())
	for i, f := range schema.Fields() {
		if ts, ok := f.Type.(*arrow.TimestampType); ok {
			loc, err := loadZone(ts.TimeZone)
			if err != nil {
				return nil, fmt.Errorf("column %q: %w", f.Name, err)
			}
			locs[i] = loc
		}
	}
	return locs, nil
}

// checkSupported fails on a column type the text conversions do not handle.
func checkSupported(schema *arrow.Schema) error {
	for _, f := range schema.Fields() {
		switch f.Type.ID() {
		case arrow.BOOL, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
			arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
			arrow.FLOAT32, arrow.FLOAT64, arrow.STRING, arrow.BINARY,
			arrow.DATE32, arrow.TIMESTAMP:
		default:
			return fmt.Errorf("column %q: type %s is not supported", f.Name, f.Type)
		}
	}
	return nil
}

var tsLayouts = [...]string{
	arrow.Second:      "2006-01-02T15:04:05Z07:00",
	arrow.Millisecond: "2006-01-02T15:04:05.000Z07:00",
	arrow.Microsecond: "2006-01-02T15:04:05.000000Z07:00",
	arrow.Nanosecond:  "2006-01-02T15:04:05.000000000Z07:00",
}

const dateLayout = "2006-01-02"

// ---- parsing into builders ----

func parseInt(s string, bits int) (int64, error) {
	n, err := strconv.ParseInt(s, 10, bits)
	if err == nil {
		return n, nil
	}
	if errors.Is(err, strconv.ErrSyntax) {
		// 1e3, 2.0: accept integral values.
		f, ferr := strconv.ParseFloat(s, 64)
		lim := math.Ldexp(1, bits-1)
		if ferr == nil && f == math.Trunc(f) && f >= -lim && f < lim {
			return int64(f), nil
		}
	}
	return 0, fmt.Errorf("%q is not an int%d", s, bits)
}

func parseUint(s string, bits int) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, bits)
	if err == nil {
		return n, nil
	}
	if errors.Is(err, strconv.ErrSyntax) {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr == nil && f == math.Trunc(f) && f >= 0 && f < math.Ldexp(1, bits) {
			return uint64(f), nil
		}
	}
	return 0, fmt.Errorf("%q is not a uint%d", s, bits)
}

func parseFloat(s string, bits int) (float64, error) {
	f, err := strconv.ParseFloat(s, bits)
	if err != nil {
		return 0, fmt.Errorf("%q is not a float%d", s, bits)
	}
	return f, nil
}

func parseDate(s string) (arrow.Date32, error) {
	if t, err := time.Parse(dateLayout, s); err == nil {
		days := t.Unix() / 86400 // t is midnight UTC: exact
		if days < math.MinInt32 || days > math.MaxInt32 {
			return 0, fmt.Errorf("date %q is out of range", s)
		}
		return arrow.Date32(days), nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a date (YYYY-MM-DD or days since 1970-01-01)", s)
	}
	return arrow.Date32(n), nil
}

var tsInputLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

func parseTimestamp(s string, unit arrow.TimeUnit, loc *time.Location) (arrow.Timestamp, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return arrow.Timestamp(n), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if loc == nil {
			loc = time.UTC
		}
		for _, l := range tsInputLayouts {
			if t, err = time.ParseInLocation(l, s, loc); err == nil {
				break
			}
		}
		if err != nil {
			return 0, fmt.Errorf("%q is not a timestamp (RFC 3339 or an integer in %s)", s, unit)
		}
	}
	if unit == arrow.Nanosecond && (t.Year() < 1678 || t.Year() > 2261) {
		return 0, fmt.Errorf("timestamp %q is out of the range of timestamp[ns]", s)
	}
	ts, err := arrow.TimestampFromTime(t, unit)
	if err != nil {
		return 0, fmt.Errorf("timestamp %q: %w", s, err)
	}
	return ts, nil
}

// appendText parses s as a value of b's type and appends it. loc is the zone
// of a timestamp column (nil: UTC).
func appendText(b array.Builder, s string, loc *time.Location) error {
	switch b := b.(type) {
	case *array.BooleanBuilder:
		v, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not a bool", s)
		}
		b.Append(v)
	case *array.Int8Builder:
		v, err := parseInt(s, 8)
		if err != nil {
			return err
		}
		b.Append(int8(v))
	case *array.Int16Builder:
		v, err := parseInt(s, 16)
		if err != nil {
			return err
		}
		b.Append(int16(v))
	case *array.Int32Builder:
		v, err := parseInt(s, 32)
		if err != nil {
			return err
		}
		b.Append(int32(v))
	case *array.Int64Builder:
		v, err := parseInt(s, 64)
		if err != nil {
			return err
		}
		b.Append(v)
	case *array.Uint8Builder:
		v, err := parseUint(s, 8)
		if err != nil {
			return err
		}
		b.Append(uint8(v))
	case *array.Uint16Builder:
		v, err := parseUint(s, 16)
		if err != nil {
			return err
		}
		b.Append(uint16(v))
	case *array.Uint32Builder:
		v, err := parseUint(s, 32)
		if err != nil {
			return err
		}
		b.Append(uint32(v))
	case *array.Uint64Builder:
		v, err := parseUint(s, 64)
		if err != nil {
			return err
		}
		b.Append(v)
	case *array.Float32Builder:
		v, err := parseFloat(s, 32)
		if err != nil {
			return err
		}
		b.Append(float32(v))
	case *array.Float64Builder:
		v, err := parseFloat(s, 64)
		if err != nil {
			return err
		}
		b.Append(v)
	case *array.StringBuilder:
		b.Append(s)
	case *array.BinaryBuilder:
		v, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return fmt.Errorf("%q is not base64: %w", s, err)
		}
		b.Append(v)
	case *array.Date32Builder:
		v, err := parseDate(s)
		if err != nil {
			return err
		}
		b.Append(v)
	case *array.TimestampBuilder:
		v, err := parseTimestamp(s, b.Type().(*arrow.TimestampType).Unit, loc)
		if err != nil {
			return err
		}
		b.Append(v)
	default:
		return fmt.Errorf("type %s is not supported", b.Type())
	}
	return nil
}

// appendJSON appends a JSON value (null, a number, a string or a boolean)
// to b: null is null; a string is parsed as text (appendText) except for
// utf8 columns, where it is the value; a number must suit a numeric, date32
// or timestamp column.
func appendJSON(b array.Builder, raw json.RawMessage, loc *time.Location) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		b.AppendNull()
		return nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("bad string %s: %w", raw, err)
		}
		return appendText(b, s, loc)
	case 't', 'f':
		if bb, ok := b.(*array.BooleanBuilder); ok {
			bb.Append(raw[0] == 't')
			return nil
		}
	case '{', '[':
		return fmt.Errorf("nested value %.40s is not supported", raw)
	default: // a number
		switch b.(type) {
		case *array.BooleanBuilder, *array.StringBuilder, *array.BinaryBuilder:
		default:
			return appendText(b, string(raw), loc)
		}
	}
	return fmt.Errorf("%.40s does not fit type %s", raw, b.Type())
}

// ---- formatting ----

// formatTimestamp formats v of unit in loc (nil: UTC) as RFC 3339 with the
// unit's digits of fraction.
func formatTimestamp(dst []byte, v arrow.Timestamp, unit arrow.TimeUnit, loc *time.Location) []byte {
	t := v.ToTime(unit)
	if loc != nil {
		t = t.In(loc)
	}
	return t.AppendFormat(dst, tsLayouts[unit])
}

// appendTextValue appends the text form of arr[i] (not null) to dst.
func appendTextValue(dst []byte, arr arrow.Array, i int, loc *time.Location) []byte {
	switch a := arr.(type) {
	case *array.Boolean:
		return strconv.AppendBool(dst, a.Value(i))
	case *array.Int8:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10)
	case *array.Int16:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10)
	case *array.Int32:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10)
	case *array.Int64:
		return strconv.AppendInt(dst, a.Value(i), 10)
	case *array.Uint8:
		return strconv.AppendUint(dst, uint64(a.Value(i)), 10)
	case *array.Uint16:
		return strconv.AppendUint(dst, uint64(a.Value(i)), 10)
	case *array.Uint32:
		return strconv.AppendUint(dst, uint64(a.Value(i)), 10)
	case *array.Uint64:
		return strconv.AppendUint(dst, a.Value(i), 10)
	case *array.Float32:
		return strconv.AppendFloat(dst, float64(a.Value(i)), 'g', -1, 32)
	case *array.Float64:
		return strconv.AppendFloat(dst, a.Value(i), 'g', -1, 64)
	case *array.String:
		return append(dst, a.Value(i)...)
	case *array.Binary:
		return base64.StdEncoding.AppendEncode(dst, a.Value(i))
	case *array.Date32:
		return a.Value(i).ToTime().AppendFormat(dst, dateLayout)
	case *array.Timestamp:
		return formatTimestamp(dst, a.Value(i), a.DataType().(*arrow.TimestampType).Unit, loc)
	default:
		return fmt.Appendf(dst, "%v", arr.ValueStr(i))
	}
}

// appendJSONValue appends arr[i] as a JSON value: null for null; numbers for
// ints, uints and finite floats (NaN and ±Inf become null, as JSON has no
// such numbers); true/false; strings for everything else (see the text
// forms above).
func appendJSONValue(dst []byte, arr arrow.Array, i int, loc *time.Location) []byte {
	if arr.IsNull(i) {
		return append(dst, "null"...)
	}
	switch a := arr.(type) {
	case *array.Boolean, *array.Int8, *array.Int16, *array.Int32, *array.Int64,
		*array.Uint8, *array.Uint16, *array.Uint32, *array.Uint64:
		return appendTextValue(dst, arr, i, loc)
	case *array.Float32:
		return appendJSONFloat(dst, float64(a.Value(i)), 32)
	case *array.Float64:
		return appendJSONFloat(dst, a.Value(i), 64)
	case *array.String:
		return appendJSONString(dst, a.Value(i))
	default:
		var buf [64]byte
		return appendJSONString(dst, string(appendTextValue(buf[:0], arr, i, loc)))
	}
}

// appendJSONFloat writes f like encoding/json does: the shortest text that
// reads back to f, exponent form only for very large or small magnitudes;
// NaN and ±Inf become null.
func appendJSONFloat(dst []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		format = 'e'
	}
	n := len(dst)
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		if m := len(dst) - n; m >= 4 && dst[len(dst)-4] == 'e' && dst[len(dst)-3] == '-' && dst[len(dst)-2] == '0' {
			dst[len(dst)-2] = dst[len(dst)-1]
			dst = dst[:len(dst)-1]
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string: ", \ and control characters
// escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// jsonRow appends record row i as a JSON object with keys in schema order.
// sep is written after ':' and ',' ("" for compact output, " " to read).
func jsonRow(dst []byte, rec arrow.Record, i int, locs []*time.Location, sep string) []byte {
	dst = append(dst, '{')
	for c, f := range rec.Schema().Fields() {
		if c > 0 {
			dst = append(dst, ',')
			dst = append(dst, sep...)
		}
		dst = appendJSONString(dst, f.Name)
		dst = append(dst, ':')
		dst = append(dst, sep...)
		dst = appendJSONValue(dst, rec.Column(c), i, locs[c])
	}
	return append(dst, '}')
}

// columnNames lists the schema's field names.
func columnNames(schema *arrow.Schema) []string {
	names := make([]string, schema.NumFields())
	for i, f := range schema.Fields() {
		names[i] = f.Name
	}
	return names
}
