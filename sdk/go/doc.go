// Package weir is the Go guest SDK of Weir: it turns a Go program into a
// Weir job module, a WebAssembly module whose functions the Weir host runs as
// dataflow operators over Apache Arrow record batches (ABI v1, abi/SPEC.md).
//
// A module registers its functions by name, usually from init functions, and
// defines its plan (the job graph):
//
//	func init() {
//		weir.Map("scale_f64", openScale)
//		weir.DefinePlan(plan)
//	}
//
//	func main() {}
//
// and is built as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o job.wasm .
//
// The SDK provides the module's exports (weir_abi_v1, weir_alloc, weir_plan,
// weir_open, weir_map, ...) with //go:wasmexport; main is never called.
//
// # Operators
//
// Each operator instance is opened once per subtask: the SDK calls the
// registered open function with an [Operator] describing the function name,
// its params string and the input [Schema]. The open function validates them
// (errors name the function: `scale_f64: input has no column "x"`), declares
// the output schema and returns the function called for every batch:
//
//	func openScale(op *weir.Operator) (weir.MapFunc, error) {
//		x, err := op.Input.Lookup("x", weir.Float64)
//		if err != nil {
//			return nil, err
//		}
//		factor, err := strconv.ParseFloat(op.Params, 64)
//		if err != nil {
//			return nil, err
//		}
//		op.Output = weir.Schema{{Name: "y", Type: weir.Float64}}
//		return func(in *weir.Batch, out *weir.Builder) error {
//			xs := in.Float64(x)
//			ys := out.Float64(0).ExtendValidity(xs.Validity()) // nulls pass through
//			for i, v := range xs.Values() {
//				ys[i] = v * factor
//			}
//			return nil
//		}, nil
//	}
//
// The kinds are [Map], [FlatMap], [Filter] (rows are selected with a
// [Selection], no data is copied), [Process] (keyed, with per-key state in a
// [Table]) and [Aggregate] (accumulators in a [Table]). An error returned by
// a batch function fails the call with its message; a panic is recovered and
// reported the same way (its stack goes to the log).
//
// # Event time, windows, joins and timers
//
// [Stream.EventTime] gives a source's rows event time and watermarks;
// [Stream.Window] groups a (keyed) stream into [Tumbling], [Sliding] or
// [Session] windows aggregated natively ([Count], [Sum], [Min], [Max],
// [Avg]) or by a guest aggregate function; [Stream.Late] is a window's side
// output of late rows; [Join] joins two streams on keys (regular, window or
// interval joins). A process function whose state has a [TimerColumn] or
// [ProcTimerColumn] gets keyed timers: a call with no rows and the keys
// whose timers fired ([WithTimers], [IsTimerCall]).
//
// # Memory
//
// Input batches are read in place: [Batch] accessors return zero-copy views
// of the host's buffers ([Column], [StringColumn], [BoolColumn]), valid only
// during the call. Outputs are written by builders ([Builder],
// [PrimitiveBuilder], [StringBuilder], [BoolBuilder]) that keep their memory
// from call to call, so that a steady-state call allocates nothing; the
// output stays valid until the host's next call, as the ABI requires.
//
// # Performance
//
// The per-batch path does no per-row allocation, reflection, map lookup or
// interface call. For the fastest loops on wasm, work on the slices returned
// by Values, Extend, ExtendValidity, AppendColumn and ExtendRaw rather than
// calling a method per row, and keep hot loops small (Go's wasm code
// generator has few registers: a loop with many live variables spills to
// memory; moving it into a small function helps). Branch-free loop bodies and
// manual unrolling also pay off more on wasm than natively.
//
// # Native use
//
// Everything but the wasm exports also builds natively, where the SDK
// emulates the linear memory: batches can be built with [NewBuilder] and
// viewed with [Builder.Batch], so operator functions can be unit-tested with
// go test, and [BuildPlan] returns the plan JSON.
package weir
