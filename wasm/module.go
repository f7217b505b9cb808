package wasm

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/weirflow/weir/abi"
)

// Module is a validated, compiled job module shared by all its instances.
type Module struct {
	rt       *Runtime
	compiled wazero.CompiledModule
	// Name is the display name given to Load.
	Name string
	// SHA256 is the hex sha256 of the module bytes as uploaded.
	SHA256 string
	// Size is the module size in bytes.
	Size int
	// kinds lists the operator kinds whose exports the module has.
	kinds []abi.Kind
}

func (m *Module) label() string {
	short := m.SHA256
	if len(short) > 12 {
		short = short[:12]
	}
	if m.Name == "" {
		return short
	}
	return m.Name + "@" + short
}

// Supports reports whether the module has the exports of an operator kind.
func (m *Module) Supports(k abi.Kind) bool { return slices.Contains(m.kinds, k) }

type signature struct{ params, results int }

var requiredExports = map[string]signature{
	abi.ExportAlloc: {2, 1},
	abi.ExportFree:  {3, 0},
	abi.ExportPlan:  {3, 1},
	abi.ExportOpen:  {7, 1},
	abi.ExportClose: {1, 1},
}

var kindExports = map[string]signature{
	abi.ExportMap:       {3, 1},
	abi.ExportFilter:    {3, 1},
	abi.ExportProcess:   {5, 1},
	abi.ExportAggCreate: {3, 1},
	abi.ExportAggAdd:    {5, 1},
	abi.ExportAggMerge:  {5, 1},
	abi.ExportAggResult: {3, 1},
}

func checkSignature(name string, def api.FunctionDefinition, want signature) error {
	for _, t := range append(def.ParamTypes(), def.ResultTypes()...) {
		if t != api.ValueTypeI32 {
			return fmt.Errorf("%w: %s has a non-i32 parameter or result (%s)", ErrExports, name, sigString(def))
		}
	}
	if len(def.ParamTypes()) != want.params || len(def.ResultTypes()) != want.results {
		return fmt.Errorf("%w: %s has signature %s, want %d i32 params and %d i32 results",
			ErrExports, name, sigString(def), want.params, want.results)
	}
	return nil
}

func sigString(def api.FunctionDefinition) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, ", ")
	}
	return "(" + names(def.ParamTypes()) + ") -> (" + names(def.ResultTypes()) + ")"
}

// validate checks the compiled module against SPEC §2.
func (m *Module) validate() error {
	c := m.compiled
	exports := c.ExportedFunctions()
	version := 0
	for name := range exports {
		if rest, ok := strings.CutPrefix(name, abi.VersionExportPrefix); ok {
			v, err := strconv.Atoi(rest)
			if err != nil || v < 1 {
				return fmt.Errorf("%w: malformed version export %q", ErrNotWeir, name)
			}
			if v != abi.Version {
				return fmt.Errorf("%w: module speaks ABI v%d; this host supports v%d", ErrABIVersion, v, abi.Version)
			}
			version = v
		}
	}
	if version == 0 {
		return fmt.Errorf("%w: no %s%d export (is it built with a Weir SDK?)", ErrNotWeir, abi.VersionExportPrefix, abi.Version)
	}
	if _, ok := exports[abi.ExportStart]; ok {
		return fmt.Errorf("%w: exports _start: a command module; build a reactor (Go: -buildmode=c-shared; C: -mexec-model=reactor)", ErrExports)
	}
	names := make([]string, 0, len(requiredExports))
	for n := range requiredExports {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		def, ok := exports[n]
		if !ok {
			return fmt.Errorf("%w: missing required export %s", ErrExports, n)
		}
		if err := checkSignature(n, def, requiredExports[n]); err != nil {
			return err
		}
	}
	for n, sig := range kindExports {
		if def, ok := exports[n]; ok {
			if err := checkSignature(n, def, sig); err != nil {
				return err
			}
		}
	}
	for _, k := range []abi.Kind{abi.KindMap, abi.KindFlatMap, abi.KindFilter, abi.KindProcess, abi.KindAggregate} {
		all := true
		for _, e := range k.Exports() {
			_, ok := exports[e]
			all = all && ok
		}
		if all {
			m.kinds = append(m.kinds, k)
		}
	}
	if def, ok := exports[abi.ExportInitialize]; ok && (len(def.ParamTypes()) != 0 || len(def.ResultTypes()) != 0) {
		return fmt.Errorf("%w: _initialize must take and return nothing, has %s", ErrExports, sigString(def))
	}
	mems := c.ExportedMemories()
	mem, ok := mems[abi.ExportMemory]
	if !ok {
		return fmt.Errorf("%w: no exported memory named %q", ErrExports, abi.ExportMemory)
	}
	limitPages := uint32(m.rt.cfg.MemoryLimit / pageSize)
	if mem.Min() > limitPages {
		return fmt.Errorf("%w: module declares a minimum of %d MiB of memory; the limit is %d MiB",
			ErrMemoryLimit, uint64(mem.Min())*pageSize>>20, m.rt.cfg.MemoryLimit>>20)
	}
	return m.validateImports()
}

func (m *Module) validateImports() error {
	c := m.compiled
	if mems := c.ImportedMemories(); len(mems) > 0 {
		mod, name, _ := mems[0].Import()
		return fmt.Errorf("%w: memory import %s.%s (a Weir module defines its own memory)", ErrImports, mod, name)
	}
	host := map[string]signature{abi.ImportError: {2, 0}, abi.ImportLog: {3, 0}}
	for _, def := range c.ImportedFunctions() {
		mod, name, _ := def.Import()
		switch mod {
		case abi.ImportModule:
			want, ok := host[name]
			if !ok {
				return fmt.Errorf("%w: %s.%s is not a Weir host function (have error, log)", ErrImports, mod, name)
			}
			if err := checkSignature(mod+"."+name, def, want); err != nil {
				return fmt.Errorf("%w: %w", ErrImports, err)
			}
		case abi.WASIModule:
			w, ok := m.rt.wasi[name]
			if !ok {
				return fmt.Errorf("%w: %s.%s is not a WASI preview 1 function", ErrImports, mod, name)
			}
			if !slices.Equal(w.ParamTypes(), def.ParamTypes()) || !slices.Equal(w.ResultTypes(), def.ResultTypes()) {
				return fmt.Errorf("%w: %s.%s has signature %s, want %s", ErrImports, mod, name, sigString(def), sigString(w))
			}
		default:
			return fmt.Errorf("%w: %s.%s (only %q and %q imports are allowed)", ErrImports, mod, name, abi.ImportModule, abi.WASIModule)
		}
	}
	return nil
}

// Close releases the compiled code. Instances must be closed first.
func (m *Module) Close(ctx context.Context) error {
	m.rt.Unload(ctx, m)
	return m.compiled.Close(ctx)
}
