package interrupt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

type testCall struct {
	fn   string
	args []uint64
	want []uint64 // nil: only compare with the uninstrumented module
}

type spinCall struct {
	fn   string
	args []uint64
}

type moduleCase struct {
	name     string
	wasm     func(t testing.TB) []byte
	features api.CoreFeatures // 0 means api.CoreFeaturesV2
	env      bool             // instantiate testdata/env.wasm as "env" first
	// flagIndex is the expected index of the added global.
	flagIndex uint32
	calls     []testCall
	spins     []spinCall // never return on their own
}

func fromFile(name string) func(t testing.TB) []byte {
	return func(t testing.TB) []byte { return readTestdata(t, name) }
}

func nestedWant(n uint64) uint64 {
	var s uint64
	for i := uint64(0); i < n; i++ {
		for j := uint64(0); j < i; j++ {
			s += (i * j % (1 << 32)) % 7
		}
	}
	return s
}

func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

// exceptionsModule is hand-assembled, since the installed wat2wasm only
// knows legacy exception handling. It uses a tag section, try_table and throw:
//
//	(tag $e (param i32))
//	(func (export "catchloop") (param $n i32) (result i32) (local $s i32)
//	  (loop $l
//	    (block $h (result i32)
//	      (try_table (catch $e $h) (throw $e (local.get $n)))
//	      (i32.const 0))
//	    (local.set $s (i32.add (local.get $s)))
//	    (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
//	  (local.get $s))
//	(func (export "spin") (loop $l (block $h (result i32)
//	  (try_table (catch $e $h) (throw $e (i32.const 1))) (i32.const 0)) (drop) (br $l)))
func exceptionsModule(testing.TB) []byte {
	i32 := byte(0x7f)
	return module(
		sec(secType, vec(
			funcType([]byte{i32}, nil),         // 0: tag type
			funcType([]byte{i32}, []byte{i32}), // 1: catchloop
			funcType(nil, nil),                 // 2: spin
		)),
		sec(secFunction, vec(leb(1), leb(2))),
		sec(secTag, vec([]byte{0x00, 0x00})),
		sec(secExport, vec(export("catchloop", kindFunc, 0), export("spin", kindFunc, 1))),
		sec(secCode, vec(
			body([][]byte{{0x01, i32}},
				0x03, 0x40, // loop
				0x02, 0x7f, // block (result i32)
				0x1f, 0x40, 0x01, 0x00, 0x00, 0x00, // try_table (catch tag0 label0)
				0x20, 0x00, 0x08, 0x00, // local.get 0, throw 0
				0x0b,       // end try_table
				0x41, 0x00, // i32.const 0
				0x0b,                         // end block
				0x20, 0x01, 0x6a, 0x21, 0x01, // s += payload
				0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00, 0x0d, 0x00, // br_if (n--)
				0x0b,       // end loop
				0x20, 0x01, // local.get s
				0x0b,
			),
			body(nil,
				0x03, 0x40, 0x02, 0x7f,
				0x1f, 0x40, 0x01, 0x00, 0x00, 0x00,
				0x41, 0x01, 0x08, 0x00,
				0x0b, 0x41, 0x00, 0x0b,
				0x1a, 0x0c, 0x00, // drop, br 0
				0x0b, 0x0b,
			),
		)),
	)
}

