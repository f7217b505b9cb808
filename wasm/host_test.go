package wasm

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/abi"
)

// logBuffer collects the runtime's log so tests can assert on guest output.
type logBuffer struct{ bytes.Buffer }

func newTestRuntime(t testing.TB, mutate func(*Config)) (*Runtime, *memory.CheckedAllocator, *logBuffer) {
	t.Helper()
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	logs := &logBuffer{}
	cfg := Config{
		Allocator: alloc,
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	rt, err := NewRuntime(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return rt, alloc, logs
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// instantiate loads a testdata module (named after its file) and returns an
// instance that is closed when the test ends.
func instantiate(t testing.TB, rt *Runtime, file string, opts InstanceOptions) *Instance {
	t.Helper()
	ctx := context.Background()
	mod, err := rt.Load(ctx, strings.TrimSuffix(filepath.Base(file), ".wasm"), readTestdata(t, file))
	if err != nil {
		t.Fatal(err)
	}
	in, err := mod.Instantiate(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(ctx) })
	return in
}

// open opens a function of an instance or fails the test.
func open(t testing.TB, in *Instance, kind abi.Kind, function, params string, schema *arrow.Schema) *Operator {
	t.Helper()
	op, err := in.Open(context.Background(), kind, function, params, schema)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func int64Batch(alloc memory.Allocator, name string, vals []int64, valid []bool) arrow.Record {
	schema := arrow.NewSchema([]arrow.Field{{Name: name, Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	b := array.NewRecordBuilder(alloc, schema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues(vals, valid)
	return b.NewRecord()
}

func TestMinimalGuest(t *testing.T) {
	for _, mode := range []string{"flag", "context"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			rt, alloc, _ := newTestRuntime(t, func(c *Config) { c.Interrupt = mode })
			defer alloc.AssertSize(t, 0)
			mod, err := rt.Load(ctx, "minimal", readTestdata(t, "minimal.wasm"))
			if err != nil {
				t.Fatal(err)
			}
			in, err := mod.Instantiate(ctx, InstanceOptions{Job: "j", Task: "t"})
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close(ctx)
			planJSON, err := in.Plan(ctx, []string{"--a", "b"})
			if err != nil {
				t.Fatal(err)
			}
			plan, err := abi.DecodePlan(planJSON)
			if err != nil {
				t.Fatalf("%v\n%s", err, planJSON)
			}
			if len(plan.Nodes) != 3 {
				t.Fatalf("plan has %d nodes", len(plan.Nodes))
			}
			rec := int64Batch(alloc, "x", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []bool{true, false, true, true, true, true, true, true, true, false})
			defer rec.Release()
			op, err := in.Open(ctx, abi.KindMap, "add_one_i64", "", rec.Schema())
			if err != nil {
				t.Fatal(err)
			}
			for _, slice := range [][2]int64{{0, 10}, {3, 10}, {1, 2}, {0, 0}} {
				part := rec.NewSlice(slice[0], slice[1])
				out, err := op.Map(ctx, part)
				if err != nil {
					t.Fatal(err)
				}
				col := out.Column(0).(*array.Int64)
				src := part.Column(0).(*array.Int64)
				if out.ColumnName(0) != "y" || col.Len() != src.Len() {
					t.Fatalf("got %v", out)
				}
				for i := 0; i < src.Len(); i++ {
					if src.IsNull(i) != col.IsNull(i) || (!src.IsNull(i) && col.Value(i) != src.Value(i)+1) {
						t.Fatalf("slice %v row %d: got %v from %v", slice, i, col, src)
					}
				}
				out.Release()
				part.Release()
			}
			if _, err := in.Open(ctx, abi.KindMap, "nope", "", rec.Schema()); !errors.Is(err, ErrGuest) || !strings.Contains(err.Error(), "nope") {
				t.Fatalf("unknown function: %v", err)
			}
			if err := op.Close(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCallBudgetRestoresAfterFastCall(t *testing.T) {
	// A budget shorter than nothing the guest does must not leave the
	// interrupt flag set for the next call.
	ctx := context.Background()
	rt, alloc, _ := newTestRuntime(t, func(c *Config) { c.CallBudget = time.Second })
	defer alloc.AssertSize(t, 0)
	mod, err := rt.Load(ctx, "minimal", readTestdata(t, "minimal.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := mod.Instantiate(ctx, InstanceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(ctx)
	rec := int64Batch(alloc, "x", []int64{1}, nil)
	defer rec.Release()
	op, err := in.Open(ctx, abi.KindMap, "identity_i64", "", rec.Schema())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		out, err := op.Map(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		out.Release()
	}
}

// TestModuleCache: one compiled module per sha256 within a runtime, and the
// cache directory lets a second runtime (a restarted process) reuse the
// machine code.
func TestModuleCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rt1, _, _ := newTestRuntime(t, func(c *Config) { c.CacheDir = dir })
	bin := readTestdata(t, "minimal.wasm")
	a, err := rt1.Load(ctx, "a", bin)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rt1.Load(ctx, "b", append([]byte(nil), bin...))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("the same bytes compiled twice")
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("cache dir is empty (%v)", err)
	}
	rt2, _, _ := newTestRuntime(t, func(c *Config) { c.CacheDir = dir })
	if _, err := rt2.Load(ctx, "a", bin); err != nil {
		t.Fatalf("load from the cache: %v", err)
	}
	if _, err := NewRuntime(ctx, Config{CacheDir: "/proc/nonexistent/cache"}); err == nil {
		t.Fatal("an unusable cache dir was accepted")
	}
	if _, err := NewRuntime(ctx, Config{Interrupt: "sometimes"}); err == nil {
		t.Fatal("an unknown interrupt mode was accepted")
	}
	if _, err := NewRuntime(ctx, Config{MemoryLimit: 1}); err == nil {
		t.Fatal("a 1-byte memory limit was accepted")
	}
}
