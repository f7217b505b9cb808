package wasm_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/arrow/batch"
	"github.com/weirflow/weir/arrow/bufpool"
	"github.com/weirflow/weir/arrow/cdata32"
	"github.com/weirflow/weir/internal/guesttest"
	"github.com/weirflow/weir/wasm"
)

const benchRows = 64 << 10

// benchData builds the inputs of BenchmarkUDF: 64K rows each, 1/64 null.
type benchData struct {
	f64, i64, utf8 arrow.Record
	groups         []int32
	keys           int
}

func newBenchData(alloc memory.Allocator) *benchData {
	r := rand.New(rand.NewPCG(1, 2))
	valid := make([]bool, benchRows)
	for i := range valid {
		valid[i] = i%64 != 7
	}
	fb := array.NewFloat64Builder(alloc)
	ib := array.NewInt64Builder(alloc)
	sb := array.NewStringBuilder(alloc)
	words := []string{"weir", "flink", "arrow", "wasm", "stream", "batch", "credit", "barrier"}
	for i := 0; i < benchRows; i++ {
		fb.Append(r.Float64() * 1000)
		ib.Append(r.Int64N(2000) - 1000)
		sb.Append(words[i%len(words)] + "-record")
	}
	mk := func(name string, b array.Builder) arrow.Record {
		col := b.NewArray()
		defer col.Release()
		b.Release()
		// re-apply the nulls: set validity through a new builder is slower; rebuild data
		d := col.Data()
		vb := memory.NewResizableBuffer(alloc)
		vb.Resize(int(bitutil.BytesForBits(benchRows)))
		for i, v := range valid {
			bitutil.SetBitTo(vb.Bytes(), i, v)
		}
		bufs := append([]*memory.Buffer{vb}, d.Buffers()[1:]...)
		nd := array.NewData(col.DataType(), benchRows, bufs, nil, benchRows/64, 0)
		vb.Release()
		arr := array.MakeFromData(nd)
		nd.Release()
		defer arr.Release()
		schema := arrow.NewSchema([]arrow.Field{{Name: name, Type: col.DataType(), Nullable: true}}, nil)
		return array.NewRecord(schema, []arrow.Array{arr}, benchRows)
	}
	bd := &benchData{f64: mk("x", fb), i64: mk("x", ib), utf8: mk("s", sb), keys: 1024}
	bd.groups = make([]int32, benchRows)
	for i := range bd.groups {
		bd.groups[i] = int32(r.IntN(bd.keys))
	}
	return bd
}

func (bd *benchData) release() { bd.f64.Release(); bd.i64.Release(); bd.utf8.Release() }

// native implementations: the same logic in Go on the same arrow arrays,
// producing new arrays as the guest path does.
func nativeMapF64(alloc memory.Allocator, rec arrow.Record) arrow.Record {
	in := rec.Column(0).(*array.Float64)
	vals := memory.NewResizableBuffer(alloc)
	vals.Resize(8 * in.Len())
	out := arrow.Float64Traits.CastFromBytes(vals.Bytes())
	for i, x := range in.Float64Values() {
		out[i] = x * 0.908
	}
	valid := memory.NewResizableBuffer(alloc)
	valid.Resize(len(in.NullBitmapBytes()))
	copy(valid.Bytes(), in.NullBitmapBytes())
	d := array.NewData(arrow.PrimitiveTypes.Float64, in.Len(), []*memory.Buffer{valid, vals}, nil, in.NullN(), 0)
	vals.Release()
	valid.Release()
	arr := array.MakeFromData(d)
	d.Release()
	defer arr.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "y", Type: arrow.PrimitiveTypes.Float64, Nullable: true}}, nil)
	return array.NewRecord(schema, []arrow.Array{arr}, int64(in.Len()))
}