var moduleCases = []moduleCase{
	{
		name:      "control",
		wasm:      fromFile("control.wasm"),
		flagIndex: 0,
		calls: []testCall{
			{fn: "nested", args: []uint64{0}, want: []uint64{0}},
			{fn: "nested", args: []uint64{57}, want: []uint64{nestedWant(57)}},
			{fn: "classify", args: []uint64{12345}},
			{fn: "classify", args: []uint64{0}},
			{fn: "fib", args: []uint64{20}, want: []uint64{uint64(fib(20))}},
			{fn: "indirect", args: []uint64{3, 9}},
			{fn: "memsum", args: []uint64{1000}},
			{fn: "gcd", args: []uint64{1071, 462}, want: []uint64{21, 3}},
			{fn: "gcd", args: []uint64{17, 5}},
		},
		spins: []spinCall{{fn: "spin"}, {fn: "spin_call"}},
	},
	{
		name:      "simd",
		wasm:      fromFile("simd.wasm"),
		flagIndex: 1, // after the v128 global
		calls: []testCall{
			{fn: "vfill", args: []uint64{1000}},
			{fn: "vsum", args: []uint64{1000}},
			{fn: "vmisc", args: []uint64{50}},
		},
		spins: []spinCall{{fn: "spin"}},
	},
	{
		name:      "bulk",
		wasm:      fromFile("bulk.wasm"),
		flagIndex: 1,
		calls: []testCall{
			// convert first: it is the one call that can be repeated
			// (bulk and tables drop their segments).
			{fn: "convert", args: []uint64{math.Float64bits(12345.75), 30}},
			{fn: "bulk", args: []uint64{40}},
			{fn: "tables", args: []uint64{3}},
		},
	},
	{
		name:      "imported_globals",
		wasm:      fromFile("imports.wasm"),
		env:       true,
		flagIndex: 4, // 2 imported + 2 defined
		calls: []testCall{
			{fn: "run", args: []uint64{100}},
			{fn: "run", args: []uint64{7}},
		},
		spins: []spinCall{{fn: "spin"}},
	},
	{
		name:      "tail_calls",
		wasm:      fromFile("tailcall.wasm"),
		features:  api.CoreFeaturesV2 | experimental.CoreFeaturesTailCall,
		flagIndex: 0,
		calls: []testCall{
			{fn: "count", args: []uint64{100000, 0}, want: []uint64{100000 * 100001 / 2}},
			{fn: "count_indirect", args: []uint64{1000, 5}, want: []uint64{1000*1001/2 + 5}},
		},
		spins: []spinCall{{fn: "spin", args: []uint64{0}}},
	},
	{
		name:      "threads",
		wasm:      fromFile("threads.wasm"),
		features:  api.CoreFeaturesV2 | experimental.CoreFeaturesThreads,
		flagIndex: 0,
		calls:     []testCall{{fn: "atomics", args: []uint64{100}}},
	},
	{
		name:      "exceptions",
		wasm:      exceptionsModule,
		features:  api.CoreFeaturesV2 | experimental.CoreFeaturesExceptionHandling,
		flagIndex: 0,
		calls:     []testCall{{fn: "catchloop", args: []uint64{5}, want: []uint64{15}}},
		spins:     []spinCall{{fn: "spin"}},
	},
}

// setupCase creates a runtime for the case (with its env module) and
// instantiates wasm in it.
func setupCase(t testing.TB, c moduleCase, e engine, wasm []byte) api.Module {
	t.Helper()
	r := newRuntime(t, e.cfg(), c.features)
	if c.env {
		instantiate(t, r, readTestdata(t, "env.wasm"), "env")
	}
	return instantiate(t, r, wasm, "guest")
}

func TestInstrumentModules(t *testing.T) {
	ctx := context.Background()
	for _, c := range moduleCases {
		for _, e := range engines {
			t.Run(c.name+"/"+e.name, func(t *testing.T) {
				orig := c.wasm(t)
				inst := mustInstrument(t, orig)

				plain := setupCase(t, c, e, orig)
				mod := setupCase(t, c, e, inst)
				if plain.ExportedGlobal(ExportName) != nil {
					t.Fatalf("original module exports %s", ExportName)
				}
				flag, err := FlagOf(mod)
				if err != nil {
					t.Fatal(err)
				}
				if flag.IsSet() {
					t.Fatal("flag is initially set")
				}
				checkFlagIndex(t, inst, c.flagIndex)

				// Flag 0: same results (and memory) as the original.
				for _, call := range c.calls {
					want, err := plain.ExportedFunction(call.fn).Call(ctx, call.args...)
					if err != nil {
						t.Fatalf("original %s%v: %v", call.fn, call.args, err)
					}
					if call.want != nil && !slices.Equal(want, call.want) {
						t.Fatalf("original %s%v = %v, test expects %v", call.fn, call.args, want, call.want)
					}
					got, err := mod.ExportedFunction(call.fn).Call(ctx, call.args...)
					if err != nil {
						t.Fatalf("instrumented %s%v: %v", call.fn, call.args, err)
					}
					if !slices.Equal(got, want) {
						t.Fatalf("instrumented %s%v = %v, original returns %v", call.fn, call.args, got, want)
					}
				}
				if m1, m2 := plain.ExportedMemory("memory"), mod.ExportedMemory("memory"); m1 != nil {
					b1, _ := m1.Read(0, m1.Size())
					b2, _ := m2.Read(0, m2.Size())
					if !bytes.Equal(b1, b2) {
						t.Fatal("memory contents differ after the calls")
					}
				}

				// Flag 1: every call traps at function entry.
				flag.Interrupt()
				for _, call := range append(c.calls, spinsAsCalls(c.spins)...) {
					_, err := mod.ExportedFunction(call.fn).Call(ctx, call.args...)
					if !isTrap(err) {
						t.Fatalf("%s%v with the flag set: got %v, want an unreachable trap", call.fn, call.args, err)
					}
				}
				// And after a reset, calls work again (the first call of each
				// case can be repeated).
				flag.Reset()
				for _, call := range c.calls[:1] {
					if _, err := mod.ExportedFunction(call.fn).Call(ctx, call.args...); err != nil {
						t.Fatalf("%s after reset: %v", call.fn, err)
					}
				}
			})
		}
	}
}

