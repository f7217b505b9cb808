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
	"github.com/weirflow/weir/internal/connector"
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

// With a file access policy, a plan whose file connectors name paths
// outside the allowed directories is refused, with the path and the
// allow-list in the error.
func TestReadFileAccess(t *testing.T) {
	ctx := context.Background()
	allowed := t.TempDir()
	outside := t.TempDir()
	wordcount := guesttest.BuildGo(t, "examples", "./wordcount")
	cache := t.TempDir() // the readers share compilations
	for _, dir := range []string{allowed, outside} {
		if err := os.WriteFile(filepath.Join(dir, "in.txt"), []byte("a b a\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		files connector.FileAccess
		args  []string
		want  string // "" accepted
	}{
		{"inside", connector.FileAccess{AllowDirs: []string{allowed}},
			[]string{"--input", filepath.Join(allowed, "in.txt"), "--output", filepath.Join(allowed, "out")}, ""},
		{"input outside", connector.FileAccess{AllowDirs: []string{allowed}},
			[]string{"--input", filepath.Join(outside, "in.txt"), "--output", filepath.Join(allowed, "out")},
			`path="` + filepath.Join(outside, "in.txt") + `" is outside the allowed directories ` + allowed},
		{"output outside", connector.FileAccess{AllowDirs: []string{allowed}},
			[]string{"--input", filepath.Join(allowed, "in.txt"), "--output", filepath.Join(allowed, "..", filepath.Base(outside), "out")},
			"is outside the allowed directories " + allowed},
		{"restricted without dirs", connector.FileAccess{Restricted: true},
			[]string{"--input", filepath.Join(allowed, "in.txt"), "--output", filepath.Join(allowed, "out")},
			"file connectors are disabled"},
		{"unrestricted", connector.FileAccess{},
			[]string{"--input", filepath.Join(outside, "in.txt"), "--output", filepath.Join(outside, "out")}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(ctx, cache, Limits{Files: tc.files})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close(ctx)
			_, err = r.Read(ctx, "wordcount", wordcount, tc.args, abi.DecodeOptions{})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrPlan) || !errors.Is(err, connector.ErrFileAccess) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrPlan and ErrFileAccess with %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(outside, "out")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("reading plans created the sink's directory (%v)", err)
	}
}
