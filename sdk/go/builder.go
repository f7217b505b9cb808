package weir

import (
	"fmt"
	"unsafe"
)

// validity is the null bitmap of a column builder. It stays inactive (no
// bitmap, no cost per value) until the first null is added.
type validity struct {
	bits   []byte // full capacity; bits at and beyond the builder length are 0
	active bool
	nulls  int
}

// activate starts tracking nulls for a builder of n values and capacity c.
func (v *validity) activate(n, c int) {
	need := (c + 7) >> 3
	if len(v.bits) < need {
		v.bits = makeSlice[byte](need)
	}
	setBits(v.bits, 0, n)
	v.active = true
}

// fit grows the bitmap for capacity c.
func (v *validity) fit(c int) {
	if !v.active {
		return
	}
	need := (c + 7) >> 3
	if len(v.bits) < need {
		nb := makeSlice[byte](grownCap(len(v.bits), need))
		copy(nb, v.bits)
		v.bits = nb
	}
}

func grownCap(old, need int) int {
	c := 2 * old
	if c < need {
		c = need
	}
	return c
}

// reset forgets nulls of a builder that had n values.
func (v *validity) reset(n int) {
	if v.active {
		clear(v.bits[:(n+7)>>3])
		v.active = false
	}
	v.nulls = 0
}

func (v *validity) setValid(i int) {
	if v.active {
		v.bits[i>>3] |= 1 << (i & 7)
	}
}

// extend marks n new values starting at i valid.
func (v *validity) extend(i, n int) {
	if v.active {
		setBits(v.bits, i, i+n)
	}
}

// extendFrom copies the validity of n new values starting at i from m.
func (v *validity) extendFrom(i, c int, m Bitmap) {
	z := m.Zeros()
	if z == 0 {
		v.extend(i, m.n)
		return
	}
	if !v.active {
		v.activate(i, c)
	}
	copyBits(v.bits, i, m.slice(), m.off, m.n)
	v.nulls += z
}

func (v *validity) setNull(i, n, c int) {
	if !v.active {
		v.activate(n, c)
	}
	if v.bits[i>>3]&(1<<(i&7)) != 0 {
		v.bits[i>>3] &^= 1 << (i & 7)
		v.nulls++
	}
}

// exported returns the validity buffer address and null count to export.
func (v *validity) exported() (uint32, int64) {
	if !v.active || v.nulls == 0 {
		return 0, 0
	}
	return addrOf(unsafe.Pointer(unsafe.SliceData(v.bits))), int64(v.nulls)
}

// PrimitiveBuilder builds a fixed-width column (numbers, timestamps, dates).
// Its memory is kept and reused after [PrimitiveBuilder.Reset], so a builder
// that has reached its working size does not allocate.
type PrimitiveBuilder[T Fixed] struct {
	id   typeID
	vals []T
	v    validity
}

// Len returns the number of values appended.
func (b *PrimitiveBuilder[T]) Len() int { return len(b.vals) }

// Reserve makes room for n more values without reallocation.
func (b *PrimitiveBuilder[T]) Reserve(n int) {
	if len(b.vals)+n > cap(b.vals) {
		b.vals = grow(b.vals, len(b.vals)+n)
		b.v.fit(cap(b.vals))
	}
}

// Append appends a value.
func (b *PrimitiveBuilder[T]) Append(x T) {
	n := len(b.vals)
	if n == cap(b.vals) {
		b.Reserve(1)
	}
	b.vals = b.vals[:n+1]
	b.vals[n] = x
	b.v.setValid(n)
}

// AppendNull appends a null.
func (b *PrimitiveBuilder[T]) AppendNull() {
	n := len(b.vals)
	if n == cap(b.vals) {
		b.Reserve(1)
	}
	b.vals = b.vals[:n+1]
	var zero T
	b.vals[n] = zero
	if !b.v.active {
		b.v.activate(n, cap(b.vals))
	}
	b.v.nulls++
}

// AppendValues appends non-null values.
func (b *PrimitiveBuilder[T]) AppendValues(xs []T) {
	copy(b.Extend(len(xs)), xs)
}

