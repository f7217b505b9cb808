package interrupt

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
)

var (
	fuzzRuntimeOnce sync.Once
	fuzzRuntime     wazero.Runtime
)

// FuzzInstrument checks that Instrument never panics, is deterministic, and
// that whenever wazero accepts the input, Instrument succeeds (unless the
// input already exports the flag's name) and wazero accepts the output.
// Inputs that Instrument finds structurally malformed are not given to
// wazero (see below), so "wazero accepts what Instrument calls malformed" is
// not checked.
func FuzzInstrument(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.wasm")
	for _, s := range seeds {
		f.Add(readFile(f, s))
	}
	f.Add(exceptionsModule(f))
	f.Add(module())
	f.Add(module(sec(secType, vec(funcType(nil, nil))), sec(secFunction, vec(leb(0))),
		sec(secCode, vec(body(nil, 0x02, 0x40, 0x03, 0x40, 0x0c, 0x01, 0x0b, 0x0b, 0x0b)))))

	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Instrument(in)
		if err == nil {
			again, err2 := Instrument(in)
			if err2 != nil || !bytes.Equal(out, again) {
				t.Fatalf("not deterministic: %v", err2)
			}
		} else if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrAlreadyExported) {
			t.Fatalf("error without a sentinel: %v", err)
		}

		if errors.Is(err, ErrMalformed) {
			// Structurally broken (truncated, overlong LEB128, bad order,
			// ...). Skip wazero: on such inputs it may allocate whatever
			// sizes the input claims and take seconds to reject it, which
			// stalls the fuzzer.
			return
		}
		fuzzRuntimeOnce.Do(func() {
			fuzzRuntime = wazero.NewRuntimeWithConfig(context.Background(),
				wazero.NewRuntimeConfigCompiler().WithCoreFeatures(allFeatures))
		})
		if !plausibleCounts(in) {
			return
		}
		if !wazeroAccepts(in) {
			return // nothing to check
		}
		if err != nil {
			if errors.Is(err, ErrAlreadyExported) {
				return
			}
			// wazero v1.12 accepts some SIMD opcodes past the last one the
			// spec defines (testdata/fuzz/FuzzInstrument/c3e394a032422e46:
			// 0xfd 0x20ae); Instrument refuses them, and so does the host
			// (a refusal is safe; no toolchain emits them).
			if errors.Is(err, ErrUnsupported) && strings.Contains(err.Error(), "unsupported opcode 0xfd") {
				return
			}
			t.Fatalf("wazero accepts the input but Instrument fails: %v", err)
		}
		ctx := context.Background()
		cm, cerr := fuzzRuntime.CompileModule(ctx, out)
		if cerr != nil {
			t.Fatalf("wazero accepts the input but not the output: %v", cerr)
		}
		_ = cm.Close(ctx)
		// CapTables, the other rewrite of untrusted modules, keeps them
		// valid too (or refuses them with a sentinel).
		capped, err := CapTables(in, 1<<20)
		switch {
		case errors.Is(err, ErrTables), errors.Is(err, ErrUnsupported):
		case err != nil:
			t.Fatalf("wazero accepts the input but CapTables fails: %v", err)
		default:
			if cm, cerr = fuzzRuntime.CompileModule(ctx, capped); cerr != nil {
				t.Fatalf("wazero accepts the input but not its capped tables: %v", cerr)
			}
			_ = cm.Close(ctx)
		}
	})
}

// plausibleCounts reports whether every non-custom section's leading vector
// count is at most its size. wazero allocates whatever an input's counts
// claim before noticing that the entries are missing (gigabytes for a
// 12-byte input), which makes fuzzing stall; such inputs are invalid anyway.
func plausibleCounts(wasm []byte) bool {
	secs, err := splitSections(wasm)
	if err != nil {
		return false
	}
	for _, s := range secs {
		switch s.id {
		case secCustom:
			if !plausibleNames(s.content) {
				return false
			}
			continue
		case secStart:
			continue
		}
		r := reader{buf: s.content}
		n, err := r.readU32()
		if err != nil || uint64(n) > uint64(len(s.content)) {
			return false
		}
		if s.id == secType && !plausibleTypes(&r, n) {
			return false
		}
		if s.id == secCode && !plausibleLocals(&r, n) {
			return false
		}
		if (s.id == secElement || s.id == secData) && !plausibleSegments(&r, n, s.id) {
			return false
		}
	}
	return true
}

