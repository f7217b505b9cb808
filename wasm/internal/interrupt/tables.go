package interrupt

import (
	"errors"
	"fmt"
	"math"
)

// ErrTables means a module whose tables exceed the element limit given to
// CapTables.
var ErrTables = errors.New("interrupt: tables too large")

// CapTables returns a copy of the module binary wasm whose tables cannot
// grow past what they declare: a table without a maximum gets its minimum
// as maximum (table.grow then returns -1, as the core spec allows). It
// fails with ErrTables when the tables declare more than maxElements
// elements in all (the maximum where one is declared, else the minimum).
//
// A table's elements live outside linear memory, in the host's heap, so
// without this bound a module could allocate gigabytes past its memory
// limit with one table.fill. Like Instrument it belongs to the sandbox's
// rewrite of untrusted modules; a module without tables is returned as is.
func CapTables(wasm []byte, maxElements uint32) ([]byte, error) {
	if err := checkHeader(wasm); err != nil {
		return nil, err
	}
	sections, err := splitSections(wasm)
	if err != nil {
		return nil, err
	}
	for i, s := range sections {
		if s.id != secTable {
			continue
		}
		content, err := capTableSection(s, maxElements)
		if err != nil {
			return nil, err
		}
		out := append([]byte(nil), wasm[:8]...)
		for j, t := range sections {
			if j == i {
				out = appendSection(out, secTable, content)
				continue
			}
			out = append(out, t.raw...)
		}
		return out, nil
	}
	return wasm, nil
}

// capTableSection rewrites a table section's limits; see CapTables.
func capTableSection(s section, maxElements uint32) ([]byte, error) {
	r := reader{buf: s.content, base: s.contentOff}
	wrap := func(err error) ([]byte, error) { return nil, fmt.Errorf("table section: %w", err) }
	n, err := r.readU32()
	if err != nil {
		return wrap(err)
	}
	out := appendU32(nil, n)
	var total uint64
	for i := uint32(0); i < n; i++ {
		start := r.pos
		if b, err := r.readByte(); err != nil {
			return wrap(err)
		} else if b == 0x40 {
			return nil, fmt.Errorf("%w: table %d has an initializer expression (function references)", ErrUnsupported, i)
		}
		r.pos--
		if err := skipValType(&r); err != nil {
			return wrap(err)
		}
		out = append(out, r.buf[start:r.pos]...)
		flags, err := r.readByte()
		if err != nil {
			return wrap(err)
		}
		if flags&^0x01 != 0 {
			return nil, fmt.Errorf("%w: table %d has limits flags %#x (shared or 64-bit)", ErrUnsupported, i, flags)
		}
		lo, err := r.readU32()
		if err != nil {
			return wrap(err)
		}
		hi := lo
		if flags&0x01 != 0 {
			if hi, err = r.readU32(); err != nil {
				return wrap(err)
			}
			if hi < lo {
				return nil, fmt.Errorf("%w: table %d has maximum %d below its minimum %d", ErrMalformed, i, hi, lo)
			}
		}
		total += uint64(hi)
		out = append(out, 0x01)
		out = appendU32(out, lo)
		out = appendU32(out, hi)
	}
	if !r.eof() {
		return wrap(r.errorf("%d trailing bytes", r.remaining()))
	}
	if total > uint64(maxElements) {
		return nil, fmt.Errorf("%w: the tables may hold %d elements, over the limit of %d", ErrTables, total, maxElements)
	}
	if total > math.MaxUint32 {
		return nil, fmt.Errorf("%w: the tables may hold %d elements", ErrTables, total)
	}
	return out, nil
}