func spinsAsCalls(spins []spinCall) []testCall {
	var calls []testCall
	for _, s := range spins {
		calls = append(calls, testCall{fn: s.fn, args: s.args})
	}
	return calls
}

// checkFlagIndex checks that the last export is weir_interrupt, a global
// with the expected index.
func checkFlagIndex(t testing.TB, inst []byte, want uint32) {
	t.Helper()
	secs, err := splitSections(inst)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secs {
		if s.id != secExport {
			continue
		}
		suffix := cat(str(ExportName), []byte{kindGlobal}, leb(want))
		if !bytes.HasSuffix(s.content, suffix) {
			t.Fatalf("export section does not end with %s -> global %d: % x", ExportName, want, s.content)
		}
		return
	}
	t.Fatal("no export section")
}

// TestCrossGoroutineInterrupt is the real thing: a call that never returns
// is stopped by setting the flag from another goroutine while it runs.
func TestCrossGoroutineInterrupt(t *testing.T) {
	ctx := context.Background()
	compiler := engines[0]
	for _, c := range moduleCases {
		for _, s := range c.spins {
			t.Run(c.name+"/"+s.fn, func(t *testing.T) {
				mod := setupCase(t, c, compiler, mustInstrument(t, c.wasm(t)))
				flag, err := FlagOf(mod)
				if err != nil {
					t.Fatal(err)
				}
				fn := mod.ExportedFunction(s.fn)
				latency, err := interruptRunning(t, flag, 50*time.Millisecond, func() error {
					_, err := fn.Call(ctx, s.args...)
					return err
				})
				if !isTrap(err) {
					t.Fatalf("got %v, want an unreachable trap", err)
				}
				t.Logf("interrupted %v after the flag was set", latency)
				if latency > time.Second {
					t.Errorf("interrupt took %v", latency)
				}
			})
		}
	}
}

func TestFlagCallBudget(t *testing.T) {
	ctx := context.Background()
	c := moduleCases[0]
	mod := setupCase(t, c, engines[0], mustInstrument(t, c.wasm(t)))
	flag, err := FlagOf(mod)
	if err != nil {
		t.Fatal(err)
	}

	// A call within budget succeeds and leaves the flag clear.
	var res []uint64
	err = flag.Call(5*time.Second, func() (err error) {
		res, err = mod.ExportedFunction("fib").Call(ctx, 15)
		return err
	})
	if err != nil || res[0] != uint64(fib(15)) {
		t.Fatalf("fib(15) = %v, %v", res, err)
	}
	if flag.IsSet() {
		t.Fatal("flag set after a call within budget")
	}

	// An infinite loop is stopped and reported as over budget.
	start := time.Now()
	err = flag.Call(50*time.Millisecond, func() error {
		_, err := mod.ExportedFunction("spin").Call(ctx)
		return err
	})
	elapsed := time.Since(start)
	if !errors.Is(err, ErrBudgetExceeded) || !isTrap(err) {
		t.Fatalf("got %v, want ErrBudgetExceeded wrapping a trap", err)
	}
	if !strings.Contains(err.Error(), "exceeded time budget") {
		t.Fatalf("error text %q", err)
	}
	if elapsed < 50*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("spin stopped after %v", elapsed)
	}
	if flag.IsSet() {
		t.Fatal("flag still set after Call returned")
	}

	// A genuine trap within budget is not reported as over budget.
	err = flag.Call(5*time.Second, func() error { return errors.New("guest failed") })
	if err == nil || errors.Is(err, ErrBudgetExceeded) {
		t.Fatalf("got %v", err)
	}
}

func TestFlagOfUninstrumented(t *testing.T) {
	r := newRuntime(t, wazero.NewRuntimeConfigCompiler(), 0)
	mod := instantiate(t, r, readTestdata(t, "control.wasm"), "plain")
	if _, err := FlagOf(mod); !errors.Is(err, ErrNotInstrumented) {
		t.Fatalf("got %v", err)
	}
}

