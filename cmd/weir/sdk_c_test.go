package main

// Tests of the C SDK (sdk/c), its examples (examples/c) and the minimal WAT
// module (sdk/wat), all built by sdk/c/build.sh through guesttest.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/internal/guesttest"
	"github.com/weirflow/weir/wasm"
	"github.com/weirflow/weir/wasm/conformance"
	"github.com/weirflow/weir/worker"
)

// cExample is an example of examples/c with an input to run it on and a
// check of its output against an expectation computed here.
type cExample struct {
	name string
	// setup writes the input into dir and returns the program arguments
	// and the check of the output of the finished job.
	setup func(t *testing.T, dir string) (args []string, check func(t *testing.T, job clusterJob))
}

var cExamples = []cExample{
	{name: "scale", setup: cScaleSetup},
	{name: "wide", setup: cWideSetup},
}

// cWideSetup runs a bounded wide job: 4 keys × 500 rows through 3 maps into
// a blackhole sink, whose output is the records each vertex wrote.
func cWideSetup(_ *testing.T, _ string) ([]string, func(t *testing.T, job clusterJob)) {
	return []string{"--vertices", "5", "--keys", "4", "--count", "500", "--rate", "0"}, func(t *testing.T, job clusterJob) {
		steps := 0
		for _, v := range job.Vertices {
			if strings.Contains(v.Name, "step") {
				steps++
				if v.Metrics.WriteRecords != 2000 {
					t.Errorf("vertex %s wrote %d records, want 2000", v.Name, v.Metrics.WriteRecords)
				}
			}
		}
		if steps != 3 {
			t.Errorf("%d step vertices, want 3: %+v", steps, job.Vertices)
		}
	}
}

