package cdata32

import (
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
)

var le = binary.LittleEndian

// Region is a block of guest memory into which the host writes inputs:
// Mem[i] is the byte at guest address Base+i. Writes allocate from the front
// of the region; Reset makes the whole region free again. A Region does not
// own Mem: it is a view of guest memory, valid until the guest next runs.
type Region struct {
	Mem  []byte
	Base uint32
	used int
}

// Reset forgets everything written so the region can be reused.
func (r *Region) Reset() { r.used = 0 }

// Used is the number of bytes written since the last Reset.
func (r *Region) Used() int { return r.used }

// take reserves n bytes aligned to align and returns their offset in Mem.
func (r *Region) take(n, align int) (int, error) {
	start := (int(r.Base) + r.used + align - 1) &^ (align - 1)
	off := start - int(r.Base)
	if off+n > len(r.Mem) {
		return 0, fmt.Errorf("%w: need %d bytes at %d, have %d", ErrRegionTooSmall, n, off, len(r.Mem))
	}
	clear(r.Mem[r.used:off])
	r.used = off + n
	return off, nil
}

func (r *Region) addr(off int) uint32 { return r.Base + uint32(off) }

// WriteBytes copies b into the region and returns its guest address.
func (r *Region) WriteBytes(b []byte) (uint32, error) {
	off, err := r.take(len(b), 8)
	if err != nil {
		return 0, err
	}
	copy(r.Mem[off:], b)
	return r.addr(off), nil
}

// WriteInt32s copies v into the region as little-endian i32 values and
// returns its guest address.
func (r *Region) WriteInt32s(v []int32) (uint32, error) {
	off, err := r.take(4*len(v), BufferAlign)
	if err != nil {
		return 0, err
	}
	dst := r.Mem[off : off+4*len(v)]
	for i, x := range v {
		le.PutUint32(dst[4*i:], uint32(x))
	}
	return r.addr(off), nil
}

// Zero reserves n zeroed bytes aligned to align and returns their guest address.
func (r *Region) Zero(n, align int) (uint32, error) {
	off, err := r.take(n, align)
	if err != nil {
		return 0, err
	}
	clear(r.Mem[off : off+n])
	return r.addr(off), nil
}

// SchemaSizeBound is an upper bound of the bytes WriteSchema needs.
func SchemaSizeBound(fields []arrow.Field) int {
	n := SchemaSize + 4*len(fields) + 16
	for _, f := range fields {
		n += SchemaSize + 8 + len(f.Name) + 1 + 24 + len(timeZone(f.Type)) + 8
	}
	return n
}

func timeZone(dt arrow.DataType) string {
	if ts, ok := dt.(*arrow.TimestampType); ok {
		return ts.TimeZone
	}
	return ""
}

// WriteSchema writes a struct schema ("+s") with one child per field and
// returns the guest address of its ArrowSchema.
func WriteSchema(r *Region, fields []arrow.Field) (uint32, error) {
	off, err := r.take(SchemaSize, 8)
	if err != nil {
		return 0, err
	}
	top := off
	children, err := r.take(4*len(fields), 4)
	if err != nil {
		return 0, err
	}
	format, err := r.writeCString("+s")
	if err != nil {
		return 0, err
	}
	putSchema(r.Mem[top:], format, 0, 0, int64(len(fields)), r.addr(children))
	for i, f := range fields {
		p, err := writeLeafSchema(r, f)
		if err != nil {
			return 0, fmt.Errorf("field %q: %w", f.Name, err)
		}
		le.PutUint32(r.Mem[children+4*i:], p)
	}
	return r.addr(top), nil
}

func writeLeafSchema(r *Region, f arrow.Field) (uint32, error) {
	fs, err := Format(f.Type)
	if err != nil {
		return 0, err
	}
	if f.Type.ID() == arrow.STRUCT {
		return 0, fmt.Errorf("%w: nested struct", ErrUnsupportedType)
	}
	off, err := r.take(SchemaSize, 8)
	if err != nil {
		return 0, err
	}
	format, err := r.writeCString(fs)
	if err != nil {
		return 0, err
	}
	name, err := r.writeCString(f.Name)
	if err != nil {
		return 0, err
	}
	var flags int64
	if f.Nullable {
		flags = FlagNullable
	}
	putSchema(r.Mem[off:], format, name, flags, 0, 0)
	return r.addr(off), nil
}

