package interrupt

import (
	"fmt"
	"math"
)

// Opcodes the rewriter needs by name.
const (
	opUnreachable = 0x00
	opBlock       = 0x02
	opLoop        = 0x03
	opIf          = 0x04
	opEnd         = 0x0b
	opBr          = 0x0c
	opBrIf        = 0x0d
	opBrTable     = 0x0e
	opTryTable    = 0x1f
	opDrop        = 0x1a
	opGlobalGet   = 0x23
	opGlobalSet   = 0x24
	opI32Const    = 0x41
	opI32Eqz      = 0x45
	opI32Add      = 0x6a
	opRefNull     = 0xd0
	opBrOnNull    = 0xd5
	opBrOnNonNull = 0xd6
	prefixMisc    = 0xfc
	prefixSIMD    = 0xfd
	prefixAtomic  = 0xfe
	miscTableGrow = 0x0f
	blockEmpty    = 0x40
	typeFuncref   = 0x70
)

// YieldInterval is the number of function entries and loop iterations,
// counted together across the whole instance, between two forced exits
// from compiled guest code to Go (see the package documentation).
const YieldInterval = 1 << 13

// sequences holds the byte sequences inserted into function bodies.
type sequences struct {
	// entry runs at function entry: the flag check, then one unit of fuel
	// and a yield when the fuel is used up.
	entry []byte
	// loopOuter follows the wrapper loop's block type: a yield (and fuel
	// refill) if the fuel is used up.
	loopOuter []byte
	// loopInner follows the original loop's block type: the flag check,
	// then one unit of fuel and, when it is used up, br 1 to the wrapper.
	loopInner []byte
}

func newSequences(flag, fuel, table uint32) sequences {
	flagCheck := appendU32([]byte{opGlobalGet}, flag)
	flagCheck = append(flagCheck, opIf, blockEmpty, opUnreachable, opEnd)

	// fuel = fuel - 1
	burn := appendU32([]byte{opGlobalGet}, fuel)
	burn = append(burn, opI32Const, 0x7f, opI32Add, opGlobalSet)
	burn = appendU32(burn, fuel)

	// if fuel == 0 { fuel = YieldInterval; drop(table.grow table (ref.null func) 0) }
	yield := appendU32([]byte{opGlobalGet}, fuel)
	yield = append(yield, opI32Eqz, opIf, blockEmpty, opI32Const)
	yield = appendS32(yield, YieldInterval)
	yield = append(yield, opGlobalSet)
	yield = appendU32(yield, fuel)
	yield = append(yield, opRefNull, typeFuncref, opI32Const, 0x00, prefixMisc, miscTableGrow)
	yield = appendU32(yield, table)
	yield = append(yield, opDrop, opEnd)

	var s sequences
	s.entry = append(append(append(s.entry, flagCheck...), burn...), yield...)
	s.loopOuter = yield
	s.loopInner = append(append(s.loopInner, flagCheck...), burn...)
	// if fuel == 0: br 1 (to the wrapper loop, whose header yields)
	s.loopInner = appendU32(append(s.loopInner, opGlobalGet), fuel)
	s.loopInner = append(s.loopInner, opI32Eqz, opBrIf, 0x01)
	return s
}

// instrumentCode rewrites the content of the code section.
func instrumentCode(s section, importedFuncs uint32, seq *sequences) ([]byte, error) {
	r := reader{buf: s.content, base: s.contentOff}
	n, err := r.readU32()
	if err != nil {
		return nil, fmt.Errorf("code section: %w", err)
	}
	out := make([]byte, 0, len(s.content)+len(s.content)/4+16)
	out = appendU32(out, n)
	var w bodyWriter
	for i := uint32(0); i < n; i++ {
		funcIndex := uint64(importedFuncs) + uint64(i)
		size, err := r.readU32()
		if err != nil {
			return nil, fmt.Errorf("code section: function %d (code entry %d): body size: %w", funcIndex, i, err)
		}
		bodyOff := r.offset()
		body, err := r.readBytes(size)
		if err != nil {
			return nil, fmt.Errorf("code section: function %d (code entry %d): body: %w", funcIndex, i, err)
		}
		if err := w.instrument(body, bodyOff, seq); err != nil {
			return nil, fmt.Errorf("code section: function %d (code entry %d): %w", funcIndex, i, err)
		}
		if uint64(len(w.out)) > math.MaxUint32 {
			return nil, fmt.Errorf("%w: function %d: instrumented body exceeds 4 GiB", ErrUnsupported, funcIndex)
		}
		out = appendU32(out, uint32(len(w.out)))
		out = append(out, w.out...)
	}
	if !r.eof() {
		return nil, fmt.Errorf("code section: %w", r.errorf("%d trailing bytes after %d bodies", r.remaining(), n))
	}
	return out, nil
}

