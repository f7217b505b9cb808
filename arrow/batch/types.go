package batch

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
)

// ErrType is wrapped by type and schema parse errors.
var ErrType = errors.New("batch: bad type")

var tsPattern = regexp.MustCompile(`^timestamp\[(s|ms|us|ns)(?:, *([^\]]+))?\]$`)

// ParseType returns the Arrow type of a Weir type name: bool, int8..int64,
// uint8..uint64, float32, float64, utf8, binary, date32, timestamp[unit] or
// timestamp[unit, zone].
func ParseType(s string) (arrow.DataType, error) {
	simple := map[string]arrow.DataType{
		"bool": arrow.FixedWidthTypes.Boolean, "int8": arrow.PrimitiveTypes.Int8, "int16": arrow.PrimitiveTypes.Int16,
		"int32": arrow.PrimitiveTypes.Int32, "int64": arrow.PrimitiveTypes.Int64, "uint8": arrow.PrimitiveTypes.Uint8,
		"uint16": arrow.PrimitiveTypes.Uint16, "uint32": arrow.PrimitiveTypes.Uint32, "uint64": arrow.PrimitiveTypes.Uint64,
		"float32": arrow.PrimitiveTypes.Float32, "float64": arrow.PrimitiveTypes.Float64, "utf8": arrow.BinaryTypes.String,
		"string": arrow.BinaryTypes.String, "binary": arrow.BinaryTypes.Binary, "date32": arrow.FixedWidthTypes.Date32,
	}
	if dt, ok := simple[s]; ok {
		return dt, nil
	}
	if m := tsPattern.FindStringSubmatch(s); m != nil {
		unit := map[string]arrow.TimeUnit{"s": arrow.Second, "ms": arrow.Millisecond, "us": arrow.Microsecond, "ns": arrow.Nanosecond}[m[1]]
		return &arrow.TimestampType{Unit: unit, TimeZone: m[2]}, nil
	}
	return nil, fmt.Errorf("%w: unknown type %q", ErrType, s)
}

// ParseSchema parses "name:type,name:type,..." into a schema of nullable
// fields.
func ParseSchema(s string) (*arrow.Schema, error) {
	var fields []arrow.Field
	for _, part := range splitTop(s) {
		name, typ, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: %q is not name:type", ErrType, part)
		}
		dt, err := ParseType(strings.TrimSpace(typ))
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", name, err)
		}
		fields = append(fields, arrow.Field{Name: name, Type: dt, Nullable: true})
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("%w: empty schema", ErrType)
	}
	return arrow.NewSchema(fields, nil), nil
}

// splitTop splits on commas outside brackets ("timestamp[ms, UTC]").
func splitTop(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	if strings.TrimSpace(s[start:]) != "" {
		parts = append(parts, s[start:])
	}
	return parts
}
