// Package batch holds record-batch utilities shared by the host and the
// runtime: selecting rows by index or bitmap, for the ABI v1 types.
package batch

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Take returns a new record holding the rows idx of rec, in that order. The
// caller owns the result and must Release it; rec is not retained.
func Take(alloc memory.Allocator, rec arrow.Record, idx []int32) (arrow.Record, error) {
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, c := range rec.Columns() {
		var err error
		if cols[i], err = TakeArray(alloc, c, idx); err != nil {
			return nil, fmt.Errorf("column %q: %w", rec.ColumnName(i), err)
		}
	}
	return array.NewRecord(rec.Schema(), cols, int64(len(idx))), nil
}

// IndicesFromBitmap lists the set bits of the first n bits of bm (LSB
// first), appending to dst.
func IndicesFromBitmap(dst []int32, bm []byte, n int) []int32 {
	i := 0
	for ; i+64 <= n; i += 64 {
		w := binary.LittleEndian.Uint64(bm[i/8:])
		for w != 0 {
			dst = append(dst, int32(i+bits.TrailingZeros64(w)))
			w &= w - 1
		}
	}
	for ; i < n; i += 8 {
		b := bm[i/8]
		if i+8 > n {
			b &= byte(1<<(n-i) - 1)
		}
		for b != 0 {
			dst = append(dst, int32(i+bits.TrailingZeros8(b)))
			b &= b - 1
		}
	}
	return dst
}

// TakeArray returns the elements idx of a (all in range) as a new array,
// which the caller owns.
func TakeArray(alloc memory.Allocator, a arrow.Array, idx []int32) (arrow.Array, error) {
	if st, ok := a.(*array.Struct); ok {
		return takeStruct(alloc, st, idx)
	}
	d := a.Data()
	off := d.Offset()
	n := len(idx)
	bufs := []*memory.Buffer{nil, memory.NewResizableBuffer(alloc)}
	defer func() {
		for _, b := range bufs {
			if b != nil {
				b.Release()
			}
		}
	}()
	nulls := 0
	if a.NullN() > 0 {
		bufs[0] = memory.NewResizableBuffer(alloc)
		bufs[0].Resize(int(bitutil.BytesForBits(int64(n))))
		vb := bufs[0].Bytes()
		clear(vb)
		src := d.Buffers()[0].Bytes()
		for i, j := range idx {
			if bitutil.BitIsSet(src, off+int(j)) {
				bitutil.SetBit(vb, i)
			} else {
				nulls++
			}
		}
	}
	switch a.DataType().ID() {
	case arrow.BOOL:
		bufs[1].Resize(int(bitutil.BytesForBits(int64(n))))
		dst := bufs[1].Bytes()
		clear(dst)
		src := d.Buffers()[1].Bytes()
		for i, j := range idx {
			if bitutil.BitIsSet(src, off+int(j)) {
				bitutil.SetBit(dst, i)
			}
		}
	case arrow.INT8, arrow.UINT8:
		takeFixed[uint8](bufs[1], d, idx)
	case arrow.INT16, arrow.UINT16:
		takeFixed[uint16](bufs[1], d, idx)
	case arrow.INT32, arrow.UINT32, arrow.FLOAT32, arrow.DATE32:
		takeFixed[uint32](bufs[1], d, idx)
	case arrow.INT64, arrow.UINT64, arrow.FLOAT64, arrow.TIMESTAMP:
		takeFixed[uint64](bufs[1], d, idx)
	case arrow.STRING, arrow.BINARY:
		offs := arrow.Int32Traits.CastFromBytes(d.Buffers()[1].Bytes())[off:]
		var data []byte
		if d.Buffers()[2] != nil {
			data = d.Buffers()[2].Bytes()
		}
		bufs[1].Resize(4 * (n + 1))
		dstOffs := arrow.Int32Traits.CastFromBytes(bufs[1].Bytes())
		total := 0
		for i, j := range idx {
			dstOffs[i] = int32(total)
			total += int(offs[j+1] - offs[j])
		}
		dstOffs[n] = int32(total)
		bufs = append(bufs, memory.NewResizableBuffer(alloc))
		bufs[2].Resize(total)
		dst := bufs[2].Bytes()
		for i, j := range idx {
			copy(dst[dstOffs[i]:], data[offs[j]:offs[j+1]])
		}
	default:
		return nil, fmt.Errorf("batch: take of %s is not supported", a.DataType())
	}
	data := array.NewData(a.DataType(), n, bufs, nil, nulls, 0)
	defer data.Release()
	return array.MakeFromData(data), nil
}

func takeFixed[T uint8 | uint16 | uint32 | uint64](dst *memory.Buffer, d arrow.ArrayData, idx []int32) {
	var zero T
	w := int(sizeOf(zero))
	dst.Resize(w * len(idx))
	src := castSlice[T](d.Buffers()[1].Bytes())[d.Offset():]
	out := castSlice[T](dst.Bytes())
	for i, j := range idx {
		out[i] = src[j]
	}
}

// takeStruct takes rows of a struct array: its validity and every child.
func takeStruct(alloc memory.Allocator, st *array.Struct, idx []int32) (arrow.Array, error) {
	children := make([]arrow.ArrayData, st.NumField())
	defer func() {
		for _, c := range children {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i := range children {
		c, err := TakeArray(alloc, st.Field(i), idx)
		if err != nil {
			return nil, err
		}
		children[i] = c.Data()
		children[i].Retain()
		c.Release()
	}
	var valid *memory.Buffer
	nulls := 0
	if st.NullN() > 0 {
		valid = memory.NewResizableBuffer(alloc)
		defer valid.Release()
		valid.Resize(int(bitutil.BytesForBits(int64(len(idx)))))
		vb := valid.Bytes()
		clear(vb)
		for i, j := range idx {
			if st.IsValid(int(j)) {
				bitutil.SetBit(vb, i)
			} else {
				nulls++
			}
		}
	}
	data := array.NewData(st.DataType(), len(idx), []*memory.Buffer{valid}, children, nulls, 0)
	defer data.Release()
	return array.MakeFromData(data), nil
}
