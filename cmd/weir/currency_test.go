package main

// The currency example (Nexmark q1 and q2's filter) in every SDK language:
// its input, its expected output computed here, and one check that runs an
// SDK's build of it on a real cluster. The Go, Rust, C and AssemblyScript
// examples all take the same arguments and write the same rows.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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
	var got []string
	for _, line := range readParts(t, dir) {
		var b bid
		if err := json.Unmarshal([]byte(line), &b); err != nil {
			t.Fatalf("%s: %v: %s", dir, err, line)
		}
		got = append(got, canonicalBid(b, dateMillis(t, b.DateTime)))
	}
	slices.Sort(got)
	return got
}

// readParts returns the lines of the part files a file sink wrote into dir.
func readParts(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "part-*"))
	if len(files) == 0 {
		t.Fatalf("no part files in %s", dir)
	}
	var lines []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return lines
}

// runFinished submits a stored module with args at parallelism p and waits
// for the job to finish; a failed or canceled job fails the test.
func runFinished(t *testing.T, c *cluster, module string, p int, args ...string) string {
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

// checkCurrencyExample runs an SDK's currency example (uploaded as module)
// on 5 000 generated bids with the default arguments at parallelism 1 and
// with its own rate and auctions at parallelism 2, and compares every
// output row, prices by their bits, with the expectation.
func checkCurrencyExample(t *testing.T, c *cluster, module string) {
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
			runFinished(t, c, module, tc.p, append([]string{"--input", input, "--output", out}, tc.args...)...)
			want, got := expectCurrency(bids, tc.rate, tc.auctions), readCurrency(t, out)
			if len(want) < 100 {
				t.Fatalf("the input selects only %d bids", len(want))
			}
			if len(got) != len(want) {
				t.Errorf("%d output rows, want %d", len(got), len(want))
			}
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Fatalf("first difference at sorted row %d:\n got %s\nwant %s", i, got[i], want[i])
				}
			}
		})
	}
}

var localLine = regexp.MustCompile(`Dashboard and REST API: (http://\S+)`)

// startLocal starts `weir local` (etcd, a JobManager and TaskManagers in one
// process, as the README's demo runs it) and returns it as a cluster.
func startLocal(t testing.TB, tms, slots int) *cluster {
	t.Helper()
	c := &cluster{bin: weirBinary(t)}
	c.jm = startProc(t, c.bin, "local", "--rest-addr", "127.0.0.1:0", "--task-managers", strconv.Itoa(tms),
		"--slots", strconv.Itoa(slots), "--data-dir", t.TempDir(), "--log-level", "warn")
	waitFor(t, 60*time.Second, "weir local to serve", func() bool {
		m := localLine.FindStringSubmatch(c.jm.output())
		if m != nil {
			c.rest = m[1]
		}
		return m != nil
	})
	waitFor(t, 30*time.Second, "the TaskManagers to register", func() bool { return c.registered(t) == tms })
	return c
}

// TestLocalExamplesInEveryLanguage runs the currency example of every SDK
// (Go, Rust, C, AssemblyScript) and the Rust wordcount on one `weir local`
// to FINISHED and checks their output; the SDKs' own tests run their
// examples on a cluster of separate processes.
func TestLocalExamplesInEveryLanguage(t *testing.T) {
	c := startLocal(t, 2, 2)
	_, rust := guesttest.BuildRust(t)
	_, cdir := guesttest.BuildC(t)
	_, as := guesttest.BuildAssemblyScript(t)
	for _, tc := range []struct{ lang, module string }{
		{"go", exampleModule(t, "./currency")},
		{"rust", filepath.Join(rust, "currency.wasm")},
		{"c", filepath.Join(cdir, "currency.wasm")},
		{"as", filepath.Join(as, "currency.wasm")},
	} {
		t.Run(tc.lang, func(t *testing.T) { checkCurrencyExample(t, c, c.upload(t, tc.module)) })
	}
	t.Run("rust/wordcount", func(t *testing.T) {
		dir := t.TempDir()
		text, want := wordcountInput(t, dir, 3000)
		out := filepath.Join(dir, "out")
		runFinished(t, c, c.upload(t, filepath.Join(rust, "wordcount.wasm")), 2, "--input", text, "--output", out)
		checkWordcount(t, out, want)
	})
}
