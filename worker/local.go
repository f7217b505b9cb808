// Package worker is the TaskManager side of Weir: slots, tasks, native
// connectors, operator chains and the exchange. This file offers the one
// piece that works without a cluster today: running a linear job in the
// calling process with the same connectors and operators a task runs.
package worker

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/internal/connector"
	"github.com/weirflow/weir/wasm"
	"github.com/weirflow/weir/worker/internal/task"
)

// ErrNotLinear means a plan that is not one chain from one source to one sink.
var ErrNotLinear = errors.New("worker: plan is not a linear chain")

// LocalOptions configure RunLinear.
type LocalOptions struct {
	// Alloc allocates batches (default memory.DefaultAllocator).
	Alloc memory.Allocator
	// BatchRows is the source batch size (default 1024).
	BatchRows int
	// Output, when set, receives what would reach the sink instead of the
	// sink connector (rec is only valid during the call: Retain to keep it).
	Output func(rec arrow.Record) error
	// Files is the file connectors' access policy (default: unrestricted).
	Files connector.FileAccess
}

// RunLinear runs a plan whose nodes form one chain (a source, Wasm
// operators, a sink) at parallelism 1 in this process: the source connector,
// the chained operators with host-managed keyed state, and the sink, until the
// bounded source ends or ctx is done.
func RunLinear(ctx context.Context, inst *wasm.Instance, plan *abi.Plan, opts LocalOptions) (err error) {
	if opts.Alloc == nil {
		opts.Alloc = memory.DefaultAllocator
	}
	if opts.BatchRows <= 0 {
		opts.BatchRows = 1024
	}
	nodes := plan.Nodes
	if len(nodes) < 2 || nodes[0].Kind != "source" || nodes[len(nodes)-1].Kind != "sink" {
		return fmt.Errorf("%w: want a source first and a sink last", ErrNotLinear)
	}
	for i := 1; i < len(nodes); i++ {
		if len(nodes[i].Inputs) != 1 || nodes[i].Inputs[0] != nodes[i-1].ID {
			return fmt.Errorf("%w: node %q does not read only from %q", ErrNotLinear, nodes[i].ID, nodes[i-1].ID)
		}
	}
	cctx := connector.Context{Subtask: 0, Parallelism: 1, Alloc: opts.Alloc, BatchRows: opts.BatchRows}
	src, err := connector.NewSource(nodes[0].Connector, nodes[0].ConnectorParams, connector.Options{Files: opts.Files})
	if err != nil {
		return err
	}
	if err := src.Open(ctx, cctx); err != nil {
		return fmt.Errorf("open source %q: %w", nodes[0].ID, err)
	}
	defer func() { err = errors.Join(err, src.Close()) }()

	var ops []task.Operator
	for _, n := range nodes[1 : len(nodes)-1] {
		op, err := task.NewWasm(n, inst, plan.MaxParallelism, opts.Alloc)
		if err != nil {
			return err
		}
		ops = append(ops, op)
	}
	chain := task.NewChain(ops...)
	out, err := chain.Open(ctx, src.Schema())
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, chain.Close(ctx)) }()

	emit := opts.Output
	var sink connector.Sink
	if emit == nil {
		last := nodes[len(nodes)-1]
		if sink, err = connector.NewSink(last.Connector, last.ConnectorParams, connector.Options{Files: opts.Files}); err != nil {
			return err
		}
		if err := sink.Open(ctx, cctx, out); err != nil {
			return fmt.Errorf("open sink %q: %w", last.ID, err)
		}
		defer func() { err = errors.Join(err, sink.Close()) }()
		emit = func(rec arrow.Record) error { return sink.Write(ctx, rec) }
	}
	for {
		rec, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("source %q: %w", nodes[0].ID, err)
		}
		err = chain.Push(ctx, rec, emit)
		rec.Release()
		if err != nil {
			return err
		}
	}
	if sink != nil {
		return sink.Finish(ctx)
	}
	return nil
}
