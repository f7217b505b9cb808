package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/wasm"
	"github.com/weirflow/weir/wasm/conformance"
)

func runABI(ctx context.Context, args []string, w io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		return fmt.Errorf("%w: want 'abi check'", errUsage)
	}
	fs := flag.NewFlagSet("abi check", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print results as JSON")
	vectors := fs.String("vectors", "", "directory of vector files (default: abi/testdata/vectors of the source tree)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: want exactly one module", errUsage)
	}
	dir := *vectors
	if dir == "" {
		dir = findVectors()
	}
	cases, err := conformance.Load(dir)
	if err != nil {
		return err
	}
	bin, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	rt, err := wasm.NewRuntime(ctx, wasm.Config{})
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	mod, err := rt.Load(ctx, filepath.Base(fs.Arg(0)), bin)
	if err != nil {
		return err
	}
	results := conformance.Run(ctx, mod, cases, memory.DefaultAllocator)
	failed := 0
	for _, r := range results {
		if !r.Pass {
			failed++
		}
	}
	if *asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"module": fs.Arg(0), "passed": len(results) - failed, "failed": failed, "results": results}); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			if r.Pass {
				fmt.Fprintf(w, "PASS %s\n", r.Case)
			} else {
				fmt.Fprintf(w, "FAIL %s (%s)\n     %s\n", r.Case, r.File, r.Diff)
			}
		}
		fmt.Fprintf(w, "conformance: %d passed, %d failed\n", len(results)-failed, failed)
	}
	if failed > 0 {
		return errFailed
	}
	return nil
}

// findVectors looks for abi/testdata/vectors from the working directory up.
func findVectors() string {
	dir, _ := os.Getwd()
	for range 8 {
		p := filepath.Join(dir, "abi", "testdata", "vectors")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		dir = filepath.Dir(dir)
	}
	return filepath.Join("abi", "testdata", "vectors")
}
