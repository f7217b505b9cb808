package weir

import (
	"fmt"
	"unsafe"
)

// cArray is the wasm32 layout of ArrowArray (SPEC §4.1): 64 bytes.
type cArray struct {
	length, nullCount, offset, nBuffers, nChildren  int64
	buffers, children, dictionary, release, private uint32
	_                                               uint32
}

// cSchema is the wasm32 layout of ArrowSchema (SPEC §4.1): 48 bytes.
type cSchema struct {
	format, name, metadata uint32
	_                      uint32
	flags, nChildren       int64
	children, dictionary   uint32
	release, private       uint32
}

const (
	cArraySize   = 64
	cSchemaSize  = 48
	flagNullable = 2
	// releaseMark is written into the release field of exported structures;
	// the host ignores it (SPEC §4.1) but a non-zero value marks a live
	// structure in C Data Interface terms.
	releaseMark = 1
)

func arrayAt(a uint32) *cArray   { return (*cArray)(ptrAt(a)) }
func schemaAt(a uint32) *cSchema { return (*cSchema)(ptrAt(a)) }

// u32s returns n u32 values at address a.
func u32s(a uint32, n int) []uint32 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*uint32)(ptrAt(a)), n)
}

// i32s returns n i32 values at address a.
func i32s(a uint32, n int) []int32 {
	if n == 0 {
		return nil
	}
	if a == 0 {
		panic("weir: NULL index array")
	}
	return unsafe.Slice((*int32)(ptrAt(a)), n)
}

// cString reads the NUL-terminated string at a (at most 64 KiB).
func cString(a uint32) string {
	if a == 0 {
		return ""
	}
	p := (*[1 << 16]byte)(ptrAt(a))
	for i := range p {
		if p[i] == 0 {
			return string(p[:i])
		}
	}
	return string(p[:])
}

// hostString copies a (ptr, len) string passed by the host.
func hostString(a, n uint32) string {
	if n == 0 {
		return ""
	}
	return string(unsafe.Slice((*byte)(ptrAt(a)), n))
}

// importSchema reads a struct ("+s") schema.
func importSchema(a uint32) (Schema, error) {
	if a == 0 {
		return nil, fmt.Errorf("no input schema")
	}
	s := schemaAt(a)
	if f := cString(s.format); f != "+s" {
		return nil, fmt.Errorf("input schema has format %q, want a struct (+s)", f)
	}
	if s.nChildren < 0 || s.nChildren > 1<<16 {
		return nil, fmt.Errorf("input schema has %d children", s.nChildren)
	}
	kids := u32s(s.children, int(s.nChildren))
	out := make(Schema, len(kids))
	for j, k := range kids {
		c := schemaAt(k)
		t := DataType(cString(c.format))
		out[j] = Field{Name: cString(c.name), Type: t, NotNull: c.flags&flagNullable == 0}
		if !t.Valid() {
			return nil, fmt.Errorf("input column %q has unsupported Arrow format %q", out[j].Name, string(t))
		}
	}
	return out, nil
}

// exportSchema writes s as a struct ("+s") ArrowSchema and returns its
// address and the memory holding it, which the caller must keep reachable
// for as long as the host may read it.
func exportSchema(s Schema) (uint32, []byte) {
	n := len(s)
	size := cSchemaSize*(n+1) + 4*n + 3
	for _, f := range s {
		size += len(f.Type) + 1 + len(f.Name) + 1
	}
	mem := rawAlloc(size)
	base := addrOf(unsafe.Pointer(unsafe.SliceData(mem)))
	pos := cSchemaSize*(n+1) + 4*n
	str := func(v string) uint32 {
		a := base + uint32(pos)
		copy(mem[pos:], v)
		mem[pos+len(v)] = 0
		pos += len(v) + 1
		return a
	}
	parent := schemaAt(base)
	kids := unsafe.Slice((*uint32)(unsafe.Pointer(&mem[cSchemaSize*(n+1)])), n+1)[:n]
	*parent = cSchema{format: str("+s"), nChildren: int64(n), release: releaseMark}
	if n > 0 {
		parent.children = addrOf(unsafe.Pointer(&kids[0]))
	}
	for j, f := range s {
		ka := base + uint32(cSchemaSize*(j+1))
		k := schemaAt(ka)
		*k = cSchema{format: str(string(f.Type)), name: str(f.Name), release: releaseMark}
		if !f.NotNull {
			k.flags = flagNullable
		}
		kids[j] = ka
	}
	return base, mem
}

