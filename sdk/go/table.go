package weir

import (
	"fmt"
	"unsafe"
)

// Table is a mutable, column-oriented table with random access by row: the
// keyed state of a process operator (one row per key of the batch) and the
// accumulators of an aggregate operator (one row per accumulator).
//
// Its typed accessors return the column's values as a slice that the function
// reads and writes in place; the SDK fills them from the host before the call
// and sends them back after it. Table values are never null: a null value in
// the host's copy reads as the zero value. A Table is valid only during the
// call; strings read from it may alias host memory.
type Table struct {
	schema Schema
	n      int
	cols   []tableCol
	exists []bool // process state: the key has state
	clear  []bool // process state: drop the key's state
	keyed  bool
	exp    *arrayRegion
	vbits  []byte // exported struct validity
}

type tableCol struct {
	id    typeID
	width int
	timer bool     // a process state's timer column: 0 is exported as null
	raw   []byte   // fixed-width values, n*width bytes
	bools []bool   // bool values
	strs  []string // utf8/binary values
	// export buffers for bool and variable-width columns
	bits []byte
	offs []int32
	data []byte
}

func newTable(s Schema, keyed bool) *Table {
	t := &Table{schema: s, cols: make([]tableCol, len(s)), keyed: keyed}
	for j, f := range s {
		id := f.Type.id()
		t.cols[j] = tableCol{id: id, width: byteWidth[id],
			timer: keyed && isTimer(f.Name, id)}
	}
	return t
}

// NewTable returns a table of schema s with rows rows of zero values, all of
// which exist. Operator functions receive their tables from the SDK;
// NewTable is for tests and for calling process and aggregate functions
// directly.
func NewTable(s Schema, rows int) *Table {
	if err := s.Validate(); err != nil {
		panic("weir: NewTable: " + err.Error())
	}
	t := newTable(s, false)
	t.reset(rows)
	return t
}

// Len returns the number of rows.
func (t *Table) Len() int { return t.n }

// Schema returns the table's columns. The caller must not modify it.
func (t *Table) Schema() Schema { return t.schema }

// Exists reports whether key row k has state: it had state when the call
// began and [Table.Clear] was not called for it. Accumulator rows always
// exist.
func (t *Table) Exists(k int) bool {
	if !t.keyed {
		_ = t.exists[k]
		return true
	}
	return t.exists[k] && !t.clear[k]
}

// Clear drops the state of key row k when the call returns. By default every
// key of the batch keeps (or gets) the state held in its row.
func (t *Table) Clear(k int) { t.clear[k] = true }

// Cleared reports whether [Table.Clear] was called for key row k (and not
// undone by [Table.Keep]) during the call; it serves tests that call process
// functions directly.
func (t *Table) Cleared(k int) bool { return t.clear[k] }

// Keep undoes [Table.Clear] for key row k.
func (t *Table) Keep(k int) { t.clear[k] = false }

func (t *Table) col(j int, id typeID) *tableCol {
	c := &t.cols[j]
	if c.id != id {
		panic(fmt.Sprintf("weir: table column %d (%q) is %s, not %s", j, t.schema[j].Name, t.schema[j].Type, typeNames[id]))
	}
	return c
}

func tableValues[T Fixed](t *Table, j int, id typeID) []T {
	c := t.col(j, id)
	if t.n == 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(c.raw))), t.n)
}

// Int8 returns the values of column j, which must be int8.
func (t *Table) Int8(j int) []int8 { return tableValues[int8](t, j, tInt8) }

// Int16 returns the values of column j, which must be int16.
func (t *Table) Int16(j int) []int16 { return tableValues[int16](t, j, tInt16) }

// Int32 returns the values of column j, which must be int32.
func (t *Table) Int32(j int) []int32 { return tableValues[int32](t, j, tInt32) }

// Int64 returns the values of column j, which must be int64.
func (t *Table) Int64(j int) []int64 { return tableValues[int64](t, j, tInt64) }

// Uint8 returns the values of column j, which must be uint8.
func (t *Table) Uint8(j int) []uint8 { return tableValues[uint8](t, j, tUint8) }

// Uint16 returns the values of column j, which must be uint16.
func (t *Table) Uint16(j int) []uint16 { return tableValues[uint16](t, j, tUint16) }

// Uint32 returns the values of column j, which must be uint32.
func (t *Table) Uint32(j int) []uint32 { return tableValues[uint32](t, j, tUint32) }

