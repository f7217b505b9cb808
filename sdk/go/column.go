package weir

import (
	"fmt"
	"unsafe"
)

// Fixed is the set of Go types that hold the values of fixed-width columns:
// int8 … int64, uint8 … uint64, float32 and float64 (timestamps are int64,
// date32 is int32).
type Fixed interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// Batch is a read-only view of a record batch: columns of equal length laid
// out in Arrow format. Batches handed to operator functions live in memory
// owned by the host and are valid only during the call; so are every column,
// slice and string obtained from them (they are not copied). Copy what must be
// kept across calls.
//
// The typed accessors (Float64, Utf8, ...) panic if column j does not have the
// requested type; check types once in the operator's open function with
// [Schema.Lookup].
type Batch struct {
	schema Schema
	n      int
	cols   []colView
}

// colView locates one column's buffers.
type colView struct {
	// Buffers are kept as addresses, not pointers: the Go collector must
	// never see a pointer into host memory that the host may free once the
	// call is over.
	id     typeID
	valid  uint32 // validity bitmap, 0 if all valid
	b1, b2 uint32 // values (or offsets), data
	off    int    // element offset of row 0
	nulls  int    // null count of rows [0, n), -1 unknown

	// Reader slots returned by the typed accessors (refreshed by each call),
	// so that accessors return pointers without allocating.
	fixed Column[byte] // reinterpreted as Column[T]: same layout for all T
	str   StringColumn
	bools BoolColumn
}

// Len returns the number of rows.
func (b *Batch) Len() int { return b.n }

// NumCols returns the number of columns.
func (b *Batch) NumCols() int { return len(b.cols) }

// Schema returns the batch's columns. The caller must not modify it.
func (b *Batch) Schema() Schema { return b.schema }

// NullCount returns the number of nulls in column j.
func (b *Batch) NullCount(j int) int { return b.bitmap(j).Zeros() }

// Validity returns the validity bitmap of column j (bit set = not null).
func (b *Batch) Validity(j int) Bitmap { return b.bitmap(j) }

func (b *Batch) bitmap(j int) Bitmap {
	c := &b.cols[j]
	return viewBitmap(c.valid, c.off, b.n, c.nulls)
}

func viewBitmap(a uint32, off, n, nulls int) Bitmap {
	if a == 0 || n == 0 {
		return Bitmap{n: n}
	}
	return Bitmap{bits: (*byte)(unsafe.Add(ptrAt(a), off>>3)), off: off & 7, n: n, nulls: nulls}
}

// release forgets the views handed out during a call, so that no pointer
// into the call's input outlives it.
func (b *Batch) release() {
	for j := range b.cols {
		c := &b.cols[j]
		c.fixed, c.str, c.bools = Column[byte]{}, StringColumn{}, BoolColumn{}
	}
}

func (b *Batch) col(j int, id typeID) *colView {
	c := &b.cols[j]
	if c.id != id {
		panic(fmt.Sprintf("weir: column %d (%q) is %s, not %s", j, b.schema[j].Name, b.schema[j].Type, typeNames[id]))
	}
	return c
}

func fixedColumn[T Fixed](b *Batch, j int, id typeID) *Column[T] {
	c := b.col(j, id)
	r := (*Column[T])(unsafe.Pointer(&c.fixed))
	r.vals = nil
	if b.n > 0 {
		r.vals = unsafe.Slice((*T)(ptrAt(c.b1)), c.off+b.n)[c.off:]
	}
	r.valid = viewBitmap(c.valid, c.off, b.n, c.nulls)
	return r
}

// Int8 returns column j, which must be int8.
func (b *Batch) Int8(j int) *Column[int8] { return fixedColumn[int8](b, j, tInt8) }

// Int16 returns column j, which must be int16.
func (b *Batch) Int16(j int) *Column[int16] { return fixedColumn[int16](b, j, tInt16) }

// Int32 returns column j, which must be int32.
func (b *Batch) Int32(j int) *Column[int32] { return fixedColumn[int32](b, j, tInt32) }

// Int64 returns column j, which must be int64.
func (b *Batch) Int64(j int) *Column[int64] { return fixedColumn[int64](b, j, tInt64) }

// Uint8 returns column j, which must be uint8.
func (b *Batch) Uint8(j int) *Column[uint8] { return fixedColumn[uint8](b, j, tUint8) }

// Uint16 returns column j, which must be uint16.
func (b *Batch) Uint16(j int) *Column[uint16] { return fixedColumn[uint16](b, j, tUint16) }

// Uint32 returns column j, which must be uint32.
func (b *Batch) Uint32(j int) *Column[uint32] { return fixedColumn[uint32](b, j, tUint32) }

// Uint64 returns column j, which must be uint64.
func (b *Batch) Uint64(j int) *Column[uint64] { return fixedColumn[uint64](b, j, tUint64) }

// Float32 returns column j, which must be float32.
func (b *Batch) Float32(j int) *Column[float32] { return fixedColumn[float32](b, j, tFloat32) }

// Float64 returns column j, which must be float64.
func (b *Batch) Float64(j int) *Column[float64] { return fixedColumn[float64](b, j, tFloat64) }

// Timestamp returns column j, which must be a timestamp (of any unit and time
// zone; see the column's [DataType]), as int64 values since the epoch.
func (b *Batch) Timestamp(j int) *Column[int64] { return fixedColumn[int64](b, j, tTimestamp) }