// cScaleSetup writes 2000 values of x (every 13th null) and expects
// y = x × -0.75 in their place.
func cScaleSetup(t *testing.T, dir string) ([]string, func(t *testing.T, job clusterJob)) {
	rng := rand.New(rand.NewPCG(9, 10))
	var in bytes.Buffer
	want := map[string]int{}
	for i := range 2000 {
		var x *float64
		if i%13 != 5 {
			x = cPtr(rng.NormFloat64() * 1000)
		}
		line, err := json.Marshal(map[string]*float64{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		in.Write(line)
		in.WriteByte('\n')
		key := "null"
		if x != nil {
			key = fmt.Sprintf("%#x", math.Float64bits(*x*-0.75))
		}
		want[key]++
	}
	input := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(input, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	output := filepath.Join(dir, "out")
	return []string{"--input", input, "--output", output, "--factor", "-0.75"}, func(t *testing.T, _ clusterJob) {
		got := map[string]int{}
		for _, line := range readParts(t, output) {
			var row struct{ Y *float64 }
			if err := json.Unmarshal([]byte(line), &row); err != nil {
				t.Fatalf("output line %s: %v", line, err)
			}
			key := "null"
			if row.Y != nil {
				key = fmt.Sprintf("%#x", math.Float64bits(*row.Y))
			}
			got[key]++
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%d distinct outputs, want %d (null: %d, want %d)", len(got), len(want), got["null"], want["null"])
		}
	}
}

func cPtr[T any](v T) *T { return &v }

// TestSDKCExamples runs every C example on a real cluster (a JobManager and
// two TaskManagers) at parallelism 2 until FINISHED and checks its output.
func TestSDKCExamples(t *testing.T) {
	_, dir := guesttest.BuildC(t)
	c := startCluster(t, 2, 2)
	t.Run("currency", func(t *testing.T) {
		checkCurrencyExample(t, c, c.upload(t, filepath.Join(dir, "currency.wasm")))
	})
	for _, ex := range cExamples {
		t.Run(ex.name, func(t *testing.T) {
			id := c.upload(t, filepath.Join(dir, ex.name+".wasm"))
			args, check := ex.setup(t, t.TempDir())
			job := runFinished(t, c, id, 2, args...)
			d := c.job(t, job)
			for _, v := range d.Vertices {
				if v.Status != "FINISHED" {
					t.Errorf("vertex %s is %s", v.Name, v.Status)
				}
			}
			check(t, d)
		})
	}
}

// cRunLocal runs a job module in this process like `weir try` and returns
// its output rows as JSON lines.
func cRunLocal(t *testing.T, path string, args []string) []string {
	t.Helper()
	ctx := context.Background()
	rt, _, in, plan, err := loadJob(ctx, path, args)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	var rows []string
	err = worker.RunLinear(ctx, in, plan, worker.LocalOptions{BatchRows: 7, Output: func(rec arrow.Record) error {
		js, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		var rs []json.RawMessage
		if err := json.Unmarshal(js, &rs); err != nil {
			return err
		}
		for _, r := range rs {
			rows = append(rows, string(r))
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestSDKCCurrencyMatchesGo checks that the C currency example has the Go
// example's plan (as JSON) and plan-time errors for the same arguments, and
// produces the same rows in the same order from the sample bids.
func TestSDKCCurrencyMatchesGo(t *testing.T) {
	_, dir := guesttest.BuildC(t)
	cPath := filepath.Join(dir, "currency.wasm")
	goPath := exampleModule(t, "./currency")
	sample := filepath.Join(guesttest.RepoRoot(t), "examples", "currency", "bids.jsonl")
	ctx := context.Background()
	rt, err := wasm.NewRuntime(ctx, wasm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	mods := map[string]*wasm.Module{} // compiled once each
	for _, path := range []string{cPath, goPath} {
		bin, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if mods[path], err = rt.Load(ctx, filepath.Base(path), bin); err != nil {
			t.Fatal(err)
		}
	}
	plan := func(path string, args []string) (any, error) {
		in, err := mods[path].Instantiate(ctx, wasm.InstanceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close(ctx)
		raw, err := in.Plan(ctx, args)
		if err != nil {
			var ce *wasm.CallError
			if errors.As(err, &ce) {
				return nil, errors.New(ce.Message)
			}
			return nil, err
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("plan %s: %v", raw, err)
		}
		return v, nil
	}
	for _, args := range [][]string{
		nil,
		{"--input", "x.jsonl", "--output", "o"},
		{"--rate", "1.25", "--auctions", " 5, 3,5"},
		{"-rate=2", "--", "--ignored"},
		{"--rate", "abc"},
		{"--rate", "-1"},
		{"--auctions", "1,two"},
		{"--auctions", ", ,"},
		{"--unknown", "1"},
		{"--input"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cPlan, cErr := plan(cPath, args)
			goPlan, goErr := plan(goPath, args)
			if fmt.Sprint(cErr) != fmt.Sprint(goErr) {
				t.Fatalf("C error %v, Go error %v", cErr, goErr)
			}
			if !reflect.DeepEqual(cPlan, goPlan) {
				cj, _ := json.Marshal(cPlan)
				gj, _ := json.Marshal(goPlan)
				t.Fatalf("plans differ:\n   C %s\n  Go %s", cj, gj)
			}
		})
	}
	for _, args := range [][]string{
		{"--input", sample},
		{"--input", sample, "--rate", "1.5", "--auctions", "1500,1007,9999"},
	} {
		cRows, goRows := cRunLocal(t, cPath, args), cRunLocal(t, goPath, args)
		if len(cRows) == 0 || !slices.Equal(cRows, goRows) {
			t.Errorf("%v: C rows\n%s\nGo rows\n%s", args, strings.Join(cRows, "\n"), strings.Join(goRows, "\n"))
		}
	}
}

// cRunVectors runs every ABI vector against a module.
func cRunVectors(t *testing.T, name string, bin []byte, dir string) ([]conformance.Case, []conformance.Result) {
	t.Helper()
	ctx := context.Background()
	cases, err := conformance.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { alloc.AssertSize(t, 0) })
	rt, err := wasm.NewRuntime(ctx, wasm.Config{Allocator: alloc})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	mod, err := rt.Load(ctx, name, bin)
	if err != nil {
		t.Fatal(err)
	}
	return cases, conformance.Run(ctx, mod, cases, alloc)
}

func cVectorsDir(t *testing.T) string {
	return filepath.Join(guesttest.RepoRoot(t), "abi", "testdata", "vectors")
}

// TestSDKCConformance runs every vector against the C conformance module,
// and against its build with undefined-behaviour checks that trap.
func TestSDKCConformance(t *testing.T) {
	for _, m := range []string{"sdk/conformance-c.wasm", "sdk/c-test/conformance-ubsan.wasm"} {
		t.Run(filepath.Base(m), func(t *testing.T) {
			cases, results := cRunVectors(t, filepath.Base(m), guesttest.BuildCFile(t, m), cVectorsDir(t))
			if len(cases) < 100 {
				t.Fatalf("only %d vectors", len(cases))
			}
			for _, r := range results {
				if !r.Pass {
					t.Errorf("%s (%s): %s", r.Case, r.File, r.Diff)
				}
			}
		})
	}
}

// TestSDKCUnit runs the SDK's unit tests (sdk/c/weir_test.c, a WASI command
// built with undefined-behaviour traps) under wazero with the weir imports.
func TestSDKCUnit(t *testing.T) {
	ctx := context.Background()
	bin := guesttest.BuildCFile(t, "sdk/c-test/unit.wasm")
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	var logs, errs []string
	read := func(m api.Module, p, n uint32) string {
		b, ok := m.Memory().Read(p, n)
		if !ok {
			t.Errorf("weir import: %d bytes at %d are out of memory", n, p)
		}
		return string(b)
	}
	_, err := r.NewHostModuleBuilder("weir").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, p, n uint32) {
		errs = append(errs, read(m, p, n))
	}).Export("error").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, level, p, n uint32) {
		logs = append(logs, fmt.Sprintf("%d %s", level, read(m, p, n)))
	}).Export("log").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, err = r.InstantiateWithConfig(ctx, bin, wazero.NewModuleConfig().WithStdout(&out).WithStderr(&out).WithName("unit"))
	var exit *sys.ExitError
	if cleanExit := errors.As(err, &exit) && exit.ExitCode() == 0; err != nil && !cleanExit {
		t.Fatalf("weir_test: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "weir_test: ") || !strings.Contains(out.String(), ", 0 failed") {
		t.Fatalf("weir_test output:\n%s", out.String())
	}
	t.Log(strings.TrimSpace(out.String()))
	if !slices.Contains(logs, "1 weir_test log check: 42") || !slices.Contains(logs, "2 "+strings.Repeat("L", 3000)) {
		t.Errorf("logs %q", logs)
	}
	if len(errs) < 20 {
		t.Errorf("only %d errors reported through weir.error", len(errs))
	}
}

// TestSDKCNoLeaks opens, runs and closes operators of every kind many times
// in one instance of the C conformance module through the host: once warm,
// the guest memory must not grow.
func TestSDKCNoLeaks(t *testing.T) {
	ctx := context.Background()
	alloc := memory.NewGoAllocator()
	rt, err := wasm.NewRuntime(ctx, wasm.Config{Allocator: alloc})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	mod, err := rt.Load(ctx, "conformance-c", guesttest.BuildCFile(t, "sdk/conformance-c.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := mod.Instantiate(ctx, wasm.InstanceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(ctx)

	const n = 5000
	rng := rand.New(rand.NewPCG(3, 4))
	fb := array.NewFloat64Builder(alloc)
	ib := array.NewInt64Builder(alloc)
	sb := array.NewStringBuilder(alloc)
	keys := make([]int32, n)
	for i := range n {
		if i%9 == 4 {
			fb.AppendNull()
			ib.AppendNull()
			sb.AppendNull()
		} else {
			fb.Append(rng.Float64())
			ib.Append(rng.Int64N(100))
			sb.Append(strings.Repeat("word, ", rng.IntN(5)))
		}
		keys[i] = int32(i % 50)
	}
	rec := func(name string, b array.Builder) arrow.Record {
		defer b.Release()
		col := b.NewArray()
		defer col.Release()
		return array.NewRecord(arrow.NewSchema([]arrow.Field{{Name: name, Type: col.DataType(), Nullable: true}}, nil), []arrow.Array{col}, n)
	}
	xs, ks, lines := rec("x", fb), rec("key", ib), rec("line", sb)
	defer xs.Release()
	defer ks.Release()
	defer lines.Release()
	stateType := arrow.StructOf(arrow.Field{Name: "count", Type: arrow.PrimitiveTypes.Int64, Nullable: true})
	stb := array.NewStructBuilder(alloc, stateType)
	for range 50 {
		stb.AppendNull()
	}
	state0 := stb.NewStructArray()
	stb.Release()
	defer state0.Release()
	xi := array.NewRecord(arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil), ks.Columns(), n)
	defer xi.Release()

	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	round := func() {
		op, err := in.Open(ctx, abi.KindMap, "scale_f64", "0.908", xs.Schema())
		check(err)
		out, err := op.Map(ctx, xs)
		check(err)
		out.Release()
		check(op.Close(ctx))

		op, err = in.Open(ctx, abi.KindFlatMap, "tokenize", "", lines.Schema())
		check(err)
		out, err = op.Map(ctx, lines)
		check(err)
		out.Release()
		check(op.Close(ctx))

		op, err = in.Open(ctx, abi.KindFilter, "gt_i64", "50", xi.Schema())
		check(err)
		out, err = op.Filter(ctx, xi)
		check(err)
		out.Release()
		check(op.Close(ctx))

		op, err = in.Open(ctx, abi.KindProcess, "count", "", ks.Schema())
		check(err)
		out, st, err := op.Process(ctx, ks, keys, state0)
		check(err)
		out.Release()
		out, st2, err := op.Process(ctx, ks, keys, st)
		check(err)
		out.Release()
		st.Release()
		st2.Release()
		check(op.Close(ctx))

		op, err = in.Open(ctx, abi.KindAggregate, "sum_i64", "", xi.Schema())
		check(err)
		acc, err := op.AggCreate(ctx, 50)
		check(err)
		acc2, err := op.AggAdd(ctx, acc, xi, keys)
		check(err)
		merged, err := op.AggMerge(ctx, acc2, acc2, keys[:50])
		check(err)
		res, err := op.AggResult(ctx, merged)
		check(err)
		for _, a := range []interface{ Release() }{acc, acc2, merged, res} {
			a.Release()
		}
		check(op.Close(ctx))

		op, err = in.Open(ctx, abi.KindMap, "fail", "boom", xs.Schema())
		check(err)
		if _, err := op.Map(ctx, xs); err == nil || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("fail: %v", err)
		}
		check(op.Close(ctx))
		if _, err := in.Open(ctx, abi.KindMap, "scale_f64", "nope", xs.Schema()); err == nil {
			t.Fatal("scale_f64 opened with params nope")
		}
	}
	for range 30 {
		round()
	}
	warm := in.MemorySize()
	for range 300 {
		round()
	}
	if got := in.MemorySize(); got != warm {
		t.Errorf("guest memory grew from %d to %d bytes over 300 rounds", warm, got)
	}
}

// TestSDKWATMinimal runs the vectors against sdk/wat/minimal.wat: every
// identity case passes, and every other case fails naming the missing
// function or operator kind. `weir abi check` has no filter by function; its
// --vectors flag restricts the check to the vector files of a directory.
func TestSDKWATMinimal(t *testing.T) {
	bin := guesttest.BuildCFile(t, "sdk/minimal-wat.wasm")
	cases, results := cRunVectors(t, "minimal-wat", bin, cVectorsDir(t))
	identity := 0
	for i, r := range results {
		c := cases[i]
		if c.Function == "identity" {
			identity++
			if !r.Pass {
				t.Errorf("%s: %s", r.Case, r.Diff)
			}
			continue
		}
		if r.Pass {
			// openError cases pass when the failure happens to contain the
			// expected substring (the function or column name)
			if c.OpenError == "" {
				t.Errorf("%s passed without the function", r.Case)
			}
			continue
		}
		// (the harness quotes open errors with %q, escaping the quotes)
		named := strings.Contains(r.Diff, `function "`+c.Function+`"`) || strings.Contains(r.Diff, `function \"`+c.Function+`\"`)
		clear := named && strings.Contains(r.Diff, "is not in this module (it has: identity)")
		if !clear && !strings.Contains(r.Diff, "module lacks the exports of") {
			t.Errorf("%s fails unclearly: %s", r.Case, r.Diff)
		}
	}
	if identity < 40 {
		t.Fatalf("only %d identity vectors", identity)
	}

	// The CLI over the identity vectors only, as JSON.
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(cVectorsDir(t), "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "identity.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	module := filepath.Join(t.TempDir(), "minimal-wat.wasm")
	if err := os.WriteFile(module, bin, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runABI(context.Background(), []string{"check", "--json", "--vectors", dir, module}, &out); err != nil {
		t.Fatalf("abi check --vectors identity: %v\n%s", err, out.String())
	}
	var report struct {
		Passed, Failed int
	}
	if err := json.Unmarshal(out.Bytes(), &report); err != nil || report.Passed != identity || report.Failed != 0 {
		t.Errorf("abi check --json: %+v, %v\n%s", report, err, out.String())
	}
	// Over every vector the CLI fails and says why for each case.
	out.Reset()
	err = runABI(context.Background(), []string{"check", module}, &out)
	if !errors.Is(err, errFailed) || !strings.Contains(out.String(), `function "scale_f64" is not in this module (it has: identity)`) {
		t.Errorf("abi check over every vector: %v\n%s", err, out.String())
	}

	// The fixed plan.
	ctx := context.Background()
	rt, err := wasm.NewRuntime(ctx, wasm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	mod, err := rt.Load(ctx, "minimal-wat", bin)
	if err != nil {
		t.Fatal(err)
	}
	in, err := mod.Instantiate(ctx, wasm.InstanceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := in.Plan(ctx, []string{"--ignored"})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := abi.DecodePlan(raw)
	if err != nil || plan.Name != "minimal" || len(plan.Nodes) != 3 {
		t.Errorf("plan %s: %v", raw, err)
	}
	// Open and close many operators: the bump allocator is given back
	// nothing, but the host's regions are reused, so memory stays bounded.
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewInt64Builder(memory.DefaultAllocator)
	b.AppendValues([]int64{1, 2, 3}, nil)
	col := b.NewArray()
	rec := array.NewRecord(schema, []arrow.Array{col}, 3)
	col.Release()
	defer rec.Release()
	op, err := in.Open(ctx, abi.KindMap, "identity", "", schema)
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		out, err := op.Map(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		if out.NumRows() != 3 || out.Column(0).(*array.Int64).Value(2) != 3 {
			t.Fatalf("identity output %v", out)
		}
		out.Release()
	}
	if err := op.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := in.MemorySize(); got > 1<<20 {
		t.Errorf("memory grew to %d bytes", got)
	}
}

// TestSDKAuthorsGuide keeps docs/sdk-authors.md and sdk/c/README.md true to
// the code: every code block marked `<!-- snippet: PATH -->` must occur in
// the file PATH, its parts between `...` lines verbatim and in order; the
// block marked `<!-- output: abi check --json identity minimal-wat -->` must
// be lines of that command's real output, in order.
func TestSDKAuthorsGuide(t *testing.T) {
	root := guesttest.RepoRoot(t)
	var jsonOut []string
	for _, doc := range []string{"docs/sdk-authors.md", "sdk/c/README.md"} {
		text, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(text), "\n")
		blocks := 0
		for i := 0; i < len(lines); i++ {
			marker := strings.TrimSpace(lines[i])
			if !strings.HasPrefix(marker, "<!-- snippet: ") && !strings.HasPrefix(marker, "<!-- output: ") {
				continue
			}
			if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
				t.Fatalf("%s:%d: the marker is not followed by a code block", doc, i+1)
			}
			var block []string
			j := i + 2
			for ; j < len(lines) && !strings.HasPrefix(lines[j], "```"); j++ {
				block = append(block, lines[j])
			}
			at := fmt.Sprintf("%s:%d", doc, i+1)
			i = j
			blocks++
			if strings.HasPrefix(marker, "<!-- output: ") {
				if marker != "<!-- output: abi check --json identity minimal-wat -->" {
					t.Fatalf("%s: unknown output %s", at, marker)
				}
				if jsonOut == nil {
					jsonOut = cIdentityReport(t)
				}
				k := 0
				for _, l := range block {
					if strings.TrimSpace(l) == "..." {
						continue
					}
					for k < len(jsonOut) && jsonOut[k] != l {
						k++
					}
					if k == len(jsonOut) {
						t.Errorf("%s: line %q is not in the output (in order):\n%s", at, l, strings.Join(jsonOut[:min(len(jsonOut), 20)], "\n"))
						break
					}
					k++
				}
				continue
			}
			path := strings.TrimSuffix(strings.TrimPrefix(marker, "<!-- snippet: "), " -->")
			src, err := os.ReadFile(filepath.Join(root, path))
			if err != nil {
				t.Fatalf("%s: %v", at, err)
			}
			// split at elisions; each part must occur after the previous one
			var parts [][]string
			cur := []string{}
			for _, l := range block {
				if strings.TrimSpace(l) == "..." {
					parts = append(parts, cur)
					cur = []string{}
					continue
				}
				cur = append(cur, l)
			}
			parts = append(parts, cur)
			rest := string(src)
			for _, p := range parts {
				if len(p) == 0 {
					continue
				}
				chunk := strings.Join(p, "\n") + "\n"
				k := strings.Index(rest, chunk)
				if k < 0 {
					t.Errorf("%s: this part of the block is not in %s:\n%s", at, path, chunk)
					break
				}
				rest = rest[k+len(chunk):]
			}
		}
		if blocks == 0 {
			t.Errorf("%s has no checked blocks", doc)
		}
		// links to sections of the SPEC point at existing headings
		for _, m := range cSpecLink.FindAllStringSubmatch(string(text), -1) {
			if !cSpecAnchors(t, root)[m[1]] {
				t.Errorf("%s: link to abi/SPEC.md#%s: no such heading", doc, m[1])
			}
		}
	}
}

var cSpecLink = regexp.MustCompile(`\]\((?:\.\./)+abi/SPEC\.md#([^)]+)\)`)

// cSpecAnchors returns the GitHub anchors of the headings of abi/SPEC.md.
func cSpecAnchors(t *testing.T, root string) map[string]bool {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(root, "abi", "SPEC.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(text), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var b strings.Builder
		for _, r := range title {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}

// cIdentityReport runs `weir abi check --json` over the identity vectors
// against the minimal WAT module and returns the lines of its output.
func cIdentityReport(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(cVectorsDir(t), "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "identity.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	module := filepath.Join(t.TempDir(), "minimal-wat.wasm")
	if err := os.WriteFile(module, guesttest.BuildCFile(t, "sdk/minimal-wat.wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runABI(context.Background(), []string{"check", "--json", "--vectors", dir, module}, &out); err != nil {
		t.Fatalf("abi check: %v\n%s", err, out.String())
	}
	return strings.Split(out.String(), "\n")
}
