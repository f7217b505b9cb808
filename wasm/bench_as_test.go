package wasm_test

import (
	"context"
	"testing"

	"github.com/weirflow/weir/internal/guesttest"
	"github.com/weirflow/weir/wasm"
)

func init() {
	benchGuests = append(benchGuests, benchGuest{name: "as", build: func(tb testing.TB) []byte {
		b, _ := guesttest.BuildAssemblyScript(tb)
		return b
	}})
}

// BenchmarkCompileAssemblyScript times rt.Load (validation and wazero's
// compilation) of the AssemblyScript SDK's conformance module, next to the
// Go SDK's, on a fresh runtime each time so that no compilation cache
// helps, and reports the module sizes.
func BenchmarkCompileAssemblyScript(b *testing.B) {
	ctx := context.Background()
	as, _ := guesttest.BuildAssemblyScript(b)
	for _, g := range []struct {
		name string
		bin  []byte
	}{{"as", as}, {"go", guesttest.BuildGo(b, "sdk/go", "./conformance")}} {
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
