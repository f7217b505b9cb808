package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// ErrKeyEncoding means bytes that are not values encoded by AppendKey.
var ErrKeyEncoding = errors.New("batch: malformed key encoding")

// AppendDecoded reads one value encoded by AppendKey from the front of data,
// appends it to b (whose type must be the value's) and returns the rest of
// data. With AppendKey it turns rows into compact bytes and back: keys of
// windows, rows a join keeps, entries of state snapshots.
func AppendDecoded(b array.Builder, data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: no value left for %s", ErrKeyEncoding, b.Type())
	}
	if data[0] == 0 {
		b.AppendNull()
		return data[1:], nil
	}
	if data[0] != 1 {
		return nil, fmt.Errorf("%w: bad null flag %d", ErrKeyEncoding, data[0])
	}
	data = data[1:]
	need := func(n int) error {
		if len(data) < n {
			return fmt.Errorf("%w: %d bytes left for a %s of %d", ErrKeyEncoding, len(data), b.Type(), n)
		}
		return nil
	}
	u64 := func() uint64 { return binary.LittleEndian.Uint64(data) }
	u32 := func() uint32 { return binary.LittleEndian.Uint32(data) }
	u16 := func() uint16 { return binary.LittleEndian.Uint16(data) }
	size := 0
	switch v := b.(type) {
	case *array.BooleanBuilder:
		size = 1
		if err := need(size); err != nil {
			return nil, err
		}
		v.Append(data[0] != 0)
	case *array.Int8Builder:
		size = 1
		if err := need(size); err != nil {
			return nil, err
		}
		v.Append(int8(data[0]))
	case *array.Uint8Builder:
		size = 1
		if err := need(size); err != nil {
			return nil, err
		}
		v.Append(data[0])
	case *array.Int16Builder:
		size = 2
		if err := need(size); err != nil {
			return nil, err
		}
		v.Append(int16(u16()))
	case *array.Uint16Builder:
		size = 2
		if err := need(size); err != nil {
			return nil, err
		}
		v.Append(u16())
	case *array.Int32Builder:
		size = 4
		if err := need(size); err != nil {
			return nil, err
		}
		v.Append(int32(u32()))
	case *array.Uint32Builder:
		size = 4
		if err := need(size); err != nil {
			return nil, err
		}
		v.Append(u32())
	case *array.Date32Builder:
		size = 4
		if err := need(size); err != nil {
			return nil, err
		}
		v.Append(arrow.Date32(u32()))
	case *array.Float32Builder:
		size = 4
		if err := need(size); err != nil {
			return nil, err
		}
		v.Append(math.Float32frombits(u32()))
	case *array.Int64Builder:
		size = 8
		if err := need(size); err != nil {
			return nil, err
		}
		v.Append(int64(u64()))
	case *array.Uint64Builder:
		size = 8
		if err := need(size); err != nil {
			return nil, err
		}
		v.Append(u64())
	case *array.TimestampBuilder:
		size = 8
		if err := need(size); err != nil {
			return nil, err
		}
		v.Append(arrow.Timestamp(u64()))
	case *array.Float64Builder:
		size = 8
		if err := need(size); err != nil {
			return nil, err
		}
		v.Append(math.Float64frombits(u64()))
	case *array.StringBuilder, *array.BinaryBuilder:
		n, k := binary.Uvarint(data)
		if k <= 0 || n > uint64(len(data)-k) {
			return nil, fmt.Errorf("%w: bad length of a %s", ErrKeyEncoding, b.Type())
		}
		val := data[k : k+int(n)]
		if s, ok := v.(*array.StringBuilder); ok {
			s.BinaryBuilder.Append(val)
		} else {
			v.(*array.BinaryBuilder).Append(val)
		}
		size = k + int(n)
	default:
		return nil, fmt.Errorf("batch: cannot decode a %s", b.Type())
	}
	return data[size:], nil
}