// Extend appends n non-null values and returns them for the caller to
// write: the vectorised way to fill a column. Their initial content is
// unspecified.
func (b *PrimitiveBuilder[T]) Extend(n int) []T {
	i := len(b.vals)
	b.Reserve(n)
	b.vals = b.vals[:i+n]
	b.v.extend(i, n)
	return b.vals[i : i+n : i+n]
}

// ExtendValidity appends validity.Len() values whose nulls are copied from
// validity (typically an input column's [Column.Validity], so that nulls pass
// through a map) and returns them for the caller to write, like
// [PrimitiveBuilder.Extend]. Values under nulls may be written or not.
func (b *PrimitiveBuilder[T]) ExtendValidity(validity Bitmap) []T {
	n := validity.n
	i := len(b.vals)
	b.Reserve(n)
	b.vals = b.vals[:i+n]
	b.v.extendFrom(i, cap(b.vals), validity)
	return b.vals[i : i+n : i+n]
}

// AppendColumn appends all rows of c, nulls included, and returns the
// appended values so the caller can modify them in place.
func (b *PrimitiveBuilder[T]) AppendColumn(c *Column[T]) []T {
	out := b.ExtendValidity(c.valid)
	copy(out, c.vals)
	return out
}

// SetNull makes the already appended value i null.
func (b *PrimitiveBuilder[T]) SetNull(i int) {
	_ = b.vals[i]
	b.v.setNull(i, len(b.vals), cap(b.vals))
}

// IsNull reports whether appended value i is null.
func (b *PrimitiveBuilder[T]) IsNull(i int) bool {
	_ = b.vals[i]
	return b.v.active && b.v.bits[i>>3]&(1<<(i&7)) == 0
}

// NullCount returns the number of nulls appended.
func (b *PrimitiveBuilder[T]) NullCount() int { return b.v.nulls }

// Values returns the values appended so far; the caller may modify them.
func (b *PrimitiveBuilder[T]) Values() []T { return b.vals }

// Reset empties the builder, keeping its memory.
func (b *PrimitiveBuilder[T]) Reset() {
	b.v.reset(len(b.vals))
	b.vals = b.vals[:0]
}

func (b *PrimitiveBuilder[T]) typ() typeID { return b.id }

func (b *PrimitiveBuilder[T]) appendFrom(in *Batch, j int) {
	b.AppendColumn(fixedColumn[T](in, j, b.id))
}

func (b *PrimitiveBuilder[T]) export(a *cArray, bufs []uint32) {
	a.length = int64(len(b.vals))
	a.nBuffers = 2
	bufs[0], a.nullCount = b.v.exported()
	bufs[1] = addrOf(unsafe.Pointer(unsafe.SliceData(b.vals)))
}

func (b *PrimitiveBuilder[T]) view(c *colView) {
	*c = colView{id: b.id, b1: addrOf(unsafe.Pointer(unsafe.SliceData(b.vals))), nulls: b.v.nulls}
	c.valid, _ = b.v.exported()
}

// BoolBuilder builds a bool column.
type BoolBuilder struct {
	bits []byte // value bitmap, capacity 8*len(bits)
	n    int
	v    validity
}

// Len returns the number of values appended.
func (b *BoolBuilder) Len() int { return b.n }

// Reserve makes room for n more values without reallocation.
func (b *BoolBuilder) Reserve(n int) {
	need := (b.n + n + 7) >> 3
	if need > len(b.bits) {
		nb := makeSlice[byte](grownCap(len(b.bits), max(need, 8)))
		copy(nb, b.bits)
		b.bits = nb
		b.v.fit(len(b.bits) * 8)
	}
}

// Append appends a value.
func (b *BoolBuilder) Append(x bool) {
	b.Reserve(1)
	setBit(b.bits, b.n, x)
	b.v.setValid(b.n)
	b.n++
}

// AppendNull appends a null.
func (b *BoolBuilder) AppendNull() {
	b.Reserve(1)
	setBit(b.bits, b.n, false)
	if !b.v.active {
		b.v.activate(b.n, len(b.bits)*8)
	}
	b.v.nulls++
	b.n++
}

// AppendValues appends non-null values.
func (b *BoolBuilder) AppendValues(xs []bool) {
	for _, x := range xs {
		b.Append(x)
	}
}

