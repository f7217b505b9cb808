package weir

import (
	"math/bits"
	"unsafe"
)

// Bitmap is a read-only view of an Arrow bitmap (least-significant bit first),
// such as the validity of a column. A Bitmap without storage, as returned for
// columns without nulls, has every bit set.
type Bitmap struct {
	// Four words, so that the Go compiler keeps a Bitmap in registers
	// (copying larger structs costs a memory.copy on wasm).
	bits  *byte // byte holding element 0; nil: all bits set
	off   int   // bit offset of element 0 in *bits, 0..7
	n     int
	nulls int // number of zero bits, -1 if not yet counted
}

// Len returns the number of bits.
func (b Bitmap) Len() int { return b.n }

// Get reports whether bit i is set. i must be in [0, Len()).
func (b Bitmap) Get(i int) bool {
	if b.bits == nil {
		return true
	}
	i += b.off
	return *(*byte)(unsafe.Add(unsafe.Pointer(b.bits), i>>3))>>(i&7)&1 != 0
}

// Bit returns bit i as 0 or 1, for branch-free code. i must be in
// [0, Len()).
func (b Bitmap) Bit(i int) uint8 {
	if b.bits == nil {
		return 1
	}
	i += b.off
	return *(*byte)(unsafe.Add(unsafe.Pointer(b.bits), i>>3)) >> (i & 7) & 1
}

// AllSet reports whether every bit is set, cheaply when the bitmap has no
// storage.
func (b Bitmap) AllSet() bool { return b.bits == nil || b.Zeros() == 0 }

// Zeros returns the number of unset bits (for a validity bitmap, the number of
// nulls).
func (b Bitmap) Zeros() int {
	if b.bits == nil {
		return 0
	}
	if b.nulls >= 0 {
		return b.nulls
	}
	return b.n - countOnes(b.slice(), b.off, b.n)
}

// Bytes returns the bitmap's bytes and the bit offset (0..7) of element 0 in
// the first byte, or nil when the bitmap has no storage (every bit set).
func (b Bitmap) Bytes() (data []byte, bitOffset int) { return b.slice(), b.off }

func (b Bitmap) slice() []byte {
	if b.bits == nil {
		return nil
	}
	return unsafe.Slice(b.bits, (b.off+b.n+7)>>3)
}

// AppendBools appends the bits as bools to dst and returns the result.
func (b Bitmap) AppendBools(dst []bool) []bool {
	for i := 0; i < b.n; i++ {
		dst = append(dst, b.Get(i))
	}
	return dst
}

// countOnes counts the set bits in [off, off+n) of data.
func countOnes(data []byte, off, n int) int {
	if n <= 0 {
		return 0
	}
	c := 0
	end := off + n
	// Leading partial byte.
	for off < end && off&7 != 0 {
		c += int(data[off>>3] >> (off & 7) & 1)
		off++
	}
	// Whole bytes, 8 at a time where possible.
	i := off >> 3
	last := end >> 3
	for ; i+8 <= last; i += 8 {
		w := uint64(data[i]) | uint64(data[i+1])<<8 | uint64(data[i+2])<<16 | uint64(data[i+3])<<24 |
			uint64(data[i+4])<<32 | uint64(data[i+5])<<40 | uint64(data[i+6])<<48 | uint64(data[i+7])<<56
		c += bits.OnesCount64(w)
	}
	for ; i < last; i++ {
		c += bits.OnesCount8(data[i])
	}
	// Trailing partial byte.
	for off = max(off, last<<3); off < end; off++ {
		c += int(data[off>>3] >> (off & 7) & 1)
	}
	return c
}

// copyBits copies n bits from src starting at bit srcOff into dst starting at
// bit dstOff. Bits of dst outside [dstOff, dstOff+n) are preserved.
func copyBits(dst []byte, dstOff int, src []byte, srcOff, n int) {
	if n <= 0 {
		return
	}
	if dstOff&7 == 0 && srcOff&7 == 0 {
		d, s := dstOff>>3, srcOff>>3
		whole := n >> 3
		copy(dst[d:d+whole], src[s:s+whole])
		if r := n & 7; r != 0 {
			mask := byte(1)<<r - 1
			dst[d+whole] = dst[d+whole]&^mask | src[s+whole]&mask
		}
		return
	}
	if dstOff&7 == 0 {
		// Destination byte-aligned: assemble each output byte from two source bytes.
		d, s, sh := dstOff>>3, srcOff>>3, uint(srcOff&7)
		whole := n >> 3
		src = src[s:]
		for k := 0; k < whole; k++ {
			v := src[k] >> sh
			if k+1 < len(src) {
				v |= src[k+1] << (8 - sh)
			}
			dst[d+k] = v
		}
		for i := whole << 3; i < n; i++ {
			setBit(dst, dstOff+i, getBit(src, int(sh)+i))
		}
		return
	}
	for i := 0; i < n; i++ {
		setBit(dst, dstOff+i, getBit(src, srcOff+i))
	}
}

func getBit(b []byte, i int) bool { return b[i>>3]>>(i&7)&1 != 0 }

func setBit(b []byte, i int, v bool) {
	if v {
		b[i>>3] |= 1 << (i & 7)
	} else {
		b[i>>3] &^= 1 << (i & 7)
	}
}

// setBits sets bits [from, to) of b to 1.
func setBits(b []byte, from, to int) {
	for from < to && from&7 != 0 {
		b[from>>3] |= 1 << (from & 7)
		from++
	}
	for from+8 <= to {
		b[from>>3] = 0xff
		from += 8
	}
	for from < to {
		b[from>>3] |= 1 << (from & 7)
		from++
	}
}
