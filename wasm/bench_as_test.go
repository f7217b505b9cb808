package wasm_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/internal/guesttest"
	"github.com/weirflow/weir/wasm"
)

func init() {
	benchGuests = append(benchGuests, benchGuest{name: "as", build: func(tb testing.TB) []byte {
		b, _ := guesttest.BuildAssemblyScript(tb)
		return b
	}})
}

// TestAssemblyScriptMemorySteady checks that the AssemblyScript guest's
// memory stops growing under repeated calls: builders reuse their memory and
// the garbage of each call (error messages, temporary arrays, opened and
// closed operators) is collected at the end of the call.
func TestAssemblyScriptMemorySteady(t *testing.T) {
	ctx := context.Background()
	alloc := memory.NewGoAllocator()
	bin, _ := guesttest.BuildAssemblyScript(t)
	rt, err := wasm.NewRuntime(ctx, wasm.Config{Allocator: alloc})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	mod, err := rt.Load(ctx, "as", bin)
	if err != nil {
		t.Fatal(err)
	}
	sb := array.NewStringBuilder(alloc)
	ib := array.NewInt64Builder(alloc)
	for i := range 2000 {
		if i%17 == 0 {
			sb.AppendNull()
		} else {
			sb.Append(fmt.Sprintf("Line %d: the quick brown fox, jumps", i))
		}
		ib.Append(int64(i % 50))
	}
	lines := array.NewRecord(arrow.NewSchema([]arrow.Field{{Name: "line", Type: arrow.BinaryTypes.String, Nullable: true}}, nil),
		[]arrow.Array{sb.NewArray()}, 2000)
	defer lines.Release()
	keys := array.NewRecord(arrow.NewSchema([]arrow.Field{{Name: "key", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil),
		[]arrow.Array{ib.NewArray()}, 2000)
	defer keys.Release()

	var upper *wasm.Operator // opened once, called every time
	for _, tc := range []struct {
		name string
		call func(in *wasm.Instance) error
	}{
		{"same_operator", func(in *wasm.Instance) error {
			s := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
			if upper == nil {
				if upper, err = in.Open(ctx, abi.KindMap, "upper_utf8", "", s); err != nil {
					return err
				}
			}
			rec := array.NewRecord(s, []arrow.Array{lines.Column(0)}, lines.NumRows())
			defer rec.Release()
			out, err := upper.Map(ctx, rec)
			if err != nil {
				return err
			}
			out.Release()
			return nil
		}},
		{"tokenize", func(in *wasm.Instance) error { return mapOnce(ctx, in, abi.KindFlatMap, "tokenize", "", lines) }},
		{"identity", func(in *wasm.Instance) error { return mapOnce(ctx, in, abi.KindMap, "identity", "", lines) }},
		{"fail", func(in *wasm.Instance) error {
			if err := mapOnce(ctx, in, abi.KindMap, "fail", "an error message that is garbage after the call", lines); err == nil {
				return fmt.Errorf("fail did not fail")
			}
			return nil
		}},
		{"open_errors", func(in *wasm.Instance) error {
			if _, err := in.Open(ctx, abi.KindMap, "scale_f64", "not a number", lines.Schema()); err == nil {
				return fmt.Errorf("bad open succeeded")
			}
			return nil
		}},
		{"count", func(in *wasm.Instance) error {
			op, err := in.Open(ctx, abi.KindProcess, "count", "", keys.Schema())
			if err != nil {
				return err
			}
			defer op.Close(ctx)
			st, err := op.AggCreate(ctx, 0) // not an aggregate: must fail cleanly
			if err == nil {
				st.Release()
				return fmt.Errorf("agg_create on a process operator succeeded")
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := mod.Instantiate(ctx, wasm.InstanceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close(ctx)
			for range 50 {
				if err := tc.call(in); err != nil {
					t.Fatal(err)
				}
			}
			warm := in.MemorySize()
			for range 500 {
				if err := tc.call(in); err != nil {
					t.Fatal(err)
				}
			}
			if got := in.MemorySize(); got > warm {
				t.Errorf("memory grew from %d to %d bytes over 500 calls", warm, got)
			}
		})
	}
}

// mapOnce opens a map or flatmap operator, runs it on rec and closes it.
func mapOnce(ctx context.Context, in *wasm.Instance, kind abi.Kind, fn, params string, rec arrow.Record) error {
	op, err := in.Open(ctx, kind, fn, params, rec.Schema())
	if err != nil {
		return err
	}
	out, err := op.Map(ctx, rec)
	if cerr := op.Close(ctx); err == nil && cerr != nil {
		return cerr
	}
	if err != nil {
		return err
	}
	out.Release()
	return nil
}