// TestStartFunctionNoExports uses a module without export and global
// sections whose work happens in its start function; the host interrupts it
// from inside an imported function.
func TestStartFunctionNoExports(t *testing.T) {
	ctx := context.Background()
	orig := readTestdata(t, "noexport.wasm")
	inst := mustInstrument(t, orig)
	checkFlagIndex(t, inst, 0)

	run := func(wasm []byte, interruptAt int32) ([][2]int32, error) {
		r := newRuntime(t, wazero.NewRuntimeConfigCompiler(), 0)
		var got [][2]int32
		_, err := r.NewHostModuleBuilder("env").NewFunctionBuilder().
			WithFunc(func(ctx context.Context, m api.Module, i, s int32) {
				got = append(got, [2]int32{i, s})
				if i == interruptAt {
					flag, err := FlagOf(m)
					if err != nil {
						panic(err)
					}
					flag.Interrupt()
				}
			}).Export("report").Instantiate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cm, err := r.CompileModule(ctx, wasm)
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.InstantiateModule(ctx, cm, wazero.NewModuleConfig())
		return got, err
	}
	want, err := run(orig, -1)
	if err != nil || len(want) != 10 {
		t.Fatalf("original: %v %v", want, err)
	}
	got, err := run(inst, -1)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("instrumented: %v %v, want %v", got, err, want)
	}
	got, err = run(inst, 3)
	if !isTrap(err) {
		t.Fatalf("interrupted start: got %v", err)
	}
	if !slices.Equal(got, want[:4]) {
		t.Fatalf("interrupted start reported %v, want %v", got, want[:4])
	}
}

// Inserted sequences for flag global 0, fuel global 1 and yield table 0,
// spelled out byte by byte.
var (
	goldFlagCheck = []byte{0x23, 0x00, 0x04, 0x40, 0x00, 0x0b}                   // global.get 0; if; unreachable; end
	goldBurn      = []byte{0x23, 0x01, 0x41, 0x7f, 0x6a, 0x24, 0x01}             // fuel = fuel + -1
	goldYield     = []byte{0x23, 0x01, 0x45, 0x04, 0x40, 0x41, 0x80, 0xc0, 0x00, // if fuel == 0 { fuel = 8192;
		0x24, 0x01, 0xd0, 0x70, 0x41, 0x00, 0xfc, 0x0f, 0x00, 0x1a, 0x0b} // drop(table.grow 0 (ref.null func) 0) }
	goldEntry     = cat(goldFlagCheck, goldBurn, goldYield)
	goldLoopInner = cat(goldFlagCheck, goldBurn, []byte{0x23, 0x01, 0x45, 0x0d, 0x01}) // br_if 1 when fuel == 0
	// The added table section entry and global section entries.
	goldTable   = []byte{0x70, 0x00, 0x00}
	goldGlobals = [][]byte{{0x7f, 0x01, 0x41, 0x00, 0x0b}, {0x7f, 0x01, 0x41, 0x80, 0xc0, 0x00, 0x0b}}
)

// yieldTable1 retargets the yields of golden bytes to table 1.
func yieldTable1(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte{0xfc, 0x0f, 0x00}, []byte{0xfc, 0x0f, 0x01})
}

// goldLoop is the output for an input `loop bt`.
func goldLoop(bt ...byte) []byte {
	return cat([]byte{0x03}, bt, goldYield, []byte{0x03}, bt, goldLoopInner)
}