// Date32 returns column j, which must be date32, as days since the epoch.
func (b *Batch) Date32(j int) *Column[int32] { return fixedColumn[int32](b, j, tDate32) }

// Bool returns column j, which must be bool.
func (b *Batch) Bool(j int) *BoolColumn {
	c := b.col(j, tBool)
	c.bools = BoolColumn{
		vals:  viewBitmap(c.b1, c.off, b.n, -1),
		valid: viewBitmap(c.valid, c.off, b.n, c.nulls),
	}
	return &c.bools
}

// Utf8 returns column j, which must be utf8.
func (b *Batch) Utf8(j int) *StringColumn { return b.varColumn(j, tUtf8) }

// Binary returns column j, which must be binary.
func (b *Batch) Binary(j int) *StringColumn { return b.varColumn(j, tBinary) }

func (b *Batch) varColumn(j int, id typeID) *StringColumn {
	c := b.col(j, id)
	if c.b1 == 0 {
		// Only allowed for empty columns (SPEC §4.4).
		c.str = StringColumn{offs: zeroOffsets[:b.n+1], valid: Bitmap{n: b.n}}
		return &c.str
	}
	offs := unsafe.Slice((*int32)(ptrAt(c.b1)), c.off+b.n+1)[c.off:]
	var data []byte
	if end := int(offs[b.n]); end > 0 {
		data = unsafe.Slice((*byte)(ptrAt(c.b2)), end)
	}
	c.str = StringColumn{offs: offs, data: data, valid: viewBitmap(c.valid, c.off, b.n, c.nulls)}
	return &c.str
}

var zeroOffsets = []int32{0}

// Column is a read-only, zero-copy view of a fixed-width column. Its values
// are already adjusted for the Arrow offset: row i is Values()[i].
type Column[T Fixed] struct {
	vals  []T
	valid Bitmap
}

// Len returns the number of rows.
func (c *Column[T]) Len() int { return len(c.vals) }

// Values returns the values of all rows, including the unspecified values
// under nulls. The slice aliases the batch memory: do not modify it.
func (c *Column[T]) Values() []T { return c.vals }

// Value returns the value of row i (unspecified if the row is null).
func (c *Column[T]) Value(i int) T { return c.vals[i] }

// IsNull reports whether row i is null.
func (c *Column[T]) IsNull(i int) bool { return !c.valid.Get(i) }

// IsValid reports whether row i is not null.
func (c *Column[T]) IsValid(i int) bool { return c.valid.Get(i) }

// NullCount returns the number of null rows.
func (c *Column[T]) NullCount() int { return c.valid.Zeros() }

// Validity returns the validity bitmap (bit set = not null).
func (c *Column[T]) Validity() Bitmap { return c.valid }

// BoolColumn is a read-only view of a bool column.
type BoolColumn struct {
	vals  Bitmap
	valid Bitmap
}

// Len returns the number of rows.
func (c *BoolColumn) Len() int { return c.vals.n }

// Value returns the value of row i (unspecified if the row is null).
func (c *BoolColumn) Value(i int) bool { return c.vals.Get(i) }

// Values returns the value bitmap.
func (c *BoolColumn) Values() Bitmap { return c.vals }

// IsNull reports whether row i is null.
func (c *BoolColumn) IsNull(i int) bool { return !c.valid.Get(i) }

// IsValid reports whether row i is not null.
func (c *BoolColumn) IsValid(i int) bool { return c.valid.Get(i) }

// NullCount returns the number of null rows.
func (c *BoolColumn) NullCount() int { return c.valid.Zeros() }

// Validity returns the validity bitmap (bit set = not null).
func (c *BoolColumn) Validity() Bitmap { return c.valid }

// StringColumn is a read-only, zero-copy view of a utf8 or binary column.
// Strings and byte slices it returns alias the batch memory and are valid only
// during the operator call.
type StringColumn struct {
	offs  []int32 // Len()+1 offsets into data
	data  []byte
	valid Bitmap
}

// Len returns the number of rows.
func (c *StringColumn) Len() int { return len(c.offs) - 1 }

// Value returns row i as a string without copying ("" for nulls).
func (c *StringColumn) Value(i int) string {
	b := c.data[c.offs[i]:c.offs[i+1]]
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// Bytes returns row i without copying. The caller must not modify it.
func (c *StringColumn) Bytes(i int) []byte {
	e := c.offs[i+1]
	return c.data[c.offs[i]:e:e]
}

// Offsets returns the Len()+1 offsets of the rows into [StringColumn.Data]:
// row i is Data()[Offsets()[i]:Offsets()[i+1]]. Offsets need not start at 0.
func (c *StringColumn) Offsets() []int32 { return c.offs }

// Data returns the data buffer, up to the end of the last row.
func (c *StringColumn) Data() []byte { return c.data }

// IsNull reports whether row i is null.
func (c *StringColumn) IsNull(i int) bool { return !c.valid.Get(i) }

// IsValid reports whether row i is not null.
func (c *StringColumn) IsValid(i int) bool { return c.valid.Get(i) }

// NullCount returns the number of null rows.
func (c *StringColumn) NullCount() int { return c.valid.Zeros() }

// Validity returns the validity bitmap (bit set = not null).
func (c *StringColumn) Validity() Bitmap { return c.valid }
