package weir

import "unsafe"

// makeSlice returns a slice of n zeroed elements of T, with capacity n, in
// memory that can be handed to the host (see rawAlloc).
func makeSlice[T any](n int) []T {
	if n <= 0 {
		return nil
	}
	var zero T
	b := rawAlloc(n * int(unsafe.Sizeof(zero)))
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// grow returns s with its length unchanged and capacity at least need,
// reallocating (amortised doubling) when needed.
func grow[T any](s []T, need int) []T {
	if need <= cap(s) {
		return s
	}
	c := 2 * cap(s)
	if c < need {
		c = need
	}
	if c < 64 {
		c = 64
	}
	ns := makeSlice[T](c)
	copy(ns, s)
	return ns[:len(s)]
}

// hostMem keeps the memory handed out by weir_alloc reachable until
// weir_free (SPEC §3), keyed by address.
var hostMem = map[uint32][]byte{}

func abiAlloc(size, align uint32) uint32 {
	if align == 0 || align&(align-1) != 0 || align > 64 || size > 1<<31 {
		return 0
	}
	n := int(size)
	if n == 0 {
		n = 1
	}
	buf := rawAlloc(n + int(align) - 1)
	p := addrOf(unsafe.Pointer(unsafe.SliceData(buf)))
	skip := (align - p%align) % align
	p += skip
	hostMem[p] = buf
	return p
}

func abiFree(ptr, size, align uint32) {
	delete(hostMem, ptr)
}

func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
