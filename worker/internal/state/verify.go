package state

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// verifyMessage checks the flatbuffer metadata of an Arrow IPC message before
// arrow/ipc decodes it. arrow/ipc trusts vector lengths and offsets: a flipped
// bit in a schema message could make it allocate terabytes or recurse
// forever, which no recover catches. This checks that every table, vector
// and string arrow/ipc reads from a Schema or RecordBatch message lies inside
// the buffer, that fields nest at most maxFieldDepth deep, and that the
// message visits no more tables than the buffer can hold (shared subtables
// cannot multiply the work). Other message types are refused: a state
// snapshot has none.
//
// Slot numbers follow format/Message.fbs and format/Schema.fbs of Arrow.
func verifyMessage(meta []byte) error {
	v := &verifier{b: meta, budget: len(meta)/4 + 1}
	root, err := v.u32(0)
	if err != nil {
		return err
	}
	msg, err := v.table(int(root))
	if err != nil {
		return fmt.Errorf("message: %w", err)
	}
	if err := v.vectorOf(msg, 4, v.keyValue); err != nil { // custom_metadata
		return fmt.Errorf("message metadata: %w", err)
	}
	headerType, err := v.scalar(msg, 1, 1)
	if err != nil {
		return err
	}
	if _, err := v.field(msg, 3, 8); err != nil { // bodyLength
		return err
	}
	header, ok, err := v.child(msg, 2)
	if err != nil || !ok {
		return fmt.Errorf("message header: %w", cmpErr(err, errMissing))
	}
	switch headerType {
	case 1: // Schema
		return v.schema(header)
	case 3: // RecordBatch
		return v.recordBatch(header)
	}
	return fmt.Errorf("unexpected message type %d", headerType)
}

// maxFieldDepth bounds nested fields (struct of list of ...).
const maxFieldDepth = 64

var (
	errBounds  = errors.New("flatbuffer offset out of bounds")
	errMissing = errors.New("missing")
	errBudget  = errors.New("flatbuffer visits more tables than it can hold")
)

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

type verifier struct {
	b      []byte
	budget int // tables left to visit
}

func (v *verifier) u32(pos int) (uint32, error) {
	if pos < 0 || pos > len(v.b)-4 {
		return 0, errBounds
	}
	return binary.LittleEndian.Uint32(v.b[pos:]), nil
}

func (v *verifier) u16(pos int) (uint16, error) {
	if pos < 0 || pos > len(v.b)-2 {
		return 0, errBounds
	}
	return binary.LittleEndian.Uint16(v.b[pos:]), nil
}

// table is a checked flatbuffer table: its position, vtable and size.
type table struct {
	pos, vt, vtLen, size int
}

func (v *verifier) table(pos int) (table, error) {
	if v.budget--; v.budget < 0 {
		return table{}, errBudget
	}
	so, err := v.u32(pos)
	if err != nil {
		return table{}, err
	}
	vt := pos - int(int32(so))
	vtLen, err := v.u16(vt)
	if err != nil {
		return table{}, err
	}
	size, err := v.u16(vt + 2)
	if err != nil {
		return table{}, err
	}
	if vtLen < 4 || vtLen%2 != 0 || vt+int(vtLen) > len(v.b) || size < 4 || pos+int(size) > len(v.b) {
		return table{}, errBounds
	}
	return table{pos: pos, vt: vt, vtLen: int(vtLen), size: int(size)}, nil
}

// field returns the position of slot's value in t, 0 if absent, checking
// that width bytes of it lie inside the table.
func (v *verifier) field(t table, slot, width int) (int, error) {
	at := 4 + 2*slot
	if at+2 > t.vtLen {
		return 0, nil
	}
	off, err := v.u16(t.vt + at)
	if err != nil || off == 0 {
		return 0, err
	}
	if int(off)+width > t.size {
		return 0, errBounds
	}
	return t.pos + int(off), nil
}

// scalar reads an unsigned scalar of width 1, 2 or 4 bytes (0 if absent).
func (v *verifier) scalar(t table, slot, width int) (uint32, error) {
	pos, err := v.field(t, slot, width)
	if err != nil || pos == 0 {
		return 0, err
	}
	switch width {
	case 1:
		return uint32(v.b[pos]), nil
	case 2:
		x, err := v.u16(pos)
		return uint32(x), err
	}
	return v.u32(pos)
}

