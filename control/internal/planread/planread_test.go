package planread

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/internal/guesttest"
	"github.com/weirflow/weir/wasm"
)

func TestRead(t *testing.T) {
	ctx := context.Background()
	r, err := New(ctx, "", Limits{Budget: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	root := guesttest.RepoRoot(t)
	testdata := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(root, "wasm", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wordcount := guesttest.BuildGo(t, "examples", "./wordcount")
	// minimal.wasm's plan with its map node turned into a filter, which the
	// module does not export (same length, so the data segment stays valid).
	from := []byte(`"kind": "map", "function": "add_one_i64"`)
	to := []byte(`"kind":"filter","function":"add_one_i64"`)
	if len(from) != len(to) || bytes.Count(testdata("minimal.wasm"), from) != 1 {
		t.Fatal("cannot patch minimal.wasm's plan")
	}
	filterPlan := bytes.Replace(testdata("minimal.wasm"), from, to, 1)
	input := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(input, []byte("a b a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		bin  []byte
		args []string
		want error  // nil: a plan
		msg  string // in the error, or the plan's name
	}{
		{"wordcount", wordcount, []string{"--input", input, "--output", t.TempDir()}, nil, "wordcount"},
		{"connector params are checked", wordcount, []string{"--input", "/nonexistent/in.txt", "--output", t.TempDir()}, ErrPlan, "/nonexistent/in.txt"},
		{"bad args reach the guest", wordcount, []string{"--nope"}, wasm.ErrGuest, "nope"},
		{"minimal", testdata("minimal.wasm"), nil, nil, "minimal"},
		{"not wasm", []byte("hello"), nil, wasm.ErrNotWasm, "not a WebAssembly module"},
		{"plan loops", testdata("hostile/plan_loop.wasm"), nil, wasm.ErrTimeBudget, "weir_plan"},
		{"plan garbage", testdata("hostile/plan_garbage.wasm"), nil, abi.ErrInvalidPlan, "invalid character"},
		{"kind the module lacks", filterPlan, nil, ErrPlan, `node "plus_one" is a filter operator`},
		{"bad version", testdata("hostile/bad_version.wasm"), nil, wasm.ErrABIVersion, "v2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := r.Read(ctx, tc.name, tc.bin, tc.args, abi.DecodeOptions{})
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if plan.Name != tc.msg {
					t.Fatalf("plan %q", plan.Name)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
}