// nativeFilterI64 builds the selection bitmap branch-free (as a guest
// does), then takes the rows through the same path as the host.
func nativeFilterI64(alloc memory.Allocator, rec arrow.Record, bm []byte, idx []int32) (arrow.Record, []int32) {
	in := rec.Column(0).(*array.Int64)
	vals := in.Int64Values()
	valid := in.NullBitmapBytes()
	off := in.Data().Offset()
	for i := 0; i < len(vals); i += 8 {
		var b byte
		for k := 0; k < 8 && i+k < len(vals); k++ {
			gt := byte(uint64(-vals[i+k]) >> 63) // x > 0
			b |= gt << k
		}
		if len(valid) > 0 {
			b &= valid[(i+off)/8] // off is 0 here: byte-aligned
		}
		bm[i/8] = b
	}
	idx = batch.IndicesFromBitmap(idx[:0], bm, len(vals))
	out, err := batch.Take(alloc, rec, idx)
	if err != nil {
		panic(err)
	}
	return out, idx
}

func nativeUpper(alloc memory.Allocator, rec arrow.Record) arrow.Record {
	in := rec.Column(0).(*array.String)
	n := in.Len()
	offs := in.ValueOffsets()
	base, end := int(offs[0]), int(offs[n])
	ob := memory.NewResizableBuffer(alloc)
	ob.Resize(4 * (n + 1))
	dstOffs := arrow.Int32Traits.CastFromBytes(ob.Bytes())
	for i, o := range offs {
		dstOffs[i] = o - int32(base)
	}
	db := memory.NewResizableBuffer(alloc)
	db.Resize(end - base)
	dst := db.Bytes()
	for i, c := range in.ValueBytes()[:end-base] {
		if 'a' <= c && c <= 'z' {
			c -= 32
		}
		dst[i] = c
	}
	vb := memory.NewResizableBuffer(alloc)
	vb.Resize(len(in.NullBitmapBytes()))
	copy(vb.Bytes(), in.NullBitmapBytes())
	d := array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{vb, ob, db}, nil, in.NullN(), 0)
	vb.Release()
	ob.Release()
	db.Release()
	arr := array.MakeFromData(d)
	d.Release()
	defer arr.Release()
	return array.NewRecord(rec.Schema(), []arrow.Array{arr}, int64(n))
}

func nativeSumByKey(rec arrow.Record, groups []int32, sum, n []int64) {
	in := rec.Column(0).(*array.Int64)
	vals := in.Int64Values()
	for i, g := range groups {
		if in.IsValid(i) {
			sum[g] += vals[i]
			n[g]++
		}
	}
}

