// Package wasm is Weir's WebAssembly host: it loads guest job modules into
// wazero, validates them against the ABI (abi/SPEC.md), runs them in a
// sandbox with memory, time and output limits, and calls their operators one
// Arrow record batch at a time.
//
// One Runtime serves a process. Load compiles a module once per sha256 and
// shares the CompiledModule; Module.Instantiate makes an Instance per
// subtask. Instances are not safe for concurrent use.
package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/arrow/bufpool"
	"github.com/weirflow/weir/wasm/internal/interrupt"
)

// Defaults of Config.
const (
	DefaultMemoryLimit  = 256 << 20
	DefaultCallBudget   = 10 * time.Second
	DefaultOutputBudget = 1 << 20
	DefaultLogLines     = 100
	// DefaultLogRate is how many guest output lines a second an instance
	// may write to the host's log (in bursts of ten times as many).
	DefaultLogRate = 100
	// DefaultTableElements bounds the elements of a module's tables (8 MiB
	// of host memory per instance); Go guests declare about 6,500.
	DefaultTableElements = 1 << 20
	// MinMemoryLimit and MaxMemoryLimit bound Config.MemoryLimit: one page,
	// and the 32-bit address space.
	MinMemoryLimit = pageSize
	MaxMemoryLimit = 4 << 30
	pageSize       = 64 << 10
)

// Config configures a Runtime. The zero value is usable.
type Config struct {
	// CacheDir keeps compiled machine code across processes; empty means an
	// in-memory cache only.
	CacheDir string
	// MemoryLimit caps each instance's linear memory in bytes (default 256 MiB).
	MemoryLimit uint64
	// CallBudget is the wall-clock time one guest call may take (default 10 s).
	CallBudget time.Duration
	// TableElements bounds the elements a module's tables may hold, which
	// live outside linear memory (default DefaultTableElements): a module
	// declaring more is refused, and tables without a maximum cannot grow.
	TableElements uint32
	// OutputBudget is how many bytes of stdout, stderr and weir.log output one
	// call may produce (default 1 MiB); past it the call fails.
	OutputBudget int
	// LogRate bounds the guest output lines an instance writes to Logger, a
	// second on average, in bursts of ten seconds' worth (default
	// DefaultLogRate; negative: no bound). Lines past it are counted and
	// said in one warning when the log goes on; they still count against
	// OutputBudget and are kept among the recent lines.
	LogRate float64
	// LogLines is how many recent guest output lines an instance keeps for
	// error reports (default 100).
	LogLines int
	// Interrupt selects how calls past their budget are stopped: "flag"
	// (default: the module is instrumented with a flag check at loop headers and
	// function entries), "context" (wazero's WithCloseOnContextDone), or
	// "none" (no time budget at all: only for trusted modules and for measuring
	// the others). See wasm/RATIONALE.md for the measured cost of each.
	Interrupt string
	// Allocator allocates the Arrow buffers of call results (default: a
	// pooling allocator, bufpool).
	Allocator memory.Allocator
	// Logger receives guest output and host events (default slog.Default()).
	Logger *slog.Logger
}

