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

// OpenInputs opens a chain headed by a two-input operator (a join).
func (c *Chain) OpenInputs(ctx context.Context, left, right *arrow.Schema) (*arrow.Schema, error) {
	head, ok := c.head().(TwoInput)
	if !ok {
		return nil, errors.New("task: a chain with two inputs needs a two-input operator at its head")
	}
	schema, err := head.OpenInputs(ctx, left, right)
	if err != nil {
		return nil, fmt.Errorf("chain operator 0: %w", err)
	}
	c.opened = 1
	for i, op := range c.ops[1:] {
		out, err := op.Open(ctx, schema)
		if err != nil {
			return nil, fmt.Errorf("chain operator %d: %w", i+1, err)
		}
		c.opened = i + 2
		schema = out
	}
	return schema, nil
}

func (c *Chain) head() Operator {
	if len(c.ops) == 0 {
		return nil
	}
	return c.ops[0]
}

// PushInput runs rec of input 0 or 1 through a chain opened with
// OpenInputs.
func (c *Chain) PushInput(ctx context.Context, input int, rec arrow.Record, emit func(arrow.Record) error) error {
	outs, err := c.ops[0].(TwoInput).ProcessInput(ctx, input, rec)
	if err != nil {
		return err
	}
	return c.pushAll(ctx, 1, outs, emit)
}

// Watermark advances the chain's event time to wm: each operator in turn
// fires its timers, what they emit goes down the chain, then the next
// operator sees the watermark (as Flink forwards a watermark after the
// operator handled it).
func (c *Chain) Watermark(ctx context.Context, wm int64, emit func(arrow.Record) error) error {
	for i, op := range c.ops {
		ta, ok := op.(TimeAware)
		if !ok {
			continue
		}
		outs, err := ta.OnWatermark(ctx, wm)
		if err != nil {
			return err
		}
		if err := c.pushAll(ctx, i+1, outs, emit); err != nil {
			return err
		}
	}
	return nil
}

// NextProcessingTimer returns the chain's earliest processing-time timer.
func (c *Chain) NextProcessingTimer() (int64, bool) {
	var at int64
	found := false
	for _, op := range c.ops {
		if ta, ok := op.(TimeAware); ok {
			if t, ok := ta.NextProcessingTimer(); ok && (!found || t < at) {
				at, found = t, true
			}
		}
	}
	return at, found
}

// ProcessingTime fires the chain's processing-time timers up to now (ms).
func (c *Chain) ProcessingTime(ctx context.Context, now int64, emit func(arrow.Record) error) error {
	for i, op := range c.ops {
		ta, ok := op.(TimeAware)
		if !ok {
			continue
		}
		outs, err := ta.OnProcessingTime(ctx, now)
		if err != nil {
			return err
		}
		if err := c.pushAll(ctx, i+1, outs, emit); err != nil {
			return err
		}
	}
	return nil
}

// Tail is the chain's last operator.
func (c *Chain) Tail() Operator {
	if len(c.ops) == 0 {
		return nil
	}
	return c.ops[len(c.ops)-1]
}

// pushAll pushes outs (owned by the call) into operator i on.
func (c *Chain) pushAll(ctx context.Context, i int, outs []arrow.Record, emit func(arrow.Record) error) error {
	defer func() {
		for _, o := range outs {
			o.Release()
		}
	}()
	for _, o := range outs {
		if err := c.push(ctx, i, o, emit); err != nil {
			return err
		}
	}
	return nil
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
	return c.pushAll(ctx, i+1, outs, emit)
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
