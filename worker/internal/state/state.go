// Package state keeps the keyed state of one operator subtask on the host
// (design.md §6): one state row per key, stored column by column in Go
// memory, each row tagged with its key group so state can be checkpointed and
// redistributed by key group. Guest memory is never the source of truth: a
// keyed-process call gets the rows of the keys in its batch (Gather) and hands
// back their new values (Scatter).
package state

import (
	"errors"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/internal/keygroup"
)

// ErrSchema means state whose schema differs from the store's.
var ErrSchema = errors.New("state: schema mismatch")

// Store is the keyed state of one operator subtask. It is not safe for
// concurrent use (a task runs on one goroutine).
type Store struct {
	fields []arrow.Field
	maxP   int
	cols   []column
	index  map[string]int32 // key -> row
	keys   []string         // row -> key ("" for a free row)
	groups []int32          // row -> key group
	free   []int32
}

// column stores one state field for every row.
type column struct {
	width int      // bytes per value for fixed-width types, 0 otherwise
	fixed []byte   // width bytes per row
	bools []bool   // bool values
	bytes [][]byte // utf8 and binary values
	valid []bool
}

// New returns an empty store for state rows of the given fields.
func New(fields []arrow.Field, maxParallelism int) (*Store, error) {
	s := &Store{fields: fields, maxP: maxParallelism, cols: make([]column, len(fields)), index: map[string]int32{}}
	for i, f := range fields {
		switch f.Type.ID() {
		case arrow.BOOL, arrow.STRING, arrow.BINARY:
		default:
			fw, ok := f.Type.(arrow.FixedWidthDataType)
			if !ok || fw.BitWidth()%8 != 0 {
				return nil, fmt.Errorf("%w: state field %q has unsupported type %s", ErrSchema, f.Name, f.Type)
			}
			s.cols[i].width = fw.BitWidth() / 8
		}
	}
	return s, nil
}

// Len is the number of keys with state.
func (s *Store) Len() int { return len(s.index) }

// Type is the struct type of the state rows.
func (s *Store) Type() *arrow.StructType { return arrow.StructOf(s.fields...) }

// Gather returns the state of each key as a struct array (row i for keys[i];
// a null row for a key without state). The caller owns the result.
func (s *Store) Gather(alloc memory.Allocator, keys []string) (*array.Struct, error) {
	n := len(keys)
	rows := make([]int32, n)
	for i, k := range keys {
		r, ok := s.index[k]
		if !ok {
			r = -1
		}
		rows[i] = r
	}
	children := make([]arrow.ArrayData, len(s.fields))
	defer func() {
		for _, c := range children {
			if c != nil {
				c.Release()
			}
		}
	}()
	for f := range s.fields {
		children[f] = s.gatherField(alloc, f, rows)
	}
	structValid := memory.NewResizableBuffer(alloc)
	defer structValid.Release()
	structValid.Resize(int(bitutil.BytesForBits(int64(n))))
	vb := structValid.Bytes()
	clear(vb)
	nulls := 0
	for i, r := range rows {
		if r >= 0 {
			bitutil.SetBit(vb, i)
		} else {
			nulls++
		}
	}
	data := array.NewData(s.Type(), n, []*memory.Buffer{structValid}, children, nulls, 0)
	defer data.Release()
	return array.NewStructData(data), nil
}

