package exchange

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/arrow/ipcframe"
)

// testSchema: which producer made a row, and the row's sequence number in
// that producer's output.
var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "producer", Type: arrow.PrimitiveTypes.Int64},
	{Name: "seq", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// seqBatch returns n rows of producer with seq from, from+1, ...
func seqBatch(alloc memory.Allocator, producer, from int64, n int) arrow.Record {
	pb := array.NewInt64Builder(alloc)
	defer pb.Release()
	sb := array.NewInt64Builder(alloc)
	defer sb.Release()
	for i := range n {
		pb.Append(producer)
		sb.Append(from + int64(i))
	}
	pc, sc := pb.NewArray(), sb.NewArray()
	defer pc.Release()
	defer sc.Release()
	return array.NewRecord(testSchema, []arrow.Array{pc, sc}, int64(n))
}

func seqs(rec arrow.Record) []int64 {
	return rec.Column(1).(*array.Int64).Int64Values()
}

func batchEv(rec arrow.Record) Event { return Event{Kind: ipcframe.KindBatch, Record: rec} }

func barrierEv(id uint64) Event {
	return Event{Kind: ipcframe.KindBarrier, Barrier: ipcframe.Barrier{ID: id}}
}

func watermarkEv(ms int64) Event { return Event{Kind: ipcframe.KindWatermark, Watermark: ms} }

func newAlloc(t *testing.T) *memory.CheckedAllocator {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { alloc.AssertSize(t, 0) })
	return alloc
}

// timeout bounds a test's waits so that a bug shows as a failure, not a hang.
func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkNoLeaks fails if goroutines running this package's code outlive the
// test (other than the test's own). It polls: goroutines that were told to
// stop need a moment to be scheduled.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	var leaked []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		leaked = leaked[:0]
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "weir/worker/internal/exchange") && !strings.Contains(g, "testing.tRunner") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return
		}
	}
	t.Fatalf("%d goroutines leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
}

// fakeClock is a manual clock for Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1000, 0)} }

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

// arrowRecord makes a one-column record of schema from col, taking over the
// caller's reference to col.
func arrowRecord(schema *arrow.Schema, col arrow.Array) arrow.Record {
	defer col.Release()
	return array.NewRecord(schema, []arrow.Array{col}, int64(col.Len()))
}