// AppendColumn appends all rows of c, nulls included.
func (b *BoolBuilder) AppendColumn(c *BoolColumn) {
	n := c.Len()
	b.Reserve(n)
	if c.vals.bits != nil {
		copyBits(b.bits, b.n, c.vals.slice(), c.vals.off, n)
	}
	b.v.extendFrom(b.n, len(b.bits)*8, c.valid)
	b.n += n
}

// SetNull makes the already appended value i null.
func (b *BoolBuilder) SetNull(i int) {
	if uint(i) >= uint(b.n) {
		panic(fmt.Sprintf("weir: SetNull(%d) on a builder of %d values", i, b.n))
	}
	b.v.setNull(i, b.n, len(b.bits)*8)
}

// NullCount returns the number of nulls appended.
func (b *BoolBuilder) NullCount() int { return b.v.nulls }

// Reset empties the builder, keeping its memory.
func (b *BoolBuilder) Reset() {
	b.v.reset(b.n)
	b.n = 0
}

func (b *BoolBuilder) typ() typeID { return tBool }

func (b *BoolBuilder) appendFrom(in *Batch, j int) { b.AppendColumn(in.Bool(j)) }

func (b *BoolBuilder) export(a *cArray, bufs []uint32) {
	a.length = int64(b.n)
	a.nBuffers = 2
	bufs[0], a.nullCount = b.v.exported()
	if b.bits == nil {
		b.Reserve(1) // never export a NULL values buffer
	}
	bufs[1] = addrOf(unsafe.Pointer(unsafe.SliceData(b.bits)))
}

func (b *BoolBuilder) view(c *colView) {
	*c = colView{id: tBool, b1: addrOf(unsafe.Pointer(unsafe.SliceData(b.bits))), nulls: b.v.nulls}
	c.valid, _ = b.v.exported()
}

// StringBuilder builds a utf8 or binary column. Values are copied into the
// builder. For utf8 columns the caller must append valid UTF-8 (the host
// checks).
type StringBuilder struct {
	id   typeID
	offs []int32 // Len()+1 offsets, offs[0] == 0
	data []byte
	v    validity
}

func newStringBuilder(id typeID) *StringBuilder {
	b := &StringBuilder{id: id, offs: makeSlice[int32](64)[:1]}
	return b
}

// Len returns the number of values appended.
func (b *StringBuilder) Len() int { return len(b.offs) - 1 }

// Reserve makes room for n more values totalling bytes bytes.
func (b *StringBuilder) Reserve(n, bytes int) {
	if len(b.offs)+n > cap(b.offs) {
		b.offs = grow(b.offs, len(b.offs)+n)
		b.v.fit(cap(b.offs))
	}
	if len(b.data)+bytes > cap(b.data) {
		b.data = grow(b.data, len(b.data)+bytes)
	}
}

// Append appends a string.
func (b *StringBuilder) Append(s string) {
	d := len(b.data)
	if d+len(s) > cap(b.data) {
		b.data = grow(b.data, d+len(s))
	}
	b.data = b.data[:d+len(s)]
	copy(b.data[d:], s)
	b.push(d + len(s))
}

// AppendBytes appends a value given as bytes.
func (b *StringBuilder) AppendBytes(s []byte) {
	b.Append(unsafe.String(unsafe.SliceData(s), len(s)))
}

// AppendSlot appends one value of n bytes and returns those bytes for the
// caller to write (their initial content is unspecified): the way to produce
// a transformed string without an intermediate copy.
func (b *StringBuilder) AppendSlot(n int) []byte {
	d := len(b.data)
	if d+n > cap(b.data) {
		b.data = grow(b.data, d+n)
	}
	b.data = b.data[:d+n]
	b.push(d + n)
	return b.data[d : d+n : d+n]
}

// ExtendRaw appends n non-null values whose bytes total size, for callers
// that write offsets and bytes directly (the vectorised path). It returns the
// n+1 offsets of the new values, of which offsets[0], the start of the first
// value, is already set, and the size bytes the values occupy, which start at
// offsets[0]. The caller must fill data and set offsets[1:] to non-decreasing
// values ending at offsets[0]+size: value k is bytes
// [offsets[k]-offsets[0], offsets[k+1]-offsets[0]) of data.
func (b *StringBuilder) ExtendRaw(n, size int) (offsets []int32, data []byte) {
	b.Reserve(n, size)
	i := len(b.offs)
	d := len(b.data)
	b.offs = b.offs[:i+n]
	b.data = b.data[:d+size]
	b.v.extend(i-1, n)
	return b.offs[i-1 : i+n : i+n], b.data[d : d+size : d+size]
}

