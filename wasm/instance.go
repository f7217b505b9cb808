package wasm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
	"golang.org/x/time/rate"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/arrow/cdata32"
)

// interruptGlobal is the exported global the instrumenter adds.
const interruptGlobal = "weir_interrupt"

// InstanceOptions describe one instance: who it runs for and its sandbox.
type InstanceOptions struct {
	// Job and Task label log lines and errors.
	Job, Task string
	// Seed seeds the guest's random source (deterministic by default).
	Seed uint64
	// RealClock gives the guest the host's clocks instead of fake ones.
	RealClock bool
	// MemoryLimit overrides the runtime's limit for this instance (bytes,
	// at most the runtime's limit).
	MemoryLimit uint64
	// CallBudget overrides the runtime's per-call time budget.
	CallBudget time.Duration
	// Allocator overrides the runtime's allocator for results.
	Allocator memory.Allocator
}

// Instance is one instantiation of a module, serving one subtask.
type Instance struct {
	mod      *Module
	m        api.Module
	mem      api.Memory
	lm       *linearMemory
	opts     InstanceOptions
	alloc    memory.Allocator
	budget   time.Duration
	ctx      context.Context // carries the instance for host functions
	flag     api.MutableGlobal
	out      *capture
	stack    []uint64
	ret      uint32
	inputs   region
	scratch  cdata32.Region
	fns      map[string]api.Function
	closed   bool
	fatalErr error

	// state of the current call, written by host functions and the watchdog
	guestMsg    string
	hasGuestMsg bool
	causeMu     sync.Mutex
	cause       error
	gen         uint64 // increments at the start and end of every call
	deadline    time.Time
	timer       *time.Timer
}

type region struct{ ptr, size uint32 }

// Instantiate creates an instance: a fresh sandbox, _initialize run, a return
// area allocated.
func (m *Module) Instantiate(ctx context.Context, opts InstanceOptions) (*Instance, error) {
	cfg := m.rt.cfg
	in := &Instance{mod: m, opts: opts, alloc: cfg.Allocator, budget: cfg.CallBudget, fns: map[string]api.Function{}}
	if opts.Allocator != nil {
		in.alloc = opts.Allocator
	}
	if opts.CallBudget > 0 {
		in.budget = opts.CallBudget
	}
	limit := cfg.MemoryLimit
	if opts.MemoryLimit > 0 && opts.MemoryLimit < limit {
		limit = opts.MemoryLimit
	}
	in.lm = &linearMemory{limit: limit}
	logger := cfg.Logger.With("module", m.label(), "job", opts.Job, "task", opts.Task)
	in.out = newCapture(logger, cfg.OutputBudget, cfg.LogLines, cfg.LogRate, in)
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(in.out.stream("stdout")).
		WithStderr(in.out.stream("stderr")).
		WithRandSource(rand.NewChaCha8(seed32(opts.Seed)))
	if opts.RealClock {
		mc = mc.WithSysWalltime().WithSysNanotime()
	}
	in.ctx = context.WithValue(context.Background(), instanceKey{}, in)
	if err := in.run(ctx, "instantiate", "", func(c context.Context) error {
		var err error
		in.m, err = m.rt.r.InstantiateModule(withAllocator(c, in.lm), m.compiled, mc)
		return err
	}); err != nil {
		return nil, err
	}
	in.mem = in.m.Memory()
	if g, ok := in.m.ExportedGlobal(interruptGlobal).(api.MutableGlobal); ok {
		in.flag = g
	} else if cfg.Interrupt == "flag" {
		_ = in.m.Close(ctx)
		return nil, fmt.Errorf("module %s: instrumented module lacks %s", m.label(), interruptGlobal)
	}
	for name := range m.compiled.ExportedFunctions() {
		in.fns[name] = in.m.ExportedFunction(name)
	}
	if init := in.fns[abi.ExportInitialize]; init != nil {
		if err := in.run(ctx, abi.ExportInitialize, "", func(c context.Context) error {
			_, err := init.Call(c)
			return err
		}); err != nil {
			return nil, err
		}
	}
	p, err := in.guestAlloc(ctx, abi.RetAreaSize, 8)
	if err != nil {
		return nil, err
	}
	in.ret = p
	return in, nil
}

