package interrupt

import "fmt"

// reader is a bounds-checked cursor over a byte slice. Every method returns
// an error wrapping ErrMalformed instead of panicking when the input is
// truncated or an encoding is out of range. pos is always an offset into buf;
// base is added to it in error messages so that they name absolute module
// offsets.
type reader struct {
	buf  []byte
	pos  int
	base int
}

func (r *reader) eof() bool { return r.pos >= len(r.buf) }

func (r *reader) remaining() int { return len(r.buf) - r.pos }

// offset returns the absolute module offset of the cursor.
func (r *reader) offset() int { return r.base + r.pos }

func (r *reader) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at offset %#x: %s", ErrMalformed, r.offset(), fmt.Sprintf(format, args...))
}

func (r *reader) readByte() (byte, error) {
	if r.pos >= len(r.buf) {
		return 0, r.errorf("unexpected end of input")
	}
	b := r.buf[r.pos]
	r.pos++
	return b, nil
}

// readBytes returns the next n bytes (aliasing buf).
func (r *reader) readBytes(n uint32) ([]byte, error) {
	if uint64(n) > uint64(r.remaining()) {
		return nil, r.errorf("need %d bytes, only %d left", n, r.remaining())
	}
	b := r.buf[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return b, nil
}

func (r *reader) skip(n uint32) error {
	_, err := r.readBytes(n)
	return err
}

// readU32 decodes an unsigned LEB128 value of at most 5 bytes whose unused
// high bits in the fifth byte are zero (the same rule as the spec and
// wazero).
func (r *reader) readU32() (uint32, error) {
	start := r.pos
	var v uint32
	for i := 0; i < 5; i++ {
		if r.pos >= len(r.buf) {
			r.pos = start
			return 0, r.errorf("truncated LEB128 u32")
		}
		b := r.buf[r.pos]
		r.pos++
		if i == 4 && b&0xf0 != 0 {
			r.pos = start
			return 0, r.errorf("LEB128 u32 overflows 32 bits")
		}
		v |= uint32(b&0x7f) << (7 * i)
		if b < 0x80 {
			return v, nil
		}
	}
	r.pos = start
	return 0, r.errorf("LEB128 u32 longer than 5 bytes")
}

// skipLEB skips one LEB128 number of at most maxLen bytes without
// interpreting it. It is used for immediates whose value does not matter to
// the rewriter (constants); wazero performs the full range check.
func (r *reader) skipLEB(maxLen int) error {
	start := r.pos
	for i := 0; i < maxLen; i++ {
		if r.pos >= len(r.buf) {
			r.pos = start
			return r.errorf("truncated LEB128")
		}
		b := r.buf[r.pos]
		r.pos++
		if b < 0x80 {
			return nil
		}
	}
	r.pos = start
	return r.errorf("LEB128 longer than %d bytes", maxLen)
}

// readS33 decodes a signed LEB128 value of at most 5 bytes, as used by block
// types and heap types.
func (r *reader) readS33() (int64, error) {
	start := r.pos
	var v int64
	var shift uint
	for i := 0; i < 5; i++ {
		if r.pos >= len(r.buf) {
			r.pos = start
			return 0, r.errorf("truncated LEB128 s33")
		}
		b := r.buf[r.pos]
		r.pos++
		v |= int64(b&0x7f) << shift
		shift += 7
		if b < 0x80 {
			if b&0x40 != 0 {
				v |= -1 << shift // sign-extend
			}
			if v < -(1<<32) || v >= 1<<32 {
				r.pos = start
				return 0, r.errorf("LEB128 s33 out of range")
			}
			return v, nil
		}
	}
	r.pos = start
	return 0, r.errorf("LEB128 s33 longer than 5 bytes")
}

// appendU32 appends the minimal unsigned LEB128 encoding of v.
func appendU32(dst []byte, v uint32) []byte {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			dst = append(dst, b|0x80)
			continue
		}
		return append(dst, b)
	}
}

// appendS32 appends the minimal signed LEB128 encoding of v.
func appendS32(dst []byte, v int32) []byte {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}
