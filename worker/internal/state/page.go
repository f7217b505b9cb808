package state

import (
	"math"
	"sync"
	"sync/atomic"
)

// Rows live in pages of up to pageRows slots. A row id is
// page index << pageShift | slot. Every page holds the rows of one key group,
// so a snapshot is written grouped by key group page after page, and the
// pages of the key groups a subtask keeps can be told from the others
// without looking at keys.
const (
	pageShift   = 10
	pageRows    = 1 << pageShift
	pageMask    = pageRows - 1
	minPageRows = 16 // slots of a key group's first page; it doubles up to pageRows
)

// compactSlack is the dead byte count below which a page's variable-length
// data is never compacted.
const compactSlack = 4 << 10

// kind is how a state field is stored.
type kind uint8

const (
	kindFixed kind = iota // width bytes per slot
	kindBool              // one bool per slot
	kindVar               // utf8 and binary: bytes in the page's data arena
)

// page is up to pageRows rows of one key group, every column of them.
//
// Copy-on-write: refs counts the holders of the page, the store and every
// unreleased Snapshot that shares it. The store writes a page in place only
// while it is the sole holder (refs == 1); otherwise it clones the page first
// and drops its reference to the shared one, which is never written again
// (shared pages are immutable, so a Snapshot reads them from another
// goroutine without locks). The holder that drops the last reference
// recycles the page.
type page struct {
	refs  atomic.Int32
	group int32
	n     int32    // slots in use (live or free), a prefix of the page
	keys  []string // slot -> encoded key; len is the page's capacity
	live  []bool   // slot holds a key (false: freed, on the group's free list)
	cols  []pageColumn
}

// pageColumn is one state field of a page's slots.
type pageColumn struct {
	valid []bool
	fixed []byte   // kindFixed: width bytes per slot
	bools []bool   // kindBool
	offs  []uint32 // kindVar: start of each slot's value in data
	lens  []uint32 // kindVar: length of each slot's value
	data  []byte   // kindVar: the values, with dead bytes of replaced ones
	dead  int      // kindVar: bytes of data no slot refers to
}

func (p *page) capRows() int { return len(p.keys) }

// layout is what a store's pages look like: one kind and width per field.
type layout struct {
	kinds  []kind
	widths []int
	free   *freePages
}

// freePages are full-size pages no one holds any more, kept for the next
// copy-on-write: after the first checkpoint, copying a page costs a memcpy,
// not an allocation (fresh memory, zeroing, and garbage-collector work that
// slows the task while it copies a whole state at once). Snapshot trims the
// list to the store's page count. Safe for concurrent use: Release puts
// pages on the writer's goroutine.
type freePages struct {
	mu    sync.Mutex
	pages []*page
}

func (f *freePages) get() *page {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.pages)
	if n == 0 {
		return nil
	}
	p := f.pages[n-1]
	f.pages[n-1] = nil
	f.pages = f.pages[:n-1]
	return p
}

func (f *freePages) put(p *page) {
	f.mu.Lock()
	f.pages = append(f.pages, p)
	f.mu.Unlock()
}

// trim drops free pages beyond max.
func (f *freePages) trim(max int) {
	f.mu.Lock()
	if len(f.pages) > max {
		clear(f.pages[max:])
		f.pages = f.pages[:max]
	}
	f.mu.Unlock()
}

// newPage returns an empty page of group with room for capRows slots and one
// reference (the caller's).
func (l *layout) newPage(group int32, capRows int) *page {
	var p *page
	if capRows == pageRows {
		p = l.free.get()
	}
	if p == nil {
		p = &page{keys: make([]string, capRows), live: make([]bool, capRows), cols: make([]pageColumn, len(l.kinds))}
		for f, k := range l.kinds {
			c := &p.cols[f]
			c.valid = make([]bool, capRows)
			switch k {
			case kindFixed:
				c.fixed = make([]byte, capRows*l.widths[f])
			case kindBool:
				c.bools = make([]bool, capRows)
			case kindVar:
				c.offs = make([]uint32, capRows)
				c.lens = make([]uint32, capRows)
			}
		}
	}
	p.refs.Store(1)
	p.group = group
	p.n = 0
	return p
}