// indirect follows the offset stored in slot.
func (v *verifier) indirect(t table, slot int) (int, bool, error) {
	pos, err := v.field(t, slot, 4)
	if err != nil || pos == 0 {
		return 0, false, err
	}
	off, err := v.u32(pos)
	if err != nil {
		return 0, false, err
	}
	target := pos + int(off)
	if target < 0 || target >= len(v.b) {
		return 0, false, errBounds
	}
	return target, true, nil
}

// child returns the table slot points to.
func (v *verifier) child(t table, slot int) (table, bool, error) {
	pos, ok, err := v.indirect(t, slot)
	if err != nil || !ok {
		return table{}, false, err
	}
	c, err := v.table(pos)
	return c, err == nil, err
}

// vector checks the vector in slot (elem bytes per element) and returns the
// position of its first element and its length.
func (v *verifier) vector(t table, slot, elem int) (start, n int, err error) {
	pos, ok, err := v.indirect(t, slot)
	if err != nil || !ok {
		return 0, 0, err
	}
	l, err := v.u32(pos)
	if err != nil {
		return 0, 0, err
	}
	if int64(l)*int64(elem) > int64(len(v.b)-pos-4) {
		return 0, 0, errBounds
	}
	return pos + 4, int(l), nil
}

// vectorOf checks a vector of tables in slot with check.
func (v *verifier) vectorOf(t table, slot int, check func(table) error) error {
	start, n, err := v.vector(t, slot, 4)
	if err != nil {
		return err
	}
	for i := range n {
		at := start + 4*i
		off, err := v.u32(at)
		if err != nil {
			return err
		}
		c, err := v.table(at + int(off))
		if err != nil {
			return err
		}
		if err := check(c); err != nil {
			return err
		}
	}
	return nil
}

func (v *verifier) str(t table, slot int) error {
	_, _, err := v.vector(t, slot, 1)
	return err
}

func (v *verifier) keyValue(t table) error {
	if err := v.str(t, 0); err != nil {
		return err
	}
	return v.str(t, 1)
}

func (v *verifier) schema(t table) error {
	if err := v.vectorOf(t, 1, func(f table) error { return v.field1(f, 0) }); err != nil {
		return fmt.Errorf("schema fields: %w", err)
	}
	if err := v.vectorOf(t, 2, v.keyValue); err != nil {
		return fmt.Errorf("schema metadata: %w", err)
	}
	if _, _, err := v.vector(t, 3, 8); err != nil {
		return fmt.Errorf("schema features: %w", err)
	}
	return nil
}

// field1 checks a Field table at nesting depth d.
func (v *verifier) field1(t table, d int) error {
	if d > maxFieldDepth {
		return fmt.Errorf("fields nested more than %d deep", maxFieldDepth)
	}
	if err := v.str(t, 0); err != nil { // name
		return err
	}
	typeType, err := v.scalar(t, 2, 1)
	if err != nil {
		return err
	}
	if typ, ok, err := v.child(t, 3); err != nil {
		return err
	} else if ok {
		switch typeType {
		case 10: // Timestamp: timezone
			err = v.str(typ, 1)
		case 14: // Union: typeIds
			_, _, err = v.vector(typ, 1, 4)
		}
		if err != nil {
			return err
		}
	}
	if dict, ok, err := v.child(t, 4); err != nil {
		return err
	} else if ok {
		if _, _, err := v.child(dict, 1); err != nil { // indexType
			return err
		}
	}
	if err := v.vectorOf(t, 5, func(c table) error { return v.field1(c, d+1) }); err != nil {
		return err
	}
	return v.vectorOf(t, 6, v.keyValue)
}

func (v *verifier) recordBatch(t table) error {
	if _, _, err := v.vector(t, 1, 16); err != nil { // nodes
		return fmt.Errorf("record batch nodes: %w", err)
	}
	if _, _, err := v.vector(t, 2, 16); err != nil { // buffers
		return fmt.Errorf("record batch buffers: %w", err)
	}
	if _, _, err := v.child(t, 3); err != nil { // compression
		return fmt.Errorf("record batch compression: %w", err)
	}
	if _, _, err := v.vector(t, 4, 8); err != nil { // variadicBufferCounts
		return fmt.Errorf("record batch variadic counts: %w", err)
	}
	return nil
}
