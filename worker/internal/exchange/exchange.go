// Package exchange moves record batches and in-band events from producer
// subtasks to consumer subtasks with credit-based flow control
// (worker/internal/credit), as Flink's network stack does.
//
// The producer side and the consumer side are decoupled:
//
//   - A ResultPartition is one producer subtask's output towards one
//     downstream vertex, with a subpartition per consumer subtask. The
//     producer adds events to it and never waits for a consumer to exist;
//     it blocks only when a subpartition holds Options.Queue batches that the
//     consumer has not given credit for (backpressure).
//   - An InputGate is one consumer subtask's input from one upstream vertex,
//     with a channel per upstream producer subtask. The consumer initiates
//     every channel: it grants credit for the buffers it can hold, and the
//     producer sends a batch only against credit, announcing its backlog.
//   - A Registry holds a TaskManager's live partitions. A channel connects a
//     gate's channel to a SubpartitionReader: ConnectLocal inside one process
//     (batches are handed over by reference), the exchange/remote package
//     between processes (one gRPC stream per channel, ipcframe frames).
//
// Both transports use the same accounting: the gate's credit.Receiver per
// channel decides the grants, the subpartition's credit.Sender spends them.
//
// Arrow ownership: a batch handed to ResultPartition.Add belongs to the
// partition from then on; a batch returned by SubpartitionReader.Next or
// InputGate.Next belongs to the caller, who releases it.
package exchange

import (
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/arrow/ipcframe"
)

// Errors of the exchange. Errors returned by the package wrap one of them
// where the caller may need to tell them apart.
var (
	// ErrClosed means the gate, the reader or the partition was closed.
	ErrClosed = errors.New("exchange: closed")
	// ErrProducerFailed is wrapped by the error a consumer sees when the
	// producer of a channel failed or was canceled (ResultPartition.Fail).
	ErrProducerFailed = errors.New("exchange: producer failed")
	// ErrConsumerGone is returned by Add when the consumer of the
	// subpartition went away before the end of the partition.
	ErrConsumerGone = errors.New("exchange: consumer went away")
	// ErrFinished is returned by Add after Finish.
	ErrFinished = errors.New("exchange: partition finished")
	// ErrPartitionExists is returned by Register when the key is taken.
	ErrPartitionExists = errors.New("exchange: partition already registered")
	// ErrNoSubpartition means a subpartition index out of range.
	ErrNoSubpartition = errors.New("exchange: no such subpartition")
	// ErrReaderTaken means a second reader for the same subpartition.
	ErrReaderTaken = errors.New("exchange: subpartition already has a reader")
	// ErrAttached means a second connection to the same gate channel.
	ErrAttached = errors.New("exchange: channel already connected")
)

// Event is what travels on a channel, in order: batches, barriers,
// watermarks, end-of-partition. For a batch (Kind ipcframe.KindBatch),
// Record holds it; whoever holds the Event owns the Record, as each function
// documents.
type Event struct {
	Kind      ipcframe.Kind // KindBatch, KindBarrier, KindWatermark, KindEndOfPartition
	Record    arrow.Record
	Barrier   ipcframe.Barrier
	Watermark int64
}

func (ev Event) release() {
	if ev.Record != nil {
		ev.Record.Release()
	}
}

// PartitionKey names one result partition: one producer subtask attempt's
// output towards one downstream vertex.
type PartitionKey struct {
	Producer   string // the producer's execution id, e.g. "job/vertex#2@0"
	Downstream string // the downstream vertex id
}

func (k PartitionKey) String() string { return k.Producer + "->" + k.Downstream }

