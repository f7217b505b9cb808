package cdata32

import (
	"fmt"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Limits on what a guest may describe; anything past them is refused.
const (
	MaxColumns    = 4096
	MaxNameLen    = 4096
	MaxFormatLen  = 256
	maxArrayLen   = 1<<31 - 1
	maxArrayBytes = 1 << 32
)

type header struct {
	length, nullCount, offset, nBuffers, nChildren int64
	buffers, children, dictionary                  uint32
}

// mem is a guest memory view with bounds-checked reads.
type mem []byte

func (m mem) span(p uint32, n uint64, what string) ([]byte, error) {
	if uint64(p)+n > uint64(len(m)) {
		return nil, fmt.Errorf("%w: %s [%#x, +%d) is outside memory of %d bytes", ErrInvalid, what, p, n, len(m))
	}
	return m[p : uint64(p)+n], nil
}

func (m mem) u32(p uint32, what string) (uint32, error) {
	b, err := m.span(p, 4, what)
	if err != nil {
		return 0, err
	}
	return le.Uint32(b), nil
}

func (m mem) cstring(p uint32, limit int, what string) (string, error) {
	if p == 0 {
		return "", fmt.Errorf("%w: %s is NULL", ErrInvalid, what)
	}
	if uint64(p) >= uint64(len(m)) {
		return "", fmt.Errorf("%w: %s at %#x is outside memory", ErrInvalid, what, p)
	}
	end := min(len(m), int(p)+limit+1)
	for i := int(p); i < end; i++ {
		if m[i] == 0 {
			return string(m[p:i]), nil
		}
	}
	return "", fmt.Errorf("%w: %s at %#x is not NUL-terminated within %d bytes", ErrInvalid, what, p, limit)
}

func (m mem) header(p uint32, what string) (header, error) {
	if p == 0 {
		return header{}, fmt.Errorf("%w: %s ArrowArray pointer is NULL", ErrInvalid, what)
	}
	b, err := m.span(p, ArraySize-4, what+" ArrowArray")
	if err != nil {
		return header{}, err
	}
	h := header{
		length:     int64(le.Uint64(b[arrLength:])),
		nullCount:  int64(le.Uint64(b[arrNullCount:])),
		offset:     int64(le.Uint64(b[arrOffset:])),
		nBuffers:   int64(le.Uint64(b[arrNBuffers:])),
		nChildren:  int64(le.Uint64(b[arrNChildren:])),
		buffers:    le.Uint32(b[arrBuffers:]),
		children:   le.Uint32(b[arrChildren:]),
		dictionary: le.Uint32(b[arrDictionary:]),
	}
	switch {
	case h.length < 0 || h.length > maxArrayLen:
		return h, fmt.Errorf("%w: %s length %d", ErrInvalid, what, h.length)
	case h.offset < 0 || h.offset > maxArrayLen || h.offset+h.length > maxArrayLen:
		return h, fmt.Errorf("%w: %s offset %d", ErrInvalid, what, h.offset)
	case h.nullCount < -1 || h.nullCount > h.length:
		return h, fmt.Errorf("%w: %s null_count %d for length %d", ErrInvalid, what, h.nullCount, h.length)
	case h.dictionary != 0:
		return h, fmt.Errorf("%w: %s has a dictionary (not in ABI v1)", ErrUnsupportedType, what)
	}
	return h, nil
}

// ReadSchema reads a struct schema ("+s") and returns its fields.
func ReadSchema(guest []byte, p uint32) ([]arrow.Field, error) {
	m := mem(guest)
	if p == 0 {
		return nil, fmt.Errorf("%w: schema pointer is NULL", ErrInvalid)
	}
	b, err := m.span(p, SchemaSize, "ArrowSchema")
	if err != nil {
		return nil, err
	}
	format, err := m.cstring(le.Uint32(b[schemaFormat:]), MaxFormatLen, "schema format")
	if err != nil {
		return nil, err
	}
	if format != "+s" {
		return nil, fmt.Errorf("%w: batch schema format is %q, want \"+s\"", ErrInvalid, format)
	}
	n := int64(le.Uint64(b[schemaNChildren:]))
	if n < 0 || n > MaxColumns {
		return nil, fmt.Errorf("%w: schema has %d children", ErrInvalid, n)
	}
	if le.Uint32(b[schemaDictionary:]) != 0 || le.Uint32(b[schemaMetadata:]) != 0 {
		return nil, fmt.Errorf("%w: schema metadata and dictionaries are not in ABI v1", ErrUnsupportedType)
	}
	children := le.Uint32(b[schemaChildren:])
	fields := make([]arrow.Field, n)
	seen := make(map[string]bool, n)
	for i := range fields {
		cp, err := m.u32(children+uint32(4*i), "schema children")
		if err != nil {
			return nil, err
		}
		f, err := readLeafSchema(m, cp)
		if err != nil {
			return nil, fmt.Errorf("schema column %d: %w", i, err)
		}
		if f.Name == "" || seen[f.Name] {
			return nil, fmt.Errorf("%w: schema column %d has an empty or duplicate name %q", ErrInvalid, i, f.Name)
		}
		seen[f.Name] = true
		fields[i] = f
	}
	return fields, nil
}

func readLeafSchema(m mem, p uint32) (arrow.Field, error) {
	if p == 0 {
		return arrow.Field{}, fmt.Errorf("%w: child schema pointer is NULL", ErrInvalid)
	}
	b, err := m.span(p, SchemaSize, "child ArrowSchema")
	if err != nil {
		return arrow.Field{}, err
	}
	format, err := m.cstring(le.Uint32(b[schemaFormat:]), MaxFormatLen, "format")
	if err != nil {
		return arrow.Field{}, err
	}
	dt, err := ParseFormat(format)
	if err != nil {
		return arrow.Field{}, err
	}
	if n := int64(le.Uint64(b[schemaNChildren:])); n != 0 {
		return arrow.Field{}, fmt.Errorf("%w: %q column has %d children", ErrInvalid, format, n)
	}
	if le.Uint32(b[schemaDictionary:]) != 0 || le.Uint32(b[schemaMetadata:]) != 0 {
		return arrow.Field{}, fmt.Errorf("%w: metadata and dictionaries are not in ABI v1", ErrUnsupportedType)
	}
	name, err := m.cstring(le.Uint32(b[schemaName:]), MaxNameLen, "name")
	if err != nil {
		return arrow.Field{}, err
	}
	flags := int64(le.Uint64(b[schemaFlags:]))
	return arrow.Field{Name: name, Type: dt, Nullable: flags&FlagNullable != 0}, nil
}

// ReadBatch copies the batch at p out of guest memory, checking it against
// fields. The caller owns the returned record and must Release it.
func ReadBatch(guest []byte, p uint32, schema *arrow.Schema, alloc memory.Allocator) (arrow.Record, error) {
	rd := reader{m: mem(guest), alloc: alloc}
	cols, rows, valid, err := rd.readStruct(p, schema.Fields(), false)
	if err != nil {
		return nil, err
	}
	_ = valid
	rec := array.NewRecord(schema, cols, int64(rows))
	for _, c := range cols {
		c.Release()
	}
	return rec, nil
}

// ReadStruct copies a struct array (state or accumulators, which may carry
// struct-level nulls) out of guest memory. The caller must Release it.
func ReadStruct(guest []byte, p uint32, fields []arrow.Field, alloc memory.Allocator) (*array.Struct, error) {
	rd := reader{m: mem(guest), alloc: alloc}
	cols, rows, valid, err := rd.readStruct(p, fields, true)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
		if valid != nil {
			valid.Release()
		}
	}()
	childData := make([]arrow.ArrayData, len(cols))
	for i, c := range cols {
		childData[i] = c.Data()
	}
	nulls := 0
	if valid != nil {
		nulls = rows - bitutil.CountSetBits(valid.Bytes(), 0, rows)
	}
	data := array.NewData(arrow.StructOf(fields...), rows, []*memory.Buffer{valid}, childData, nulls, 0)
	defer data.Release()
	return array.NewStructData(data), nil
}