// bodyWriter rewrites one function body. Its buffers are reused across
// bodies.
type bodyWriter struct {
	r      reader
	out    []byte
	copied int // body bytes before this offset are already in out
	// frames is the control stack, the function's own frame first. Each
	// entry is the number of wrapped loops among the frames up to and
	// including it, so that a branch from the top frame to frame i crosses
	// frames[top]-frames[i] inserted wrapper loops.
	frames []uint32
}

// flush copies the input bytes up to the cursor.
func (w *bodyWriter) flush() {
	w.out = append(w.out, w.r.buf[w.copied:w.r.pos]...)
	w.copied = w.r.pos
}

// flushTo copies the input bytes up to off, and skips the rest up to the
// cursor (the caller re-encodes them).
func (w *bodyWriter) flushTo(off int) {
	w.out = append(w.out, w.r.buf[w.copied:off]...)
	w.copied = w.r.pos
}

func (w *bodyWriter) push(wrapped bool) {
	c := w.frames[len(w.frames)-1]
	if wrapped {
		c++
	}
	w.frames = append(w.frames, c)
}

// adjust returns the label that, in the output, names the same frame as
// label does in the input at the current position. Out-of-range labels are
// left alone (the module is invalid and wazero rejects it).
func (w *bodyWriter) adjust(label uint32) uint32 {
	top := len(w.frames) - 1
	if uint64(label) > uint64(top) {
		return label
	}
	crossed := w.frames[top] - w.frames[top-int(label)]
	if uint64(label)+uint64(crossed) > math.MaxUint32 {
		return label
	}
	return label + crossed
}

// readLabels reads n labels and reports whether any needs adjusting.
func (w *bodyWriter) readLabels(dst []uint32, n uint64) ([]uint32, bool, error) {
	changed := false
	for i := uint64(0); i < n; i++ {
		l, err := w.r.readU32()
		if err != nil {
			return nil, false, err
		}
		nl := w.adjust(l)
		changed = changed || nl != l
		dst = append(dst, nl)
	}
	return dst, changed, nil
}

// instrument rewrites body into w.out. bodyOff is the module offset of body,
// for error messages.
func (w *bodyWriter) instrument(body []byte, bodyOff int, seq *sequences) error {
	w.r = reader{buf: body, base: bodyOff}
	w.out = w.out[:0]
	w.copied = 0
	w.frames = append(w.frames[:0], 0)
	r := &w.r

	// Local declarations.
	groups, err := r.readU32()
	if err != nil {
		return fmt.Errorf("locals: %w", err)
	}
	for i := uint32(0); i < groups; i++ {
		if _, err := r.readU32(); err != nil {
			return fmt.Errorf("locals: %w", err)
		}
		if err := skipValType(r); err != nil {
			return fmt.Errorf("locals: %w", err)
		}
	}
	w.flush()
	w.out = append(w.out, seq.entry...)

	var labels []uint32
	for {
		if r.eof() {
			return r.errorf("function body ends without its final end")
		}
		opOff := r.pos
		op, _ := r.readByte()
		switch {
		case op == opBlock || op == opIf:
			if err := skipBlockType(r); err != nil {
				return err
			}
			w.push(false)
		case op == opLoop:
			if err := skipBlockType(r); err != nil {
				return err
			}
			// loop bt <yield check> loop bt <flag check, fuel, br_if 1>
			w.flush()
			w.out = append(w.out, seq.loopOuter...)
			w.out = append(w.out, body[opOff:r.pos]...)
			w.out = append(w.out, seq.loopInner...)
			w.push(true)
		case op == opTryTable:
			if err := skipBlockType(r); err != nil {
				return err
			}
			if err := w.catchClauses(opOff); err != nil {
				return err
			}
			w.push(false)
		case op == opEnd:
			top := len(w.frames) - 1
			if top == 0 {
				if !r.eof() {
					return r.errorf("%d bytes after the function's final end", r.remaining())
				}
				w.flush()
				return nil
			}
			if w.frames[top] != w.frames[top-1] { // a wrapped loop
				w.flush()
				w.out = append(w.out, opEnd)
			}
			w.frames = w.frames[:top]
		case op == opBr || op == opBrIf || op == opBrOnNull || op == opBrOnNonNull:
			var changed bool
			if labels, changed, err = w.readLabels(labels[:0], 1); err != nil {
				return err
			}
			if changed {
				w.flushTo(opOff)
				w.out = appendU32(append(w.out, op), labels[0])
			}
		case op == opBrTable:
			n, err := r.readU32()
			if err != nil {
				return err
			}
			var changed bool
			// n+1 labels, each at least one byte: bounded by the body.
			if labels, changed, err = w.readLabels(labels[:0], uint64(n)+1); err != nil {
				return err
			}
			if changed {
				w.flushTo(opOff)
				w.out = appendU32(append(w.out, op), n)
				for _, l := range labels {
					w.out = appendU32(w.out, l)
				}
			}
		case op == prefixMisc:
			if err := skipMisc(r); err != nil {
				return err
			}
		case op == prefixSIMD:
			if err := skipSIMD(r); err != nil {
				return err
			}
		case op == prefixAtomic:
			if err := skipAtomic(r); err != nil {
				return err
			}
		default:
			imm := singleByteImmediates[op]
			if imm == immInvalid {
				return fmt.Errorf("%w: at offset %#x: unknown or unsupported opcode 0x%02x%s",
					ErrUnsupported, r.base+opOff, op, opcodeHint(op))
			}
			if err := skipImmediate(r, imm); err != nil {
				return err
			}
		}
	}
}

