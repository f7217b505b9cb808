package wasm_test

import (
	"context"
	"testing"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/arrow/bufpool"
	"github.com/weirflow/weir/internal/guesttest"
	"github.com/weirflow/weir/wasm"
)

func init() {
	benchGuests = append(benchGuests, benchGuest{name: "rust", build: func(tb testing.TB) []byte {
		b, _ := guesttest.BuildRust(tb)
		return b
	}})
}

// BenchmarkCompileRust times rt.Load (validation and wazero's compilation)
// of the Rust SDK's conformance module, next to the Go SDK's, on a fresh
// runtime each time so that no compilation cache helps, and reports the
// module sizes.
func BenchmarkCompileRust(b *testing.B) {
	ctx := context.Background()
	rust, _ := guesttest.BuildRust(b)
	for _, g := range []struct {
		name string
		bin  []byte
	}{{"rust", rust}, {"go", guesttest.BuildGo(b, "sdk/go", "./conformance")}} {
		b.Run(g.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				rt, err := wasm.NewRuntime(ctx, wasm.Config{})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := rt.Load(ctx, g.name, g.bin); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := rt.Close(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(len(g.bin)), "module-bytes")
		})
	}
}

// BenchmarkABIRust is BenchmarkABI's call split for the Rust guest: the
// fixed cost of a map_f64 call (an empty batch) and a 64K-row call.
func BenchmarkABIRust(b *testing.B) {
	ctx := context.Background()
	alloc := bufpool.New()
	bd := newBenchData(alloc)
	defer bd.release()
	rt, err := wasm.NewRuntime(ctx, wasm.Config{Allocator: alloc})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(ctx)
	bin, _ := guesttest.BuildRust(b)
	mod, err := rt.Load(ctx, "rust", bin)
	if err != nil {
		b.Fatal(err)
	}
	in, err := mod.Instantiate(ctx, wasm.InstanceOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close(ctx)
	op, err := in.Open(ctx, abi.KindMap, "scale_f64", "0.908", bd.f64.Schema())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("map_f64/call_empty", func(b *testing.B) {
		empty := bd.f64.NewSlice(0, 0)
		defer empty.Release()
		for b.Loop() {
			out, err := op.Map(ctx, empty)
			if err != nil {
				b.Fatal(err)
			}
			out.Release()
		}
	})
	b.Run("map_f64/call", func(b *testing.B) {
		benchMap(ctx, b, op, bd.f64)
	})
}