func (s *Store) gatherField(alloc memory.Allocator, f int, rows []int32) arrow.ArrayData {
	c := &s.cols[f]
	dt := s.fields[f].Type
	n := len(rows)
	valid := memory.NewResizableBuffer(alloc)
	valid.Resize(int(bitutil.BytesForBits(int64(n))))
	vb := valid.Bytes()
	clear(vb)
	nulls := 0
	for i, r := range rows {
		if r >= 0 && c.valid[r] {
			bitutil.SetBit(vb, i)
		} else {
			nulls++
		}
	}
	bufs := []*memory.Buffer{valid}
	switch {
	case dt.ID() == arrow.BOOL:
		vals := memory.NewResizableBuffer(alloc)
		vals.Resize(int(bitutil.BytesForBits(int64(n))))
		b := vals.Bytes()
		clear(b)
		for i, r := range rows {
			if r >= 0 && c.bools[r] {
				bitutil.SetBit(b, i)
			}
		}
		bufs = append(bufs, vals)
	case c.width > 0:
		vals := memory.NewResizableBuffer(alloc)
		vals.Resize(n * c.width)
		b := vals.Bytes()
		clear(b)
		for i, r := range rows {
			if r >= 0 {
				copy(b[i*c.width:], c.fixed[int(r)*c.width:int(r+1)*c.width])
			}
		}
		bufs = append(bufs, vals)
	default: // utf8, binary
		offs := memory.NewResizableBuffer(alloc)
		offs.Resize(4 * (n + 1))
		o := arrow.Int32Traits.CastFromBytes(offs.Bytes())
		total := 0
		for i, r := range rows {
			o[i] = int32(total)
			if r >= 0 {
				total += len(c.bytes[r])
			}
		}
		o[n] = int32(total)
		data := memory.NewResizableBuffer(alloc)
		data.Resize(total)
		d := data.Bytes()
		for i, r := range rows {
			if r >= 0 {
				copy(d[o[i]:], c.bytes[r])
			}
		}
		bufs = append(bufs, offs, data)
	}
	out := array.NewData(dt, n, bufs, nil, nulls, 0)
	for _, b := range bufs {
		b.Release()
	}
	return out
}

// Scatter stores st (row i is the new state of keys[i]); a null row clears
// the key's state. st is only read.
func (s *Store) Scatter(keys []string, st *array.Struct) error {
	if st.Len() != len(keys) {
		return fmt.Errorf("state: %d state rows for %d keys", st.Len(), len(keys))
	}
	if !arrow.TypeEqual(st.DataType(), s.Type()) {
		return fmt.Errorf("%w: got %s, store holds %s", ErrSchema, st.DataType(), s.Type())
	}
	for i, k := range keys {
		if st.IsNull(i) {
			s.clearKey(k)
			continue
		}
		r := s.row(k)
		for f := range s.fields {
			s.set(f, r, st.Field(f), i)
		}
	}
	return nil
}

// row returns the row of key k, creating it.
func (s *Store) row(k string) int32 {
	if r, ok := s.index[k]; ok {
		return r
	}
	var r int32
	if n := len(s.free); n > 0 {
		r, s.free = s.free[n-1], s.free[:n-1]
		s.keys[r] = k
		s.groups[r] = int32(keygroup.Of(keygroup.Hash([]byte(k)), s.maxP))
	} else {
		r = int32(len(s.keys))
		s.keys = append(s.keys, k)
		s.groups = append(s.groups, int32(keygroup.Of(keygroup.Hash([]byte(k)), s.maxP)))
		for f := range s.cols {
			c := &s.cols[f]
			c.valid = append(c.valid, false)
			switch {
			case s.fields[f].Type.ID() == arrow.BOOL:
				c.bools = append(c.bools, false)
			case c.width > 0:
				c.fixed = append(c.fixed, make([]byte, c.width)...)
			default:
				c.bytes = append(c.bytes, nil)
			}
		}
	}
	s.index[k] = r
	return r
}

func (s *Store) clearKey(k string) {
	r, ok := s.index[k]
	if !ok {
		return
	}
	delete(s.index, k)
	s.keys[r] = ""
	for f := range s.cols {
		c := &s.cols[f]
		c.valid[r] = false
		if c.bytes != nil {
			c.bytes[r] = nil
		}
	}
	s.free = append(s.free, r)
}

func (s *Store) set(f int, r int32, a arrow.Array, i int) {
	c := &s.cols[f]
	c.valid[r] = a.IsValid(i)
	if !c.valid[r] {
		return
	}
	switch v := a.(type) {
	case *array.Boolean:
		c.bools[r] = v.Value(i)
	case *array.String:
		c.bytes[r] = append(c.bytes[r][:0], v.Value(i)...)
	case *array.Binary:
		c.bytes[r] = append(c.bytes[r][:0], v.Value(i)...)
	default:
		d := a.Data()
		src := d.Buffers()[1].Bytes()[(d.Offset()+i)*c.width:]
		copy(c.fixed[int(r)*c.width:int(r+1)*c.width], src[:c.width])
	}
}

// KeysInGroups calls fn for every key whose key group is in rg, in no
// particular order (used to snapshot and to hand state to another subtask).
func (s *Store) KeysInGroups(rg keygroup.Range, fn func(key string)) {
	for k, r := range s.index {
		if rg.Contains(int(s.groups[r])) {
			fn(k)
		}
	}
}