// TestGolden checks the exact output for small modules.
func TestGolden(t *testing.T) {
	if YieldInterval != 8192 {
		t.Fatal("golden bytes assume YieldInterval 8192")
	}
	typeSec := sec(secType, vec(funcType(nil, nil)))
	funcSec := sec(secFunction, vec(leb(0)))
	tests := []struct {
		name    string
		in, out []byte
	}{
		{
			name: "no global, export or table section; custom sections at both ends",
			in: module(
				sec(secCustom, str("first"), []byte{1, 2, 3}),
				typeSec, funcSec,
				sec(secCode, vec(body([][]byte{{0x02, 0x7f}},
					0x01,       // nop
					0x03, 0x40, // loop
					0x0c, 0x00, // br 0
					0x0b, 0x0b))),
				sec(secCustom, str("last")),
			),
			out: module(
				sec(secCustom, str("first"), []byte{1, 2, 3}),
				typeSec, funcSec,
				sec(secTable, vec(goldTable)),
				sec(secGlobal, vec(goldGlobals...)),
				sec(secExport, vec(export(ExportName, kindGlobal, 0))),
				sec(secCode, vec(body([][]byte{{0x02, 0x7f}}, cat(
					goldEntry,
					[]byte{0x01},
					goldLoop(0x40),
					[]byte{0x0c, 0x00},
					[]byte{0x0b, 0x0b}, // end of loop and of its wrapper
					[]byte{0x0b})...))),
				sec(secCustom, str("last")),
			),
		},
		{
			name: "only a type section",
			in:   module(typeSec),
			out: module(typeSec,
				sec(secTable, vec(goldTable)),
				sec(secGlobal, vec(goldGlobals...)),
				sec(secExport, vec(export(ExportName, kindGlobal, 0)))),
		},
		{
			name: "empty module",
			in:   module(),
			out: module(
				sec(secTable, vec(goldTable)),
				sec(secGlobal, vec(goldGlobals...)),
				sec(secExport, vec(export(ExportName, kindGlobal, 0)))),
		},
		{
			name: "branch labels crossing wrapper loops are shifted",
			in: module(typeSec, funcSec,
				sec(secTable, vec([]byte{0x70, 0x00, 0x01})),
				sec(secCode, vec(body(nil,
					0x02, 0x40, // block $b
					0x03, 0x40, // loop $A
					0x0c, 0x01, // br $b
					0x0d, 0x00, // br_if $A
					0x03, 0x7f, // loop $B (result i32)
					0x0c, 0x01, // br $A
					0x0d, 0x02, // br_if $b
					0x0e, 0x03, 0x00, 0x01, 0x02, 0x03, // br_table $B $A $b $func
					0x0b,       // end $B
					0x1a,       // drop
					0x02, 0x40, // block (not wrapped)
					0x0c, 0x01, // br $A
					0x0c, 0x02, // br $b
					0x0b,       // end
					0x0b,       // end $A
					0x0c, 0x00, // br $b (no wrapper crossed)
					0x0b, // end $b
					0x0b)))),
			out: module(typeSec, funcSec,
				sec(secTable, vec([]byte{0x70, 0x00, 0x01}, goldTable)),
				sec(secGlobal, vec(goldGlobals...)),
				sec(secExport, vec(export(ExportName, kindGlobal, 0))),
				sec(secCode, vec(body(nil, yieldTable1(cat(
					goldEntry,
					[]byte{0x02, 0x40},
					goldLoop(0x40),
					[]byte{0x0c, 0x02}, // br $b: +1
					[]byte{0x0d, 0x00}, // br_if $A
					goldLoop(0x7f),
					[]byte{0x0c, 0x02}, // br $A: +1 ($B's wrapper)
					[]byte{0x0d, 0x04}, // br_if $b: +2
					[]byte{0x0e, 0x03, 0x00, 0x02, 0x04, 0x05},
					[]byte{0x0b, 0x0b},
					[]byte{0x1a},
					[]byte{0x02, 0x40},
					[]byte{0x0c, 0x01}, // br $A from a plain block inside $A: unchanged
					[]byte{0x0c, 0x03}, // br $b: +1
					[]byte{0x0b},
					[]byte{0x0b, 0x0b},
					[]byte{0x0c, 0x00},
					[]byte{0x0b},
					[]byte{0x0b}))...))),
			),
		},
		{
			name: "try_table catch labels and br_on_null",
			in: module(typeSec, funcSec,
				sec(secCode, vec(body(nil,
					0x02, 0x40, // block $b
					0x03, 0x40, // loop $A
					0x1f, 0x40, 0x02, 0x00, 0x05, 0x01, 0x02, 0x00, // try_table (catch 5 $b) (catch_all $A)
					0xd0, 0x70, 0xd5, 0x02, 0x1a, // ref.null func; br_on_null $b; drop
					0x0b, 0x0b, 0x0b,
					0x0b)))),
			out: module(typeSec, funcSec,
				sec(secTable, vec(goldTable)),
				sec(secGlobal, vec(goldGlobals...)),
				sec(secExport, vec(export(ExportName, kindGlobal, 0))),
				sec(secCode, vec(body(nil, cat(
					goldEntry,
					[]byte{0x02, 0x40},
					goldLoop(0x40),
					[]byte{0x1f, 0x40, 0x02, 0x00, 0x05, 0x02, 0x02, 0x00},
					[]byte{0xd0, 0x70, 0xd5, 0x03, 0x1a},
					[]byte{0x0b, 0x0b, 0x0b, 0x0b},
					[]byte{0x0b})...))),
			),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustInstrument(t, tc.in)
			if !bytes.Equal(got, tc.out) {
				t.Fatalf("got\n% x\nwant\n% x", got, tc.out)
			}
		})
	}

	// A global section with a tag section before it and a start section
	// after the (missing) export section; flag index 128 needs a 2-byte LEB.
	var globals [][]byte
	for i := 0; i < 128; i++ {
		globals = append(globals, []byte{0x7e, 0x00, 0x42, 0x00, 0x0b})
	}
	in := module(
		typeSec, funcSec,
		sec(secTag, vec([]byte{0x00, 0x00})),
		sec(secGlobal, vec(globals...)),
		sec(secStart, leb(0)),
		sec(secCode, vec(body(nil, 0x0b))),
	)
	seq := newSequences(128, 129, 0)
	if !bytes.HasPrefix(seq.entry, []byte{0x23, 0x80, 0x01, 0x04, 0x40, 0x00, 0x0b, 0x23, 0x81, 0x01}) {
		t.Fatalf("entry sequence % x", seq.entry)
	}
	want := module(
		typeSec, funcSec,
		sec(secTable, vec(goldTable)),
		sec(secTag, vec([]byte{0x00, 0x00})),
		sec(secGlobal, vec(append(globals, goldGlobals...)...)),
		sec(secExport, vec(export(ExportName, kindGlobal, 128))),
		sec(secStart, leb(0)),
		sec(secCode, vec(body(nil, append(seq.entry, 0x0b)...))),
	)
	if got := mustInstrument(t, in); !bytes.Equal(got, want) {
		t.Fatalf("got\n% x\nwant\n% x", got, want)
	}
}

