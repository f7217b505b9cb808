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

// ErrPosition is wrapped by every error about source positions given to
// [Checkpointed.RestorePositions]: malformed, of another connector or
// version, incomplete, or incompatible with the source's parameters.
var ErrPosition = errors.New("connector: bad source position")

// ErrTransaction is wrapped by every error about sink transactions given to
// [TwoPhase.Commit] or [TwoPhase.Recover]: malformed, of another connector
// or version, or no longer committable (neither its pending nor its final
// files exist).
var ErrTransaction = errors.New("connector: bad sink transaction")

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
	// job restarts from scratch (attempt > 0). Attempt must never repeat
	// within a job, also across JobManager failovers: sink file names carry
	// it.
	Job     string
	Attempt int
	// Checkpointing tells whether the job takes checkpoints. With it, a
	// restarted attempt keeps the output of earlier attempts (it belongs to
	// completed checkpoints; [TwoPhase.Recover] sorts it out); without it, an
	// attempt > 0 starts the output over.
	Checkpointing bool
	// Idle, when set, is called when a rate-limited source starts waiting
	// for its rate, and the function it returns when the wait ends (a task
	// counts the wait as idle time, like a wait for input, not as busy).
	Idle func() (end func())
}

// Checkpointed is a source whose read position can be saved in a
// checkpoint and restored, also at another parallelism.
type Checkpointed interface {
	// SnapshotPosition returns the subtask's read position: opaque,
	// versioned bytes that name the connector, the parallelism and the
	// subtask. It is called between calls of Next; the next row Next
	// returns is the first one after the position.
	SnapshotPosition() ([]byte, error)
	// RestorePositions is called after Open and before the first Next with
	// the positions of every subtask of the old run of the same source
	// vertex, in any order and at any parallelism (one blob per old
	// subtask, all of them, to every new subtask). Each new subtask picks
	// the part that concerns the keys, files or streams it owns at its
	// parallelism, so that the new run as a whole continues exactly where
	// the old one stopped. A missing, duplicated or foreign position is an
	// error wrapping [ErrPosition].
	RestorePositions(all [][]byte) error
}

// TwoPhase is a sink whose output becomes visible only when a checkpoint
// completes (exactly-once output with two-phase commit). A sink that does
// not implement it is at-least-once at best.
type TwoPhase interface {
	// PreCommit makes everything written since the previous PreCommit
	// durable but invisible and returns the transaction to store in
	// checkpoint: opaque bytes covering every pre-committed output of this
	// subtask not yet known to be committed (so a lost or late Commit of an
	// earlier checkpoint is repaired by committing a later one). It is
	// called on the checkpoint barrier, between calls of Write, and always
	// returns a transaction, also when nothing was written.
	PreCommit(ctx context.Context, checkpoint int64) ([]byte, error)
	// Commit makes the transactions visible. It is idempotent: committing
	// an already committed transaction is a no-op. It may run concurrently
	// with Write (from the checkpoint-completed notification).
	Commit(ctx context.Context, txns [][]byte) error
	// Recover is called after Open, before the first Write, when the task
	// restores a checkpoint, with the transactions of that checkpoint given
	// to this subtask (those of any old subtasks, at any parallelism; none
	// is fine, but every transaction of the checkpoint must be given to
	// some subtask). It commits them, idempotently, and removes what the
	// job's earlier attempts wrote after that checkpoint. Call it on every
	// restore, also with no transactions: an attempt > 0 with Checkpointing
	// whose first Write, PreCommit or Finish comes without a Recover before
	// is a restart from scratch, and the sink removes what earlier attempts
	// wrote.
	Recover(ctx context.Context, txns [][]byte) error
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

// Options are what a connector learns from the process that makes it,
// beside the plan's parameters.
type Options struct {
	// Files is the access policy of the file source and sink (the zero
	// value: unrestricted).
	Files FileAccess
}

// SourceFactory makes a source from plan parameters, checking them.
type SourceFactory func(params map[string]string, opts Options) (Source, error)

// SinkFactory makes a sink from plan parameters, checking them.
type SinkFactory func(params map[string]string, opts Options) (Sink, error)

var (
	sources = map[string]SourceFactory{}
	sinks   = map[string]SinkFactory{}
)

// RegisterSource adds a source connector; it is called from init functions.
func RegisterSource(name string, f SourceFactory) { sources[name] = f }

// RegisterSink adds a sink connector; it is called from init functions.
func RegisterSink(name string, f SinkFactory) { sinks[name] = f }

// NewSource makes the named source with params.
func NewSource(name string, params map[string]string, opts Options) (Source, error) {
	f, ok := sources[name]
	if !ok {
		return nil, fmt.Errorf("%w: unknown source connector %q (have %v)", ErrParams, name, names(sources))
	}
	s, err := f(params, opts)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", name, err)
	}
	return s, nil
}

// NewSink makes the named sink with params.
func NewSink(name string, params map[string]string, opts Options) (Sink, error) {
	f, ok := sinks[name]
	if !ok {
		return nil, fmt.Errorf("%w: unknown sink connector %q (have %v)", ErrParams, name, names(sinks))
	}
	s, err := f(params, opts)
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