type reader struct {
	m     mem
	alloc memory.Allocator
}

// uninitAllocator is implemented by allocators that can skip zeroing
// (bufpool): every buffer the reader makes is overwritten completely.
type uninitAllocator interface {
	AllocateUninit(size int) []byte
}

// buffer returns a new buffer of n bytes owned by the reader's allocator.
func (rd *reader) buffer(n int) *memory.Buffer {
	if u, ok := rd.alloc.(uninitAllocator); ok {
		return memory.NewBufferWithAllocator(u.AllocateUninit(n), rd.alloc)
	}
	b := memory.NewResizableBuffer(rd.alloc)
	b.Resize(n)
	return b
}

func (rd *reader) readStruct(p uint32, fields []arrow.Field, allowNulls bool) (cols []arrow.Array, rows int, valid *memory.Buffer, err error) {
	h, err := rd.m.header(p, "batch")
	if err != nil {
		return nil, 0, nil, err
	}
	if h.nBuffers != 1 {
		return nil, 0, nil, fmt.Errorf("%w: batch has %d buffers, want 1", ErrInvalid, h.nBuffers)
	}
	if h.nChildren != int64(len(fields)) {
		return nil, 0, nil, fmt.Errorf("%w: batch has %d columns, schema has %d", ErrSchemaMismatch, h.nChildren, len(fields))
	}
	if h.offset != 0 {
		return nil, 0, nil, fmt.Errorf("%w: batch offset %d, want 0", ErrInvalid, h.offset)
	}
	rows = int(h.length)
	vp, err := rd.m.u32(h.buffers, "batch buffers")
	if err != nil {
		return nil, 0, nil, err
	}
	if vp != 0 {
		if !allowNulls {
			return nil, 0, nil, fmt.Errorf("%w: batch struct has a validity buffer", ErrInvalid)
		}
		valid, _, err = rd.bitmap(vp, 0, rows, "struct validity")
		if err != nil {
			return nil, 0, nil, err
		}
	}
	cols = make([]arrow.Array, 0, len(fields))
	fail := func(err error) ([]arrow.Array, int, *memory.Buffer, error) {
		for _, c := range cols {
			c.Release()
		}
		if valid != nil {
			valid.Release()
		}
		return nil, 0, nil, err
	}
	for i, f := range fields {
		cp, err := rd.m.u32(h.children+uint32(4*i), "batch children")
		if err != nil {
			return fail(err)
		}
		c, err := rd.readLeaf(cp, f.Type, rows)
		if err != nil {
			return fail(fmt.Errorf("column %d %q: %w", i, f.Name, err))
		}
		cols = append(cols, c)
	}
	return cols, rows, valid, nil
}

