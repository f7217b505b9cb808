// Package state keeps the keyed state of one operator subtask on the host
// (design.md §6): one state row per key, stored column by column in Go
// memory, each row tagged with its key group so state can be checkpointed and
// redistributed by key group. Guest memory is never the source of truth: a
// keyed-process call gets the rows of the keys in its batch (Gather) and hands
// back their new values (Scatter).
//
// Rows live in pages of up to 1024 rows of one key group. Snapshot shares
// the pages with a Snapshot in O(pages) and the store copies a page before
// its first write after that (copy-on-write), so a checkpoint pauses the
// task for microseconds while another goroutine writes the Snapshot as an
// Arrow IPC stream (WriteTo); Restore reads such streams back, keeping the
// rows of a range of key groups (worker/RATIONALE.md).
package state

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/internal/keygroup"
)

// ErrSchema means state whose schema differs from the store's.
var ErrSchema = errors.New("state: schema mismatch")

// ErrTooLarge means state too large to hold or to snapshot: more than 4 GiB
// of variable-length values in one page of 1024 rows (Scatter, Restore), or
// one row of more than 512 MiB (WriteTo).
var ErrTooLarge = errors.New("state: values too large")

// Store is the keyed state of one operator subtask. It is not safe for
// concurrent use (a task runs on one goroutine); the Snapshots it returns
// are read on other goroutines.
type Store struct {
	fields []arrow.Field
	typ    *arrow.StructType
	maxP   int
	alloc  memory.Allocator
	layout
	index  map[string]int32 // key -> row (page << pageShift | slot)
	pages  []*page
	groups []*groupRows // by key group, nil until the group has a key
	rows   []int32      // Scatter's scratch
	copies int          // pages copied because a Snapshot shared them
	// readLimit bounds one Arrow message or buffer Restore reads
	// (maxMessage; smaller in tests).
	readLimit int
}

// groupRows is where a key group's new rows go: its freed rows first, then
// the free slots of its tail page.
type groupRows struct {
	tail int32 // page index, -1 before the group's first row
	free []int32
}

// Option configures a Store.
type Option func(*Store)

// WithAllocator sets the allocator of the Arrow buffers that Restore reads
// and that the IPC writer of the store's snapshots may need; both release
// them before they return. The default is memory.DefaultAllocator.
func WithAllocator(alloc memory.Allocator) Option {
	return func(s *Store) { s.alloc = alloc }
}

