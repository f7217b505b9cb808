package weir

import "unsafe"

// Selection receives the rows a filter keeps. Rows are dropped unless kept.
// It offers three ways to select, from most to least vectorised:
//
//   - [Selection.KeepAll] / [Selection.KeepNone] for whole batches;
//   - [Selection.Bits]: a zeroed bitmap to set bits in directly, then
//     optionally [Selection.Mask] to drop rows where a column is null;
//   - [Selection.Keep] / [Selection.Set] per row, or [Selection.Append] for
//     increasing row indices (sent as a selection vector when few rows are
//     kept).
//
// The forms may be mixed; the SDK converts as needed.
type Selection struct {
	n    int
	mode selMode
	bits []byte  // bitmap, capacity reused
	idx  []int32 // selection vector, capacity reused
}

type selMode uint8

const (
	selNone selMode = iota
	selAll
	selBits
	selIdx
)

// Len returns the number of rows of the batch being filtered.
func (s *Selection) Len() int { return s.n }

func (s *Selection) reset(n int) {
	s.n = n
	s.mode = selNone
	s.idx = s.idx[:0]
}

// KeepAll keeps every row.
func (s *Selection) KeepAll() { s.mode = selAll; s.idx = s.idx[:0] }

// KeepNone drops every row.
func (s *Selection) KeepNone() { s.mode = selNone; s.idx = s.idx[:0] }

// Bits switches to bitmap form and returns the bitmap, ceil(Len()/8) bytes,
// least-significant bit first: set bit i to keep row i. Rows selected so far
// are already set.
func (s *Selection) Bits() []byte {
	if s.mode != selBits {
		s.toBits()
	}
	return s.bits[:(s.n+7)>>3]
}

func (s *Selection) toBits() {
	nb := (s.n + 7) >> 3
	if len(s.bits) < nb {
		s.bits = makeSlice[byte](grownCap(len(s.bits), max(nb, 64)))
	}
	b := s.bits[:nb]
	switch s.mode {
	case selAll:
		setBits(b, 0, s.n)
		for i := s.n; i < nb*8; i++ {
			b[i>>3] &^= 1 << (i & 7)
		}
	case selIdx:
		clear(b)
		for _, i := range s.idx {
			b[i>>3] |= 1 << (i & 7)
		}
		s.idx = s.idx[:0]
	default:
		clear(b)
	}
	s.mode = selBits
}

// Keep keeps row i.
func (s *Selection) Keep(i int) {
	if uint(i) >= uint(s.n) {
		panic("weir: Selection.Keep: row out of range")
	}
	switch s.mode {
	case selAll:
		return
	case selBits:
	default:
		s.toBits()
	}
	s.bits[i>>3] |= 1 << (i & 7)
}

// Set keeps row i if keep is true and drops it otherwise.
func (s *Selection) Set(i int, keep bool) {
	if keep {
		s.Keep(i)
		return
	}
	if uint(i) >= uint(s.n) {
		panic("weir: Selection.Set: row out of range")
	}
	if s.mode == selNone {
		return
	}
	if s.mode != selBits {
		s.toBits()
	}
	s.bits[i>>3] &^= 1 << (i & 7)
}

// SetBools keeps row i iff keep[i], for every row; len(keep) must be Len().
func (s *Selection) SetBools(keep []bool) {
	if len(keep) != s.n {
		panic("weir: Selection.SetBools: wrong length")
	}
	b := s.Bits()
	for i := 0; i+8 <= len(keep); i += 8 {
		k := keep[i : i+8 : i+8]
		b[i>>3] = b2u(k[0]) | b2u(k[1])<<1 | b2u(k[2])<<2 | b2u(k[3])<<3 |
			b2u(k[4])<<4 | b2u(k[5])<<5 | b2u(k[6])<<6 | b2u(k[7])<<7
	}
	for i := len(keep) &^ 7; i < len(keep); i++ {
		setBit(b, i, keep[i])
	}
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// Append keeps row i, where i must be greater than every row appended before
// (a selection vector). Out-of-order rows are accepted but switch to bitmap
// form.
func (s *Selection) Append(i int) {
	if uint(i) >= uint(s.n) {
		panic("weir: Selection.Append: row out of range")
	}
	switch s.mode {
	case selAll:
		return
	case selBits:
		s.bits[i>>3] |= 1 << (i & 7)
		return
	case selIdx:
		if int(s.idx[len(s.idx)-1]) >= i {
			s.toBits()
			s.bits[i>>3] |= 1 << (i & 7)
			return
		}
	}
	if len(s.idx) == cap(s.idx) {
		s.idx = grow(s.idx, len(s.idx)+1)
	}
	s.idx = append(s.idx, int32(i))
	s.mode = selIdx
}

// Mask drops every row whose bit in m is not set, typically a column's
// validity so that null rows are dropped. m.Len() must be Len().
func (s *Selection) Mask(m Bitmap) {
	if m.n != s.n {
		panic("weir: Selection.Mask: bitmap length differs from the batch")
	}
	if m.bits == nil || s.mode == selNone {
		return
	}
	switch s.mode {
	case selIdx:
		k := 0
		for _, i := range s.idx {
			if m.Get(int(i)) {
				s.idx[k] = i
				k++
			}
		}
		s.idx = s.idx[:k]
		return
	case selAll:
		s.toBits()
	}
	b := s.bits[:(s.n+7)>>3]
	if m.off == 0 {
		src := m.slice()[:len(b)]
		for i := range b {
			b[i] &= src[i]
		}
		return
	}
	sh := uint(m.off)
	src := m.slice()
	for i := range b {
		v := src[i] >> sh
		if i+1 < len(src) {
			v |= src[i+1] << (8 - sh)
		}
		b[i] &= v
	}
}

// result returns the selection kind, pointer and count of SPEC §9.2.
func (s *Selection) result() (kind, ptr, count uint32) {
	switch s.mode {
	case selAll:
		return 2, 0, 0
	case selBits:
		return 0, addrOf(unsafe.Pointer(unsafe.SliceData(s.bits))), 0
	case selIdx:
		if len(s.idx) == 0 {
			return 3, 0, 0
		}
		return 1, addrOf(unsafe.Pointer(unsafe.SliceData(s.idx))), uint32(len(s.idx))
	}
	return 3, 0, 0
}

// NewSelection returns an empty selection over a batch of rows rows. Filter
// functions receive theirs from the SDK; NewSelection is for tests and for
// calling a filter function directly.
func NewSelection(rows int) *Selection {
	s := &Selection{}
	s.reset(rows)
	return s
}

// Kept returns the indexes of the rows kept so far, in increasing order.
func (s *Selection) Kept() []int {
	var out []int
	switch s.mode {
	case selAll:
		for i := range s.n {
			out = append(out, i)
		}
	case selBits:
		for i := range s.n {
			if getBit(s.bits, i) {
				out = append(out, i)
			}
		}
	case selIdx:
		for _, i := range s.idx {
			out = append(out, int(i))
		}
	}
	return out
}
