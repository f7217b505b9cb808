//go:build !wasip1

package weir

import (
	"fmt"
	"math"
	"reflect"
	"testing"
	"unsafe"
)

// This file drives the ABI exports natively, against the emulated linear
// memory, the way the host does: inputs in weir_alloc memory, outputs read
// back from the structures the guest returns.

func bytesAt(a uint32, n int) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(ptrAt(a)), n)
}

func hostBytes(s string) (uint32, uint32) {
	if s == "" {
		return 0, 0
	}
	p := abiAlloc(uint32(len(s)), 1)
	copy(bytesAt(p, len(s)), s)
	return p, uint32(len(s))
}

func slot(ret uint32, k int) uint32 { return *(*uint32)(ptrAt(ret + uint32(4*k))) }

func clearRet(ret uint32) { clear(bytesAt(ret, 64)) }

// col describes one input column: its field and values (nil = null).
type col struct {
	f    Field
	vals []any
}

// buildBatch writes cols as a struct array through a fresh Builder and returns
// its address. It then slices every column to start at row off (SPEC §4.4),
// keeping n rows; n < 0 keeps all remaining rows.
func buildBatch(t testing.TB, cols []col, off, n int) uint32 {
	t.Helper()
	s := make(Schema, len(cols))
	for j, c := range cols {
		s[j] = c.f
	}
	b := NewBuilder(s)
	rows := 0
	for j, c := range cols {
		appendValues(t, b, j, c.vals)
		rows = len(c.vals)
	}
	addr, _, err := b.export()
	if err != nil {
		t.Fatal(err)
	}
	if n < 0 {
		n = rows - off
	}
	parent := arrayAt(addr)
	parent.length = int64(n)
	for j := range cols {
		child, _ := b.exp.child(j)
		child.offset = int64(off)
		child.nullCount = -1
	}
	return addr
}

func appendValues(t testing.TB, b *Builder, j int, vals []any) {
	t.Helper()
	for _, v := range vals {
		if v == nil {
			appendNull(b, j)
			continue
		}
		switch b.schema[j].Type.id() {
		case tBool:
			b.Bool(j).Append(v.(bool))
		case tInt8:
			b.Int8(j).Append(int8(v.(int)))
		case tInt16:
			b.Int16(j).Append(int16(v.(int)))
		case tInt32:
			b.Int32(j).Append(int32(v.(int)))
		case tInt64:
			b.Int64(j).Append(int64(v.(int)))
		case tUint8:
			b.Uint8(j).Append(uint8(v.(int)))
		case tUint16:
			b.Uint16(j).Append(uint16(v.(int)))
		case tUint32:
			b.Uint32(j).Append(uint32(v.(int)))
		case tUint64:
			b.Uint64(j).Append(v.(uint64))
		case tFloat32:
			b.Float32(j).Append(float32(v.(float64)))
		case tFloat64:
			b.Float64(j).Append(v.(float64))
		case tUtf8:
			b.Utf8(j).Append(v.(string))
		case tBinary:
			b.Binary(j).AppendBytes(v.([]byte))
		case tTimestamp:
			b.Timestamp(j).Append(int64(v.(int)))
		case tDate32:
			b.Date32(j).Append(int32(v.(int)))
		default:
			t.Fatalf("type %s", b.schema[j].Type)
		}
	}
}

func appendNull(b *Builder, j int) {
	switch c := b.cols[j].(type) {
	case *BoolBuilder:
		c.AppendNull()
	case *StringBuilder:
		c.AppendNull()
	case interface{ AppendNull() }:
		c.AppendNull()
	}
}

// columnValues returns column j of b as []any, nil for nulls, in the value
// types appendValues takes.
func columnValues(b *Batch, j int) []any {
	out := make([]any, b.Len())
	valid := b.Validity(j)
	for i := range out {
		if !valid.Get(i) {
			continue
		}
		switch b.cols[j].id {
		case tBool:
			out[i] = b.Bool(j).Value(i)
		case tInt8:
			out[i] = int(b.Int8(j).Value(i))
		case tInt16:
			out[i] = int(b.Int16(j).Value(i))
		case tInt32:
			out[i] = int(b.Int32(j).Value(i))
		case tInt64:
			out[i] = int(b.Int64(j).Value(i))
		case tUint8:
			out[i] = int(b.Uint8(j).Value(i))
		case tUint16:
			out[i] = int(b.Uint16(j).Value(i))
		case tUint32:
			out[i] = int(b.Uint32(j).Value(i))
		case tUint64:
			out[i] = b.Uint64(j).Value(i)
		case tFloat32:
			out[i] = float64(b.Float32(j).Value(i))
		case tFloat64:
			out[i] = b.Float64(j).Value(i)
		case tUtf8:
			out[i] = b.Utf8(j).Value(i)
		case tBinary:
			out[i] = append([]byte{}, b.Binary(j).Bytes(i)...)
		case tTimestamp:
			out[i] = int(b.Timestamp(j).Value(i))
		case tDate32:
			out[i] = int(b.Date32(j).Value(i))
		}
	}
	return out
}