// bitmap copies bits [off, off+n) of the bitmap at p into a new buffer.
func (rd *reader) bitmap(p uint32, off, n int, what string) (*memory.Buffer, int, error) {
	src, err := rd.m.span(p, uint64(bitutil.BytesForBits(int64(off+n))), what)
	if err != nil {
		return nil, 0, err
	}
	buf := rd.buffer(int(bitutil.BytesForBits(int64(n))))
	dst := buf.Bytes()
	if off%8 == 0 {
		copy(dst, src[off/8:])
	} else {
		clear(dst)
		bitutil.CopyBitmap(src, off, n, dst, 0)
	}
	if rem := n % 8; rem != 0 {
		dst[len(dst)-1] &= byte(1<<rem - 1)
	}
	return buf, bitutil.CountSetBits(dst, 0, n), nil
}

func (rd *reader) readLeaf(p uint32, dt arrow.DataType, rows int) (arrow.Array, error) {
	h, err := rd.m.header(p, "column")
	if err != nil {
		return nil, err
	}
	k, w, err := layoutOf(dt)
	if err != nil {
		return nil, err
	}
	if h.nBuffers != int64(k.nBuffers()) {
		return nil, fmt.Errorf("%w: %d buffers, %s has %d", ErrInvalid, h.nBuffers, dt, k.nBuffers())
	}
	if h.nChildren != 0 {
		return nil, fmt.Errorf("%w: %d children, %s has none", ErrInvalid, h.nChildren, dt)
	}
	if h.length < int64(rows) {
		return nil, fmt.Errorf("%w: length %d, batch has %d rows", ErrInvalid, h.length, rows)
	}
	off := int(h.offset)
	var ptrs [3]uint32
	for i := 0; i < k.nBuffers(); i++ {
		if ptrs[i], err = rd.m.u32(h.buffers+uint32(4*i), "buffers"); err != nil {
			return nil, err
		}
	}
	bufs := make([]*memory.Buffer, k.nBuffers())
	defer func() {
		for _, b := range bufs {
			if b != nil {
				b.Release()
			}
		}
	}()
	nulls := 0
	if ptrs[0] != 0 {
		var set int
		if bufs[0], set, err = rd.bitmap(ptrs[0], off, rows, "validity"); err != nil {
			return nil, err
		}
		nulls = rows - set
	}
	if h.nullCount != -1 && h.nullCount != int64(nulls) {
		return nil, fmt.Errorf("%w: null_count %d but validity has %d nulls", ErrInvalid, h.nullCount, nulls)
	}
	if rows > 0 && ptrs[1] == 0 {
		return nil, fmt.Errorf("%w: values buffer is NULL", ErrInvalid)
	}
	switch k {
	case kindFixed:
		src, err := rd.m.span(ptrs[1]+0, uint64(off+rows)*uint64(w), "values")
		if err != nil {
			return nil, err
		}
		bufs[1] = rd.buffer(rows * w)
		copy(bufs[1].Bytes(), src[off*w:])
	case kindBool:
		if bufs[1], _, err = rd.bitmap(ptrs[1], off, rows, "values"); err != nil {
			return nil, err
		}
	case kindBinary:
		if err := rd.readBinary(bufs, ptrs, off, rows, dt.ID() == arrow.STRING); err != nil {
			return nil, err
		}
	}
	data := array.NewData(dt, rows, bufs, nil, nulls, 0)
	defer data.Release()
	return array.MakeFromData(data), nil
}