// arrayRegion is guest memory holding an exported struct array: the parent
// ArrowArray, one child ArrowArray per column and their pointer arrays. It is
// allocated once and rewritten by every call.
type arrayRegion struct {
	addr       uint32
	parent     *cArray
	parentBufs []uint32 // 1 (validity)
	kids       []cArray
	kidBufs    []uint32 // 3 per child
}

func newArrayRegion(n int) *arrayRegion {
	size := cArraySize*(n+1) + 4*n + 4 + 12*n
	mem := rawAlloc(size)
	r := &arrayRegion{addr: addrOf(unsafe.Pointer(unsafe.SliceData(mem)))}
	r.parent = (*cArray)(unsafe.Pointer(&mem[0]))
	r.kids = unsafe.Slice((*cArray)(unsafe.Pointer(&mem[0])), n+1)[1:]
	ptrs := unsafe.Slice((*uint32)(unsafe.Pointer(&mem[cArraySize*(n+1)])), n+1+3*n)
	kidPtrs := ptrs[:n]
	r.parentBufs = ptrs[n : n+1]
	r.kidBufs = ptrs[n+1:]
	*r.parent = cArray{nBuffers: 1, nChildren: int64(n), release: releaseMark,
		buffers: addrOf(unsafe.Pointer(&r.parentBufs[0]))}
	if n > 0 {
		r.parent.children = addrOf(unsafe.Pointer(&kidPtrs[0]))
	}
	for j := range r.kids {
		kidPtrs[j] = addrOf(unsafe.Pointer(&r.kids[j]))
		r.kids[j] = cArray{release: releaseMark, buffers: addrOf(unsafe.Pointer(&r.kidBufs[3*j]))}
	}
	return r
}

// begin sets the parent's row count and struct validity.
func (r *arrayRegion) begin(rows int, valid uint32, nulls int64) {
	r.parent.length = int64(rows)
	r.parent.nullCount = nulls
	r.parentBufs[0] = valid
}

func (r *arrayRegion) child(j int) (*cArray, []uint32) {
	return &r.kids[j], r.kidBufs[3*j : 3*j+3 : 3*j+3]
}

// load points b at the struct array at address a, whose schema is b.schema.
func (b *Batch) load(a uint32) error {
	if a == 0 {
		return fmt.Errorf("no input batch")
	}
	arr := arrayAt(a)
	if arr.nChildren != int64(len(b.cols)) {
		return fmt.Errorf("input batch has %d columns, its schema %d", arr.nChildren, len(b.cols))
	}
	if arr.length < 0 || arr.length > 1<<31 {
		return fmt.Errorf("input batch has length %d", arr.length)
	}
	n := int(arr.length)
	b.n = n
	kids := u32s(arr.children, len(b.cols))
	for j := range b.cols {
		if err := b.cols[j].load(arrayAt(kids[j]), int(arr.offset), n); err != nil {
			return fmt.Errorf("input column %q: %w", b.schema[j].Name, err)
		}
	}
	return nil
}

func newBatch(s Schema) Batch {
	b := Batch{schema: s, cols: make([]colView, len(s))}
	for j, f := range s {
		b.cols[j].id = f.Type.id()
	}
	return b
}

// load points c at the child array a, for rows [parentOff, parentOff+n).
func (c *colView) load(a *cArray, parentOff, n int) error {
	want := int64(2)
	if c.id == tUtf8 || c.id == tBinary {
		want = 3
	}
	if a.nBuffers != want {
		return fmt.Errorf("has %d buffers, want %d", a.nBuffers, want)
	}
	off := int(a.offset) + parentOff
	if a.length < int64(off-int(a.offset)+n) && n > 0 {
		return fmt.Errorf("has length %d, batch needs %d", a.length, off-int(a.offset)+n)
	}
	bufs := u32s(a.buffers, int(want))
	c.off = off
	c.valid, c.b1, c.b2 = bufs[0], bufs[1], 0
	if want == 3 {
		c.b2 = bufs[2]
	}
	switch {
	case c.valid == 0:
		c.nulls = 0
	case a.nullCount >= 0 && parentOff == 0 && a.length == int64(n):
		c.nulls = int(a.nullCount)
	default:
		c.nulls = -1 // counted on demand
	}
	if n > 0 && c.b1 == 0 {
		return fmt.Errorf("NULL values buffer")
	}
	return nil
}
