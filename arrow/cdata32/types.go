// Package cdata32 reads and writes Arrow arrays in the wasm32 layout of the
// Arrow C Data Interface (32-bit pointers), as defined by abi/SPEC.md §4.
//
// Every function works on a plain byte slice that stands for a guest's linear
// memory (or a region of it) and on uint32 guest addresses, so the codec is
// deterministic, has no wazero dependency and can be fuzzed directly.
package cdata32

import (
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
)

// Sizes and offsets of the wasm32 structures (abi/SPEC.md §4.1).
const (
	SchemaSize = 48
	ArraySize  = 64

	schemaFormat     = 0
	schemaName       = 4
	schemaMetadata   = 8
	schemaFlags      = 16
	schemaNChildren  = 24
	schemaChildren   = 32
	schemaDictionary = 36
	schemaRelease    = 40

	arrLength     = 0
	arrNullCount  = 8
	arrOffset     = 16
	arrNBuffers   = 24
	arrNChildren  = 32
	arrBuffers    = 40
	arrChildren   = 44
	arrDictionary = 48
	arrRelease    = 52

	// FlagNullable is ARROW_FLAG_NULLABLE.
	FlagNullable = 2

	// BufferAlign is the alignment of every buffer the host writes.
	BufferAlign = 64
)

// Sentinel errors. Every error returned by this package wraps one of them.
var (
	// ErrUnsupportedType means a type or format outside ABI v1.
	ErrUnsupportedType = errors.New("cdata32: unsupported type")
	// ErrInvalid means a structure or buffer that breaks the layout rules:
	// out-of-bounds pointers, lengths that do not fit, bad offsets.
	ErrInvalid = errors.New("cdata32: invalid array")
	// ErrSchemaMismatch means an array or schema that differs from the one expected.
	ErrSchemaMismatch = errors.New("cdata32: schema mismatch")
	// ErrRegionTooSmall means the destination region cannot hold what is written.
	ErrRegionTooSmall = errors.New("cdata32: region too small")
)

// Format returns the C Data Interface format string of an ABI v1 type.
func Format(dt arrow.DataType) (string, error) {
	switch t := dt.(type) {
	case *arrow.BooleanType:
		return "b", nil
	case *arrow.Int8Type:
		return "c", nil
	case *arrow.Uint8Type:
		return "C", nil
	case *arrow.Int16Type:
		return "s", nil
	case *arrow.Uint16Type:
		return "S", nil
	case *arrow.Int32Type:
		return "i", nil
	case *arrow.Uint32Type:
		return "I", nil
	case *arrow.Int64Type:
		return "l", nil
	case *arrow.Uint64Type:
		return "L", nil
	case *arrow.Float32Type:
		return "f", nil
	case *arrow.Float64Type:
		return "g", nil
	case *arrow.StringType:
		return "u", nil
	case *arrow.BinaryType:
		return "z", nil
	case *arrow.Date32Type:
		return "tdD", nil
	case *arrow.TimestampType:
		unit := "smun"[t.Unit] // Second, Millisecond, Microsecond, Nanosecond
		return "ts" + string(unit) + ":" + t.TimeZone, nil
	case *arrow.StructType:
		return "+s", nil
	}
	return "", fmt.Errorf("%w: %s", ErrUnsupportedType, dt)
}

// ParseFormat returns the type of a C Data Interface format string. Struct
// formats ("+s") are handled by the schema reader, not here.
func ParseFormat(f string) (arrow.DataType, error) {
	switch f {
	case "b":
		return arrow.FixedWidthTypes.Boolean, nil
	case "c":
		return arrow.PrimitiveTypes.Int8, nil
	case "C":
		return arrow.PrimitiveTypes.Uint8, nil
	case "s":
		return arrow.PrimitiveTypes.Int16, nil
	case "S":
		return arrow.PrimitiveTypes.Uint16, nil
	case "i":
		return arrow.PrimitiveTypes.Int32, nil
	case "I":
		return arrow.PrimitiveTypes.Uint32, nil
	case "l":
		return arrow.PrimitiveTypes.Int64, nil
	case "L":
		return arrow.PrimitiveTypes.Uint64, nil
	case "f":
		return arrow.PrimitiveTypes.Float32, nil
	case "g":
		return arrow.PrimitiveTypes.Float64, nil
	case "u":
		return arrow.BinaryTypes.String, nil
	case "z":
		return arrow.BinaryTypes.Binary, nil
	case "tdD":
		return arrow.FixedWidthTypes.Date32, nil
	}
	if strings.HasPrefix(f, "ts") && len(f) >= 4 && f[3] == ':' {
		units := map[byte]arrow.TimeUnit{'s': arrow.Second, 'm': arrow.Millisecond, 'u': arrow.Microsecond, 'n': arrow.Nanosecond}
		if u, ok := units[f[2]]; ok {
			return &arrow.TimestampType{Unit: u, TimeZone: f[4:]}, nil
		}
	}
	return nil, fmt.Errorf("%w: Arrow format %q", ErrUnsupportedType, f)
}

// kind classifies a v1 type by its buffer layout.
type kind uint8

const (
	kindFixed  kind = iota // validity + values of width bytes
	kindBool               // validity + values bitmap
	kindBinary             // validity + i32 offsets + data
)

// layoutOf returns the buffer layout of a v1 leaf type and, for fixed-width
// types, the width in bytes.
func layoutOf(dt arrow.DataType) (kind, int, error) {
	switch dt.ID() {
	case arrow.BOOL:
		return kindBool, 0, nil
	case arrow.INT8, arrow.UINT8:
		return kindFixed, 1, nil
	case arrow.INT16, arrow.UINT16:
		return kindFixed, 2, nil
	case arrow.INT32, arrow.UINT32, arrow.FLOAT32, arrow.DATE32:
		return kindFixed, 4, nil
	case arrow.INT64, arrow.UINT64, arrow.FLOAT64, arrow.TIMESTAMP:
		return kindFixed, 8, nil
	case arrow.STRING, arrow.BINARY:
		return kindBinary, 0, nil
	}
	return 0, 0, fmt.Errorf("%w: %s", ErrUnsupportedType, dt)
}

// nBuffers is the buffer count a leaf array of the kind has.
func (k kind) nBuffers() int {
	if k == kindBinary {
		return 3
	}
	return 2
}
