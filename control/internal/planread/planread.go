// Package planread validates a job module and reads its plan for the
// JobManager, in a sandbox tighter than the TaskManagers' (design.md §3):
// only weir_plan runs, with little memory, a short time budget and little
// output, and the plan must only use operator kinds the module exports.
package planread

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/internal/connector"
	"github.com/weirflow/weir/wasm"
)

// ErrPlan is wrapped by errors about what the plan asks for.
var ErrPlan = errors.New("planread: plan refused")

// Defaults of Limits.
const (
	DefaultMemory = 128 << 20
	DefaultBudget = 5 * time.Second
	DefaultOutput = 64 << 10
)

// Limits of the plan sandbox.
type Limits struct {
	Memory uint64        // default DefaultMemory
	Budget time.Duration // default DefaultBudget
	Output int           // default DefaultOutput
	Tables uint32        // table elements; default wasm.DefaultTableElements
	// Files is the file connectors' access policy their paths are checked
	// against (default: unrestricted).
	Files connector.FileAccess
}

// Reader reads plans with its own runtime and limits.
type Reader struct {
	rt   *wasm.Runtime
	opts connector.Options
}

// New starts a reader; cacheDir may be empty.
func New(ctx context.Context, cacheDir string, l Limits) (*Reader, error) {
	if l.Memory == 0 {
		l.Memory = DefaultMemory
	}
	if l.Budget <= 0 {
		l.Budget = DefaultBudget
	}
	if l.Output <= 0 {
		l.Output = DefaultOutput
	}
	rt, err := wasm.NewRuntime(ctx, wasm.Config{CacheDir: cacheDir, MemoryLimit: l.Memory, CallBudget: l.Budget, OutputBudget: l.Output, TableElements: l.Tables})
	if err != nil {
		return nil, err
	}
	return &Reader{rt: rt, opts: connector.Options{Files: l.Files}}, nil
}

// Close releases the reader's runtime.
func (r *Reader) Close(ctx context.Context) error { return r.rt.Close(ctx) }

// Validate checks a module against the ABI (version, exports, imports,
// memory) without running it, as at upload time, when the program arguments
// its plan needs are not known yet.
func (r *Reader) Validate(ctx context.Context, name string, bin []byte) error {
	_, err := r.rt.Load(ctx, name, bin)
	return err
}

// Read validates the module, runs its weir_plan with args and returns the
// decoded, validated plan (opts may override its default parallelism). Every error is the user's to fix: a bad module
// (wasm errors), a failing or misbehaving weir_plan (*wasm.CallError), an
// invalid plan (abi.ErrInvalidPlan), a plan using kinds the module lacks or
// connectors with bad parameters, paths the file access policy refuses
// included (ErrPlan).
func (r *Reader) Read(ctx context.Context, name string, bin []byte, args []string, opts abi.DecodeOptions) (*abi.Plan, error) {
	mod, err := r.rt.Load(ctx, name, bin)
	if err != nil {
		return nil, err
	}
	in, err := mod.Instantiate(ctx, wasm.InstanceOptions{Task: "plan"})
	if err != nil {
		return nil, err
	}
	defer in.Close(ctx)
	raw, err := in.Plan(ctx, args)
	if err != nil {
		return nil, err
	}
	plan, err := abi.DecodePlanWith(raw, opts)
	if err != nil {
		return nil, err
	}
	for _, n := range plan.Nodes {
		k, ok := abi.ParseKind(n.Kind)
		if n.Kind == "window" && n.Function != "" {
			k, ok = abi.KindAggregate, true
		}
		if ok && !mod.Supports(k) {
			return nil, fmt.Errorf("%w: node %q is a %s operator, but the module lacks %v", ErrPlan, n.ID, k, k.Exports())
		}
		if err := checkConnector(n, r.opts); err != nil {
			return nil, fmt.Errorf("%w: node %q: %w", ErrPlan, n.ID, err)
		}
	}
	return plan, nil
}

// checkConnector builds a source or sink node's connector, which checks its
// parameters, and discards it.
func checkConnector(n abi.Node, opts connector.Options) error {
	switch n.Kind {
	case "source":
		s, err := connector.NewSource(n.Connector, n.ConnectorParams, opts)
		if err != nil {
			return err
		}
		return s.Close()
	case "sink":
		s, err := connector.NewSink(n.Connector, n.ConnectorParams, opts)
		if err != nil {
			return err
		}
		return s.Close()
	}
	return nil
}