func putSchema(b []byte, format, name uint32, flags, nChildren int64, children uint32) {
	clear(b[:SchemaSize])
	le.PutUint32(b[schemaFormat:], format)
	le.PutUint32(b[schemaName:], name)
	le.PutUint64(b[schemaFlags:], uint64(flags))
	le.PutUint64(b[schemaNChildren:], uint64(nChildren))
	le.PutUint32(b[schemaChildren:], children)
	le.PutUint32(b[schemaRelease:], 1)
}

func (r *Region) writeCString(s string) (uint32, error) {
	off, err := r.take(len(s)+1, 1)
	if err != nil {
		return 0, err
	}
	copy(r.Mem[off:], s)
	r.Mem[off+len(s)] = 0
	return r.addr(off), nil
}

// BatchSizeBound is an upper bound of the bytes WriteBatch needs for rec.
func BatchSizeBound(rec arrow.Record) int {
	n := ArraySize + 8 + BufferAlign + 4*int(rec.NumCols())
	for _, c := range rec.Columns() {
		n += arraySizeBound(c)
	}
	return n
}

// StructSizeBound is an upper bound of the bytes WriteStruct needs for arr.
func StructSizeBound(arr *array.Struct) int {
	n := ArraySize + 8 + 2*BufferAlign + 4*arr.NumField() + arr.Len()/8 + 1
	for i := 0; i < arr.NumField(); i++ {
		n += arraySizeBound(arr.Field(i))
	}
	return n
}

func arraySizeBound(a arrow.Array) int {
	n := ArraySize + 16 + 3*BufferAlign
	k, w, err := layoutOf(a.DataType())
	if err != nil {
		return n
	}
	rows := a.Len() + 8
	n += rows/8 + 1 // validity
	switch k {
	case kindFixed:
		n += rows * w
	case kindBool:
		n += rows/8 + 1
	case kindBinary:
		n += 4 * (rows + 1)
		d := a.Data()
		off := d.Offset()
		offs := arrow.Int32Traits.CastFromBytes(d.Buffers()[1].Bytes())
		if len(offs) > 0 {
			lo := max(off-off%8, 0)
			n += int(offs[off+a.Len()] - offs[lo])
		}
	}
	return n
}

// WriteBatch copies rec into the region as a struct array (abi/SPEC.md §4.2)
// and returns the guest address of its ArrowArray. Each column is copied once;
// a sliced column keeps an offset in 0..7 so bitmaps copy byte-wise.
func WriteBatch(r *Region, rec arrow.Record) (uint32, error) {
	return writeStruct(r, rec.Columns(), int(rec.NumRows()), nil)
}

// WriteStruct copies a struct array (used for state and accumulators, which
// may have struct-level nulls) and returns the guest address of its ArrowArray.
func WriteStruct(r *Region, arr *array.Struct) (uint32, error) {
	cols := make([]arrow.Array, arr.NumField())
	for i := range cols {
		cols[i] = arr.Field(i)
	}
	return writeStruct(r, cols, arr.Len(), arr)
}

func writeStruct(r *Region, cols []arrow.Array, rows int, parent *array.Struct) (uint32, error) {
	off, err := r.take(ArraySize, 8)
	if err != nil {
		return 0, err
	}
	top := off
	bufs, err := r.take(4, 4)
	if err != nil {
		return 0, err
	}
	le.PutUint32(r.Mem[bufs:], 0)
	nulls := int64(0)
	if parent != nil && parent.NullN() > 0 {
		if parent.Data().Offset() != 0 {
			return 0, fmt.Errorf("%w: sliced struct with nulls", ErrUnsupportedType)
		}
		vb := parent.NullBitmapBytes()
		p, err := r.WriteBytes(vb[:bitutil.BytesForBits(int64(rows))])
		if err != nil {
			return 0, err
		}
		le.PutUint32(r.Mem[bufs:], p)
		nulls = int64(parent.NullN())
	}
	children, err := r.take(4*len(cols), 4)
	if err != nil {
		return 0, err
	}
	putArray(r.Mem[top:], int64(rows), nulls, 0, 1, int64(len(cols)), r.addr(bufs), r.addr(children))
	for i, c := range cols {
		if c.Len() != rows {
			return 0, fmt.Errorf("%w: column %d has %d rows, batch %d", ErrInvalid, i, c.Len(), rows)
		}
		p, err := writeLeaf(r, c)
		if err != nil {
			return 0, fmt.Errorf("column %d: %w", i, err)
		}
		le.PutUint32(r.Mem[children+4*i:], p)
	}
	return r.addr(top), nil
}