// catchClauses handles try_table's vec(catch), whose labels are relative to
// the frames enclosing the try_table. The cursor is after the block type.
func (w *bodyWriter) catchClauses(opOff int) error {
	r := &w.r
	btEnd := r.pos
	n, err := r.readU32()
	if err != nil {
		return err
	}
	type clause struct {
		kind       byte
		tag, label uint32
	}
	var clauses []clause
	changed := false
	for i := uint32(0); i < n; i++ {
		kind, err := r.readByte()
		if err != nil {
			return err
		}
		var c clause
		c.kind = kind
		switch kind {
		case 0x00, 0x01: // catch, catch_ref: tag label
			if c.tag, err = r.readU32(); err != nil {
				return err
			}
		case 0x02, 0x03: // catch_all, catch_all_ref: label
		default:
			return r.errorf("unknown catch clause kind %#x", kind)
		}
		l, err := r.readU32()
		if err != nil {
			return err
		}
		c.label = w.adjust(l)
		changed = changed || c.label != l
		clauses = append(clauses, c)
	}
	if changed {
		w.flushTo(opOff)
		w.out = append(w.out, r.buf[opOff:btEnd]...)
		w.out = appendU32(w.out, n)
		for _, c := range clauses {
			w.out = append(w.out, c.kind)
			if c.kind <= 0x01 {
				w.out = appendU32(w.out, c.tag)
			}
			w.out = appendU32(w.out, c.label)
		}
	}
	return nil
}

func opcodeHint(op byte) string {
	switch op {
	case 0x06, 0x07, 0x09, 0x18, 0x19:
		return " (legacy exception handling; translate to try_table/exnref)"
	case 0xfb:
		return " (GC proposal)"
	case 0xd3:
		return " (ref.eq, GC proposal)"
	}
	return ""
}

// Immediate kinds.
const (
	immInvalid    = iota // not an opcode this package knows
	immNone              // no immediate
	immU32               // one u32 index
	immU32x2             // two u32 indices
	immMemArg            // align, [memory index,] offset
	immBrTable           // vec(label) label
	immSelectT           // vec(valtype)
	immS32               // i32.const
	immS64               // i64.const
	immF32               // 4 bytes
	immF64               // 8 bytes
	immHeapType          // s33 heap type
	immByte              // one byte (SIMD lane index, atomic.fence reserved byte)
	immMemArgLane        // memarg followed by a lane index byte
	imm16Bytes           // v128.const, i8x16.shuffle
)