// benchMap times op.Map over rec, releasing each output, and reports rows/s.
func benchMap(ctx context.Context, b *testing.B, op *wasm.Operator, rec arrow.Record) {
	for b.Loop() {
		out, err := op.Map(ctx, rec)
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
	reportRows(b)
}

func reportRows(b *testing.B) {
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// benchGuest is a guest language in BenchmarkUDF: build returns its SDK's
// conformance module (abi/SPEC.md §11.1), which exports the operators the
// benchmark calls.
type benchGuest struct {
	name  string
	build func(tb testing.TB) []byte
}

// benchGuests lists the guests BenchmarkUDF runs, in order; each SDK adds
// itself from a file of its own (bench_<lang>_test.go).
var benchGuests = []benchGuest{
	{name: "go", build: func(tb testing.TB) []byte { return guesttest.BuildGo(tb, "sdk/go", "./conformance") }},
}

// BenchmarkUDF compares guests on the same operators over 64K-row batches:
// BenchmarkUDF/<op>/<guest>, guest native (Go on arrow arrays) or one of
// benchGuests (that SDK's conformance module through the host).
func BenchmarkUDF(b *testing.B) {
	ctx := context.Background()
	alloc := bufpool.New() // the same pooled allocator for every guest
	bd := newBenchData(alloc)
	defer bd.release()
	rt, err := wasm.NewRuntime(ctx, wasm.Config{Allocator: alloc})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(ctx)
	mods := map[string]*wasm.Module{}
	for _, g := range benchGuests {
		mod, err := rt.Load(ctx, g.name, g.build(b))
		if err != nil {
			b.Fatalf("load the %s guest: %v", g.name, err)
		}
		mods[g.name] = mod
	}

	open := func(b *testing.B, guest string, kind abi.Kind, fn, params string, schema *arrow.Schema) *wasm.Operator {
		in, err := mods[guest].Instantiate(ctx, wasm.InstanceOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { in.Close(ctx) })
		op, err := in.Open(ctx, kind, fn, params, schema)
		if err != nil {
			b.Fatal(err)
		}
		return op
	}

	b.Run("map_f64/native", func(b *testing.B) {
		for b.Loop() {
			nativeMapF64(alloc, bd.f64).Release()
		}
		reportRows(b)
	})
	for _, g := range benchGuests {
		b.Run("map_f64/"+g.name, func(b *testing.B) {
			op := open(b, g.name, abi.KindMap, "scale_f64", "0.908", bd.f64.Schema())
			benchMap(ctx, b, op, bd.f64)
		})
	}
	b.Run("filter_i64/native", func(b *testing.B) {
		var idx []int32
		bm := make([]byte, benchRows/8)
		for b.Loop() {
			var out arrow.Record
			out, idx = nativeFilterI64(alloc, bd.i64, bm, idx)
			out.Release()
		}
		reportRows(b)
	})
	for _, g := range benchGuests {
		b.Run("filter_i64/"+g.name, func(b *testing.B) {
			op := open(b, g.name, abi.KindFilter, "gt_i64", "0", bd.i64.Schema())
			for b.Loop() {
				out, err := op.Filter(ctx, bd.i64)
				if err != nil {
					b.Fatal(err)
				}
				out.Release()
			}
			reportRows(b)
		})
	}
	b.Run("upper_utf8/native", func(b *testing.B) {
		for b.Loop() {
			nativeUpper(alloc, bd.utf8).Release()
		}
		reportRows(b)
	})
	for _, g := range benchGuests {
		b.Run("upper_utf8/"+g.name, func(b *testing.B) {
			op := open(b, g.name, abi.KindMap, "upper_utf8", "", bd.utf8.Schema())
			benchMap(ctx, b, op, bd.utf8)
		})
	}
	b.Run("sum_by_key/native", func(b *testing.B) {
		sum, n := make([]int64, bd.keys), make([]int64, bd.keys)
		for b.Loop() {
			nativeSumByKey(bd.i64, bd.groups, sum, n)
		}
		reportRows(b)
	})
	for _, g := range benchGuests {
		b.Run("sum_by_key/"+g.name, func(b *testing.B) {
			op := open(b, g.name, abi.KindAggregate, "sum_i64", "", bd.i64.Schema())
			acc, err := op.AggCreate(ctx, bd.keys)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				next, err := op.AggAdd(ctx, acc, bd.i64, bd.groups)
				if err != nil {
					b.Fatal(err)
				}
				acc.Release()
				acc = next
			}
			acc.Release()
			reportRows(b)
		})
	}
}

// BenchmarkCompile times rt.Load (validation and wazero's compilation to
// machine code) of every guest's conformance module and of the minimal WAT
// SDK, each on a fresh runtime so that no compilation cache helps, and
// reports the module sizes.
func BenchmarkCompile(b *testing.B) {
	ctx := context.Background()
	guests := append(slices.Clone(benchGuests), benchGuest{name: "wat", build: func(tb testing.TB) []byte {
		return guesttest.BuildCFile(tb, "sdk/minimal-wat.wasm")
	}})
	for _, g := range guests {
		bin := g.build(b)
		b.Run(g.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				rt, err := wasm.NewRuntime(ctx, wasm.Config{})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := rt.Load(ctx, g.name, bin); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := rt.Close(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(len(bin)), "module-bytes")
		})
	}
}

