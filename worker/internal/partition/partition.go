// Package partition decides which downstream subtask receives each row of a
// batch: forward (the same subtask), rebalance (round robin, a batch at a
// time) or hash (the subtask owning the row's key group). It is deterministic
// and does no I/O.
package partition

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/arrow/batch"
	"github.com/weirflow/weir/internal/keygroup"
)

// Partitioner splits a batch among n downstream channels.
type Partitioner interface {
	// Split returns one batch per channel (nil where a channel gets no rows).
	// The caller owns the returned batches; rec is only read.
	Split(rec arrow.Record) ([]arrow.Record, error)
}

// New returns the partitioner of an edge kind ("forward", "rebalance",
// "hash") towards n channels. subtask is the sending subtask (forward keeps
// it; rebalance starts its round robin there, so senders do not all start on
// channel 0). Hash needs keyBy and the job's max parallelism.
func New(kind string, n, subtask int, keyBy []string, maxParallelism int, alloc memory.Allocator) (Partitioner, error) {
	if n < 1 {
		return nil, fmt.Errorf("partition: %d channels", n)
	}
	switch kind {
	case "forward":
		if n != 1 {
			return nil, fmt.Errorf("partition: forward to %d channels (want 1)", n)
		}
		return forward{}, nil
	case "rebalance":
		return &rebalance{n: n, next: subtask % n}, nil
	case "hash":
		if len(keyBy) == 0 {
			return nil, fmt.Errorf("partition: hash without key columns")
		}
		if maxParallelism < n {
			return nil, fmt.Errorf("partition: %d channels exceed max parallelism %d", n, maxParallelism)
		}
		return &hash{n: n, keyBy: keyBy, maxP: maxParallelism, alloc: alloc}, nil
	}
	return nil, fmt.Errorf("partition: unknown kind %q", kind)
}

type forward struct{}

func (forward) Split(rec arrow.Record) ([]arrow.Record, error) {
	rec.Retain()
	return []arrow.Record{rec}, nil
}

type rebalance struct{ n, next int }

func (r *rebalance) Split(rec arrow.Record) ([]arrow.Record, error) {
	out := make([]arrow.Record, r.n)
	rec.Retain()
	out[r.next] = rec
	r.next = (r.next + 1) % r.n
	return out, nil
}

type hash struct {
	n     int
	keyBy []string
	maxP  int
	alloc memory.Allocator
	cols  []int
	key   []byte
	rows  [][]int32
}

// KeyGroupOf returns the key group of every row of rec by the key columns,
// appending to dst.
func KeyGroupOf(dst []int, rec arrow.Record, cols []int, maxParallelism int) ([]int, error) {
	var key []byte
	for r := 0; r < int(rec.NumRows()); r++ {
		key = key[:0]
		for _, c := range cols {
			var err error
			if key, err = batch.AppendKey(key, rec.Column(c), r); err != nil {
				return nil, err
			}
		}
		dst = append(dst, keygroup.Of(keygroup.Hash(key), maxParallelism))
	}
	return dst, nil
}

func (h *hash) Split(rec arrow.Record) ([]arrow.Record, error) {
	if h.cols == nil {
		cols, err := batch.ColumnIndexes(rec.Schema(), h.keyBy)
		if err != nil {
			return nil, err
		}
		h.cols = cols
		h.rows = make([][]int32, h.n)
	}
	for i := range h.rows {
		h.rows[i] = h.rows[i][:0]
	}
	for r := 0; r < int(rec.NumRows()); r++ {
		h.key = h.key[:0]
		for _, c := range h.cols {
			var err error
			if h.key, err = batch.AppendKey(h.key, rec.Column(c), r); err != nil {
				return nil, err
			}
		}
		kg := keygroup.Of(keygroup.Hash(h.key), h.maxP)
		t := keygroup.Subtask(h.maxP, h.n, kg)
		h.rows[t] = append(h.rows[t], int32(r))
	}
	out := make([]arrow.Record, h.n)
	for t, rows := range h.rows {
		switch {
		case len(rows) == 0:
		case len(rows) == int(rec.NumRows()):
			rec.Retain()
			out[t] = rec
		default:
			taken, err := batch.Take(h.alloc, rec, rows)
			if err != nil {
				for _, o := range out {
					if o != nil {
						o.Release()
					}
				}
				return nil, err
			}
			out[t] = taken
		}
	}
	return out, nil
}
