// Package interrupt makes WebAssembly guest code interruptible at a cost far
// below wazero's WithCloseOnContextDone.
//
// # Mechanism
//
// Instrument rewrites a core module binary. It appends to the module
//
//   - a mutable i32 global $flag = 0, exported as ExportName
//     ("weir_interrupt"), at index (imported globals + defined globals), so
//     existing global indices stay valid;
//   - a mutable i32 global $fuel = YieldInterval right after it (not
//     exported);
//   - a table $yield (0 funcref) after all existing tables;
//
// and rewrites every function body:
//
//	;; at function entry
//	global.get $flag  if  unreachable  end
//	$fuel -= 1
//	if $fuel == 0 { $fuel = YieldInterval; drop (table.grow $yield (ref.null func) (i32.const 0)) }
//
// and every `loop bt ... end` into
//
//	loop bt                                   ;; wrapper, same block type
//	  if $fuel == 0 { $fuel = YieldInterval; drop (table.grow $yield ...) }
//	  loop bt                                 ;; the original loop
//	    global.get $flag  if  unreachable  end
//	    $fuel -= 1
//	    br_if 1 ($fuel == 0)                  ;; to the wrapper, which yields
//	    ...original body, with branch labels that cross a wrapper shifted by one
//	  end
//	end
//
// Everything else in the body is copied unchanged (branch instructions are
// re-encoded only when their label changes).
//
// The host interrupts a running call by storing a non-zero value into the
// exported flag from another goroutine (Flag.Interrupt, or Flag.Call which
// arms a watchdog timer). The next function entry or loop iteration executes
// `unreachable`, which wazero turns into a trap error from
// api.Function.Call.
//
// # Why the fuel and the yield are needed
//
// Code compiled by wazero cannot be preempted by the Go runtime (the
// asynchronous-preemption signal handler finds no Go function at the
// interrupted PC and gives up). A guest spinning in a loop therefore holds
// its P until it returns. When the Go runtime then needs a stop-the-world (a
// GC cycle, for example), every other goroutine is parked, including the
// watchdog that would set the flag: the whole process deadlocks. With
// GOMAXPROCS=1 the watchdog never even runs. A flag check alone is not
// enough; TestPreemptible covers both cases, and a flag-only module was seen
// to hang the test process for good.
//
// So every YieldInterval function entries and loop iterations (counted
// together in $fuel across the instance) the guest executes table.grow with
// delta 0 on the private table. wazero implements table.grow by leaving
// compiled code and calling TableInstance.Grow in Go (about 30 ns); there
// the goroutine can be preempted, so stop-the-world pauses and the
// scheduler make progress. wazero's WithCloseOnContextDone exits to Go on
// every loop iteration instead, which is what makes it so slow.
//
// The yield sits in the wrapper loop's header rather than in the original
// loop body on purpose: any call inside a loop body (even on a cold path)
// makes wazero's register allocator spill loop-carried values, which was
// measured to slow an f64 summing loop down about 7x.
//
// # Why the flag write is observed
//
// wazero's optimizing compiler (wazevo) lowers global.get of a global defined
// by the module to a plain load from the module-context area
// (moduleCtxPtr+GlobalInstanceOffset), and api.MutableGlobal.Set writes the
// same bytes (moduleEngine.SetGlobalValue). The only caching wazevo does is
// reusing an earlier load of the same global along a straight-line path of
// sealed single-predecessor blocks (ssa.Builder.FindValueInLinearPath). A
// loop header is never such a block (it has a back edge and is unsealed while
// its body is lowered) and the function entry block has no earlier load, so
// each inserted check performs a fresh load on every iteration; wazevo does
// no loop-invariant code motion. A store from another thread becomes visible
// to those loads through ordinary cache coherence (no fence is needed for
// eventual visibility on amd64 or arm64). TestCrossGoroutineInterrupt
// measures the delay from the store to the trap (well under a millisecond).
//
// The Go race detector does not see the guest's reads (they are machine
// code), so Flag serialises all host-side reads and writes with a mutex.
// With wazero's interpreter the guest's reads are Go code, and a concurrent
// Interrupt is a data race the race detector reports; use the compiler.
//
// # What is not covered
//
//   - Time spent inside host functions called by the guest: the checks run
//     only in guest code. Host functions must honour their context.
//   - A single long-running instruction (memory.fill/copy of a huge region,
//     memory.grow) is not interrupted in the middle.
//   - After an interrupt the instance's memory and globals are in whatever
//     state the guest left them, mid-update (for Go guests the runtime's own
//     state may be inconsistent). Discard the instance; do not call it again.
//   - The instrumented module's DWARF (.debug_*) sections and any other
//     code-offset based custom sections (source maps, linking/reloc
//     sections) become stale, because code bytes move. Custom sections are
//     copied unchanged. The "name" section stays valid for function, local
//     and existing global names (indices are unchanged); the added globals
//     and table are unnamed.
//   - The added table needs the reference-types feature (several tables),
//     part of wazero's default api.CoreFeaturesV2.
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