// TestSectionsPreserved checks, on every test module, that all sections
// other than global, export and code are byte-identical and in order, and
// that the code section differs only by inserted checks.
func TestSectionsPreserved(t *testing.T) {
	files, err := filepath.Glob("testdata/*.wasm")
	if err != nil || len(files) == 0 {
		t.Fatal("no test modules", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in := readTestdata(t, filepath.Base(f))
			checkPreserved(t, in, mustInstrument(t, in))
		})
	}
}

func hasTable(secs []section) bool {
	for _, s := range secs {
		if s.id == secTable {
			return true
		}
	}
	return false
}

func checkPreserved(t *testing.T, in, out []byte) {
	t.Helper()
	si, err := splitSections(in)
	if err != nil {
		t.Fatal(err)
	}
	so, err := splitSections(out)
	if err != nil {
		t.Fatalf("output does not split: %v", err)
	}
	var ki, ko []section
	for _, s := range si {
		if s.id != secGlobal && s.id != secExport {
			ki = append(ki, s)
		}
	}
	globals, exports, tables := 0, 0, 0
	for _, s := range so {
		switch s.id {
		case secGlobal:
			globals++
		case secExport:
			exports++
		case secTable:
			tables++
		}
		if s.id != secGlobal && s.id != secExport && (s.id != secTable || hasTable(si)) {
			ko = append(ko, s)
		}
	}
	if globals != 1 || exports != 1 || tables != 1 {
		t.Fatalf("output has %d global, %d export and %d table sections", globals, exports, tables)
	}
	if len(ki) != len(ko) {
		t.Fatalf("%d other sections in, %d out", len(ki), len(ko))
	}
	for i := range ki {
		if ki[i].id != ko[i].id {
			t.Fatalf("section %d: id %d became %d", i, ki[i].id, ko[i].id)
		}
		if ki[i].id == secCode {
			ri, ro := reader{buf: ki[i].content}, reader{buf: ko[i].content}
			ni, _ := ri.readU32()
			no, _ := ro.readU32()
			if ni != no {
				t.Fatalf("%d bodies became %d", ni, no)
			}
			continue
		}
		if ki[i].id == secTable {
			continue // checked in TestGolden
		}
		if !bytes.Equal(ki[i].content, ko[i].content) {
			t.Fatalf("section %d (id %d) changed", i, ki[i].id)
		}
	}
}

func TestDeterministicAndAlreadyInstrumented(t *testing.T) {
	in := readTestdata(t, "control.wasm")
	a, b := mustInstrument(t, in), mustInstrument(t, slices.Clone(in))
	if !bytes.Equal(a, b) {
		t.Fatal("two runs differ")
	}
	if _, err := Instrument(a); !errors.Is(err, ErrAlreadyExported) {
		t.Fatalf("instrumenting twice: %v", err)
	}
}

