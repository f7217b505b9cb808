package main

// Integration test of the AssemblyScript SDK's examples: built with
// sdk/assemblyscript/build.sh (through guesttest), run on a real cluster,
// their output checked against an expectation computed here.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirflow/weir/internal/guesttest"
)

// bid is a row of the currency example's input and output; nil is null.
type bid struct {
	Auction  *int64   `json:"auction"`
	Bidder   *int64   `json:"bidder"`
	Price    *float64 `json:"price"`
	DateTime any      `json:"date_time"`
}

// currencyInput writes n bids: auctions drawn from a small range that
// includes the default auction ids, with some null auctions and prices.
func currencyInput(t *testing.T, dir string, n int) (string, []bid) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	ids := []int64{1007, 1020, 2001, 2019, 2087, 1000, 1500, 2000, 3001, -5}
	var bids []bid
	var b strings.Builder
	for i := range n {
		a := ids[rng.IntN(len(ids))]
		bd := int64(1000 + rng.IntN(50))
		p := float64(rng.IntN(100000)) / 100
		r := bid{Auction: &a, Bidder: &bd, Price: &p, DateTime: float64(1700000000000 + int64(i)*1375)}
		if rng.IntN(25) == 0 {
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

// expectCurrency computes the currency job's output: the bids on the given
// auctions (null auctions dropped), prices times rate (nulls stay null),
// each as its canonical line.
func expectCurrency(bids []bid, rate float64, auctions []int64) []string {
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
		out = append(out, canonicalBid(r, int64(b.DateTime.(float64))))
	}
	slices.Sort(out)
	return out
}

func canonicalBid(b bid, ms int64) string {
	s := func(p *int64) string {
		if p == nil {
			return "null"
		}
		return fmt.Sprint(*p)
	}
	price := "null"
	if b.Price != nil {
		price = fmt.Sprintf("%b", *b.Price) // exact bits
	}
	return fmt.Sprintf("%s %s %s %d", s(b.Auction), s(b.Bidder), price, ms)
}

// dateMillis reads a date_time the file sink wrote: milliseconds, or an
// RFC 3339 text.
func dateMillis(t *testing.T, v any) int64 {
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

// readCurrency reads the committed part files of dir as canonical lines.
func readCurrency(t *testing.T, dir string) []string {
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
			var b bid
			if err := json.Unmarshal(sc.Bytes(), &b); err != nil {
				t.Fatalf("%s: %v: %s", f, err, sc.Text())
			}
			got = append(got, canonicalBid(b, dateMillis(t, b.DateTime)))
		}
		fh.Close()
	}
	slices.Sort(got)
	return got
}

func TestSDKAssemblyScriptExamples(t *testing.T) {
	c := startCluster(t, 2, 2)
	_, examples := guesttest.BuildAssemblyScript(t)
	currency := c.upload(t, filepath.Join(examples, "currency.wasm"))
	dir := t.TempDir()
	input, bids := currencyInput(t, dir, 5000)

	for _, tc := range []struct {
		name     string
		args     []string
		p        int
		rate     float64
		auctions []int64
	}{
		{"currency/defaults", nil, 1, 0.908, []int64{1007, 1020, 2001, 2019, 2087}},
		{"currency/rate_and_auctions", []string{"--rate", "1.25", "--auctions", "2001, 1500,-5,1500"}, 2, 1.25, []int64{2001, 1500, -5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{"--input", input, "--output", out}, tc.args...)
			req, _ := json.Marshal(map[string]any{"parallelism": tc.p, "programArgs": args})
			id := c.submit(t, currency, string(req))
			waitFor(t, 2*time.Minute, "the currency job to finish", func() bool {
				st := c.job(t, id).State
				if st == "FAILED" || st == "CANCELED" {
					t.Fatalf("job %s is %s", id, st)
				}
				return st == "FINISHED"
			})
			want := expectCurrency(bids, tc.rate, tc.auctions)
			got := readCurrency(t, out)
			if len(want) < 100 {
				t.Fatalf("the input selects only %d bids", len(want))
			}
			if len(got) != len(want) {
				t.Fatalf("%d output rows, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("output row %d: %s, want %s", i, got[i], want[i])
				}
			}
		})
	}
}
