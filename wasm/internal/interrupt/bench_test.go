package interrupt

import (
	"context"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

const benchRows = 1 << 16

// BenchmarkSum compares a tight per-row loop (sum of 64K i64 or f64 values
// in linear memory, testdata/bench.wat) under four regimes:
//
//	plain          uninstrumented, no limit
//	instrumented   Instrument's flag checks and yields, flag never set
//	watchdog       as instrumented, each call under Flag.Call with a 1s budget
//	closectx       uninstrumented, RuntimeConfig.WithCloseOnContextDone(true),
//	               each call under context.WithTimeout(1s)
//
// Run: go test -run '^$' -bench Sum -count 5 ./wasm/internal/interrupt
func BenchmarkSum(b *testing.B) {
	ctx := context.Background()
	orig := readTestdata(b, "bench.wasm")
	inst := mustInstrument(b, orig)

	setup := func(b *testing.B, cfg wazero.RuntimeConfig, wasm []byte) api.Module {
		r := newRuntime(b, cfg, 0)
		mod := instantiate(b, r, wasm, "bench")
		mem := mod.ExportedMemory("memory")
		buf := make([]byte, 8*benchRows)
		for i := 0; i < benchRows; i++ {
			binary.LittleEndian.PutUint64(buf[8*i:], uint64(i%1000))
		}
		if !mem.Write(0, buf) {
			b.Fatal("memory write")
		}
		return mod
	}
	for _, kind := range []string{"i64", "f64"} {
		fnName := "sum_" + kind
		want := uint64(0)
		for i := 0; i < benchRows; i++ {
			want += uint64(i % 1000)
		}
		check := func(b *testing.B, res uint64) {
			if kind == "f64" {
				res = uint64(math.Float64frombits(res)) // f64 memory holds the same bit patterns
			}
			if kind == "i64" && res != want {
				b.Fatalf("sum = %d, want %d", res, want)
			}
		}
		run := func(b *testing.B, mod api.Module, wrap func(call func(context.Context) error) error) {
			fn := mod.ExportedFunction(fnName)
			stack := make([]uint64, 2)
			b.SetBytes(8 * benchRows)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				err := wrap(func(ctx context.Context) error {
					stack[0], stack[1] = 0, benchRows
					return fn.CallWithStack(ctx, stack)
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			check(b, stack[0])
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRows, "ns/row")
		}
		b.Run(kind+"/plain", func(b *testing.B) {
			mod := setup(b, wazero.NewRuntimeConfigCompiler(), orig)
			run(b, mod, func(call func(context.Context) error) error { return call(ctx) })
		})
		b.Run(kind+"/instrumented", func(b *testing.B) {
			mod := setup(b, wazero.NewRuntimeConfigCompiler(), inst)
			run(b, mod, func(call func(context.Context) error) error { return call(ctx) })
		})
		b.Run(kind+"/watchdog", func(b *testing.B) {
			mod := setup(b, wazero.NewRuntimeConfigCompiler(), inst)
			flag, err := FlagOf(mod)
			if err != nil {
				b.Fatal(err)
			}
			run(b, mod, func(call func(context.Context) error) error {
				return flag.Call(time.Second, func() error { return call(ctx) })
			})
		})
		b.Run(kind+"/closectx", func(b *testing.B) {
			mod := setup(b, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(true), orig)
			run(b, mod, func(call func(context.Context) error) error {
				cctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				return call(cctx)
			})
		})
	}
}
