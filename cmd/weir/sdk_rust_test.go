package main

// Integration test of the Rust SDK's examples: built with sdk/rust/build.sh
// (through guesttest), run to FINISHED on a real cluster, their output
// checked against an expectation computed here from the input.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/internal/guesttest"
	"github.com/weirflow/weir/wasm"
)

func TestSDKRustExamples(t *testing.T) {
	c := startCluster(t, 2, 2)
	_, examples := guesttest.BuildRust(t)
	currency := c.upload(t, filepath.Join(examples, "currency.wasm"))
	wordcount := c.upload(t, filepath.Join(examples, "wordcount.wasm"))
	dir := t.TempDir()
	checkCurrencyExample(t, c, currency)

	t.Run("currency/bad_rate_fails_at_plan", func(t *testing.T) {
		body := `{"programArgs":["--rate","-3"]}`
		resp, err := http.Post(c.rest+"/wasm/"+currency+"/run", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), `rate \"-3\" is not a positive number`) {
			t.Errorf("run with --rate -3: %d %s", resp.StatusCode, msg)
		}
	})

	t.Run("wordcount", func(t *testing.T) {
		text, want := wordcountInput(t, dir, 5000)
		out := filepath.Join(dir, "wordcount")
		id := runFinished(t, c, wordcount, 4, "--input", text, "--output", out)
		checkWordcount(t, out, want)
		// The keyed count runs at parallelism 4.
		for _, v := range c.job(t, id).Vertices {
			if strings.Contains(v.Name, "count") && len(v.Subtasks) != 4 {
				t.Errorf("vertex %s: %d subtasks, want 4", v.Name, len(v.Subtasks))
			}
		}
	})
}

// TestSDKRustFailures runs the Rust SDK's test guest through the host: a
// panic ends the call with the panic message (the SDK's panic hook writes it
// to stderr and exits, as panics cannot unwind on wasm32), and an error
// returned after logging is a guest error carrying the log lines.
func TestSDKRustFailures(t *testing.T) {
	ctx := context.Background()
	rt, err := wasm.NewRuntime(ctx, wasm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	mod, err := rt.Load(ctx, "testguest.wasm", guesttest.RustTestGuest(t, "testguest"))
	if err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	b := array.NewInt64Builder(memory.DefaultAllocator)
	b.AppendValues([]int64{1, 2}, nil)
	col := b.NewArray()
	defer col.Release()
	rec := array.NewRecord(schema, []arrow.Array{col}, 2)
	defer rec.Release()

	for _, tc := range []struct {
		function, params string
		cause            error
		message          string
		logs             []string
	}{
		{"index_panic", "", wasm.ErrExit,
			"guest exited with code 101: index_panic: panic: index out of bounds: the len is 0 but the index is 5 (at ", nil},
		{"explicit_panic", "two\nlines", wasm.ErrExit,
			"explicit_panic: panic: bad state: two lines (at ", nil},
		{"log_and_fail", "", wasm.ErrGuest, "wasm: guest error: failed after logging 2 rows",
			[]string{"log: debug line 2", "log: info line 2", "log: warn line 2", "log: error line 2"}},
	} {
		t.Run(tc.function, func(t *testing.T) {
			in, err := mod.Instantiate(ctx, wasm.InstanceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close(ctx)
			op, err := in.Open(ctx, abi.KindMap, tc.function, tc.params, schema)
			if err != nil {
				t.Fatal(err)
			}
			out, err := op.Map(ctx, rec)
			if err == nil {
				out.Release()
				t.Fatal("the call succeeded")
			}
			var ce *wasm.CallError
			if !errors.As(err, &ce) || !errors.Is(err, tc.cause) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("error %q (%T), want %v containing %q", err, err, tc.cause, tc.message)
			}
			for _, want := range tc.logs {
				if !slices.Contains(ce.Logs, want) {
					t.Errorf("logs %q lack %q", ce.Logs, want)
				}
			}
		})
	}
}

// TestSDKRustUnitTestsOnWasm runs the Rust SDK's unit tests compiled for
// wasm32-wasi (the C Data structures in their 32-bit layout, the SIMD
// comparisons) as a WASI command in wazero, the engine the host uses.
func TestSDKRustUnitTestsOnWasm(t *testing.T) {
	bin := guesttest.RustTestGuest(t, "sdk-tests")
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	var out bytes.Buffer
	cfg := wazero.NewModuleConfig().WithArgs("weir-sdk-tests", "--test-threads=1").WithStdout(&out).WithStderr(&out)
	_, err := r.InstantiateWithConfig(ctx, bin, cfg)
	var exit *sys.ExitError
	if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 0) {
		t.Fatalf("the SDK's tests failed on wasm32: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "test result: ok.") || strings.Contains(out.String(), " 0 passed") {
		t.Fatalf("no passing test run in the output:\n%s", out.String())
	}
	t.Log(out.String()[strings.LastIndex(out.String(), "test result:"):])
}
