package wasm_test

import (
	"context"
	"testing"

	"github.com/weirflow/weir/internal/guesttest"
	"github.com/weirflow/weir/wasm"
)

// The C SDK's conformance module (sdk/c/conformance.c, built by
// sdk/c/build.sh) in BenchmarkUDF.
func init() {
	benchGuests = append(benchGuests, benchGuest{name: "c", build: func(tb testing.TB) []byte {
		return guesttest.BuildCFile(tb, "sdk/conformance-c.wasm")
	}})
}

// BenchmarkCompileC measures rt.Load (validation and compilation to machine
// code, with an empty compilation cache) of the C conformance module, next
// to the Go SDK's and the minimal WAT module, and reports their sizes.
func BenchmarkCompileC(b *testing.B) {
	ctx := context.Background()
	for _, g := range []struct {
		name string
		bin  []byte
	}{
		{"c", guesttest.BuildCFile(b, "sdk/conformance-c.wasm")},
		{"go", guesttest.BuildGo(b, "sdk/go", "./conformance")},
		{"wat", guesttest.BuildCFile(b, "sdk/minimal-wat.wasm")},
	} {
		b.Run(g.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				rt, err := wasm.NewRuntime(ctx, wasm.Config{}) // a fresh, empty compilation cache
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				mod, err := rt.Load(ctx, g.name, g.bin)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := mod.Close(ctx); err != nil {
					b.Fatal(err)
				}
				if err := rt.Close(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(len(g.bin)), "module-bytes")
		})
	}
}