func TestMalformed(t *testing.T) {
	valid := readTestdata(t, "control.wasm")
	typeSec := sec(secType, vec(funcType(nil, nil)))
	funcSec := sec(secFunction, vec(leb(0)))
	code := func(code ...byte) []byte {
		return module(typeSec, funcSec, sec(secCode, vec(body(nil, code...))))
	}
	tests := []struct {
		name string
		in   []byte
		want error
		msg  string // substring of the error text
	}{
		{"empty", nil, ErrMalformed, "shorter than the module header"},
		{"bad magic", []byte("\x00asn\x01\x00\x00\x00"), ErrMalformed, "magic"},
		{"component", []byte("\x00asm\x0d\x00\x01\x00"), ErrUnsupported, "version"},
		{"truncated section", valid[:len(valid)-3], ErrMalformed, "need"},
		{"section size overflow", module([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x7f}), ErrMalformed, "overflows"},
		{"section size too long", module([]byte{1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}), ErrMalformed, "overflows"},
		{"unknown section", module(sec(14)), ErrUnsupported, "unknown section id 14"},
		{"duplicate section", module(typeSec, typeSec), ErrMalformed, "duplicate type"},
		{"out of order", module(funcSec, typeSec), ErrMalformed, "after function"},
		{"export exists", module(sec(secExport, vec(export(ExportName, kindFunc, 0)))), ErrAlreadyExported, ""},
		{"export trailing", module(sec(secExport, vec(), []byte{0})), ErrMalformed, "trailing"},
		{"import bad kind", module(sec(secImport, vec(cat(str("a"), str("b"), []byte{9})))), ErrMalformed, "unknown kind"},
		{"import bad valtype", module(sec(secImport, vec(cat(str("a"), str("b"), []byte{kindGlobal, 0x55, 0})))), ErrUnsupported, "value type 0x55"},
		{"global count overflow", module(sec(secImport, vec(cat(str("a"), str("b"), []byte{kindGlobal, 0x7f, 0}))),
			sec(secGlobal, leb(math.MaxUint32-1))), ErrUnsupported, "no room"},
		{"code trailing", module(typeSec, funcSec, sec(secCode, vec(body(nil, 0x0b)), []byte{0})), ErrMalformed, "trailing"},
		{"body missing end", code(0x01), ErrMalformed, "without its final end"},
		{"body after end", code(0x0b, 0x01), ErrMalformed, "after the function's final end"},
		{"unclosed block", code(0x02, 0x40, 0x0b), ErrMalformed, "without its final end"},
		{"body size", module(typeSec, funcSec, sec(secCode, vec([]byte{0x10, 0x00}))), ErrMalformed, "need 16 bytes"},
		{"unknown opcode", code(0x27, 0x0b), ErrUnsupported, "opcode 0x27"},
		{"legacy try", code(0x06, 0x40, 0x0b, 0x0b), ErrUnsupported, "legacy exception"},
		{"gc prefix", code(0xfb, 0x00, 0x0b), ErrUnsupported, "opcode 0xfb"},
		{"misc unknown", code(0xfc, 0x12, 0x0b), ErrUnsupported, "0xfc 18"},
		{"simd unknown", code(0xfd, 0x9a, 0x01, 0x0b), ErrUnsupported, "0xfd 0x9a"},
		{"simd relaxed", code(0xfd, 0x80, 0x02, 0x0b), ErrUnsupported, "relaxed"},
		{"simd non-minimal", code(0xfd, 0x8c, 0x00, 0x0b), ErrUnsupported, "non-minimal"},
		{"atomic unknown", code(0xfe, 0x04, 0x0b), ErrUnsupported, "0xfe 0x4"},
		{"truncated memarg", code(0x28, 0x02), ErrMalformed, ""},
		{"truncated v128.const", code(0xfd, 0x0c, 1, 2, 3), ErrMalformed, "need 16 bytes"},
		{"i64.const too long", code(0x42, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0b), ErrMalformed, "longer than 10"},
		{"bad block type", code(0x02, 0x55, 0x0b, 0x0b), ErrUnsupported, "block type"},
		{"bad catch kind", code(0x1f, 0x40, 0x01, 0x07, 0x0b, 0x0b), ErrMalformed, "catch clause kind"},
		{"bad local type", module(typeSec, funcSec, sec(secCode, vec(body([][]byte{{0x01, 0x00}}, 0x0b)))), ErrUnsupported, "value type 0x0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Instrument(tc.in)
			if err == nil {
				t.Fatalf("no error; output % x", out)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q does not mention %q", err, tc.msg)
			}
			if !strings.HasPrefix(err.Error(), "interrupt: ") && !strings.Contains(err.Error(), ": interrupt: ") {
				t.Fatalf("error %q does not carry the interrupt: prefix", err)
			}
		})
	}
}

