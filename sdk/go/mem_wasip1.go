//go:build wasip1

package weir

import "unsafe"

// On wasm a Go pointer is a byte offset into linear memory: addresses and
// pointers convert 1:1.

func ptrAt(a uint32) unsafe.Pointer { return unsafe.Add(nil, a) }

func addrOf(p unsafe.Pointer) uint32 { return uint32(uintptr(p)) }

// rawAlloc returns n zeroed bytes, 8-byte aligned, from the Go heap. The Go
// collector does not move heap objects, so the address stays valid while the
// slice is reachable.
func rawAlloc(n int) []byte {
	if n <= 0 {
		n = 1
	}
	w := make([]uint64, (n+7)>>3)
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), n)
}
