// Package interrupt makes WebAssembly guest code interruptible at a cost far
// below wazero's WithCloseOnContextDone.
//
// # Mechanism
//
// Instrument rewrites a core module binary so that it defines one extra
// mutable i32 global, exported as ExportName ("weir_interrupt"), and so that
// every function body starts with, and every loop body starts with,
//
//	global.get $weir_interrupt
//	if
//	  unreachable
//	end
//
// Any guest execution that runs for long must either iterate a loop or make
// calls (recursion), so it passes one of these checks often. The host
// interrupts a running call by storing a non-zero value into the exported
// global from another goroutine (Flag.Interrupt, or Flag.Call which arms a
// watchdog timer). The next check executes `unreachable`, which wazero turns
// into a trap error returned from api.Function.Call.
//
// wazero's own mechanism (RuntimeConfig.WithCloseOnContextDone) instead makes
// every loop header perform an indirect call into a trampoline that inspects
// the module's exit code, which is several times more expensive than one
// load, compare and (never taken) branch.
//
// # Why the write is observed
//
// wazero's optimizing compiler (wazevo) lowers global.get of a global defined
// by the module to a plain load from the module-context area
// (moduleCtxPtr+GlobalInstanceOffset), and api.MutableGlobal.Set writes the
// same bytes (moduleEngine.SetGlobalValue). The only caching wazevo does is
// reusing a previous load of the same global along a straight-line path of
// sealed single-predecessor blocks (ssa.Builder.FindValueInLinearPath). A
// loop header is never such a block (it has a back edge and is unsealed while
// its body is lowered) and the function entry block has no earlier load, so
// each inserted check performs a fresh memory load on every iteration; there
// is no loop-invariant code motion. A store from another thread is visible to
// those loads through ordinary cache coherence (no fence is needed for
// eventual visibility on amd64 or arm64). TestCrossGoroutineInterrupt
// verifies this empirically.
//
// The Go race detector does not see the guest's reads (they are machine
// code), so Flag serialises all host-side reads and writes with a mutex.
//
// # What is not covered
//
//   - Time spent inside host functions called by the guest: the check runs
//     only in guest code. Host functions must honour their context.
//   - A single long-running instruction without a loop (memory.fill/copy of
//     a huge region, memory.grow) is not interrupted mid-instruction; these
//     are bounded by the memory size.
//   - After an interrupt the instance's memory and globals are in whatever
//     state the guest left them, mid-update (for Go guests the runtime's own
//     state may be inconsistent). Discard the instance; do not call it again.
//   - The instrumented module's DWARF (.debug_*) and any code-offset based
//     custom sections (for example source maps, "sourceMappingURL" targets or
//     the code-offset parts of linking sections) become stale, because code
//     bytes move. The "name" section stays valid: it refers to indices, and
//     existing function, global and local indices are unchanged.
//
// # Module format coverage
//
// Instrument understands the full instruction encoding of the features that
// wazero v1.12 can enable: WebAssembly 2.0 (MVP, multi-value, sign extension,
// non-trapping conversions, bulk memory, reference types, SIMD) and the
// experimental threads (0xFE atomics), tail calls, exception handling
// (try_table/throw/throw_ref), extended constant expressions and typed
// function references. Legacy exception handling (try/catch/delegate), GC
// (0xFB), relaxed SIMD, memory64 and the component model are refused with
// ErrUnsupported, as wazero refuses them too.
package interrupt

import "errors"

// ExportName is the export name of the interrupt flag global that Instrument
// adds.
const ExportName = "weir_interrupt"

var (
	// ErrMalformed reports an input that is not a well-formed module binary.
	ErrMalformed = errors.New("interrupt: malformed module")
	// ErrUnsupported reports a well-formed input using an encoding,
	// opcode or module version this package does not handle.
	ErrUnsupported = errors.New("interrupt: unsupported module")
	// ErrAlreadyExported reports an input that already exports ExportName,
	// for example a module that was instrumented before.
	ErrAlreadyExported = errors.New("interrupt: module already exports " + ExportName)
)
