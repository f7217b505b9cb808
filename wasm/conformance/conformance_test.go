package conformance

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/internal/guesttest"
	"github.com/weirflow/weir/wasm"
)

// TestGoSDKConformance runs every abi/testdata vector against the Go SDK's
// conformance module, built from source.
func TestGoSDKConformance(t *testing.T) {
	ctx := context.Background()
	root := guesttest.RepoRoot(t)
	cases, err := Load(filepath.Join(root, "abi", "testdata", "vectors"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 40 {
		t.Fatalf("only %d vectors", len(cases))
	}
	bin := guesttest.BuildGo(t, "sdk/go", "./conformance")
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	rt, err := wasm.NewRuntime(ctx, wasm.Config{Allocator: alloc})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	mod, err := rt.Load(ctx, "conformance-go", bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Run(ctx, mod, cases, alloc) {
		t.Run(r.Case, func(t *testing.T) {
			if !r.Pass {
				t.Errorf("%s: %s", r.File, r.Diff)
			}
		})
	}
}

// TestVectorsWellFormed checks every vector builds into Arrow data, so a
// broken vector is reported as such rather than as an SDK failure.
func TestVectorsWellFormed(t *testing.T) {
	cases, err := Load(filepath.Join(guesttest.RepoRoot(t), "abi", "testdata", "vectors"))
	if err != nil {
		t.Fatal(err)
	}
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	for _, c := range cases {
		for what, b := range map[string]*Batch{"input": c.Input, "expect": c.Expect} {
			if b == nil {
				continue
			}
			rec, err := b.Record(alloc)
			if err != nil {
				t.Errorf("%s %s: %v", c.Name, what, err)
				continue
			}
			rec.Release()
		}
		for what, b := range map[string]*Batch{"state": c.State, "expectState": c.ExpectState} {
			if b == nil {
				continue
			}
			st, err := b.Struct(alloc)
			if err != nil {
				t.Errorf("%s %s: %v", c.Name, what, err)
				continue
			}
			st.Release()
		}
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown_field.json": `{"cases": [{"name": "a", "bogus": 1}]}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Load(dir); err == nil {
		t.Fatal("a vector with an unknown field was accepted")
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Fatal("an empty directory was accepted")
	}
}
