// Package bufpool is an Arrow memory.Allocator that recycles buffers by
// power-of-two size class, so a steady stream of same-sized batches does not
// allocate (or make garbage) once warm. Buffers come back zeroed, as Arrow's
// Go allocator promises.
package bufpool

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

const (
	minClass = 6  // 64 B
	maxClass = 28 // 256 MiB; larger buffers are not pooled
)

// Allocator is a pooling memory.Allocator, safe for concurrent use.
type Allocator struct {
	classes [maxClass + 1]sync.Pool
	// live counts bytes handed out and not yet freed.
	live atomic.Int64
}

// New returns an empty pool.
func New() *Allocator { return &Allocator{} }

func class(size int) int {
	if size <= 1<<minClass {
		return minClass
	}
	return bits.Len(uint(size - 1))
}

// Allocate returns a zeroed buffer of size bytes.
func (a *Allocator) Allocate(size int) []byte {
	b := a.AllocateUninit(size)
	clear(b)
	return b
}

// AllocateUninit returns a buffer of size bytes whose contents are
// unspecified, for callers that overwrite every byte (copies).
func (a *Allocator) AllocateUninit(size int) []byte {
	a.live.Add(int64(size))
	c := class(size)
	if c > maxClass {
		return make([]byte, size)
	}
	if p, ok := a.classes[c].Get().(*[]byte); ok {
		return (*p)[:size]
	}
	return make([]byte, size, 1<<c)
}

// Reallocate resizes b to size, keeping its contents; new bytes are zero.
func (a *Allocator) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		a.live.Add(int64(size - len(b)))
		old := len(b)
		b = b[:size]
		if size > old {
			clear(b[old:])
		}
		return b
	}
	nb := a.Allocate(size)
	copy(nb, b)
	a.Free(b)
	return nb
}

// Free returns b to its size class.
func (a *Allocator) Free(b []byte) {
	a.live.Add(-int64(len(b)))
	c := class(cap(b))
	if c > maxClass || cap(b) != 1<<c {
		return // not ours, or oversized: let the GC have it
	}
	b = b[:0]
	a.classes[c].Put(&b)
}

// Live returns the bytes currently allocated and not freed.
func (a *Allocator) Live() int64 { return a.live.Load() }
