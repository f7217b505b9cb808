package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/wasm"
)

// loadJob reads, validates and instantiates a module and reads its plan.
func loadJob(ctx context.Context, path string, args []string) (*wasm.Runtime, *wasm.Module, *wasm.Instance, *abi.Plan, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	rt, err := wasm.NewRuntime(ctx, wasm.Config{})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	mod, err := rt.Load(ctx, path, bin)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, nil, nil, nil, err
	}
	in, err := mod.Instantiate(ctx, wasm.InstanceOptions{Job: path, Task: "plan"})
	if err != nil {
		_ = rt.Close(ctx)
		return nil, nil, nil, nil, err
	}
	raw, err := in.Plan(ctx, args)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, nil, nil, nil, err
	}
	plan, err := abi.DecodePlan(raw)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, nil, nil, nil, err
	}
	return rt, mod, in, plan, nil
}

func runInspect(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	path, progArgs, err := splitArgs(fs)
	if err != nil {
		return err
	}
	rt, mod, _, plan, err := loadJob(ctx, path, progArgs)
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	fmt.Fprintf(w, "module   %s\nsha256   %s\nsize     %d bytes\nabi      v%d\nkinds   ", path, mod.SHA256, mod.Size, abi.Version)
	for _, k := range []abi.Kind{abi.KindMap, abi.KindFlatMap, abi.KindFilter, abi.KindProcess, abi.KindAggregate} {
		if mod.Supports(k) {
			fmt.Fprintf(w, " %s", k)
		}
	}
	fmt.Fprintf(w, "\njob      %s (parallelism %d, max parallelism %d)\n", plan.Name, plan.Parallelism, plan.MaxParallelism)
	for _, n := range plan.Nodes {
		what := n.Function
		if n.Connector != "" {
			what = n.Connector
		}
		fmt.Fprintf(w, "  %-12s %-9s %-16s p=%d", n.ID, n.Kind, what, n.Parallelism)
		if len(n.Inputs) > 0 {
			fmt.Fprintf(w, " <- %v (%s", n.Inputs, n.Partition)
			if len(n.KeyBy) > 0 {
				fmt.Fprintf(w, " by %v", n.KeyBy)
			}
			fmt.Fprint(w, ")")
		}
		fmt.Fprintln(w)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(plan); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "plan\n%s", buf.String())
	return err
}