func (c *Config) defaults() error {
	if c.MemoryLimit == 0 {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.MemoryLimit < MinMemoryLimit || c.MemoryLimit > MaxMemoryLimit {
		return fmt.Errorf("wasm: memory limit %d is outside %d..%d bytes", c.MemoryLimit, MinMemoryLimit, MaxMemoryLimit)
	}
	if c.CallBudget <= 0 {
		c.CallBudget = DefaultCallBudget
	}
	if c.TableElements == 0 {
		c.TableElements = DefaultTableElements
	}
	if c.OutputBudget <= 0 {
		c.OutputBudget = DefaultOutputBudget
	}
	if c.LogRate == 0 {
		c.LogRate = DefaultLogRate
	}
	if c.LogLines <= 0 {
		c.LogLines = DefaultLogLines
	}
	switch c.Interrupt {
	case "":
		c.Interrupt = "flag"
	case "flag", "context", "none":
	default:
		return fmt.Errorf("wasm: unknown interrupt mode %q (want flag, context or none)", c.Interrupt)
	}
	if c.Allocator == nil {
		c.Allocator = bufpool.New()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Runtime is the process-wide WebAssembly runtime.
type Runtime struct {
	cfg     Config
	r       wazero.Runtime
	cache   wazero.CompilationCache
	wasi    map[string]api.FunctionDefinition
	mu      sync.Mutex
	modules map[[32]byte]*Module
}

// NewRuntime starts a runtime with the compiler engine, the host module
// "weir" and the sandboxed WASI.
func NewRuntime(ctx context.Context, cfg Config) (*Runtime, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	rc := wazero.NewRuntimeConfigCompiler().
		// The per-instance allocator (linearMemory) enforces the limit, so
		// that a refused grow is seen and reported as ErrMemoryLimit.
		WithMemoryLimitPages(MaxMemoryLimit / pageSize).
		WithCloseOnContextDone(cfg.Interrupt == "context")
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		var err error
		if cache, err = wazero.NewCompilationCacheWithDir(cfg.CacheDir); err != nil {
			return nil, fmt.Errorf("wasm: compilation cache %s: %w", cfg.CacheDir, err)
		}
	} else {
		cache = wazero.NewCompilationCache()
	}
	rc = rc.WithCompilationCache(cache)
	r := wazero.NewRuntimeWithConfig(ctx, rc)
	rt := &Runtime{cfg: cfg, r: r, cache: cache, modules: map[[32]byte]*Module{}}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
		_ = r.Close(ctx)
		return nil, fmt.Errorf("wasm: instantiate WASI: %w", err)
	}
	rt.wasi = r.Module(abi.WASIModule).ExportedFunctionDefinitions()
	if err := rt.instantiateHost(ctx); err != nil {
		_ = r.Close(ctx)
		return nil, err
	}
	return rt, nil
}

// Config returns the runtime's effective configuration.
func (rt *Runtime) Config() Config { return rt.cfg }

// Close releases every module and instance of the runtime.
func (rt *Runtime) Close(ctx context.Context) error {
	err := rt.r.Close(ctx)
	return errors.Join(err, rt.cache.Close(ctx))
}

// Load validates and compiles a module, or returns the module already loaded
// with the same sha256. name is a display name for errors and logs.
func (rt *Runtime) Load(ctx context.Context, name string, bin []byte) (*Module, error) {
	sum := sha256.Sum256(bin)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if m, ok := rt.modules[sum]; ok {
		return m, nil
	}
	m := &Module{rt: rt, Name: name, SHA256: hex.EncodeToString(sum[:]), Size: len(bin)}
	if len(bin) < 8 || string(bin[:4]) != "\x00asm" {
		return nil, fmt.Errorf("module %s: %w", m.label(), ErrNotWasm)
	}
	code, err := interrupt.CapTables(bin, rt.cfg.TableElements)
	switch {
	case errors.Is(err, interrupt.ErrTables):
		return nil, fmt.Errorf("module %s: %w: %w", m.label(), ErrMemoryLimit, err)
	case err != nil:
		return nil, fmt.Errorf("module %s: %w: %w", m.label(), ErrNotWasm, err)
	}
	if rt.cfg.Interrupt == "flag" {
		if code, err = interrupt.Instrument(code); err != nil {
			return nil, fmt.Errorf("module %s: %w: %w", m.label(), ErrNotWasm, err)
		}
	}
	compiled, err := rt.r.CompileModule(ctx, code)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w: %w", m.label(), ErrNotWasm, err)
	}
	m.compiled = compiled
	if err := m.validate(); err != nil {
		_ = compiled.Close(ctx)
		return nil, fmt.Errorf("module %s: %w", m.label(), err)
	}
	rt.modules[sum] = m
	return m, nil
}

// Unload forgets a module; its instances keep working until closed.
func (rt *Runtime) Unload(ctx context.Context, m *Module) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for k, v := range rt.modules {
		if v == m {
			delete(rt.modules, k)
		}
	}
}

type instanceKey struct{}

func instanceFrom(ctx context.Context) *Instance {
	in, _ := ctx.Value(instanceKey{}).(*Instance)
	return in
}

// instantiateHost provides the "weir" host module (SPEC §6).
func (rt *Runtime) instantiateHost(ctx context.Context) error {
	i32 := api.ValueTypeI32
	_, err := rt.r.NewHostModuleBuilder(abi.ImportModule).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(hostError), []api.ValueType{i32, i32}, nil).
		WithParameterNames("msg", "len").Export(abi.ImportError).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(hostLog), []api.ValueType{i32, i32, i32}, nil).
		WithParameterNames("level", "msg", "len").Export(abi.ImportLog).
		Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("wasm: instantiate host module: %w", err)
	}
	return nil
}

func hostError(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceFrom(ctx)
	if in == nil {
		return
	}
	n := min(uint32(stack[1]), abi.MaxErrorMessage)
	b, ok := mod.Memory().Read(uint32(stack[0]), n)
	if !ok {
		in.guestMsg = fmt.Sprintf("<error message at %#x+%d is outside memory>", uint32(stack[0]), uint32(stack[1]))
		return
	}
	in.guestMsg = string(b)
	in.hasGuestMsg = true
}

func hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceFrom(ctx)
	if in == nil {
		return
	}
	level, p, n := uint32(stack[0]), uint32(stack[1]), uint32(stack[2])
	in.out.charge(int(n))
	if in.out.over() {
		return
	}
	b, ok := mod.Memory().Read(p, n)
	if !ok {
		in.out.line("log", level, fmt.Sprintf("<log message at %#x+%d is outside memory>", p, n))
		return
	}
	in.out.line("log", level, string(b))
}