// BenchmarkCallEmpty is the fixed cost of a map call (an empty batch) on
// every guest: the host's work per call plus the SDK's own (the
// AssemblyScript SDK collects its garbage at the end of each call).
func BenchmarkCallEmpty(b *testing.B) {
	ctx := context.Background()
	alloc := bufpool.New()
	bd := newBenchData(alloc)
	defer bd.release()
	empty := bd.f64.NewSlice(0, 0)
	defer empty.Release()
	rt, err := wasm.NewRuntime(ctx, wasm.Config{Allocator: alloc})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(ctx)
	for _, g := range benchGuests {
		b.Run("map_f64/"+g.name, func(b *testing.B) {
			mod, err := rt.Load(ctx, g.name, g.build(b))
			if err != nil {
				b.Fatal(err)
			}
			in, err := mod.Instantiate(ctx, wasm.InstanceOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer in.Close(ctx)
			op, err := in.Open(ctx, abi.KindMap, "scale_f64", "0.908", empty.Schema())
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				out, err := op.Map(ctx, empty)
				if err != nil {
					b.Fatal(err)
				}
				out.Release()
			}
		})
	}
}

// BenchmarkABI splits a map_f64 call at 64K rows into its ABI parts: copying
// the input into guest memory, copying the output out, and the fixed cost of
// a call (an empty batch). Their sum over BenchmarkUDF/map_f64/go is the ABI
// overhead.
func BenchmarkABI(b *testing.B) {
	ctx := context.Background()
	alloc := bufpool.New()
	bd := newBenchData(alloc)
	defer bd.release()
	rt, err := wasm.NewRuntime(ctx, wasm.Config{Allocator: alloc})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(ctx)
	mod, err := rt.Load(ctx, "go", guesttest.BuildGo(b, "sdk/go", "./conformance"))
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
	guest := make([]byte, 2*cdata32.BatchSizeBound(bd.f64))
	b.Run("map_f64/copy_in", func(b *testing.B) {
		for b.Loop() {
			reg := &cdata32.Region{Mem: guest, Base: 0}
			if _, err := cdata32.WriteBatch(reg, bd.f64); err != nil {
				b.Fatal(err)
			}
		}
		reportRows(b)
	})
	b.Run("map_f64/copy_out", func(b *testing.B) {
		reg := &cdata32.Region{Mem: guest[64:], Base: 64}
		p, err := cdata32.WriteBatch(reg, bd.f64)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			out, err := cdata32.ReadBatch(guest, p, bd.f64.Schema(), alloc)
			if err != nil {
				b.Fatal(err)
			}
			out.Release()
		}
		reportRows(b)
	})
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

// BenchmarkInterrupt measures what each CPU-limit mechanism costs on the Go
// guest's operators: no limit, the instrumented flag (default), and wazero's
// close-on-context-done.
func BenchmarkInterrupt(b *testing.B) {
	ctx := context.Background()
	alloc := bufpool.New()
	bd := newBenchData(alloc)
	defer bd.release()
	bin := guesttest.BuildGo(b, "sdk/go", "./conformance")
	for _, mode := range []string{"none", "flag", "context"} {
		rt, err := wasm.NewRuntime(ctx, wasm.Config{Allocator: alloc, Interrupt: mode})
		if err != nil {
			b.Fatal(err)
		}
		mod, err := rt.Load(ctx, "go", bin)
		if err != nil {
			b.Fatal(err)
		}
		in, err := mod.Instantiate(ctx, wasm.InstanceOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for _, tc := range []struct {
			op, fn, params string
			kind           abi.Kind
			rec            arrow.Record
		}{
			{"map_f64", "scale_f64", "0.908", abi.KindMap, bd.f64},
			{"upper_utf8", "upper_utf8", "", abi.KindMap, bd.utf8},
		} {
			op, err := in.Open(ctx, tc.kind, tc.fn, tc.params, tc.rec.Schema())
			if err != nil {
				b.Fatal(err)
			}
			b.Run(tc.op+"/"+mode, func(b *testing.B) {
				benchMap(ctx, b, op, tc.rec)
			})
		}
		in.Close(ctx)
		rt.Close(ctx)
	}
}