// plausibleNames checks the vector lengths of a "name" custom section's
// function and local name maps.
func plausibleNames(content []byte) bool {
	r := reader{buf: content}
	l, err := r.readU32()
	if err != nil {
		return true
	}
	if name, err := r.readBytes(l); err != nil || string(name) != "name" {
		return true
	}
	count := func(r *reader) (uint32, bool) {
		c, err := r.readU32()
		return c, err == nil && uint64(c) <= uint64(r.remaining())
	}
	nameMap := func(r *reader) bool {
		c, ok := count(r)
		if !ok {
			return false
		}
		for i := uint32(0); i < c; i++ {
			if _, err := r.readU32(); err != nil {
				return true
			}
			l, ok := count(r)
			if !ok {
				return false
			}
			if r.skip(l) != nil {
				return true
			}
		}
		return true
	}
	for !r.eof() {
		id, _ := r.readByte()
		size, ok := count(&r)
		if !ok {
			return false
		}
		sub, _ := r.readBytes(size)
		sr := reader{buf: sub}
		switch id {
		case 1:
			if !nameMap(&sr) {
				return false
			}
		case 2:
			c, ok := count(&sr)
			if !ok {
				return false
			}
			for i := uint32(0); i < c; i++ {
				if _, err := sr.readU32(); err != nil {
					break
				}
				if !nameMap(&sr) {
					return false
				}
			}
		}
	}
	return true
}

// plausibleTypes checks the parameter and result counts of function types.
func plausibleTypes(r *reader, n uint32) bool {
	for i := uint32(0); i < n; i++ {
		if b, err := r.readByte(); err != nil || b != 0x60 {
			return true // not a plain function type: leave it to wazero
		}
		for j := 0; j < 2; j++ {
			c, err := r.readU32()
			if err != nil || uint64(c) > uint64(r.remaining()) {
				return false
			}
			for k := uint32(0); k < c; k++ {
				if skipValType(r) != nil {
					return true
				}
			}
		}
	}
	return true
}

// plausibleSegments checks the vector lengths inside element and data
// segments.
func plausibleSegments(r *reader, n uint32, id byte) bool {
	for i := uint32(0); i < n; i++ {
		flags, err := r.readU32()
		if err != nil {
			return true
		}
		if id == secData {
			if flags == 2 && r.skipLEB(5) != nil {
				return true
			}
			if flags != 1 && skipConstExpr(r) != nil {
				return true
			}
			c, err := r.readU32()
			if err != nil || uint64(c) > uint64(r.remaining()) {
				return false
			}
			if r.skip(c) != nil {
				return true
			}
			continue
		}
		if flags > 7 {
			return true
		}
		if flags&0x02 != 0 && flags&0x01 == 0 { // explicit table index
			if r.skipLEB(5) != nil {
				return true
			}
		}
		if flags&0x01 == 0 && skipConstExpr(r) != nil { // active: offset
			return true
		}
		if flags&0x03 != 0 { // elemkind or reftype
			if flags&0x04 != 0 {
				if skipValType(r) != nil {
					return true
				}
			} else if _, err := r.readByte(); err != nil {
				return true
			}
		}
		c, err := r.readU32()
		if err != nil || uint64(c) > uint64(r.remaining()) {
			return false
		}
		for j := uint32(0); j < c; j++ {
			if flags&0x04 != 0 {
				if skipConstExpr(r) != nil {
					return true
				}
			} else if _, err := r.readU32(); err != nil {
				return true
			}
		}
	}
	return true
}

// skipConstExpr skips instructions up to and including an end.
func skipConstExpr(r *reader) error {
	for {
		op, err := r.readByte()
		if err != nil {
			return err
		}
		switch {
		case op == opEnd:
			return nil
		case op == prefixSIMD:
			err = skipSIMD(r)
		case op == prefixMisc:
			err = skipMisc(r)
		default:
			imm := singleByteImmediates[op]
			if imm == immInvalid {
				return ErrUnsupported
			}
			err = skipImmediate(r, imm)
		}
		if err != nil {
			return err
		}
	}
}

// plausibleLocals checks that no body declares more than a million locals.
func plausibleLocals(r *reader, n uint32) bool {
	for i := uint32(0); i < n; i++ {
		size, err := r.readU32()
		if err != nil {
			return true
		}
		body, err := r.readBytes(size)
		if err != nil {
			return true
		}
		br := reader{buf: body}
		groups, err := br.readU32()
		if err != nil {
			return true
		}
		var total uint64
		for g := uint32(0); g < groups; g++ {
			c, err := br.readU32()
			if err != nil || skipValType(&br) != nil {
				return true
			}
			if total += uint64(c); total > 1<<20 {
				return false
			}
		}
	}
	return true
}

// wazeroAccepts reports whether wazero compiles wasm. wazero v1.12 panics on
// some invalid inputs instead of returning an error (for example a tag whose
// type index is out of range, testdata/fuzz/FuzzInstrument/be9f0c5ed475492b);
// such a panic counts as a rejection.
func wazeroAccepts(wasm []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	ctx := context.Background()
	cm, err := fuzzRuntime.CompileModule(ctx, wasm)
	if err != nil {
		return false
	}
	_ = cm.Close(ctx)
	return true
}
