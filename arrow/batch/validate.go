package batch

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
)

// ErrInvalid is wrapped by Validate's errors.
var ErrInvalid = errors.New("batch: invalid batch")

// Validate checks that every column of rec (ABI v1 types) has the rows the
// record claims and buffers large enough for them: validity and values sizes,
// monotonic in-range offsets, valid UTF-8, honest null counts. Batches that
// arrive from outside the process (the exchange) pass through it before any
// operator indexes them.
func Validate(rec arrow.Record) error {
	for i, c := range rec.Columns() {
		if int64(c.Len()) != rec.NumRows() {
			return fmt.Errorf("%w: column %q has %d rows, the batch %d", ErrInvalid, rec.ColumnName(i), c.Len(), rec.NumRows())
		}
		if err := validateArray(c); err != nil {
			return fmt.Errorf("column %q: %w", rec.ColumnName(i), err)
		}
	}
	return nil
}

func bufLen(d arrow.ArrayData, i int) int {
	bufs := d.Buffers()
	if i >= len(bufs) || bufs[i] == nil {
		return 0
	}
	return bufs[i].Len()
}

func validateArray(a arrow.Array) error {
	d := a.Data()
	n, off := d.Len(), d.Offset()
	if n < 0 || off < 0 {
		return fmt.Errorf("%w: length %d offset %d", ErrInvalid, n, off)
	}
	bits := int(bitutil.BytesForBits(int64(off + n)))
	if d.Buffers()[0] != nil && d.Buffers()[0].Len() > 0 {
		if bufLen(d, 0) < bits {
			return fmt.Errorf("%w: validity of %d bytes for %d elements", ErrInvalid, bufLen(d, 0), off+n)
		}
		nulls := n - bitutil.CountSetBits(d.Buffers()[0].Bytes(), off, n)
		if nulls != a.NullN() {
			return fmt.Errorf("%w: null count %d, validity has %d", ErrInvalid, a.NullN(), nulls)
		}
	} else if a.NullN() != 0 {
		return fmt.Errorf("%w: %d nulls without a validity buffer", ErrInvalid, a.NullN())
	}
	switch dt := a.DataType().(type) {
	case *arrow.BooleanType:
		if bufLen(d, 1) < bits {
			return fmt.Errorf("%w: bool values of %d bytes for %d elements", ErrInvalid, bufLen(d, 1), off+n)
		}
	case *arrow.StringType, *arrow.BinaryType:
		if n == 0 {
			return nil
		}
		if bufLen(d, 1) < 4*(off+n+1) {
			return fmt.Errorf("%w: %d bytes of offsets for %d elements", ErrInvalid, bufLen(d, 1), off+n)
		}
		offs := arrow.Int32Traits.CastFromBytes(d.Buffers()[1].Bytes())[off : off+n+1]
		for i := 1; i < len(offs); i++ {
			if offs[i] < offs[i-1] {
				return fmt.Errorf("%w: offsets decrease at %d", ErrInvalid, i)
			}
		}
		if offs[0] < 0 || int(offs[n]) > bufLen(d, 2) {
			return fmt.Errorf("%w: offsets %d..%d outside %d data bytes", ErrInvalid, offs[0], offs[n], bufLen(d, 2))
		}
		if _, ok := dt.(*arrow.StringType); ok && !utf8.Valid(d.Buffers()[2].Bytes()[offs[0]:offs[n]]) {
			return fmt.Errorf("%w: invalid UTF-8", ErrInvalid)
		}
	default:
		fw, ok := dt.(arrow.FixedWidthDataType)
		if !ok || fw.BitWidth()%8 != 0 {
			return fmt.Errorf("%w: unsupported type %s", ErrInvalid, dt)
		}
		if need := (off + n) * fw.BitWidth() / 8; bufLen(d, 1) < need {
			return fmt.Errorf("%w: %d bytes of values, need %d", ErrInvalid, bufLen(d, 1), need)
		}
	}
	return nil
}