// Options size partitions and gates. The zero value gives the defaults.
type Options struct {
	// Queue is how many batches a subpartition buffers on the producer side,
	// not yet sent against credit, before Add blocks (default 4).
	Queue int
	// Exclusive is the consumer's credit per channel (default 2, at least 1)
	// and Floating the credit a gate lends to channels with a backlog
	// (default 8; negative for none).
	Exclusive, Floating int
	// FlushRows: small batches of one subpartition are coalesced up to this
	// many rows (default 4096; negative: never coalesce). A batch of at least
	// FlushRows rows is sent as it is.
	FlushRows int
	// FlushInterval bounds the latency coalescing adds: a pending batch is
	// flushed at the latest this long after its first rows arrived (default
	// 10ms), like Flink's buffer timeout.
	FlushInterval time.Duration
	// Alloc allocates coalesced and decoded batches (default
	// memory.DefaultAllocator).
	Alloc memory.Allocator
	// Now reads the clock (default time.Now): for backpressured time and the
	// flush deadline checked when a batch is added. The timer that flushes an
	// idle producer's pending batch runs on real time.
	Now func() time.Time
}

// Default option values.
const (
	DefaultQueue         = 4
	DefaultExclusive     = 2
	DefaultFloating      = 8
	DefaultFlushRows     = 4096
	DefaultFlushInterval = 10 * time.Millisecond
)

func (o Options) withDefaults() Options {
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.Exclusive <= 0 {
		o.Exclusive = DefaultExclusive
	}
	switch {
	case o.Floating == 0:
		o.Floating = DefaultFloating
	case o.Floating < 0:
		o.Floating = 0
	}
	if o.FlushRows == 0 {
		o.FlushRows = DefaultFlushRows
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.Alloc == nil {
		o.Alloc = memory.DefaultAllocator
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Stats counts what went through a partition or a gate: batches, rows, and
// the bytes of the batches' buffers (what Arrow IPC would carry as message
// bodies, padded to 8 bytes; metadata not counted).
type Stats struct {
	Batches, Rows, Bytes int64
}

func (s *Stats) add(rec arrow.Record) {
	s.Batches++
	s.Rows += rec.NumRows()
	s.Bytes += RecordBytes(rec)
}

// RecordBytes is the size of rec's buffers as an Arrow IPC body would carry
// them (each buffer padded to 8 bytes), without metadata.
func RecordBytes(rec arrow.Record) int64 {
	var n int64
	for _, col := range rec.Columns() {
		n += dataBytes(col.Data())
	}
	return n
}

func dataBytes(d arrow.ArrayData) int64 {
	var n int64
	for i, b := range d.Buffers() {
		if i == 0 && d.NullN() == 0 {
			continue // IPC drops a validity bitmap without nulls
		}
		if b != nil {
			n += int64(b.Len()+7) &^ 7
		}
	}
	for _, c := range d.Children() {
		n += dataBytes(c)
	}
	if d.DataType().ID() == arrow.DICTIONARY {
		n += dataBytes(d.Dictionary())
	}
	return n
}

// signal wakes every goroutine waiting for a change of state guarded by a
// mutex. The zero value is ready; the caller holds the mutex for both calls.
type signal struct{ ch chan struct{} }

// wait returns a channel closed at the next notify.
func (s *signal) wait() <-chan struct{} {
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// notify wakes the waiters.
func (s *signal) notify() {
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// pressureClock measures the union of backpressured intervals of several
// sources (subpartitions waiting for credit, blocked Adds): time counts once
// however many sources are pressured at the same moment.
type pressureClock struct {
	n     int
	since time.Time
	total time.Duration
}

func (c *pressureClock) inc(now time.Time) {
	if c.n == 0 {
		c.since = now
	}
	c.n++
}

func (c *pressureClock) dec(now time.Time) {
	c.n--
	if c.n == 0 {
		c.total += now.Sub(c.since)
	}
}

func (c *pressureClock) read(now time.Time) time.Duration {
	if c.n > 0 {
		return c.total + now.Sub(c.since)
	}
	return c.total
}

func kindError(what string, k ipcframe.Kind) error {
	return fmt.Errorf("exchange: %s: unexpected event kind %s", what, k)
}
