package interrupt

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// ErrBudgetExceeded is returned by Flag.Call when the call was interrupted
// because it ran past its time budget.
var ErrBudgetExceeded = errors.New("interrupt: exceeded time budget")

// ErrNotInstrumented is returned by FlagOf for a module without the flag.
var ErrNotInstrumented = errors.New("interrupt: module is not instrumented")

// Flag controls the interrupt flag of one instantiated, instrumented module.
//
// Interrupt may be called from any goroutine at any time, in particular while
// another goroutine is inside a guest call on the same module. All host-side
// accesses to the global are serialised by a mutex, because wazero's
// api.MutableGlobal is a plain memory access that the race detector would
// otherwise (rightly) report; the guest's own reads are machine code and not
// part of that.
type Flag struct {
	mu sync.Mutex
	g  api.MutableGlobal
}

// FlagOf returns the interrupt flag of mod, which must have been compiled from
// the output of Instrument.
func FlagOf(mod api.Module) (*Flag, error) {
	g := mod.ExportedGlobal(ExportName)
	if g == nil {
		return nil, fmt.Errorf("%w: no exported global %q", ErrNotInstrumented, ExportName)
	}
	mg, ok := g.(api.MutableGlobal)
	if !ok || g.Type() != api.ValueTypeI32 {
		return nil, fmt.Errorf("%w: export %q is not a mutable i32 global", ErrNotInstrumented, ExportName)
	}
	return &Flag{g: mg}, nil
}

// Interrupt sets the flag: guest code running in the module traps at its next
// function entry or loop iteration, and calls started later trap at once,
// until Reset.
func (f *Flag) Interrupt() {
	f.mu.Lock()
	f.g.Set(1)
	f.mu.Unlock()
}

// Reset clears the flag.
func (f *Flag) Reset() {
	f.mu.Lock()
	f.g.Set(0)
	f.mu.Unlock()
}

// IsSet reports whether the flag is set.
func (f *Flag) IsSet() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.g.Get() != 0
}

// Call runs call (which should call into the module) with a watchdog that
// sets the flag after budget. If the watchdog fired and call failed, the
// error wraps both ErrBudgetExceeded and call's error (wazero's
// "wasm error: unreachable" trap). If call succeeded although the watchdog
// fired at the last moment, its nil error is returned. The flag is cleared
// before Call returns, but after an interrupt the instance should be
// discarded (see the package documentation). A budget <= 0 means no limit.
//
// Calls on the same Flag must not overlap.
func (f *Flag) Call(budget time.Duration, call func() error) error {
	if budget <= 0 {
		return call()
	}
	var fired atomic.Bool
	done := make(chan struct{})
	t := time.AfterFunc(budget, func() {
		defer close(done)
		fired.Store(true)
		f.Interrupt()
	})
	err := call()
	if !t.Stop() {
		<-done // the watchdog ran or is running: wait so Reset wins
	}
	if !fired.Load() {
		return err
	}
	f.Reset()
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w (budget %v): %w", ErrBudgetExceeded, budget, err)
}
