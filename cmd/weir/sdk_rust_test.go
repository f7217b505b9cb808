package main

// Integration test of the Rust SDK's examples: built with sdk/rust/build.sh
// (through guesttest), run to FINISHED on a real cluster, their output
// checked against an expectation computed here from the input.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

// rustBid is a row of the currency example's input and output; nil is null.
type rustBid struct {
	Auction  *int64   `json:"auction"`
	Bidder   *int64   `json:"bidder"`
	Price    *float64 `json:"price"`
	DateTime any      `json:"date_time"`
}

// rustBids writes n bids to dir/bids.jsonl: auctions drawn from a range that
// includes the default ids of the currency example, some auctions and
// prices null.
func rustBids(t *testing.T, dir string, n int) (string, []rustBid) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 5))
	ids := []int64{1007, 1020, 2001, 2019, 2087, 1008, 1500, 2000, 3001, -7}
	bids := make([]rustBid, 0, n)
	var b strings.Builder
	for i := range n {
		a := ids[rng.IntN(len(ids))]
		bidder := int64(1000 + rng.IntN(40))
		price := float64(rng.IntN(1000000)) / 100
		r := rustBid{Auction: &a, Bidder: &bidder, Price: &price, DateTime: float64(1700000000000 + int64(i)*1375)}
		if rng.IntN(30) == 0 {
			r.Auction = nil
		}
		if rng.IntN(20) == 0 {
			r.Price = nil
		}
		line, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
		bids = append(bids, r)
	}
	path := filepath.Join(dir, "bids.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, bids
}

// rustBidLine is a bid as a comparable line, the price by its exact bits.
func rustBidLine(b rustBid, ms int64) string {
	i := func(p *int64) string {
		if p == nil {
			return "null"
		}
		return fmt.Sprint(*p)
	}
	price := "null"
	if b.Price != nil {
		price = fmt.Sprintf("%b", *b.Price)
	}
	return fmt.Sprintf("%s %s %s %d", i(b.Auction), i(b.Bidder), price, ms)
}

// rustExpectCurrency is the currency job's output computed here: the bids on
// auctions (null auctions dropped), prices × rate, nulls kept.
func rustExpectCurrency(bids []rustBid, rate float64, auctions []int64) []string {
	var out []string
	for _, b := range bids {
		if b.Auction == nil || !slices.Contains(auctions, *b.Auction) {
			continue
		}
		r := b
		if b.Price != nil {
			p := *b.Price * rate
			r.Price = &p
		}
		out = append(out, rustBidLine(r, int64(b.DateTime.(float64))))
	}
	slices.Sort(out)
	return out
}

// rustMillis reads a date_time written by the file sink: milliseconds or an
// RFC 3339 text.
func rustMillis(t *testing.T, v any) int64 {
	t.Helper()
	switch d := v.(type) {
	case float64:
		return int64(d)
	case string:
		ts, err := time.Parse(time.RFC3339Nano, d)
		if err != nil {
			t.Fatalf("date_time %q: %v", d, err)
		}
		return ts.UnixMilli()
	}
	t.Fatalf("date_time %v (%T)", v, v)
	return 0
}

// rustReadBids reads the committed part files of dir as sorted lines.
func rustReadBids(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "part-*"))
	if len(files) == 0 {
		t.Fatalf("no part files in %s", dir)
	}
	var got []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var b rustBid
			if err := json.Unmarshal(sc.Bytes(), &b); err != nil {
				t.Fatalf("%s: %v: %s", f, err, sc.Text())
			}
			got = append(got, rustBidLine(b, rustMillis(t, b.DateTime)))
		}
		fh.Close()
	}
	slices.Sort(got)
	return got
}

// rustRun submits a stored module with args at parallelism p and waits
// for the job to finish.
func rustRun(t *testing.T, c *cluster, module string, p int, args ...string) string {
	t.Helper()
	req, err := json.Marshal(map[string]any{"parallelism": p, "programArgs": args})
	if err != nil {
		t.Fatal(err)
	}
	id := c.submit(t, module, string(req))
	waitFor(t, 2*time.Minute, "job "+id+" to finish", func() bool {
		switch st := c.job(t, id).State; st {
		case "FINISHED":
			return true
		case "FAILED", "CANCELED":
			t.Fatalf("job %s (%v) is %s", id, args, st)
		}
		return false
	})
	return id
}

func TestSDKRustExamples(t *testing.T) {
	c := startCluster(t, 2, 2)
	_, examples := guesttest.BuildRust(t)
	currency := c.upload(t, filepath.Join(examples, "currency.wasm"))
	wordcount := c.upload(t, filepath.Join(examples, "wordcount.wasm"))
	dir := t.TempDir()
	input, bids := rustBids(t, dir, 4000)

	for _, tc := range []struct {
		name     string
		args     []string
		rate     float64
		auctions []int64
	}{
		{"currency/defaults", nil, 0.908, []int64{1007, 1020, 2001, 2019, 2087}},
		{"currency/rate_and_auctions", []string{"--rate", "1.25", "--auctions", "3001, -7,1500"}, 1.25, []int64{3001, -7, 1500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tc.name, "/", "-"))
			rustRun(t, c, currency, 2, append([]string{"--input", input, "--output", out}, tc.args...)...)
			got, want := rustReadBids(t, out), rustExpectCurrency(bids, tc.rate, tc.auctions)
			if len(want) == 0 {
				t.Fatal("the input selects no bids: the test proves nothing")
			}
			if !slices.Equal(got, want) {
				t.Errorf("%d rows, want %d", len(got), len(want))
				for i := 0; i < min(len(got), len(want)); i++ {
					if got[i] != want[i] {
						t.Fatalf("first difference at sorted row %d:\n got %s\nwant %s", i, got[i], want[i])
					}
				}
			}
		})
	}

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
		id := rustRun(t, c, wordcount, 4, "--input", text, "--output", out)
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