func withAllocator(ctx context.Context, lm *linearMemory) context.Context {
	return experimental.WithMemoryAllocator(ctx, lm)
}

func seed32(s uint64) [32]byte {
	var b [32]byte
	for i := 0; i < 4; i++ {
		v := s + uint64(i)*0x9E3779B97F4A7C15
		for j := 0; j < 8; j++ {
			b[i*8+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// Module returns the instance's module.
func (in *Instance) Module() *Module { return in.mod }

// Logs returns the most recent lines the guest wrote (stdout, stderr, log).
func (in *Instance) Logs() []string { return in.out.recent() }

// MemorySize returns the current size of the guest's linear memory.
func (in *Instance) MemorySize() uint32 {
	if in.mem == nil {
		return 0
	}
	return in.mem.Size()
}

// Err returns the error that discarded the instance, or nil while it is usable.
func (in *Instance) Err() error { return in.fatalErr }

// Close discards the instance.
func (in *Instance) Close(ctx context.Context) error {
	if in.closed {
		return nil
	}
	in.closed = true
	if in.timer != nil {
		in.timer.Stop()
	}
	in.out.flush()
	if in.m != nil {
		return in.m.Close(ctx)
	}
	return nil
}

// memory returns a view of the whole linear memory, valid until the guest
// next runs (a grow may move it).
func (in *Instance) memory() []byte {
	b, _ := in.mem.Read(0, in.mem.Size())
	return b
}

func (in *Instance) retSlot(k int) uint32 {
	v, _ := in.mem.ReadUint32Le(in.ret + uint32(4*k))
	return v
}

// interrupt stops the call of generation gen with cause; the first cause
// wins, and a late watchdog of a finished call does nothing.
func (in *Instance) interrupt(gen uint64, cause error) {
	in.causeMu.Lock()
	defer in.causeMu.Unlock()
	if gen != in.gen {
		return
	}
	if in.cause == nil {
		in.cause = cause
	}
	if in.flag != nil {
		in.flag.Set(1)
	}
}

// interruptCurrent interrupts whatever call is running (used by the output
// capture, which runs inside the call).
func (in *Instance) interruptCurrent(cause error) {
	in.causeMu.Lock()
	gen := in.gen
	in.causeMu.Unlock()
	in.interrupt(gen, cause)
}

// beginCall starts a new interrupt generation with a clear flag and arms
// the instance's watchdog for the call's budget.
func (in *Instance) beginCall() uint64 {
	in.causeMu.Lock()
	in.gen++
	in.cause = nil
	if in.flag != nil {
		in.flag.Set(0)
	}
	gen := in.gen
	in.deadline = time.Now().Add(in.budget)
	in.causeMu.Unlock()
	if in.mod.rt.cfg.Interrupt != "flag" {
		return gen
	}
	if in.timer == nil {
		in.timer = time.AfterFunc(in.budget, in.onTimer)
	} else {
		in.timer.Reset(in.budget)
	}
	return gen
}

// onTimer interrupts the running call once its deadline has passed. One
// timer serves all calls of the instance; a late firing meant for an earlier
// call finds a later deadline and does nothing.
func (in *Instance) onTimer() {
	in.causeMu.Lock()
	gen, deadline := in.gen, in.deadline
	in.causeMu.Unlock()
	if time.Now().Before(deadline) {
		return
	}
	in.interrupt(gen, ErrTimeBudget)
}

// endCall closes the generation so late watchdogs are ignored, clears the
// flag and returns the cause of an interrupt, if any.
func (in *Instance) endCall() error {
	in.causeMu.Lock()
	defer in.causeMu.Unlock()
	in.gen++
	c := in.cause
	in.cause = nil
	if in.flag != nil && !in.closed {
		in.flag.Set(0)
	}
	return c
}

// run executes one guest call under the time budget and output budget, and
// turns every failure into a *CallError. Failures other than ErrGuest discard
// the instance.
func (in *Instance) run(ctx context.Context, export, function string, f func(context.Context) error) error {
	if in.closed {
		return &CallError{Module: in.mod.label(), Export: export, Function: function, Cause: ErrClosed, Message: errString(in.fatalErr)}
	}
	in.guestMsg, in.hasGuestMsg = "", false
	in.out.reset()
	gen := in.beginCall()
	var callCtx context.Context
	var stop func()
	switch in.mod.rt.cfg.Interrupt {
	case "context":
		c, cancel := context.WithCancelCause(context.WithValue(ctx, instanceKey{}, in))
		timer := time.AfterFunc(in.budget, func() { in.interrupt(gen, ErrTimeBudget); cancel(ErrTimeBudget) })
		in.out.onFlood = func() { cancel(ErrOutputFlood) }
		callCtx = c
		stop = func() { timer.Stop(); cancel(nil) }
	default: // flag (its watchdog is armed by beginCall) and none
		callCtx = in.ctx
		stop = func() {}
		if ctx.Done() != nil {
			stopCtx := context.AfterFunc(ctx, func() { in.interrupt(gen, ErrCanceled) })
			stop = func() { stopCtx() }
		}
	}
	err := f(callCtx)
	stop()
	cause := in.endCall()
	if err == nil {
		// A watchdog that fired as the guest returned is ignored; an output
		// flood is not.
		if errors.Is(cause, ErrOutputFlood) {
			return in.fail(export, function, cause, fmt.Sprintf("more than %d bytes of output in one call", in.out.budget))
		}
		return nil
	}
	cls, msg := in.classify(err, cause), describe(err)
	if cause != nil && !errors.Is(cls, ErrTrap) {
		// The host interrupted the call: in flag mode the guest then traps
		// at its next check ("unreachable"), which is not the guest's doing.
		msg = ""
		if errors.Is(cause, ErrOutputFlood) {
			msg = fmt.Sprintf("more than %d bytes of output in one call", in.out.budget)
		}
	}
	return in.fail(export, function, cls, msg)
}

func (in *Instance) classify(err, cause error) error {
	var exit *sys.ExitError
	switch {
	case strings.Contains(err.Error(), "stack overflow"):
		return fmt.Errorf("%w: call stack exhausted (unbounded recursion?)", ErrTrap)
	case cause != nil:
		if errors.Is(cause, ErrTimeBudget) {
			return fmt.Errorf("%w of %s", ErrTimeBudget, in.budget)
		}
		return cause
	case in.lm.refused.Load():
		return fmt.Errorf("%w: memory.grow past the limit of %d MiB was refused", ErrMemoryLimit, in.lm.limit>>20)
	case errors.As(err, &exit):
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			return fmt.Errorf("%w of %s", ErrTimeBudget, in.budget)
		case sys.ExitCodeContextCanceled:
			return ErrCanceled
		}
		return fmt.Errorf("%w with code %d", ErrExit, exit.ExitCode())
	}
	return ErrTrap
}

// describe keeps the first line of a wazero error (the trap) without the
// stack trace, which goes to the log instead.
func describe(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		return ""
	}
	return strings.TrimPrefix(s, "wasm error: ")
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// fail builds the CallError of a fatal failure and discards the instance.
func (in *Instance) fail(export, function string, cause error, msg string) error {
	ce := &CallError{Module: in.mod.label(), Export: export, Function: function, Cause: cause, Message: msg}
	in.out.flush()
	ce.Logs = in.out.recent()
	if errors.Is(cause, ErrExit) && ce.Message == "" {
		ce.Message = in.out.lastStderr()
	}
	in.fatalErr = ce
	in.out.logger.Warn("guest instance discarded", "export", export, "function", function, "err", ce)
	_ = in.Close(context.Background())
	return ce
}

// call runs an export with stack as parameters and handles the status.
func (in *Instance) call(ctx context.Context, export, function string, stack []uint64) error {
	fn := in.fns[export]
	if fn == nil {
		return &CallError{Module: in.mod.label(), Export: export, Function: function, Cause: ErrExports, Message: "export missing"}
	}
	if err := in.run(ctx, export, function, func(c context.Context) error { return fn.CallWithStack(c, stack) }); err != nil {
		return err
	}
	switch status := uint32(stack[0]); status {
	case abi.StatusOK:
		return nil
	case abi.StatusError:
		msg := in.guestMsg
		if !in.hasGuestMsg {
			msg = "guest returned failure without a message"
		}
		in.out.flush()
		return &CallError{Module: in.mod.label(), Export: export, Function: function, Cause: ErrGuest, Message: msg, Logs: in.out.recent()}
	default:
		return in.fail(export, function, ErrBadOutput, fmt.Sprintf("unknown status %d", status))
	}
}

// guestAlloc calls weir_alloc and checks the result lies inside memory.
func (in *Instance) guestAlloc(ctx context.Context, size, align uint32) (uint32, error) {
	stack := in.stackOf(size, align)
	fn := in.fns[abi.ExportAlloc]
	if err := in.run(ctx, abi.ExportAlloc, "", func(c context.Context) error { return fn.CallWithStack(c, stack) }); err != nil {
		return 0, err
	}
	p := uint32(stack[0])
	if p == 0 || p%align != 0 || uint64(p)+uint64(size) > uint64(in.mem.Size()) {
		return 0, in.fail(abi.ExportAlloc, "", ErrBadOutput, fmt.Sprintf("weir_alloc(%d, %d) returned %#x", size, align, p))
	}
	return p, nil
}

func (in *Instance) guestFree(ctx context.Context, p, size, align uint32) error {
	stack := in.stackOf(p, size, align)
	fn := in.fns[abi.ExportFree]
	return in.run(ctx, abi.ExportFree, "", func(c context.Context) error { return fn.CallWithStack(c, stack) })
}

func (in *Instance) stackOf(vals ...uint32) []uint64 {
	if cap(in.stack) < 8 {
		in.stack = make([]uint64, 8)
	}
	s := in.stack[:max(len(vals), 1)]
	for i, v := range vals {
		s[i] = uint64(v)
	}
	return s
}

// inputRegion returns a host-owned guest region of at least n bytes for this
// call's inputs, growing (free + alloc) when needed.
func (in *Instance) inputRegion(ctx context.Context, n int) (*cdata32.Region, error) {
	if uint64(n) > in.lm.limit {
		return nil, fmt.Errorf("%w: inputs need %d bytes", ErrMemoryLimit, n)
	}
	if uint32(n) > in.inputs.size {
		if in.inputs.ptr != 0 {
			if err := in.guestFree(ctx, in.inputs.ptr, in.inputs.size, cdata32.BufferAlign); err != nil {
				return nil, err
			}
			in.inputs = region{}
		}
		size := max(uint32(n), in.inputs.size*2, 64<<10)
		size = (size + 0xFFFF) &^ 0xFFFF
		p, err := in.guestAlloc(ctx, size, cdata32.BufferAlign)
		if err != nil {
			return nil, err
		}
		in.inputs = region{ptr: p, size: size}
	}
	view, ok := in.mem.Read(in.inputs.ptr, in.inputs.size)
	if !ok {
		return nil, in.fail(abi.ExportAlloc, "", ErrBadOutput, "input region left memory")
	}
	in.scratch = cdata32.Region{Mem: view, Base: in.inputs.ptr}
	return &in.scratch, nil
}

// clearRet zeroes the return area before a call.
func (in *Instance) clearRet() {
	if b, ok := in.mem.Read(in.ret, abi.RetAreaSize); ok {
		clear(b)
	}
}

// linearMemory backs a guest memory and refuses to grow it past the limit.
type linearMemory struct {
	buf     []byte
	limit   uint64
	refused atomic.Bool
}

func (l *linearMemory) Allocate(capacity, maxBytes uint64) experimental.LinearMemory {
	l.buf = make([]byte, 0, min(capacity, l.limit))
	return l
}

func (l *linearMemory) Reallocate(size uint64) []byte {
	if size > l.limit {
		l.refused.Store(true)
		return nil
	}
	if size <= uint64(cap(l.buf)) {
		l.buf = l.buf[:size]
		return l.buf
	}
	c := min(max(size, uint64(cap(l.buf))*2), l.limit)
	nb := make([]byte, size, c)
	copy(nb, l.buf)
	l.buf = nb
	return nb
}

func (l *linearMemory) Free() { l.buf = nil }

// capture collects guest output (stdout, stderr, weir.log) into the log,
// keeps the recent lines and enforces the per-call output budget.
type capture struct {
	mu      sync.Mutex
	logger  *slog.Logger
	budget  int
	used    int
	keep    int
	lines   []string
	partial map[string][]byte
	in      *Instance
	onFlood func()
	stderr  string
	// logs bounds the lines written to logger (nil: no bound); dropped
	// counts those it held back since the last one written.
	logs    *rate.Limiter
	dropped int
}

func newCapture(logger *slog.Logger, budget, keep int, perSecond float64, in *Instance) *capture {
	c := &capture{logger: logger, budget: budget, keep: keep, partial: map[string][]byte{}, in: in}
	if perSecond > 0 {
		c.logs = rate.NewLimiter(rate.Limit(perSecond), max(1, int(10*perSecond)))
	}
	return c
}

func (c *capture) reset() {
	c.mu.Lock()
	c.used = 0
	c.mu.Unlock()
}

func (c *capture) over() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used > c.budget
}

// charge counts n bytes of output and interrupts the call past the budget.
func (c *capture) charge(n int) {
	c.mu.Lock()
	before := c.used
	c.used += n
	flood := before <= c.budget && c.used > c.budget
	c.mu.Unlock()
	if flood {
		c.in.interruptCurrent(ErrOutputFlood)
		if c.onFlood != nil {
			c.onFlood()
		}
	}
}

func (c *capture) stream(name string) io.Writer { return streamWriter{c, name} }

type streamWriter struct {
	c    *capture
	name string
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.c.charge(len(p))
	if w.c.over() {
		return len(p), nil
	}
	w.c.mu.Lock()
	buf := append(w.c.partial[w.name], p...)
	var lines []string
	for {
		i := strings.IndexByte(string(buf), '\n')
		if i < 0 {
			break
		}
		lines = append(lines, string(buf[:i]))
		buf = buf[i+1:]
	}
	if len(buf) > 4096 { // a line without newline: cut it
		lines = append(lines, string(buf))
		buf = nil
	}
	w.c.partial[w.name] = append([]byte(nil), buf...)
	w.c.mu.Unlock()
	level := uint32(abi.LogInfo)
	if w.name == "stderr" {
		level = abi.LogWarn
	}
	for _, l := range lines {
		w.c.line(w.name, level, l)
	}
	return len(p), nil
}

func (c *capture) line(stream string, level uint32, msg string) {
	lv := map[uint32]slog.Level{abi.LogDebug: slog.LevelDebug, abi.LogInfo: slog.LevelInfo, abi.LogWarn: slog.LevelWarn, abi.LogError: slog.LevelError}[level]
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.logs != nil && !c.logs.Allow():
		c.dropped++
	default:
		if c.dropped > 0 {
			c.logger.Warn("guest output lines left out of the log: past the guest's log rate", "dropped", c.dropped)
			c.dropped = 0
		}
		c.logger.Log(context.Background(), lv, msg, "stream", stream)
	}
	if stream == "stderr" {
		c.stderr = msg
	}
	c.lines = append(c.lines, stream+": "+msg)
	if len(c.lines) > c.keep {
		c.lines = append(c.lines[:0], c.lines[len(c.lines)-c.keep:]...)
	}
}

func (c *capture) flush() {
	c.mu.Lock()
	rest := map[string]string{}
	for k, v := range c.partial {
		if len(v) > 0 {
			rest[k] = string(v)
		}
		delete(c.partial, k)
	}
	c.mu.Unlock()
	for k, v := range rest {
		level := uint32(abi.LogInfo)
		if k == "stderr" {
			level = abi.LogWarn
		}
		c.line(k, level, v)
	}
}

func (c *capture) recent() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

func (c *capture) lastStderr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr
}