func (b *StringBuilder) push(end int) {
	n := len(b.offs)
	if n == cap(b.offs) {
		b.offs = grow(b.offs, n+1)
		b.v.fit(cap(b.offs))
	}
	b.offs = b.offs[:n+1]
	b.offs[n] = int32(end)
	b.v.setValid(n - 1)
}

// AppendNull appends a null.
func (b *StringBuilder) AppendNull() {
	n := len(b.offs)
	if n == cap(b.offs) {
		b.offs = grow(b.offs, n+1)
		b.v.fit(cap(b.offs))
	}
	b.offs = b.offs[:n+1]
	b.offs[n] = int32(len(b.data))
	if !b.v.active {
		b.v.activate(n-1, cap(b.offs))
	}
	b.v.nulls++
}

// AppendColumn appends all rows of c, nulls included, and returns the bytes
// of the appended values (their concatenation) so that the caller can apply a
// length-preserving transformation in place, such as ASCII case mapping.
func (b *StringBuilder) AppendColumn(c *StringColumn) []byte {
	n := c.Len()
	first, last := c.offs[0], c.offs[n]
	size := int(last - first)
	b.Reserve(n, size)
	d := len(b.data)
	b.data = b.data[:d+size]
	copy(b.data[d:], c.data[first:last])
	i := len(b.offs)
	b.offs = b.offs[:i+n]
	delta := int32(d) - first
	dst := b.offs[i : i+n]
	src := c.offs[1 : n+1]
	for k := range dst {
		dst[k] = src[k] + delta
	}
	b.v.extendFrom(i-1, cap(b.offs), c.valid)
	return b.data[d : d+size : d+size]
}

// SetNull makes the already appended value i null (its bytes remain in the
// data buffer).
func (b *StringBuilder) SetNull(i int) {
	if uint(i) >= uint(b.Len()) {
		panic(fmt.Sprintf("weir: SetNull(%d) on a builder of %d values", i, b.Len()))
	}
	b.v.setNull(i, b.Len(), cap(b.offs))
}

// Value returns appended value i (valid until the builder is modified).
func (b *StringBuilder) Value(i int) string {
	s := b.data[b.offs[i]:b.offs[i+1]]
	return unsafe.String(unsafe.SliceData(s), len(s))
}

// NullCount returns the number of nulls appended.
func (b *StringBuilder) NullCount() int { return b.v.nulls }

// Reset empties the builder, keeping its memory.
func (b *StringBuilder) Reset() {
	b.v.reset(b.Len())
	b.offs = b.offs[:1]
	b.data = b.data[:0]
}

func (b *StringBuilder) typ() typeID { return b.id }

func (b *StringBuilder) appendFrom(in *Batch, j int) { b.AppendColumn(in.varColumn(j, b.id)) }

func (b *StringBuilder) export(a *cArray, bufs []uint32) {
	a.length = int64(b.Len())
	a.nBuffers = 3
	bufs[0], a.nullCount = b.v.exported()
	bufs[1] = addrOf(unsafe.Pointer(unsafe.SliceData(b.offs)))
	bufs[2] = 0
	if len(b.data) > 0 {
		bufs[2] = addrOf(unsafe.Pointer(unsafe.SliceData(b.data)))
	}
}

func (b *StringBuilder) view(c *colView) {
	*c = colView{id: b.id, b1: addrOf(unsafe.Pointer(unsafe.SliceData(b.offs))), b2: addrOf(unsafe.Pointer(unsafe.SliceData(b.data))), nulls: b.v.nulls}
	c.valid, _ = b.v.exported()
}

// colBuilder is implemented by the column builders.
type colBuilder interface {
	Len() int
	Reset()
	typ() typeID
	appendFrom(in *Batch, j int)
	export(a *cArray, bufs []uint32)
	view(c *colView)
}

