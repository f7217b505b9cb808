// Package connector holds Weir's native sources and sinks (design.md §3):
// they run as Go code inside a task, chained with the Wasm operators, and are
// referenced from a job plan by name with string parameters.
package connector

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// ErrParams is wrapped by every error about a connector's parameters, so the
// JobManager can refuse a job before deploying it.
var ErrParams = errors.New("connector: bad parameters")

// Context is what a source or sink instance learns about where it runs.
type Context struct {
	// Subtask is this instance's index, 0..Parallelism-1.
	Subtask, Parallelism int
	// Alloc allocates the batches a source emits.
	Alloc memory.Allocator
	// BatchRows is the target rows per batch a source emits (> 0).
	BatchRows int
	// Job and Attempt identify the job run in a cluster ("" and 0 outside
	// one). Sinks scope their output to the job and start it over when a
	// job restarts from scratch (attempt > 0).
	Job     string
	Attempt int
}

// Source produces record batches. A bounded source returns io.EOF from Next
// when it has no more data; an unbounded one never does (it returns when ctx
// ends).
type Source interface {
	// Schema is the schema of every batch, known before the first.
	Schema() *arrow.Schema
	// Open prepares the instance for subtask ctx.Subtask.
	Open(ctx context.Context, c Context) error
	// Next returns the next batch; the caller owns it and must Release it.
	Next(ctx context.Context) (arrow.Record, error)
	// Close releases resources; it is called once, also after errors.
	Close() error
}

// Sink consumes record batches.
type Sink interface {
	// Open prepares the instance for subtask c.Subtask with input batches of
	// schema.
	Open(ctx context.Context, c Context, schema *arrow.Schema) error
	// Write consumes a batch; it only reads rec (the caller releases it).
	Write(ctx context.Context, rec arrow.Record) error
	// Finish is called once after the last batch of a bounded input: the
	// sink makes its output final (for the file sink: in-progress files
	// become part files).
	Finish(ctx context.Context) error
	// Close releases resources; it is called once, also after errors. It
	// does not make unfinished output visible.
	Close() error
}

// SourceFactory makes a source from plan parameters, checking them.
type SourceFactory func(params map[string]string) (Source, error)

// SinkFactory makes a sink from plan parameters, checking them.
type SinkFactory func(params map[string]string) (Sink, error)

var (
	sources = map[string]SourceFactory{}
	sinks   = map[string]SinkFactory{}
)

// RegisterSource adds a source connector; it is called from init functions.
func RegisterSource(name string, f SourceFactory) { sources[name] = f }

// RegisterSink adds a sink connector; it is called from init functions.
func RegisterSink(name string, f SinkFactory) { sinks[name] = f }

// NewSource makes the named source with params.
func NewSource(name string, params map[string]string) (Source, error) {
	f, ok := sources[name]
	if !ok {
		return nil, fmt.Errorf("%w: unknown source connector %q (have %v)", ErrParams, name, names(sources))
	}
	s, err := f(params)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", name, err)
	}
	return s, nil
}

// NewSink makes the named sink with params.
func NewSink(name string, params map[string]string) (Sink, error) {
	f, ok := sinks[name]
	if !ok {
		return nil, fmt.Errorf("%w: unknown sink connector %q (have %v)", ErrParams, name, names(sinks))
	}
	s, err := f(params)
	if err != nil {
		return nil, fmt.Errorf("sink %s: %w", name, err)
	}
	return s, nil
}

func names[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
