package ipcframe

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// message locates one IPC message in a payload.
type message struct {
	kind       byte // MessageHeader: 1 schema, 2 dictionary batch, 3 record batch
	start, end int64
}

const (
	headerSchema      = 1
	headerRecordBatch = 3
)

// checkMessages walks the Arrow IPC stream messages of a batch payload and
// checks every length arrow's reader would trust before it sees them: the
// reader allocates a message body, and each buffer of a record batch, at the
// size the metadata claims, so a forged length would make it allocate
// without bound. Compressed batches (unused by Weir) are refused.
//
// A message is a continuation marker (0xFFFFFFFF), an int32 metadata length,
// the flatbuffer Message, then its body of Message.bodyLength bytes.
func checkMessages(p []byte, want layout) ([]message, error) {
	var msgs []message
	pos := int64(0)
	for n := 0; len(p) > 0; n++ {
		if len(p) < 8 || binary.LittleEndian.Uint32(p) != 0xFFFFFFFF {
			return nil, fmt.Errorf("%w: message %d lacks its continuation marker", ErrFrame, n)
		}
		metaLen := int64(int32(binary.LittleEndian.Uint32(p[4:])))
		if metaLen <= 0 || 8+metaLen > int64(len(p)) {
			return nil, fmt.Errorf("%w: message %d metadata of %d bytes does not fit the frame", ErrFrame, n, metaLen)
		}
		kind, bodyLen, err := checkMetadata(fb(p[8:8+metaLen]), int64(len(p))-8-metaLen, want)
		if err != nil {
			return nil, fmt.Errorf("%w: message %d: %w", ErrFrame, n, err)
		}
		end := 8 + metaLen + bodyLen
		msgs = append(msgs, message{kind: kind, start: pos, end: pos + end})
		p = p[end:]
		pos += end
	}
	return msgs, nil
}

// fb is a flatbuffer with bounds-checked reads.
type fb []byte

var errOutside = errors.New("flatbuffer offset outside the metadata")

func (b fb) u8(at int64) (byte, error) {
	if at < 0 || at >= int64(len(b)) {
		return 0, errOutside
	}
	return b[at], nil
}

func (b fb) u16(at int64) (int64, error) {
	if at < 0 || at+2 > int64(len(b)) {
		return 0, errOutside
	}
	return int64(binary.LittleEndian.Uint16(b[at:])), nil
}

func (b fb) u32(at int64) (int64, error) {
	if at < 0 || at+4 > int64(len(b)) {
		return 0, errOutside
	}
	return int64(binary.LittleEndian.Uint32(b[at:])), nil
}

func (b fb) i64(at int64) (int64, error) {
	if at < 0 || at+8 > int64(len(b)) {
		return 0, errOutside
	}
	return int64(binary.LittleEndian.Uint64(b[at:])), nil
}

// field returns the position of field f of the table at t, or 0 when the
// field is absent. Like the flatbuffers runtime that arrow uses, it computes
// positions in wrapping uint32 arithmetic and reads a field whose slot
// starts inside the vtable, so it sees exactly what arrow's reader will.
func (b fb) field(t, f int64) (int64, error) {
	soff, err := b.u32(t)
	if err != nil {
		return 0, err
	}
	vt := int64(uint32(t) - uint32(soff))
	vsize, err := b.u16(vt)
	if err != nil {
		return 0, err
	}
	slot := 4 + 2*f
	if slot >= vsize {
		return 0, nil
	}
	off, err := b.u16(vt + slot)
	if err != nil || off == 0 {
		return 0, err
	}
	return int64(uint32(t) + uint32(off)), nil
}

// deref follows the uoffset stored at at (to a table or a vector).
func (b fb) deref(at int64) (int64, error) {
	off, err := b.u32(at)
	if err != nil {
		return 0, err
	}
	return int64(uint32(at) + uint32(off)), nil
}

// layout is the number of field nodes and buffers a record batch of the
// channel's schema has. Arrow's accessors do not bound an index by a
// vector's length, so the counts must match exactly.
type layout struct{ nodes, buffers int64 }