// Uint64 returns the values of column j, which must be uint64.
func (t *Table) Uint64(j int) []uint64 { return tableValues[uint64](t, j, tUint64) }

// Float32 returns the values of column j, which must be float32.
func (t *Table) Float32(j int) []float32 { return tableValues[float32](t, j, tFloat32) }

// Float64 returns the values of column j, which must be float64.
func (t *Table) Float64(j int) []float64 { return tableValues[float64](t, j, tFloat64) }

// Timestamp returns the values of column j, which must be a timestamp.
func (t *Table) Timestamp(j int) []int64 { return tableValues[int64](t, j, tTimestamp) }

// Date32 returns the values of column j, which must be date32.
func (t *Table) Date32(j int) []int32 { return tableValues[int32](t, j, tDate32) }

// Bool returns the values of column j, which must be bool.
func (t *Table) Bool(j int) []bool { return t.col(j, tBool).bools[:t.n] }

// Strings returns the values of column j, which must be utf8 or binary.
// Assign new strings to change them.
func (t *Table) Strings(j int) []string {
	c := &t.cols[j]
	if c.id != tUtf8 && c.id != tBinary {
		t.col(j, tUtf8) // panics
	}
	return c.strs[:t.n]
}

// reset sizes the table for n rows, all zero, none existing.
func (t *Table) reset(n int) {
	t.n = n
	t.exists = fitBools(t.exists, n)
	t.clear = fitBools(t.clear, n)
	clear(t.exists)
	clear(t.clear)
	for j := range t.cols {
		c := &t.cols[j]
		switch c.id {
		case tBool:
			c.bools = fitBools(c.bools, n)
			clear(c.bools)
		case tUtf8, tBinary:
			if cap(c.strs) < n {
				c.strs = make([]string, grownCap(cap(c.strs), n))
			}
			c.strs = c.strs[:n]
			clear(c.strs)
		default:
			if len(c.raw) < n*c.width {
				c.raw = makeSlice[byte](grownCap(len(c.raw), n*c.width))
			}
			clear(c.raw[:n*c.width])
		}
	}
}

func fitBools(b []bool, n int) []bool {
	if cap(b) < n {
		b = make([]bool, grownCap(cap(b), n))
	}
	return b[:n]
}

// load fills the table from the struct array at a (one row per key or
// accumulator).
func (t *Table) load(a uint32, what string) error {
	if a == 0 {
		return fmt.Errorf("no %s array", what)
	}
	arr := arrayAt(a)
	if arr.nChildren != int64(len(t.cols)) {
		return fmt.Errorf("%s array has %d columns, its schema %d", what, arr.nChildren, len(t.cols))
	}
	if arr.length < 0 || arr.length > 1<<31 {
		return fmt.Errorf("%s array has length %d", what, arr.length)
	}
	n := int(arr.length)
	t.reset(n)
	poff := int(arr.offset)
	var sv []byte
	if arr.nBuffers >= 1 {
		if p := ptrAt(u32s(arr.buffers, 1)[0]); p != nil {
			sv = unsafe.Slice((*byte)(p), (poff+n+7)>>3)
		}
	}
	for k := 0; k < n; k++ {
		t.exists[k] = sv == nil || getBit(sv, poff+k)
	}
	kids := u32s(arr.children, len(t.cols))
	var view colView
	for j := range t.cols {
		c := &t.cols[j]
		view.id = c.id
		if err := view.load(arrayAt(kids[j]), poff, n); err != nil {
			return fmt.Errorf("%s column %q: %w", what, t.schema[j].Name, err)
		}
		var valid []byte
		if view.valid != 0 && n > 0 {
			valid = unsafe.Slice((*byte)(ptrAt(view.valid)), (view.off+n+7)>>3)
		}
		switch c.id {
		case tBool:
			if n > 0 {
				vb := unsafe.Slice((*byte)(ptrAt(view.b1)), (view.off+n+7)>>3)
				for k := range n {
					c.bools[k] = getBit(vb, view.off+k)
				}
			}
		case tUtf8, tBinary:
			if n > 0 {
				offs := unsafe.Slice((*int32)(ptrAt(view.b1)), view.off+n+1)[view.off:]
				var data []byte
				if end := int(offs[n]); end > 0 {
					data = unsafe.Slice((*byte)(ptrAt(view.b2)), end)
				}
				for k := range n {
					s := data[offs[k]:offs[k+1]]
					c.strs[k] = unsafe.String(unsafe.SliceData(s), len(s))
				}
			}
		default:
			if n > 0 {
				w := c.width
				src := unsafe.Slice((*byte)(ptrAt(view.b1)), (view.off+n)*w)[view.off*w:]
				copy(c.raw[:n*w], src)
			}
		}
		for k := range n {
			if !t.exists[k] || (valid != nil && !getBit(valid, view.off+k)) {
				c.zero(k)
			}
		}
	}
	return nil
}

