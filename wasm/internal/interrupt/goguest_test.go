package interrupt

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// buildGoGuest compiles testdata/goguest as a wasip1 reactor.
func buildGoGuest(t testing.TB) []byte {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not available")
	}
	out := filepath.Join(t.TempDir(), "goguest.wasm")
	cmd := exec.Command(goTool, "build", "-buildmode=c-shared", "-o", out, "./testdata/goguest")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the Go guest: %v\n%s", err, b)
	}
	return readFile(t, out)
}

func instantiateGoGuest(t testing.TB, wasm []byte) api.Module {
	t.Helper()
	ctx := context.Background()
	r := newRuntime(t, wazero.NewRuntimeConfigCompiler(), 0)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("CompileModule: %v", err)
	}
	mod, err := r.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatalf("InstantiateModule: %v", err)
	}
	return mod
}

// TestGoGuest instruments a real Go (GOOS=wasip1) module with
// //go:wasmexport functions: it still computes the same results, and a
// never-ending call is stopped by the budget.
func TestGoGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go wasm module")
	}
	ctx := context.Background()
	orig := buildGoGuest(t)
	inst := mustInstrument(t, orig)
	checkPreserved(t, orig, inst)

	const rows = 1 << 16
	var want int64
	for i := int64(0); i < rows; i++ {
		want += i*3 - 7
	}
	for name, wasm := range map[string][]byte{"original": orig, "instrumented": inst} {
		mod := instantiateGoGuest(t, wasm)
		if _, err := mod.ExportedFunction("fill").Call(ctx, rows); err != nil {
			t.Fatalf("%s fill: %v", name, err)
		}
		res, err := mod.ExportedFunction("sum").Call(ctx)
		if err != nil || int64(res[0]) != want {
			t.Fatalf("%s sum = %v, %v; want %d", name, res, err, want)
		}
		res, err = mod.ExportedFunction("spin").Call(ctx, 3)
		if err != nil {
			t.Fatalf("%s spin(3): %v", name, err)
		}
		t.Logf("%s: sum=%d spin(3)=%d", name, want, int64(res[0]))
	}

	mod := instantiateGoGuest(t, inst)
	flag, err := FlagOf(mod)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mod.ExportedFunction("fill").Call(ctx, rows); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = flag.Call(50*time.Millisecond, func() error {
		_, err := mod.ExportedFunction("spin").Call(ctx, api.EncodeI64(-1))
		return err
	})
	if !errors.Is(err, ErrBudgetExceeded) || !isTrap(err) {
		t.Fatalf("spin(-1) under a 50ms budget: %v", err)
	}
	t.Logf("spin(-1) stopped after %v", time.Since(start))

	// A fresh instance with the flag set traps at once.
	mod = instantiateGoGuest(t, inst)
	flag, _ = FlagOf(mod)
	flag.Interrupt()
	if _, err := mod.ExportedFunction("sum").Call(ctx); !isTrap(err) {
		t.Fatalf("sum with the flag set: %v", err)
	}
}

// BenchmarkGoGuest runs the Go guest's sum over 64K rows (a Go range loop
// compiled by the Go toolchain) plain, instrumented, and under
// WithCloseOnContextDone with a per-call deadline.
func BenchmarkGoGuest(b *testing.B) {
	ctx := context.Background()
	orig := buildGoGuest(b)
	inst := mustInstrument(b, orig)
	setup := func(b *testing.B, cfg wazero.RuntimeConfig, wasm []byte) api.Module {
		r := newRuntime(b, cfg, 0)
		wasi_snapshot_preview1.MustInstantiate(ctx, r)
		cm, err := r.CompileModule(ctx, wasm)
		if err != nil {
			b.Fatal(err)
		}
		mod, err := r.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := mod.ExportedFunction("fill").Call(ctx, benchRows); err != nil {
			b.Fatal(err)
		}
		return mod
	}
	run := func(b *testing.B, mod api.Module, callCtx func() (context.Context, func())) {
		fn := mod.ExportedFunction("sum")
		stack := make([]uint64, 1)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			c, cancel := callCtx()
			err := fn.CallWithStack(c, stack)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRows, "ns/row")
	}
	noDeadline := func() (context.Context, func()) { return ctx, func() {} }
	b.Run("plain", func(b *testing.B) {
		run(b, setup(b, wazero.NewRuntimeConfigCompiler(), orig), noDeadline)
	})
	b.Run("instrumented", func(b *testing.B) {
		run(b, setup(b, wazero.NewRuntimeConfigCompiler(), inst), noDeadline)
	})
	b.Run("closectx", func(b *testing.B) {
		run(b, setup(b, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(true), orig),
			func() (context.Context, func()) { return context.WithTimeout(ctx, time.Second) })
	})
}
