package batch

import "unsafe"

func sizeOf[T any](v T) uintptr { return unsafe.Sizeof(v) }

// castSlice reinterprets b as a slice of T (b must be aligned for T, which
// Arrow buffers are).
func castSlice[T any](b []byte) []T {
	if len(b) == 0 {
		return nil
	}
	var zero T
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), len(b)/int(unsafe.Sizeof(zero)))
}