// release drops the strings of the call, which may point into host memory.
func (t *Table) release() {
	for j := range t.cols {
		if c := &t.cols[j]; c.strs != nil {
			clear(c.strs)
		}
	}
}

func (c *tableCol) zero(k int) {
	switch c.id {
	case tBool:
		c.bools[k] = false
	case tUtf8, tBinary:
		c.strs[k] = ""
	default:
		clear(c.raw[k*c.width : (k+1)*c.width])
	}
}

// exportTimerValidity builds the validity of a timer column of n rows, in
// which 0 stands for null (no timer), and returns its address (0 when no
// value is null) and the null count.
func (c *tableCol) exportTimerValidity(n int) (uint32, int64) {
	var vals []int64
	if n > 0 {
		vals = unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(c.raw))), n)
	}
	var nulls int64
	for _, v := range vals {
		nulls += int64(b2u(v == 0))
	}
	if nulls == 0 {
		return 0, 0
	}
	nb := (n + 7) >> 3
	if len(c.bits) < nb {
		c.bits = makeSlice[byte](grownCap(len(c.bits), nb))
	}
	clear(c.bits[:nb])
	for k, v := range vals {
		if v != 0 {
			c.bits[k>>3] |= 1 << (k & 7)
		}
	}
	return addrOf(unsafe.Pointer(unsafe.SliceData(c.bits))), nulls
}

// export writes the table as a struct array and returns its address.
func (t *Table) export() uint32 {
	if t.exp == nil {
		t.exp = newArrayRegion(len(t.cols))
	}
	n := t.n
	var valid uint32
	var nulls int64
	if t.keyed {
		for k := range n {
			if t.clear[k] {
				nulls++
			}
		}
		if nulls > 0 {
			nb := (n + 7) >> 3
			if len(t.vbits) < nb {
				t.vbits = makeSlice[byte](grownCap(len(t.vbits), nb))
			}
			clear(t.vbits[:nb])
			for k := range n {
				if !t.clear[k] {
					t.vbits[k>>3] |= 1 << (k & 7)
				}
			}
			valid = addrOf(unsafe.Pointer(unsafe.SliceData(t.vbits)))
		}
	}
	t.exp.begin(n, valid, nulls)
	for j := range t.cols {
		c := &t.cols[j]
		a, bufs := t.exp.child(j)
		a.length = int64(n)
		a.nullCount = 0
		bufs[0] = 0
		switch c.id {
		case tBool:
			a.nBuffers = 2
			nb := max((n+7)>>3, 1)
			if len(c.bits) < nb {
				c.bits = makeSlice[byte](grownCap(len(c.bits), nb))
			}
			clear(c.bits[:nb])
			for k, v := range c.bools[:n] {
				if v {
					c.bits[k>>3] |= 1 << (k & 7)
				}
			}
			bufs[1] = addrOf(unsafe.Pointer(unsafe.SliceData(c.bits)))
		case tUtf8, tBinary:
			a.nBuffers = 3
			size := 0
			for _, s := range c.strs[:n] {
				size += len(s)
			}
			if cap(c.offs) < n+1 {
				c.offs = makeSlice[int32](grownCap(cap(c.offs), n+1))
			}
			if cap(c.data) < size {
				c.data = makeSlice[byte](grownCap(cap(c.data), size))
			}
			offs := c.offs[:n+1]
			data := c.data[:size]
			pos := 0
			offs[0] = 0
			for k, s := range c.strs[:n] {
				pos += copy(data[pos:], s)
				offs[k+1] = int32(pos)
			}
			bufs[1] = addrOf(unsafe.Pointer(unsafe.SliceData(offs)))
			bufs[2] = 0
			if size > 0 {
				bufs[2] = addrOf(unsafe.Pointer(unsafe.SliceData(data)))
			}
		default:
			a.nBuffers = 2
			if len(c.raw) == 0 {
				c.raw = makeSlice[byte](64)
			}
			bufs[1] = addrOf(unsafe.Pointer(unsafe.SliceData(c.raw)))
			if c.timer {
				bufs[0], a.nullCount = c.exportTimerValidity(n)
			}
		}
	}
	return t.exp.addr
}
