package connector

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// fakeClock is a Clock whose time moves only when a sleeper waits or the
// test advances it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// After advances the clock by d at once and fires.
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.Advance(d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

// newAlloc returns a checked allocator verified empty at the end of t.
func newAlloc(t *testing.T) *memory.CheckedAllocator {
	t.Helper()
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { alloc.AssertSize(t, 0) })
	return alloc
}

// rowsOf returns rec's rows as strings (arrow's ValueStr; "(null)" for
// null).
func rowsOf(rec arrow.Record) [][]string {
	rows := make([][]string, rec.NumRows())
	for i := range rows {
		row := make([]string, rec.NumCols())
		for c := range row {
			row[c] = rec.Column(c).ValueStr(i)
		}
		rows[i] = row
	}
	return rows
}

// drain opens src as subtask c, reads it to io.EOF and returns its rows
// and batch sizes; every batch is released and checked to have at most
// c.BatchRows rows.
func drain(t *testing.T, src Source, c Context) ([][]string, []int) {
	t.Helper()
	ctx := context.Background()
	if err := src.Open(ctx, c); err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer func() {
		if err := src.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	return drainOpen(t, src, c.BatchRows)
}

func drainOpen(t *testing.T, src Source, batchRows int) ([][]string, []int) {
	t.Helper()
	var rows [][]string
	var sizes []int
	for range 1_000_000 {
		rec, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return rows, sizes
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if !rec.Schema().Equal(src.Schema()) {
			t.Errorf("batch schema %v, want %v", rec.Schema(), src.Schema())
		}
		if n := int(rec.NumRows()); n == 0 || n > batchRows {
			t.Errorf("batch of %d rows, want 1..%d", n, batchRows)
		}
		sizes = append(sizes, int(rec.NumRows()))
		rows = append(rows, rowsOf(rec)...)
		rec.Release()
	}
	t.Fatal("source did not end")
	return nil, nil
}