// New returns an empty store for state rows of the given fields and
// maxParallelism key groups. Supported field types: bool, utf8, binary and
// the fixed-width types of whole bytes.
func New(fields []arrow.Field, maxParallelism int, opts ...Option) (*Store, error) {
	if maxParallelism < 1 {
		return nil, fmt.Errorf("state: max parallelism %d < 1", maxParallelism)
	}
	s := &Store{
		fields:    fields,
		typ:       arrow.StructOf(fields...),
		maxP:      maxParallelism,
		alloc:     memory.DefaultAllocator,
		layout:    layout{kinds: make([]kind, len(fields)), widths: make([]int, len(fields)), free: &freePages{}},
		groups:    make([]*groupRows, maxParallelism),
		index:     map[string]int32{},
		readLimit: maxMessage,
	}
	for i, f := range fields {
		switch f.Type.ID() {
		case arrow.BOOL:
			s.kinds[i] = kindBool
		case arrow.STRING, arrow.BINARY:
			s.kinds[i] = kindVar
		default:
			fw, ok := f.Type.(arrow.FixedWidthDataType)
			if !ok || fw.BitWidth()%8 != 0 || fw.BitWidth() == 0 {
				return nil, fmt.Errorf("%w: state field %q has unsupported type %s", ErrSchema, f.Name, f.Type)
			}
			s.kinds[i], s.widths[i] = kindFixed, fw.BitWidth()/8
		}
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Len is the number of keys with state.
func (s *Store) Len() int { return len(s.index) }

// Type is the struct type of the state rows.
func (s *Store) Type() *arrow.StructType { return s.typ }

// MaxParallelism is the number of key groups.
func (s *Store) MaxParallelism() int { return s.maxP }

// Gather returns the state of each key as a struct array (row i for keys[i];
// a null row for a key without state). The caller owns the result, allocated
// from alloc.
func (s *Store) Gather(alloc memory.Allocator, keys []string) (*array.Struct, error) {
	n := len(keys)
	rows := make([]int32, n)
	structValid := memory.NewResizableBuffer(alloc)
	defer structValid.Release()
	structValid.Resize(int(bitutil.BytesForBits(int64(n))))
	vb := structValid.Bytes()
	clear(vb)
	nulls := 0
	for i, k := range keys {
		r, ok := s.index[k]
		if ok {
			bitutil.SetBit(vb, i)
		} else {
			r = -1
			nulls++
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
	data := array.NewData(s.Type(), n, []*memory.Buffer{structValid}, children, nulls, 0)
	defer data.Release()
	return array.NewStructData(data), nil
}

func (s *Store) gatherField(alloc memory.Allocator, f int, rows []int32) arrow.ArrayData {
	pages := s.pages
	n := len(rows)
	valid := memory.NewResizableBuffer(alloc)
	valid.Resize(int(bitutil.BytesForBits(int64(n))))
	vb := valid.Bytes()
	clear(vb)
	bufs := []*memory.Buffer{valid}
	nulls := 0
	switch s.kinds[f] {
	case kindBool:
		vals := memory.NewResizableBuffer(alloc)
		vals.Resize(int(bitutil.BytesForBits(int64(n))))
		b := vals.Bytes()
		clear(b)
		for i, r := range rows {
			if r < 0 {
				nulls++
				continue
			}
			c, slot := &pages[r>>pageShift].cols[f], r&pageMask
			if !c.valid[slot] {
				nulls++
				continue
			}
			bitutil.SetBit(vb, i)
			if c.bools[slot] {
				bitutil.SetBit(b, i)
			}
		}
		bufs = append(bufs, vals)
	case kindFixed:
		w := s.widths[f]
		vals := memory.NewResizableBuffer(alloc)
		vals.Resize(n * w)
		b := vals.Bytes()
		clear(b)
		for i, r := range rows {
			if r < 0 {
				nulls++
				continue
			}
			c, slot := &pages[r>>pageShift].cols[f], int(r&pageMask)
			if !c.valid[slot] {
				nulls++
				continue
			}
			bitutil.SetBit(vb, i)
			copy(b[i*w:(i+1)*w], c.fixed[slot*w:(slot+1)*w])
		}
		bufs = append(bufs, vals)
	case kindVar:
		offs := memory.NewResizableBuffer(alloc)
		offs.Resize(4 * (n + 1))
		o := arrow.Int32Traits.CastFromBytes(offs.Bytes())
		total := 0
		for i, r := range rows {
			o[i] = int32(total)
			if r < 0 {
				nulls++
				continue
			}
			c, slot := &pages[r>>pageShift].cols[f], r&pageMask
			if !c.valid[slot] {
				nulls++
				continue
			}
			bitutil.SetBit(vb, i)
			total += int(c.lens[slot])
		}
		o[n] = int32(total)
		data := memory.NewResizableBuffer(alloc)
		data.Resize(total)
		d := data.Bytes()
		for i, r := range rows {
			if o[i+1] > o[i] {
				c, slot := &pages[r>>pageShift].cols[f], r&pageMask
				copy(d[o[i]:o[i+1]], c.data[c.offs[slot]:])
			}
		}
		bufs = append(bufs, offs, data)
	}
	out := array.NewData(s.fields[f].Type, n, bufs, nil, nulls, 0)
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
	rows := s.rows[:0]
	for i, k := range keys {
		if st.IsNull(i) {
			s.clearKey(k)
			rows = append(rows, -1)
			continue
		}
		rows = append(rows, s.row(k))
	}
	s.rows = rows
	for f := range s.fields {
		if err := s.put(f, st.Field(f), rows, nil); err != nil {
			return err
		}
	}
	return nil
}

// own returns page pi ready for writing: held by the store alone, with room
// for need slots. A shared page is cloned (copy-on-write).
func (s *Store) own(pi int32, need int) *page {
	p := s.pages[pi]
	if p.refs.Load() == 1 && need <= p.capRows() {
		return p
	}
	capRows := p.capRows()
	for capRows < need {
		capRows *= 2
	}
	if p.refs.Load() != 1 {
		s.copies++
	}
	q := s.clone(p, capRows)
	s.pages[pi] = q
	s.unref(p)
	return q
}

// group returns the key group of k.
func (s *Store) group(k string) int32 {
	return int32(keygroup.Of(keygroup.Hash(unsafe.Slice(unsafe.StringData(k), len(k))), s.maxP))
}

// row returns the row of key k, creating it, on a page the store owns.
func (s *Store) row(k string) int32 {
	if r, ok := s.index[k]; ok {
		s.own(r>>pageShift, 0)
		return r
	}
	return s.newRow(k, s.group(k))
}

// rowIn is row for a key of key group g.
func (s *Store) rowIn(k string, g int32) int32 {
	if r, ok := s.index[k]; ok {
		s.own(r>>pageShift, 0)
		return r
	}
	return s.newRow(k, g)
}

// newRow makes a row for key k of key group g.
func (s *Store) newRow(k string, g int32) int32 {
	gr := s.groups[g]
	if gr == nil {
		gr = &groupRows{tail: -1}
		s.groups[g] = gr
	}
	var r int32
	var p *page
	var slot int
	fresh := false
	if n := len(gr.free); n > 0 {
		r, gr.free = gr.free[n-1], gr.free[:n-1]
		p, slot = s.own(r>>pageShift, 0), int(r&pageMask)
	} else {
		if gr.tail < 0 || s.pages[gr.tail].n == pageRows {
			// A group's first page starts small and grows; once one is
			// full, the next ones start full size.
			capRows := minPageRows
			if gr.tail >= 0 {
				capRows = pageRows
			}
			gr.tail = int32(len(s.pages))
			s.pages = append(s.pages, s.newPage(g, capRows))
		}
		p = s.pages[gr.tail]
		slot = int(p.n)
		p = s.own(gr.tail, slot+1)
		p.n++
		fresh = true
		r = gr.tail<<pageShift | int32(slot)
	}
	p.keys[slot], p.live[slot] = k, true
	for f, kd := range s.kinds {
		if kd == kindVar {
			// A fresh slot of a recycled page has stale offsets; a reused
			// one may hold bytes a duplicate key of one Scatter wrote.
			if fresh {
				p.cols[f].offs[slot], p.cols[f].lens[slot] = 0, 0
			} else {
				p.cols[f].clearVar(slot)
			}
		}
	}
	s.index[k] = r
	return r
}

// Delete clears the state of key k.
func (s *Store) Delete(k string) { s.clearKey(k) }

func (s *Store) clearKey(k string) {
	r, ok := s.index[k]
	if !ok {
		return
	}
	gr := s.groups[s.pages[r>>pageShift].group]
	delete(s.index, k)
	p, slot := s.own(r>>pageShift, 0), int(r&pageMask)
	p.keys[slot], p.live[slot] = "", false
	for f, kd := range s.kinds {
		c := &p.cols[f]
		c.valid[slot] = false
		if kd == kindVar {
			c.clearVar(slot)
		}
	}
	gr.free = append(gr.free, r)
}

// put writes field f of rows: value sel[j] of a (j when sel is nil) into row
// rows[j], skipping rows[j] < 0. The rows' pages are owned by the store.
func (s *Store) put(f int, a arrow.Array, rows, sel []int32) error {
	d := a.Data()
	off := d.Offset()
	nb := a.NullBitmapBytes()
	if a.NullN() == 0 {
		nb = nil
	}
	pages := s.pages
	idx := func(j int) int {
		if sel != nil {
			return int(sel[j])
		}
		return j
	}
	switch s.kinds[f] {
	case kindBool:
		vals := bufBytes(d, 1)
		for j, r := range rows {
			if r < 0 {
				continue
			}
			i := off + idx(j)
			c, slot := &pages[r>>pageShift].cols[f], r&pageMask
			ok := nb == nil || bitutil.BitIsSet(nb, i)
			c.valid[slot] = ok
			c.bools[slot] = ok && bitutil.BitIsSet(vals, i)
		}
	case kindFixed:
		w := s.widths[f]
		vals := bufBytes(d, 1)
		for j, r := range rows {
			if r < 0 {
				continue
			}
			i := off + idx(j)
			c, slot := &pages[r>>pageShift].cols[f], int(r&pageMask)
			ok := nb == nil || bitutil.BitIsSet(nb, i)
			c.valid[slot] = ok
			dst := c.fixed[slot*w : (slot+1)*w]
			if ok {
				copy(dst, vals[i*w:(i+1)*w])
			} else {
				clear(dst)
			}
		}
	case kindVar:
		offs := arrow.Int32Traits.CastFromBytes(bufBytes(d, 1))
		data := bufBytes(d, 2)
		for j, r := range rows {
			if r < 0 {
				continue
			}
			i := off + idx(j)
			p, slot := pages[r>>pageShift], int(r&pageMask)
			c := &p.cols[f]
			ok := nb == nil || bitutil.BitIsSet(nb, i)
			c.valid[slot] = ok
			if !ok {
				c.clearVar(slot)
				continue
			}
			if !c.setVar(int(p.n), p.capRows(), slot, data[offs[i]:offs[i+1]]) {
				return fmt.Errorf("%w: field %q", ErrTooLarge, s.fields[f].Name)
			}
		}
	}
	return nil
}

// bufBytes returns the bytes of buffer i of d, nil when it has none.
func bufBytes(d arrow.ArrayData, i int) []byte {
	bufs := d.Buffers()
	if i >= len(bufs) || bufs[i] == nil {
		return nil
	}
	return bufs[i].Bytes()
}

// KeysInGroups calls fn for every key whose key group is in rg, in no
// particular order (used to hand state to another subtask).
func (s *Store) KeysInGroups(rg keygroup.Range, fn func(key string)) {
	for _, p := range s.pages {
		if !rg.Contains(int(p.group)) {
			continue
		}
		for i := range int(p.n) {
			if p.live[i] {
				fn(p.keys[i])
			}
		}
	}
}
