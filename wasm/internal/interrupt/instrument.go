package interrupt

import (
	"bytes"
	"fmt"
	"math"
)

// Section ids (https://webassembly.github.io/spec/core/binary/modules.html).
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// sectionRank gives the position a non-custom section must take in a module;
// ranks must strictly increase through the module. 0 means unknown id.
var sectionRank = [...]int{
	secType:      1,
	secImport:    2,
	secFunction:  3,
	secTable:     4,
	secMemory:    5,
	secTag:       6,
	secGlobal:    7,
	secExport:    8,
	secStart:     9,
	secElement:   10,
	secDataCount: 11,
	secCode:      12,
	secData:      13,
}

var sectionNames = [...]string{
	secCustom: "custom", secType: "type", secImport: "import", secFunction: "function",
	secTable: "table", secMemory: "memory", secGlobal: "global", secExport: "export",
	secStart: "start", secElement: "element", secCode: "code", secData: "data",
	secDataCount: "data count", secTag: "tag",
}

// External kinds used in import and export entries.
const (
	kindFunc   = 0x00
	kindTable  = 0x01
	kindMemory = 0x02
	kindGlobal = 0x03
	kindTag    = 0x04
)

var (
	wasmMagic   = []byte{0x00, 0x61, 0x73, 0x6d}
	wasmVersion = []byte{0x01, 0x00, 0x00, 0x00}
)

type section struct {
	id byte
	// raw is the whole section: id byte, size LEB and content.
	raw []byte
	// content is the section's payload; contentOff its module offset.
	content    []byte
	contentOff int
}

// Instrument returns a copy of the WebAssembly core module binary wasm in
// which every function entry and every loop iteration checks the added
// mutable i32 global exported as ExportName, and traps (unreachable) when it
// is non-zero, and which regularly yields to Go (see the package
// documentation for the exact rewrite).
//
// The flag global gets the index (number of imported globals + number of
// defined globals), so every existing global index stays valid; function,
// type, table, memory and local indices are untouched. All sections other
// than table, global, export and code are copied byte for byte and in
// order; a missing table, global or export section is created at its spec
// position (before trailing custom sections).
//
// The result is deterministic. Instrument never panics; on bad input it
// returns an error wrapping ErrMalformed, ErrUnsupported or
// ErrAlreadyExported. It does not validate the module beyond what the
// rewrite needs (types, stack discipline and index ranges are left to
// wazero's CompileModule); an input that wazero accepts yields an output
// that wazero accepts.
func Instrument(wasm []byte) ([]byte, error) {
	if err := checkHeader(wasm); err != nil {
		return nil, err
	}
	sections, err := splitSections(wasm)
	if err != nil {
		return nil, err
	}

	var (
		imports                        importCounts
		definedGlobals, definedTables  uint32
		globalSec, exportSec, tableSec = -1, -1, -1
	)
	for i, s := range sections {
		switch s.id {
		case secImport:
			if imports, err = scanImports(s); err != nil {
				return nil, err
			}
		case secTable:
			tableSec = i
			r := reader{buf: s.content, base: s.contentOff}
			if definedTables, err = r.readU32(); err != nil {
				return nil, fmt.Errorf("table section: %w", err)
			}
		case secGlobal:
			globalSec = i
			r := reader{buf: s.content, base: s.contentOff}
			if definedGlobals, err = r.readU32(); err != nil {
				return nil, fmt.Errorf("global section: %w", err)
			}
		case secExport:
			exportSec = i
			if err := scanExports(s); err != nil {
				return nil, err
			}
		}
	}
	flagIndex64 := uint64(imports.globals) + uint64(definedGlobals)
	if flagIndex64+1 >= math.MaxUint32 {
		return nil, fmt.Errorf("%w: %d globals leave no room for the interrupt globals", ErrUnsupported, flagIndex64)
	}
	flagIndex := uint32(flagIndex64)
	tableIndex64 := uint64(imports.tables) + uint64(definedTables)
	if tableIndex64 >= math.MaxUint32 {
		return nil, fmt.Errorf("%w: %d tables leave no room for the yield table", ErrUnsupported, tableIndex64)
	}
	seq := newSequences(flagIndex, flagIndex+1, uint32(tableIndex64))

	out := make([]byte, 0, len(wasm)+len(wasm)/8+64)
	out = append(out, wasm[:8]...)

	emittedTable, emittedGlobal, emittedExport := false, false, false
	emitTable := func() {
		content := appendU32(nil, definedTables+1)
		if tableSec >= 0 {
			s := sections[tableSec]
			r := reader{buf: s.content}
			_, _ = r.readU32() // already checked above
			content = append(content, s.content[r.pos:]...)
		}
		// (table 0 funcref), the target of the yielding table.grow.
		content = append(content, typeFuncref, 0x00, 0x00)
		out = appendSection(out, secTable, content)
		emittedTable = true
	}
	emitGlobal := func() {
		var content []byte
		if globalSec >= 0 {
			s := sections[globalSec]
			r := reader{buf: s.content}
			_, _ = r.readU32() // already checked above
			content = appendU32(content, definedGlobals+2)
			content = append(content, s.content[r.pos:]...)
		} else {
			content = appendU32(content, 2)
		}
		// The flag: (global (mut i32) (i32.const 0)).
		content = append(content, 0x7f, 0x01, opI32Const, 0x00, opEnd)
		// The fuel: (global (mut i32) (i32.const YieldInterval)).
		content = append(content, 0x7f, 0x01, opI32Const)
		content = appendS32(content, YieldInterval)
		content = append(content, opEnd)
		out = appendSection(out, secGlobal, content)
		emittedGlobal = true
	}
	emitExport := func() error {
		var content []byte
		if exportSec >= 0 {
			s := sections[exportSec]
			r := reader{buf: s.content}
			n, _ := r.readU32() // already checked by scanExports
			if n == math.MaxUint32 {
				return fmt.Errorf("%w: export section is full", ErrUnsupported)
			}
			content = appendU32(content, n+1)
			content = append(content, s.content[r.pos:]...)
		} else {
			content = appendU32(content, 1)
		}
		content = appendU32(content, uint32(len(ExportName)))
		content = append(content, ExportName...)
		content = append(content, kindGlobal)
		content = appendU32(content, flagIndex)
		out = appendSection(out, secExport, content)
		emittedExport = true
		return nil
	}

	// emitUpTo emits the pending new sections whose rank is below limit.
	emitUpTo := func(limit int) error {
		if !emittedTable && sectionRank[secTable] < limit {
			emitTable()
		}
		if !emittedGlobal && sectionRank[secGlobal] < limit {
			emitGlobal()
		}
		if !emittedExport && sectionRank[secExport] < limit {
			return emitExport()
		}
		return nil
	}
	// New sections go before the first later section, or, when there is
	// none, right after the last non-custom section, so that trailing
	// custom sections (name, producers, DWARF) stay last.
	tail := 0
	for i, s := range sections {
		if s.id != secCustom {
			tail = i + 1
		}
	}
	for i, s := range sections {
		limit := 0
		if i == tail {
			limit = math.MaxInt
		} else if s.id != secCustom {
			limit = sectionRank[s.id] + 1
		}
		if err := emitUpTo(limit); err != nil {
			return nil, err
		}
		switch s.id {
		case secTable, secGlobal, secExport:
			// Emitted above.
		case secCode:
			content, err := instrumentCode(s, imports.funcs, &seq)
			if err != nil {
				return nil, err
			}
			if uint64(len(content)) > math.MaxUint32 {
				return nil, fmt.Errorf("%w: instrumented code section exceeds 4 GiB", ErrUnsupported)
			}
			out = appendSection(out, secCode, content)
		default:
			out = append(out, s.raw...)
		}
	}
	if err := emitUpTo(math.MaxInt); err != nil {
		return nil, err
	}
	return out, nil
}