func newColBuilder(t DataType) colBuilder {
	switch id := t.id(); id {
	case tBool:
		return &BoolBuilder{}
	case tInt8:
		return &PrimitiveBuilder[int8]{id: id}
	case tInt16:
		return &PrimitiveBuilder[int16]{id: id}
	case tInt32, tDate32:
		return &PrimitiveBuilder[int32]{id: id}
	case tInt64, tTimestamp:
		return &PrimitiveBuilder[int64]{id: id}
	case tUint8:
		return &PrimitiveBuilder[uint8]{id: id}
	case tUint16:
		return &PrimitiveBuilder[uint16]{id: id}
	case tUint32:
		return &PrimitiveBuilder[uint32]{id: id}
	case tUint64:
		return &PrimitiveBuilder[uint64]{id: id}
	case tFloat32:
		return &PrimitiveBuilder[float32]{id: id}
	case tFloat64:
		return &PrimitiveBuilder[float64]{id: id}
	case tUtf8, tBinary:
		return newStringBuilder(id)
	}
	panic(fmt.Sprintf("weir: unsupported type %s", t))
}

// Builder builds a batch of a fixed schema, column by column. Operator
// functions receive one, already reset, for their output; it owns its memory
// and reuses it from call to call, so steady-state calls do not allocate.
//
// The typed accessors (Float64, Utf8, ...) return the builder of column j
// and panic if the column does not have that type. All columns must have the
// same length when the operator function returns.
type Builder struct {
	schema Schema
	cols   []colBuilder
	rows   int // row count of a batch without columns
	exp    *arrayRegion
	batch  Batch
}

// NewBuilder returns a builder for batches of schema s, which must be valid
// (see [Schema.Validate]). Operator functions get their builders from the SDK;
// NewBuilder is for tests and for building batches by hand.
func NewBuilder(s Schema) *Builder {
	if err := s.Validate(); err != nil {
		panic("weir: NewBuilder: " + err.Error())
	}
	b := &Builder{schema: s, cols: make([]colBuilder, len(s))}
	for j, f := range s {
		b.cols[j] = newColBuilder(f.Type)
	}
	return b
}

// Schema returns the schema of the batches built. The caller must not modify
// it.
func (b *Builder) Schema() Schema { return b.schema }

// NumCols returns the number of columns.
func (b *Builder) NumCols() int { return len(b.cols) }

// Len returns the number of rows: the length of the first column (all must
// have the same length).
func (b *Builder) Len() int {
	if len(b.cols) == 0 {
		return b.rows
	}
	return b.cols[0].Len()
}

// Reset empties every column, keeping the memory.
func (b *Builder) Reset() {
	for _, c := range b.cols {
		c.Reset()
	}
	b.rows = 0
}

func builderAt[B any](b *Builder, j int, id typeID) B {
	c := b.cols[j]
	if c.typ() != id {
		panic(fmt.Sprintf("weir: output column %d (%q) is %s, not %s", j, b.schema[j].Name, b.schema[j].Type, typeNames[id]))
	}
	return c.(B)
}

// Int8 returns the builder of column j, which must be int8.
func (b *Builder) Int8(j int) *PrimitiveBuilder[int8] {
	return builderAt[*PrimitiveBuilder[int8]](b, j, tInt8)
}

// Int16 returns the builder of column j, which must be int16.
func (b *Builder) Int16(j int) *PrimitiveBuilder[int16] {
	return builderAt[*PrimitiveBuilder[int16]](b, j, tInt16)
}

// Int32 returns the builder of column j, which must be int32.
func (b *Builder) Int32(j int) *PrimitiveBuilder[int32] {
	return builderAt[*PrimitiveBuilder[int32]](b, j, tInt32)
}

// Int64 returns the builder of column j, which must be int64.
func (b *Builder) Int64(j int) *PrimitiveBuilder[int64] {
	return builderAt[*PrimitiveBuilder[int64]](b, j, tInt64)
}

// Uint8 returns the builder of column j, which must be uint8.
func (b *Builder) Uint8(j int) *PrimitiveBuilder[uint8] {
	return builderAt[*PrimitiveBuilder[uint8]](b, j, tUint8)
}

// Uint16 returns the builder of column j, which must be uint16.
func (b *Builder) Uint16(j int) *PrimitiveBuilder[uint16] {
	return builderAt[*PrimitiveBuilder[uint16]](b, j, tUint16)
}

