package task

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
)

// Chain is the operators of one job vertex, run one after another on the
// same goroutine: each batch an operator returns goes straight into the next
// (no copy, no channel), and what the last returns is emitted.
type Chain struct {
	ops    []Operator
	opened int
}

// NewChain returns a chain of ops, head first.
func NewChain(ops ...Operator) *Chain { return &Chain{ops: ops} }

// Open opens every operator with the schema its upstream produces and
// returns the chain's output schema.
func (c *Chain) Open(ctx context.Context, in *arrow.Schema) (*arrow.Schema, error) {
	schema := in
	for i, op := range c.ops {
		out, err := op.Open(ctx, schema)
		if err != nil {
			return nil, fmt.Errorf("chain operator %d: %w", i, err)
		}
		c.opened = i + 1
		schema = out
	}
	return schema, nil
}

// Push runs rec through the chain and calls emit with every output batch.
// rec is only read; emit must not keep a batch without retaining it (the
// chain releases each after emit returns).
func (c *Chain) Push(ctx context.Context, rec arrow.Record, emit func(arrow.Record) error) error {
	return c.push(ctx, 0, rec, emit)
}

func (c *Chain) push(ctx context.Context, i int, rec arrow.Record, emit func(arrow.Record) error) error {
	if i == len(c.ops) {
		return emit(rec)
	}
	outs, err := c.ops[i].Process(ctx, rec)
	if err != nil {
		return err
	}
	defer func() {
		for _, o := range outs {
			o.Release()
		}
	}()
	for _, o := range outs {
		if err := c.push(ctx, i+1, o, emit); err != nil {
			return err
		}
	}
	return nil
}

// Stateful returns the operators of the chain that hold state, in chain
// order. Their stores exist once Open has returned.
func (c *Chain) Stateful() []Stateful {
	var out []Stateful
	for _, op := range c.ops {
		if s, ok := op.(Stateful); ok {
			out = append(out, s)
		}
	}
	return out
}

// Close closes the operators that were opened, last first.
func (c *Chain) Close(ctx context.Context) error {
	var errs []error
	for i := c.opened - 1; i >= 0; i-- {
		errs = append(errs, c.ops[i].Close(ctx))
	}
	c.opened = 0
	return errors.Join(errs...)
}