func (rd *reader) readBinary(bufs []*memory.Buffer, ptrs [3]uint32, off, rows int, isUTF8 bool) error {
	bufs[1] = rd.buffer(4 * (rows + 1))
	if rows == 0 {
		clear(bufs[1].Bytes())
		bufs[2] = rd.buffer(0)
		return nil
	}
	src, err := rd.m.span(ptrs[1], uint64(off+rows+1)*4, "offsets")
	if err != nil {
		return err
	}
	src = src[4*off:]
	first := int32(le.Uint32(src))
	last := int32(le.Uint32(src[4*rows:]))
	if first < 0 || last < first {
		return fmt.Errorf("%w: offsets run from %d to %d", ErrInvalid, first, last)
	}
	if last > first && ptrs[2] == 0 {
		return fmt.Errorf("%w: data buffer is NULL", ErrInvalid)
	}
	data, err := rd.m.span(ptrs[2], uint64(last), "data")
	if err != nil {
		return err
	}
	dst := arrow.Int32Traits.CastFromBytes(bufs[1].Bytes())
	prev := first
	for i := 0; i <= rows; i++ {
		v := int32(le.Uint32(src[4*i:]))
		if v < prev {
			return fmt.Errorf("%w: offsets decrease at element %d (%d < %d)", ErrInvalid, i, v, prev)
		}
		dst[i] = v - first
		prev = v
	}
	payload := data[first:last]
	if isUTF8 && !utf8.Valid(payload) {
		return fmt.Errorf("%w: utf8 column holds invalid UTF-8", ErrInvalid)
	}
	bufs[2] = rd.buffer(len(payload))
	copy(bufs[2].Bytes(), payload)
	return nil
}