// Uint32 returns the builder of column j, which must be uint32.
func (b *Builder) Uint32(j int) *PrimitiveBuilder[uint32] {
	return builderAt[*PrimitiveBuilder[uint32]](b, j, tUint32)
}

// Uint64 returns the builder of column j, which must be uint64.
func (b *Builder) Uint64(j int) *PrimitiveBuilder[uint64] {
	return builderAt[*PrimitiveBuilder[uint64]](b, j, tUint64)
}

// Float32 returns the builder of column j, which must be float32.
func (b *Builder) Float32(j int) *PrimitiveBuilder[float32] {
	return builderAt[*PrimitiveBuilder[float32]](b, j, tFloat32)
}

// Float64 returns the builder of column j, which must be float64.
func (b *Builder) Float64(j int) *PrimitiveBuilder[float64] {
	return builderAt[*PrimitiveBuilder[float64]](b, j, tFloat64)
}

// Timestamp returns the builder of column j, which must be a timestamp, in
// the unit of its type.
func (b *Builder) Timestamp(j int) *PrimitiveBuilder[int64] {
	return builderAt[*PrimitiveBuilder[int64]](b, j, tTimestamp)
}

// Date32 returns the builder of column j, which must be date32 (days since
// the epoch).
func (b *Builder) Date32(j int) *PrimitiveBuilder[int32] {
	return builderAt[*PrimitiveBuilder[int32]](b, j, tDate32)
}

// Bool returns the builder of column j, which must be bool.
func (b *Builder) Bool(j int) *BoolBuilder { return builderAt[*BoolBuilder](b, j, tBool) }

// Utf8 returns the builder of column j, which must be utf8.
func (b *Builder) Utf8(j int) *StringBuilder { return builderAt[*StringBuilder](b, j, tUtf8) }

// Binary returns the builder of column j, which must be binary.
func (b *Builder) Binary(j int) *StringBuilder { return builderAt[*StringBuilder](b, j, tBinary) }

// CopyColumn appends every row of column src of in to column dst. The two
// columns must have the same type.
func (b *Builder) CopyColumn(dst int, in *Batch, src int) error {
	if in.schema[src].Type != b.schema[dst].Type {
		return fmt.Errorf("cannot copy column %q (%s) into column %q (%s)",
			in.schema[src].Name, in.schema[src].Type, b.schema[dst].Name, b.schema[dst].Type)
	}
	b.cols[dst].appendFrom(in, src)
	return nil
}

// AppendBatch appends all rows of in, whose column types must match the
// builder's column by column.
func (b *Builder) AppendBatch(in *Batch) error {
	if len(in.schema) != len(b.schema) {
		return fmt.Errorf("cannot append a batch of %d columns to a batch of %d", len(in.schema), len(b.schema))
	}
	for j := range b.cols {
		if err := b.CopyColumn(j, in, j); err != nil {
			return err
		}
	}
	b.rows += in.n
	return nil
}

// check returns the row count, or an error if columns differ in length.
func (b *Builder) check() (int, error) {
	n := b.Len()
	for j, c := range b.cols {
		if c.Len() != n {
			return 0, fmt.Errorf("output column %q has %d rows but column %q has %d",
				b.schema[j].Name, c.Len(), b.schema[0].Name, n)
		}
	}
	return n, nil
}

// Batch returns a read-only view of the rows built so far, valid until the
// builder is next modified. It fails if the columns differ in length. It is
// meant for tests and for operators that read back what they built.
func (b *Builder) Batch() (*Batch, error) {
	n, err := b.check()
	if err != nil {
		return nil, err
	}
	if b.batch.cols == nil {
		b.batch = Batch{schema: b.schema, cols: make([]colView, len(b.cols))}
	}
	b.batch.n = n
	for j, c := range b.cols {
		c.view(&b.batch.cols[j])
	}
	return &b.batch, nil
}

// export writes the batch as Arrow C structures and returns the address of
// the ArrowArray.
func (b *Builder) export() (uint32, int, error) {
	n, err := b.check()
	if err != nil {
		return 0, 0, err
	}
	if b.exp == nil {
		b.exp = newArrayRegion(len(b.cols))
	}
	b.exp.begin(n, 0, 0)
	for j, c := range b.cols {
		a, bufs := b.exp.child(j)
		c.export(a, bufs)
	}
	return b.exp.addr, n, nil
}