// checkMetadata reads a Message: its header type and body length (which
// must fit in avail bytes) and, for a record batch, checks that it has the
// nodes and buffers of the schema, that the buffers lie inside the body, that
// lengths are sane, and that it is not compressed.
func checkMetadata(b fb, avail int64, want layout) (kind byte, bodyLen int64, err error) {
	root, err := b.deref(0)
	if err != nil {
		return 0, 0, err
	}
	if at, err := b.field(root, 1); err != nil { // header_type
		return 0, 0, err
	} else if at != 0 {
		if kind, err = b.u8(at); err != nil {
			return 0, 0, err
		}
	}
	if at, err := b.field(root, 3); err != nil { // bodyLength
		return 0, 0, err
	} else if at != 0 {
		if bodyLen, err = b.i64(at); err != nil {
			return 0, 0, err
		}
	}
	if bodyLen < 0 || bodyLen > avail {
		return 0, 0, fmt.Errorf("body of %d bytes, %d available", bodyLen, avail)
	}
	if kind != headerRecordBatch {
		return kind, bodyLen, nil
	}
	hdr, err := b.field(root, 2) // header (the RecordBatch table)
	if err != nil {
		return 0, 0, err
	}
	if hdr == 0 {
		return 0, 0, errors.New("record batch without a header")
	}
	rb, err := b.deref(hdr)
	if err != nil {
		return 0, 0, err
	}
	if at, err := b.field(rb, 3); err != nil { // compression
		return 0, 0, err
	} else if at != 0 {
		return 0, 0, errors.New("compressed record batches are not supported")
	}
	if at, err := b.field(rb, 0); err != nil { // length (rows)
		return 0, 0, err
	} else if at != 0 {
		rows, err := b.i64(at)
		if err != nil {
			return 0, 0, err
		}
		if rows < 0 || rows > maxRows {
			return 0, 0, fmt.Errorf("record batch of %d rows", rows)
		}
	}
	nodes, err := b.vector(rb, 1, 16) // nodes: [FieldNode{length i64, null_count i64}]
	if err != nil {
		return 0, 0, err
	}
	if nodes.n != want.nodes {
		return 0, 0, fmt.Errorf("%d field nodes, the schema has %d", nodes.n, want.nodes)
	}
	for i := int64(0); i < nodes.n; i++ {
		length, _ := b.i64(nodes.at + 16*i)
		nulls, _ := b.i64(nodes.at + 8 + 16*i)
		if length < 0 || length > maxRows || nulls < 0 || nulls > length {
			return 0, 0, fmt.Errorf("field node %d: length %d, null count %d", i, length, nulls)
		}
	}
	bufs, err := b.vector(rb, 2, 16) // buffers: [Buffer{offset i64, length i64}]
	if err != nil {
		return 0, 0, err
	}
	if bufs.n != want.buffers {
		return 0, 0, fmt.Errorf("%d buffers, the schema has %d", bufs.n, want.buffers)
	}
	for i := int64(0); i < bufs.n; i++ {
		off, _ := b.i64(bufs.at + 16*i)
		length, _ := b.i64(bufs.at + 8 + 16*i)
		if off < 0 || length < 0 || off > bodyLen || length > bodyLen-off {
			return 0, 0, fmt.Errorf("buffer %d [%d, +%d) outside a body of %d bytes", i, off, length, bodyLen)
		}
	}
	return kind, bodyLen, nil
}

// maxRows bounds the rows of one batch (Arrow's 32-bit offsets).
const maxRows = 1<<31 - 1

type vec struct{ at, n int64 } // first element, element count

// vector locates vector field f of the table at t, whose elements are size
// bytes, and checks they all lie in the buffer. An absent field is empty.
func (b fb) vector(t, f, size int64) (vec, error) {
	at, err := b.field(t, f)
	if err != nil || at == 0 {
		return vec{}, err
	}
	v, err := b.deref(at)
	if err != nil {
		return vec{}, err
	}
	n, err := b.u32(v)
	if err != nil {
		return vec{}, err
	}
	if v+4+size*n > int64(len(b)) {
		return vec{}, fmt.Errorf("a vector of %d elements does not fit the metadata", n)
	}
	return vec{at: v + 4, n: n}, nil
}
