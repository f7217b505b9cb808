//go:build !wasip1

package weir

import (
	"fmt"
	"sync"
	"unsafe"
)

// Outside wasm, the SDK emulates a 32-bit linear memory with one arena so that
// the ABI layer (struct layouts, addresses, export handlers) runs and is tested
// natively. An address is a byte offset into the arena; address 0 is never
// handed out. Arena memory is never reused.

const arenaSize = 1 << 30

var (
	arenaOnce sync.Once
	arenaMu   sync.Mutex
	arena     []byte
	arenaUsed int
	memBase   unsafe.Pointer
)

func initArena() {
	arenaOnce.Do(func() {
		arena = make([]byte, arenaSize)
		memBase = unsafe.Pointer(unsafe.SliceData(arena))
		arenaUsed = 64
	})
}

func ptrAt(a uint32) unsafe.Pointer {
	if a == 0 {
		return nil
	}
	initArena()
	return unsafe.Add(memBase, a)
}

func addrOf(p unsafe.Pointer) uint32 {
	if p == nil {
		return 0
	}
	initArena()
	d := uintptr(p) - uintptr(memBase)
	if d >= uintptr(len(arena)) {
		panic(fmt.Sprintf("weir: pointer %p is outside the emulated linear memory", p))
	}
	return uint32(d)
}

// rawAlloc returns n zeroed bytes, 64-byte aligned, from the arena.
func rawAlloc(n int) []byte {
	initArena()
	if n <= 0 {
		n = 1
	}
	arenaMu.Lock()
	defer arenaMu.Unlock()
	start := (arenaUsed + 63) &^ 63
	if start+n > len(arena) {
		panic("weir: emulated linear memory exhausted")
	}
	arenaUsed = start + n
	return arena[start : start+n : start+n]
}