// singleByteImmediates maps each single-byte opcode (other than the control
// and prefix opcodes handled explicitly) to its immediate kind.
var singleByteImmediates = func() [256]uint8 {
	var t [256]uint8
	set := func(lo, hi byte, k uint8) {
		for op := int(lo); op <= int(hi); op++ {
			t[op] = k
		}
	}
	set(0x00, 0x01, immNone)     // unreachable, nop
	set(0x05, 0x05, immNone)     // else
	set(0x08, 0x08, immU32)      // throw tag
	set(0x0a, 0x0a, immNone)     // throw_ref
	set(0x0c, 0x0d, immU32)      // br, br_if
	set(0x0e, 0x0e, immBrTable)  // br_table
	set(0x0f, 0x0f, immNone)     // return
	set(0x10, 0x10, immU32)      // call
	set(0x11, 0x11, immU32x2)    // call_indirect type table
	set(0x12, 0x12, immU32)      // return_call
	set(0x13, 0x13, immU32x2)    // return_call_indirect
	set(0x14, 0x15, immU32)      // call_ref, return_call_ref
	set(0x1a, 0x1b, immNone)     // drop, select
	set(0x1c, 0x1c, immSelectT)  // select t*
	set(0x20, 0x24, immU32)      // local.get/set/tee, global.get/set
	set(0x25, 0x26, immU32)      // table.get/set
	set(0x28, 0x3e, immMemArg)   // loads and stores
	set(0x3f, 0x40, immU32)      // memory.size/grow (memory index)
	set(0x41, 0x41, immS32)      // i32.const
	set(0x42, 0x42, immS64)      // i64.const
	set(0x43, 0x43, immF32)      // f32.const
	set(0x44, 0x44, immF64)      // f64.const
	set(0x45, 0xc4, immNone)     // numeric, including sign extension 0xc0-0xc4
	set(0xd0, 0xd0, immHeapType) // ref.null
	set(0xd1, 0xd1, immNone)     // ref.is_null
	set(0xd2, 0xd2, immU32)      // ref.func
	set(0xd4, 0xd4, immNone)     // ref.as_non_null
	set(0xd5, 0xd6, immU32)      // br_on_null, br_on_non_null
	return t
}()

func skipImmediate(r *reader, kind uint8) error {
	switch kind {
	case immNone:
		return nil
	case immU32:
		_, err := r.readU32()
		return err
	case immU32x2:
		if _, err := r.readU32(); err != nil {
			return err
		}
		_, err := r.readU32()
		return err
	case immMemArg:
		return skipMemArg(r)
	case immMemArgLane:
		if err := skipMemArg(r); err != nil {
			return err
		}
		_, err := r.readByte()
		return err
	case immBrTable:
		n, err := r.readU32()
		if err != nil {
			return err
		}
		// n+1 labels; each is at least one byte, so the loop is bounded
		// by the body length.
		for i := uint64(0); i <= uint64(n); i++ {
			if _, err := r.readU32(); err != nil {
				return err
			}
		}
		return nil
	case immSelectT:
		n, err := r.readU32()
		if err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			if err := skipValType(r); err != nil {
				return err
			}
		}
		return nil
	case immS32:
		return r.skipLEB(5)
	case immS64:
		return r.skipLEB(10)
	case immF32:
		return r.skip(4)
	case immF64:
		return r.skip(8)
	case immHeapType:
		return r.skipLEB(5)
	case immByte:
		_, err := r.readByte()
		return err
	case imm16Bytes:
		return r.skip(16)
	}
	return fmt.Errorf("%w: internal: immediate kind %d", ErrUnsupported, kind)
}

// skipMemArg skips align and offset. Per the multi-memory encoding, bit 6 of
// align announces an explicit memory index.
func skipMemArg(r *reader) error {
	align, err := r.readU32()
	if err != nil {
		return err
	}
	if align&0x40 != 0 {
		if _, err := r.readU32(); err != nil {
			return err
		}
	}
	_, err = r.readU32()
	return err
}

// skipBlockType skips a block type: 0x40 (empty), a value type, or a
// non-negative s33 type index.
func skipBlockType(r *reader) error {
	start := r.pos
	v, err := r.readS33()
	if err != nil {
		return err
	}
	if v >= 0 {
		return nil // type index
	}
	switch v {
	case -64, // 0x40 empty
		-1, -2, -3, -4, -5, // i32 i64 f32 f64 v128
		-16, -17, -23: // funcref externref exnref
		return nil
	case -29, -28: // 0x63 (ref null ht), 0x64 (ref ht)
		_, err := r.readS33()
		return err
	}
	r.pos = start
	return fmt.Errorf("%w: at offset %#x: unknown block type %d", ErrUnsupported, r.offset(), v)
}