func putArray(b []byte, length, nulls, offset, nBuffers, nChildren int64, buffers, children uint32) {
	clear(b[:ArraySize])
	le.PutUint64(b[arrLength:], uint64(length))
	le.PutUint64(b[arrNullCount:], uint64(nulls))
	le.PutUint64(b[arrOffset:], uint64(offset))
	le.PutUint64(b[arrNBuffers:], uint64(nBuffers))
	le.PutUint64(b[arrNChildren:], uint64(nChildren))
	le.PutUint32(b[arrBuffers:], buffers)
	le.PutUint32(b[arrChildren:], children)
	le.PutUint32(b[arrRelease:], 1)
}

// writeLeaf copies one column. With a slice offset off, it copies from element
// off-off%8 so that the written array has offset off%8 and every bitmap starts
// on a byte boundary.
func writeLeaf(r *Region, a arrow.Array) (uint32, error) {
	k, w, err := layoutOf(a.DataType())
	if err != nil {
		return 0, err
	}
	d := a.Data()
	n := a.Len()
	off := d.Offset()
	sub := off % 8
	start := off - sub // element index of the first copied element
	top, err := r.take(ArraySize, 8)
	if err != nil {
		return 0, err
	}
	nb := k.nBuffers()
	bufs, err := r.take(4*nb, 4)
	if err != nil {
		return 0, err
	}
	ptrs := [3]uint32{}
	if n == 0 {
		return r.writeEmptyLeaf(top, bufs, k)
	}
	bitBytes := int(bitutil.BytesForBits(int64(sub + n)))
	if a.NullN() > 0 {
		vb := d.Buffers()[0].Bytes()
		if ptrs[0], err = r.copyBuffer(vb[start/8 : start/8+bitBytes]); err != nil {
			return 0, err
		}
	}
	src := d.Buffers()[1].Bytes()
	switch k {
	case kindFixed:
		if ptrs[1], err = r.copyBuffer(src[start*w : (off+n)*w]); err != nil {
			return 0, err
		}
	case kindBool:
		if ptrs[1], err = r.copyBuffer(src[start/8 : start/8+bitBytes]); err != nil {
			return 0, err
		}
	case kindBinary:
		offs := arrow.Int32Traits.CastFromBytes(src)[start : off+n+1]
		base := offs[0]
		o, err := r.take(4*len(offs), BufferAlign)
		if err != nil {
			return 0, err
		}
		dst := r.Mem[o : o+4*len(offs)]
		for i, v := range offs {
			le.PutUint32(dst[4*i:], uint32(v-base))
		}
		ptrs[1] = r.addr(o)
		var data []byte
		if len(d.Buffers()) > 2 && d.Buffers()[2] != nil {
			data = d.Buffers()[2].Bytes()[base:offs[len(offs)-1]]
		}
		if ptrs[2], err = r.copyBuffer(data); err != nil {
			return 0, err
		}
	}
	for i := 0; i < nb; i++ {
		le.PutUint32(r.Mem[bufs+4*i:], ptrs[i])
	}
	putArray(r.Mem[top:], int64(n), int64(a.NullN()), int64(sub), int64(nb), 0, r.addr(bufs), 0)
	return r.addr(top), nil
}

// writeEmptyLeaf writes a zero-length array whose buffers are valid and
// non-NULL (a single zero offset for binary types).
func (r *Region) writeEmptyLeaf(top, bufs int, k kind) (uint32, error) {
	nb := k.nBuffers()
	zero, err := r.Zero(8, BufferAlign)
	if err != nil {
		return 0, err
	}
	le.PutUint32(r.Mem[bufs:], 0)
	for i := 1; i < nb; i++ {
		le.PutUint32(r.Mem[bufs+4*i:], zero)
	}
	putArray(r.Mem[top:], 0, 0, 0, int64(nb), 0, r.addr(bufs), 0)
	return r.addr(top), nil
}

// copyBuffer copies b into a BufferAlign-aligned block and returns its address.
// An empty buffer still gets a valid, non-zero address.
func (r *Region) copyBuffer(b []byte) (uint32, error) {
	off, err := r.take(len(b), BufferAlign)
	if err != nil {
		return 0, err
	}
	copy(r.Mem[off:], b)
	return r.addr(off), nil
}
