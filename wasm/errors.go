package wasm

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Load and call errors wrap one of them; test with errors.Is.
var (
	// ErrNotWasm: the bytes are not a WebAssembly module.
	ErrNotWasm = errors.New("wasm: not a WebAssembly module")
	// ErrNotWeir: a WebAssembly module without a weir_abi_v* export.
	ErrNotWeir = errors.New("wasm: not a Weir module")
	// ErrABIVersion: the module speaks an ABI version this host does not support.
	ErrABIVersion = errors.New("wasm: unsupported ABI version")
	// ErrExports: a required export is missing or has the wrong signature.
	ErrExports = errors.New("wasm: bad exports")
	// ErrImports: the module imports something the sandbox does not provide.
	ErrImports = errors.New("wasm: import not allowed")
	// ErrMemoryLimit: the module needs more memory than its limit.
	ErrMemoryLimit = errors.New("wasm: memory limit exceeded")
	// ErrTrap: the guest trapped (unreachable, out-of-bounds access, stack
	// exhaustion, division by zero ...).
	ErrTrap = errors.New("wasm: guest trapped")
	// ErrTimeBudget: a call ran past its time budget and was interrupted.
	ErrTimeBudget = errors.New("wasm: exceeded time budget")
	// ErrOutputFlood: a call wrote more stdout/stderr/log output than allowed.
	ErrOutputFlood = errors.New("wasm: output flood")
	// ErrExit: the guest called WASI proc_exit.
	ErrExit = errors.New("wasm: guest exited")
	// ErrGuest: user code reported a failure through weir.error and status 1.
	ErrGuest = errors.New("wasm: guest error")
	// ErrBadOutput: the guest returned results that break the ABI (pointers
	// outside memory, lying lengths, wrong schema ...).
	ErrBadOutput = errors.New("wasm: invalid guest output")
	// ErrCanceled: the caller's context ended during the call.
	ErrCanceled = errors.New("wasm: call canceled")
	// ErrClosed: the instance was discarded after an earlier failure or closed.
	ErrClosed = errors.New("wasm: instance closed")
)

// CallError is the error of a failed guest call. It names the module, the
// export and the operator, and wraps the cause (one of the sentinels above).
type CallError struct {
	Module   string // module display name and short sha256
	Export   string // e.g. "weir_map"
	Function string // the plan function, when the call serves an operator
	Cause    error  // a sentinel, possibly wrapped with detail
	Message  string // the guest's own message, or the trap/exit detail
	Logs     []string
}

func (e *CallError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "module %s: %s", e.Module, e.Export)
	if e.Function != "" {
		fmt.Fprintf(&b, " (%s)", e.Function)
	}
	fmt.Fprintf(&b, ": %v", e.Cause)
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}

func (e *CallError) Unwrap() error { return e.Cause }

// Fatal reports whether the instance had to be discarded: every failure but a
// clean guest error (status 1) is fatal.
func (e *CallError) Fatal() bool { return !errors.Is(e.Cause, ErrGuest) }