// skipMisc skips a 0xFC-prefixed instruction after its prefix.
func skipMisc(r *reader) error {
	off := r.offset() - 1
	sub, err := r.readU32()
	if err != nil {
		return err
	}
	var kind uint8
	switch {
	case sub <= 7: // saturating truncations
		kind = immNone
	case sub == 8: // memory.init data memory
		kind = immU32x2
	case sub == 9: // data.drop
		kind = immU32
	case sub == 10: // memory.copy dst src
		kind = immU32x2
	case sub == 11: // memory.fill
		kind = immU32
	case sub == 12: // table.init elem table
		kind = immU32x2
	case sub == 13: // elem.drop
		kind = immU32
	case sub == 14: // table.copy dst src
		kind = immU32x2
	case sub <= 17: // table.grow, table.size, table.fill
		kind = immU32
	default:
		return fmt.Errorf("%w: at offset %#x: unknown or unsupported opcode 0xfc %d", ErrUnsupported, off, sub)
	}
	return skipImmediate(r, kind)
}

// simdImmediates maps SIMD sub-opcodes 0x00-0xff to immediate kinds.
var simdImmediates = func() [256]uint8 {
	var t [256]uint8
	for op := range t {
		t[op] = immNone
	}
	for op := 0x00; op <= 0x0b; op++ { // v128.load*, v128.store
		t[op] = immMemArg
	}
	t[0x0c] = imm16Bytes               // v128.const
	t[0x0d] = imm16Bytes               // i8x16.shuffle
	for op := 0x15; op <= 0x22; op++ { // extract_lane / replace_lane
		t[op] = immByte
	}
	for op := 0x54; op <= 0x5b; op++ { // v128.load*_lane, v128.store*_lane
		t[op] = immMemArgLane
	}
	t[0x5c] = immMemArg // v128.load32_zero
	t[0x5d] = immMemArg // v128.load64_zero
	// Unassigned in the final SIMD specification.
	for _, op := range []int{0x9a, 0xa2, 0xa5, 0xa6, 0xaf, 0xb0, 0xb2, 0xb3, 0xb4, 0xbb,
		0xc2, 0xc5, 0xc6, 0xcf, 0xd0, 0xd2, 0xd3, 0xd4, 0xe2, 0xee} {
		t[op] = immInvalid
	}
	return t
}()

// skipSIMD skips a 0xFD-prefixed instruction after its prefix.
//
// The sub-opcode is a u32 LEB128 in the spec, but wazero reads it as one
// byte (a sub-opcode in 0x80-0xff is followed by its 0x01 continuation byte,
// which wazero then treats as a nop). The two readings agree only on the
// minimal encoding, so anything else is refused.
func skipSIMD(r *reader) error {
	off := r.offset() - 1
	start := r.pos
	sub, err := r.readU32()
	if err != nil {
		return err
	}
	minimal := 1
	if sub >= 0x80 {
		minimal = 2
	}
	if sub > 0xff {
		return fmt.Errorf("%w: at offset %#x: unknown or unsupported opcode 0xfd %#x (relaxed SIMD is not supported)", ErrUnsupported, off, sub)
	}
	if r.pos-start != minimal {
		return fmt.Errorf("%w: at offset %#x: non-minimal encoding of SIMD opcode 0xfd %#x", ErrUnsupported, off, sub)
	}
	kind := simdImmediates[sub]
	if kind == immInvalid {
		return fmt.Errorf("%w: at offset %#x: unknown opcode 0xfd %#x", ErrUnsupported, off, sub)
	}
	return skipImmediate(r, kind)
}

// skipAtomic skips a 0xFE-prefixed (threads) instruction after its prefix.
// wazero reads the sub-opcode as one byte; all defined ones are below 0x80.
func skipAtomic(r *reader) error {
	off := r.offset() - 1
	sub, err := r.readByte()
	if err != nil {
		return err
	}
	switch {
	case sub <= 0x02: // memory.atomic.notify, wait32, wait64
		return skipMemArg(r)
	case sub == 0x03: // atomic.fence 0x00
		_, err := r.readByte()
		return err
	case sub >= 0x10 && sub <= 0x4e: // loads, stores, read-modify-write
		return skipMemArg(r)
	}
	return fmt.Errorf("%w: at offset %#x: unknown opcode 0xfe %#x", ErrUnsupported, off, sub)
}