// clone returns a copy of p with room for capRows >= p.n slots, held once
// (by the caller). p is only read: it may be shared. Variable-length data is
// compacted on the way.
func (l *layout) clone(p *page, capRows int) *page {
	q := l.newPage(p.group, capRows)
	n := int(p.n)
	q.n = p.n
	copy(q.keys, p.keys[:n])
	copy(q.live, p.live[:n])
	for f, k := range l.kinds {
		src, dst := &p.cols[f], &q.cols[f]
		copy(dst.valid, src.valid[:n])
		switch k {
		case kindFixed:
			w := l.widths[f]
			copy(dst.fixed, src.fixed[:n*w])
		case kindBool:
			copy(dst.bools, src.bools[:n])
		case kindVar:
			live := len(src.data) - src.dead
			if size := arenaSize(live, n, capRows, 0); cap(dst.data) < size {
				dst.data = make([]byte, 0, size)
			}
			if src.dead == 0 {
				// No holes: one copy of the arena and of the offsets.
				dst.data = append(dst.data[:0], src.data...)
				copy(dst.offs, src.offs[:n])
				copy(dst.lens, src.lens[:n])
				dst.dead = 0
				continue
			}
			dst.data = dst.data[:0]
			for i := range n {
				dst.offs[i] = uint32(len(dst.data))
				dst.lens[i] = src.lens[i]
				dst.data = append(dst.data, src.data[src.offs[i]:src.offs[i]+src.lens[i]]...)
			}
			dst.dead = 0
		}
	}
	return q
}

// unref drops one reference to p and recycles it when it was the last.
// It may run on any goroutine.
func (l *layout) unref(p *page) {
	if p.refs.Add(-1) != 0 {
		return
	}
	if p.capRows() != pageRows {
		return // growing pages are left to the garbage collector
	}
	clear(p.keys[:p.n]) // let the keys go
	for f := range p.cols {
		c := &p.cols[f]
		if c.data != nil {
			c.data, c.dead = c.data[:0], 0
		}
	}
	p.n = 0
	l.free.put(p)
}

// setVar stores v as slot i of the first n slots of a page of capRows
// slots, in place when it fits in the old value's bytes, else at the end of
// the data arena (compacting it first when more than half of it is dead). It
// reports false when the page's data would outgrow 4 GiB.
//
// Invariant: offs[i]+lens[i] <= len(data) for every slot in use.
func (c *pageColumn) setVar(n, capRows, i int, v []byte) bool {
	old := int(c.lens[i])
	if len(v) <= old {
		if len(v) == 0 {
			c.offs[i] = 0
		}
		copy(c.data[c.offs[i]:], v)
		c.dead += old - len(v)
		c.lens[i] = uint32(len(v))
		return true
	}
	c.clearVar(i)
	if c.dead > compactSlack && c.dead > len(c.data)/2 {
		c.compact(n, capRows, len(v))
	}
	if len(c.data)+len(v) > math.MaxUint32 {
		c.compact(n, capRows, len(v))
		if len(c.data)+len(v) > math.MaxUint32 {
			return false
		}
	}
	if len(c.data)+len(v) > cap(c.data) {
		c.grow(n, capRows, len(v))
	}
	c.offs[i] = uint32(len(c.data))
	c.lens[i] = uint32(len(v))
	c.data = append(c.data, v...)
	return true
}

// arenaSize is the data arena to reserve for live bytes in n of capRows
// slots plus extra bytes: room for the page's free slots at the current
// average, and an eighth more (values change size).
func arenaSize(live, n, capRows, extra int) int {
	need := live + extra
	if n > 0 && capRows > n {
		need += live / n * (capRows - n)
	}
	return need + need/8 + 64
}

// grow makes room for extra more bytes of data, at least doubling the arena
// (appending value by value would copy it over and over).
func (c *pageColumn) grow(n, capRows, extra int) {
	size := max(arenaSize(len(c.data), n, capRows, extra), 2*cap(c.data))
	data := make([]byte, len(c.data), size)
	copy(data, c.data)
	c.data = data
}

// clearVar drops slot i's value.
func (c *pageColumn) clearVar(i int) {
	c.dead += int(c.lens[i])
	c.offs[i], c.lens[i] = 0, 0
}

// compact rewrites the data arena of the first n slots without dead bytes,
// with room for extra more.
func (c *pageColumn) compact(n, capRows, extra int) {
	live := len(c.data) - c.dead
	data := make([]byte, 0, arenaSize(live, n, capRows, extra))
	for i := range n {
		off := uint32(len(data))
		data = append(data, c.data[c.offs[i]:c.offs[i]+c.lens[i]]...)
		c.offs[i] = off
	}
	c.data, c.dead = data, 0
}