// readBatch reads the struct array at addr with schema s, checking the
// structure the way the host does.
func readBatch(t testing.TB, addr uint32, s Schema) *Batch {
	t.Helper()
	a := arrayAt(addr)
	if a.nBuffers != 1 || a.offset != 0 || a.nChildren != int64(len(s)) {
		t.Fatalf("bad batch struct: %+v", *a)
	}
	if v := u32s(a.buffers, 1)[0]; v != 0 {
		t.Fatalf("batch has struct validity")
	}
	for j, k := range u32s(a.children, len(s)) {
		c := arrayAt(k)
		if c.nullCount >= 0 {
			b := newBatch(s)
			if err := b.load(addr); err != nil {
				t.Fatal(err)
			}
			counted := b.n - countOnesOrAll(&b, j)
			if int64(counted) != c.nullCount {
				t.Fatalf("column %q null_count %d, counted %d", s[j].Name, c.nullCount, counted)
			}
		}
	}
	b := newBatch(s)
	if err := b.load(addr); err != nil {
		t.Fatal(err)
	}
	return &b
}

func countOnesOrAll(b *Batch, j int) int {
	c := &b.cols[j]
	if c.valid == 0 {
		return b.n
	}
	return countOnes(unsafe.Slice((*byte)(ptrAt(c.valid)), (c.off+b.n+7)>>3), c.off, b.n)
}

// opened is an operator opened through weir_open.
type opened struct {
	h            uint32
	out, state   Schema
	status       int32
	err          string
	ret          uint32
	in           Schema
	inSchemaAddr uint32
}

func openOp(t testing.TB, kind Kind, name, params string, in Schema) *opened {
	t.Helper()
	ret := abiAlloc(64, 8)
	np, nl := hostBytes(name)
	pp, pl := hostBytes(params)
	sa, _ := exportSchema(in)
	lastError = ""
	o := &opened{ret: ret, in: in, inSchemaAddr: sa}
	o.status = abiOpen(uint32(kind), np, nl, pp, pl, sa, ret)
	o.err = lastError
	if o.status != 0 {
		return o
	}
	o.h = slot(ret, 0)
	var err error
	if a := slot(ret, 1); a != 0 {
		if o.out, err = importSchema(a); err != nil {
			t.Fatal(err)
		}
	}
	if a := slot(ret, 2); a != 0 {
		if o.state, err = importSchema(a); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

func mustOpen(t testing.TB, kind Kind, name, params string, in Schema) *opened {
	t.Helper()
	o := openOp(t, kind, name, params, in)
	if o.status != 0 {
		t.Fatalf("open %s: %s", name, o.err)
	}
	return o
}

// call runs fn (one of the abi* exports) and returns the status and message.
func call(fn func() int32) (int32, string) {
	lastError = ""
	st := fn()
	return st, lastError
}

func equalValues(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if fx, ok := x.(float64); ok {
			if fy, ok := y.(float64); ok && (fx == fy || math.IsNaN(fx) && math.IsNaN(fy)) {
				continue
			}
			return false
		}
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

func fmtValues(v []any) string {
	s := "["
	for i, x := range v {
		if i > 0 {
			s += " "
		}
		if x == nil {
			s += "null"
		} else {
			s += fmt.Sprint(x)
		}
	}
	return s + "]"
}

// newBitmap builds a view of n bits starting at bit off of data (nil: all
// set). nulls is the known zero count or -1.
func newBitmap(data []byte, off, n, nulls int) Bitmap {
	if data == nil || n == 0 {
		return Bitmap{n: n}
	}
	return Bitmap{bits: &data[off>>3], off: off & 7, n: n, nulls: nulls}
}
