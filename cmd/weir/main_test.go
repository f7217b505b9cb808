package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/weirflow/weir/internal/guesttest"
)

func writeGuest(t *testing.T, module, pkg string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), filepath.Base(pkg)+".wasm")
	if err := os.WriteFile(p, guesttest.BuildGo(t, module, pkg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestTryWordcount runs the wordcount example over its sample text and checks
// every word's largest count against an independent count of the text.
func TestTryWordcount(t *testing.T) {
	root := guesttest.RepoRoot(t)
	job := writeGuest(t, "examples", "./wordcount")
	sample := filepath.Join(root, "examples", "wordcount", "sample.txt")
	code, out, errOut := runCLI(t, "try", "--limit", "100000", job, "--", "--input", sample, "--output", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	text, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, w := range regexp.MustCompile(`[A-Za-z]+`).FindAllString(string(text), -1) {
		want[strings.ToLower(w)]++
	}
	got := map[string]int{}
	for _, line := range strings.Split(out, "\n")[2:] {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("bad line %q", line)
		}
		got[f[0]] = max(got[f[0]], n)
	}
	if len(got) != len(want) {
		t.Fatalf("%d distinct words, want %d", len(got), len(want))
	}
	for w, n := range want {
		if got[w] != n {
			t.Fatalf("word %q: largest count %d, want %d", w, got[w], n)
		}
	}

	// --write runs the real file sink: finished part files hold JSON Lines
	// {"word", "count"} with the same largest counts, and nothing in progress.
	outDir := t.TempDir()
	if code, _, errOut := runCLI(t, "try", "--write", job, "--", "--input", sample, "--output", outDir); code != 0 {
		t.Fatalf("--write: exit %d: %s", code, errOut)
	}
	parts, _ := filepath.Glob(filepath.Join(outDir, "part-*"))
	hidden, _ := filepath.Glob(filepath.Join(outDir, ".*"))
	if len(parts) == 0 || len(hidden) != 0 {
		t.Fatalf("part files %v, in-progress files %v", parts, hidden)
	}
	fromFiles := map[string]int{}
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var rec struct {
				Word  string `json:"word"`
				Count int    `json:"count"`
			}
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("%s: %q: %v", p, line, err)
			}
			fromFiles[rec.Word] = max(fromFiles[rec.Word], rec.Count)
		}
	}
	for w, n := range want {
		if fromFiles[w] != n {
			t.Fatalf("files: word %q: largest count %d, want %d", w, fromFiles[w], n)
		}
	}
}

func TestCLI(t *testing.T) {
	root := guesttest.RepoRoot(t)
	currency := writeGuest(t, "examples", "./currency")
	conformance := writeGuest(t, "sdk/go", "./conformance")
	bids := filepath.Join(root, "examples", "currency", "bids.jsonl")
	minimal := filepath.Join(root, "wasm", "testdata", "minimal.wasm")
	cases := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"help", nil, 0, "Usage:"},
		{"version", []string{"version"}, 0, "ABI v1"},
		{"unknown", []string{"frobnicate"}, 2, "unknown command"},
		{"inspect", []string{"inspect", currency, "--", "--input", bids}, 0, `"function": "to_eur"`},
		{"inspect minimal", []string{"inspect", minimal}, 0, "add_one_i64"},
		{"inspect no module", []string{"inspect"}, 2, "no module given"},
		{"inspect missing file", []string{"inspect", "/nonexistent.wasm"}, 1, "no such file"},
		{"inspect not wasm", []string{"inspect", bids}, 1, "not a WebAssembly module"},
		{"try currency", []string{"try", currency, "--", "--input", bids}, 0, "sink"},
		{"try sequence source", []string{"try", minimal}, 1, "add_one_i64: the input must be exactly one int64 column"},
		{"try bad input path", []string{"try", currency, "--", "--input", "/nonexistent/bids.jsonl"}, 1, "/nonexistent/bids.jsonl"},
		{"abi check", []string{"abi", "check", "--vectors", filepath.Join(root, "abi", "testdata", "vectors"), conformance}, 0, "154 passed, 0 failed"},
		{"abi check json", []string{"abi", "check", "--json", "--vectors", filepath.Join(root, "abi", "testdata", "vectors"), conformance}, 0, `"failed": 0`},
		{"abi check failing module", []string{"abi", "check", "--vectors", filepath.Join(root, "abi", "testdata", "vectors"), minimal}, 1, "FAIL"},
		{"abi without check", []string{"abi"}, 2, "want 'abi check'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.contains) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s\n%s", code, tc.code, tc.contains, out, errOut)
			}
		})
	}
}