// checkHeader checks the magic and version of a core module.
func checkHeader(wasm []byte) error {
	if len(wasm) < 8 {
		return fmt.Errorf("%w: %d bytes is shorter than the module header", ErrMalformed, len(wasm))
	}
	if !bytes.Equal(wasm[:4], wasmMagic) {
		return fmt.Errorf("%w: missing \\0asm magic", ErrMalformed)
	}
	if !bytes.Equal(wasm[4:8], wasmVersion) {
		return fmt.Errorf("%w: binary version/layer % x (only core modules, version 1, are supported)", ErrUnsupported, wasm[4:8])
	}
	return nil
}

func appendSection(out []byte, id byte, content []byte) []byte {
	out = append(out, id)
	out = appendU32(out, uint32(len(content)))
	return append(out, content...)
}

// splitSections cuts the module after its header into sections and checks
// their ids and order.
func splitSections(wasm []byte) ([]section, error) {
	r := reader{buf: wasm, pos: 8}
	var sections []section
	lastRank, lastID := 0, byte(0)
	for !r.eof() {
		start := r.pos
		id, _ := r.readByte()
		size, err := r.readU32()
		if err != nil {
			return nil, fmt.Errorf("section header at offset %#x: %w", start, err)
		}
		contentOff := r.pos
		content, err := r.readBytes(size)
		if err != nil {
			return nil, fmt.Errorf("section %d at offset %#x: %w", id, start, err)
		}
		if id != secCustom {
			if int(id) >= len(sectionRank) || sectionRank[id] == 0 {
				return nil, fmt.Errorf("%w: unknown section id %d at offset %#x", ErrUnsupported, id, start)
			}
			rank := sectionRank[id]
			if rank <= lastRank {
				if rank == lastRank {
					return nil, fmt.Errorf("%w: duplicate %s section at offset %#x", ErrMalformed, sectionNames[id], start)
				}
				return nil, fmt.Errorf("%w: %s section at offset %#x after %s section", ErrMalformed, sectionNames[id], start, sectionNames[lastID])
			}
			lastRank, lastID = rank, id
		}
		sections = append(sections, section{id: id, raw: wasm[start:r.pos], content: content, contentOff: contentOff})
	}
	return sections, nil
}