// TestUnknownOpcodeNamesFunction checks that opcode errors name the function
// index (counting imported functions) and the opcode.
func TestUnknownOpcodeNamesFunction(t *testing.T) {
	in := module(
		sec(secType, vec(funcType(nil, nil))),
		sec(secImport, vec(cat(str("env"), str("f"), []byte{kindFunc, 0}))),
		sec(secFunction, vec(leb(0), leb(0))),
		sec(secCode, vec(body(nil, 0x0b), body(nil, 0x01, 0xfd, 0xd0, 0x01, 0x0b))),
	)
	_, err := Instrument(in)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "function 2 (code entry 1)") ||
		!strings.Contains(err.Error(), "opcode 0xfd 0xd0") {
		t.Fatalf("got %v", err)
	}
}

// TestTestdataUpToDate recompiles the .wat files when wat2wasm is installed
// and checks the committed .wasm files match.
func TestTestdataUpToDate(t *testing.T) {
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm not installed")
	}
	flags := map[string][]string{
		"control.wat":  {"--debug-names"},
		"tailcall.wat": {"--enable-tail-call"},
		"threads.wat":  {"--enable-threads"},
	}
	wats, _ := filepath.Glob("testdata/*.wat")
	for _, w := range wats {
		base := filepath.Base(w)
		out := filepath.Join(t.TempDir(), "out.wasm")
		args := append(slices.Clone(flags[base]), w, "-o", out)
		if b, err := exec.Command("wat2wasm", args...).CombinedOutput(); err != nil {
			t.Fatalf("wat2wasm %s: %v\n%s", base, err, b)
		}
		got := readFile(t, out)
		want := readTestdata(t, strings.TrimSuffix(base, ".wat")+".wasm")
		if !bytes.Equal(got, want) {
			t.Errorf("testdata/%s is stale: run wat2wasm %s", strings.TrimSuffix(base, ".wat")+".wasm",
				strings.Join(args[:len(args)-2], " ")+fmt.Sprintf(" %s -o testdata/%s.wasm", w, strings.TrimSuffix(base, ".wat")))
		}
	}
}

// TestPreemptible checks that a guest that never returns does not stop the
// rest of the process: compiled guest code cannot be preempted by the Go
// runtime, so without the periodic yields a stop-the-world (runtime.GC) or,
// with GOMAXPROCS=1, the watchdog goroutine itself would wait forever.
func TestPreemptible(t *testing.T) {
	ctx := context.Background()
	compiler := engines[0]
	for _, c := range moduleCases {
		for _, s := range c.spins {
			t.Run(c.name+"/"+s.fn+"/GC", func(t *testing.T) {
				mod := setupCase(t, c, compiler, mustInstrument(t, c.wasm(t)))
				flag, _ := FlagOf(mod)
				fn := mod.ExportedFunction(s.fn)
				errc := make(chan error, 1)
				go func() { _, err := fn.Call(ctx, s.args...); errc <- err }()
				time.Sleep(20 * time.Millisecond)
				for i := 0; i < 3; i++ {
					start := time.Now()
					done := make(chan struct{})
					go func() { runtime.GC(); close(done) }()
					select {
					case <-done:
						t.Logf("runtime.GC took %v while the guest spins", time.Since(start))
					case <-time.After(10 * time.Second):
						t.Fatal("runtime.GC blocked by the spinning guest")
					}
				}
				select {
				case err := <-errc:
					t.Fatalf("spin returned: %v", err)
				default:
				}
				flag.Interrupt()
				select {
				case err := <-errc:
					if !isTrap(err) {
						t.Fatalf("got %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("not interrupted")
				}
			})
			t.Run(c.name+"/"+s.fn+"/GOMAXPROCS=1", func(t *testing.T) {
				mod := setupCase(t, c, compiler, mustInstrument(t, c.wasm(t)))
				flag, _ := FlagOf(mod)
				fn := mod.ExportedFunction(s.fn)
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
				start := time.Now()
				err := flag.Call(30*time.Millisecond, func() error {
					_, err := fn.Call(ctx, s.args...)
					return err
				})
				if !errors.Is(err, ErrBudgetExceeded) {
					t.Fatalf("got %v", err)
				}
				t.Logf("stopped after %v", time.Since(start))
			})
		}
	}
}