type importCounts struct {
	funcs, tables, globals uint32
}

// scanImports counts imported functions, tables and globals; the other
// import kinds are skipped.
func scanImports(s section) (c importCounts, err error) {
	r := reader{buf: s.content, base: s.contentOff}
	wrap := func(err error) (importCounts, error) {
		return importCounts{}, fmt.Errorf("import section: %w", err)
	}
	n, err := r.readU32()
	if err != nil {
		return wrap(err)
	}
	for i := uint32(0); i < n; i++ {
		for j := 0; j < 2; j++ { // module and field names
			l, err := r.readU32()
			if err != nil {
				return wrap(err)
			}
			if err := r.skip(l); err != nil {
				return wrap(err)
			}
		}
		kind, err := r.readByte()
		if err != nil {
			return wrap(err)
		}
		switch kind {
		case kindFunc:
			if _, err := r.readU32(); err != nil {
				return wrap(err)
			}
			c.funcs++
		case kindTable:
			c.tables++
			if err := skipValType(&r); err != nil {
				return wrap(err)
			}
			if err := skipLimits(&r); err != nil {
				return wrap(err)
			}
		case kindMemory:
			if err := skipLimits(&r); err != nil {
				return wrap(err)
			}
		case kindGlobal:
			if err := skipValType(&r); err != nil {
				return wrap(err)
			}
			if _, err := r.readByte(); err != nil { // mutability
				return wrap(err)
			}
			c.globals++
		case kindTag:
			if _, err := r.readByte(); err != nil { // attribute
				return wrap(err)
			}
			if _, err := r.readU32(); err != nil {
				return wrap(err)
			}
		default:
			return wrap(fmt.Errorf("%w: import %d has unknown kind %#x", ErrMalformed, i, kind))
		}
	}
	if !r.eof() {
		return wrap(r.errorf("%d trailing bytes", r.remaining()))
	}
	return c, nil
}

// scanExports checks that the export section is well formed and does not
// already export ExportName.
func scanExports(s section) error {
	r := reader{buf: s.content, base: s.contentOff}
	n, err := r.readU32()
	if err != nil {
		return fmt.Errorf("export section: %w", err)
	}
	for i := uint32(0); i < n; i++ {
		l, err := r.readU32()
		if err != nil {
			return fmt.Errorf("export section: %w", err)
		}
		name, err := r.readBytes(l)
		if err != nil {
			return fmt.Errorf("export section: %w", err)
		}
		if string(name) == ExportName {
			return fmt.Errorf("%w (export %d)", ErrAlreadyExported, i)
		}
		if _, err := r.readByte(); err != nil { // kind
			return fmt.Errorf("export section: %w", err)
		}
		if _, err := r.readU32(); err != nil {
			return fmt.Errorf("export section: %w", err)
		}
	}
	if !r.eof() {
		return fmt.Errorf("export section: %w", r.errorf("%d trailing bytes", r.remaining()))
	}
	return nil
}

// skipLimits skips a table or memory limits encoding: a flags byte (bit 0:
// has maximum, bit 1: shared, bit 2: 64-bit), the minimum and the optional
// maximum.
func skipLimits(r *reader) error {
	flags, err := r.readByte()
	if err != nil {
		return err
	}
	if flags > 0x07 {
		return r.errorf("invalid limits flags %#x", flags)
	}
	n := 1
	if flags&0x01 != 0 {
		n = 2
	}
	for i := 0; i < n; i++ {
		if flags&0x04 != 0 {
			if err := r.skipLEB(10); err != nil {
				return err
			}
		} else if _, err := r.readU32(); err != nil {
			return err
		}
	}
	return nil
}

// Value type encodings.
const (
	refNullPrefix = 0x63 // (ref null <heaptype>)
	refPrefix     = 0x64 // (ref <heaptype>)
)

// skipValType skips one value type: a single byte, or one of the reference
// type prefixes followed by an s33 heap type.
func skipValType(r *reader) error {
	b, err := r.readByte()
	if err != nil {
		return err
	}
	switch b {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, // i32 i64 f32 f64 v128
		0x70, 0x6f, 0x69: // funcref externref exnref
		return nil
	case refNullPrefix, refPrefix:
		_, err := r.readS33()
		return err
	default:
		r.pos--
		return fmt.Errorf("%w: at offset %#x: unknown value type %#x", ErrUnsupported, r.offset(), b)
	}
}
