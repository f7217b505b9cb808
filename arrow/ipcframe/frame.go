// Package ipcframe is the wire format of one exchange channel between a
// producer subtask and a consumer subtask: record batches as Arrow IPC
// messages, and the in-band events that must stay in order with them
// (checkpoint barriers, watermarks, end of partition), plus the credit the
// consumer grants back. Each frame is self-delimiting inside a transport
// message (a gRPC stream message or a length-prefixed block).
//
// A frame is an 8-byte header — kind (1 byte), version (1 byte), 2 bytes
// reserved (zero), a 4-byte little-endian argument — followed by the payload:
//
//	Batch          arg = sender backlog; payload = Arrow IPC stream messages
//	               (the schema message first on a channel, then one batch)
//	Barrier        payload = checkpoint id (u64), timestamp in ms (i64),
//	               options (u8: 1 = savepoint)
//	Watermark      payload = event time in ms (i64)
//	EndOfPartition no payload
//	Credit         arg = credit granted (consumer -> producer)
package ipcframe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/arrow/batch"
)

// Version is the frame format version.
const Version = 1

// HeaderSize is the size of every frame's header.
const HeaderSize = 8

// Kind is the kind of a frame.
type Kind uint8

// Frame kinds.
const (
	KindBatch          Kind = 1
	KindBarrier        Kind = 2
	KindWatermark      Kind = 3
	KindEndOfPartition Kind = 4
	KindCredit         Kind = 5
)

func (k Kind) String() string {
	switch k {
	case KindBatch:
		return "batch"
	case KindBarrier:
		return "barrier"
	case KindWatermark:
		return "watermark"
	case KindEndOfPartition:
		return "end-of-partition"
	case KindCredit:
		return "credit"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ErrFrame is wrapped by every decoding error.
var ErrFrame = errors.New("ipcframe: bad frame")

// Barrier is a checkpoint barrier.
type Barrier struct {
	ID        uint64
	Timestamp int64 // ms since the epoch, when the checkpoint was triggered
	Savepoint bool
}

// Event is a decoded frame. For KindBatch, Record holds the batch, which the
// receiver owns and must Release.
type Event struct {
	Kind      Kind
	Record    arrow.Record
	Backlog   int
	Barrier   Barrier
	Watermark int64
	Credit    int
}

func header(k Kind, arg uint32) []byte {
	return appendHeader(make([]byte, 0, 64), k, arg)
}

func appendHeader(dst []byte, k Kind, arg uint32) []byte {
	dst = append(dst, byte(k), Version, 0, 0)
	return binary.LittleEndian.AppendUint32(dst, arg)
}

// Encoder encodes the frames of one channel, producer side. It writes the
// schema with the first batch.
type Encoder struct {
	out appender
	w   *ipc.Writer
}

// appender is the io.Writer under the IPC writer: it appends to the frame
// being built, so a batch is copied once, straight into its frame.
type appender struct{ b []byte }

func (a *appender) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// NewEncoder returns an encoder for batches of schema.
func NewEncoder(schema *arrow.Schema, alloc memory.Allocator) *Encoder {
	e := &Encoder{}
	e.w = ipc.NewWriter(&e.out, ipc.WithSchema(schema), ipc.WithAllocator(alloc))
	return e
}

// Batch encodes rec (only read) with the sender's backlog. The returned
// bytes are the caller's.
func (e *Encoder) Batch(rec arrow.Record, backlog int) ([]byte, error) {
	return e.AppendBatch(nil, rec, backlog)
}

// AppendBatch appends the frame of rec (only read) with the sender's backlog
// to dst and returns the extended slice, like append: a caller that reuses
// its buffer encodes with no allocation once the buffer is large enough. On
// error dst is returned unchanged in length.
func (e *Encoder) AppendBatch(dst []byte, rec arrow.Record, backlog int) ([]byte, error) {
	n := len(dst)
	e.out.b = appendHeader(dst, KindBatch, uint32(backlog))
	err := e.w.Write(rec)
	out := e.out.b
	e.out.b = nil
	if err != nil {
		return out[:n], fmt.Errorf("ipcframe: encode batch: %w", err)
	}
	return out, nil
}

// Close releases the encoder.
func (e *Encoder) Close() error { return e.w.Close() }

// EncodeBarrier encodes a checkpoint barrier.
func EncodeBarrier(b Barrier) []byte {
	f := header(KindBarrier, 0)
	f = binary.LittleEndian.AppendUint64(f, b.ID)
	f = binary.LittleEndian.AppendUint64(f, uint64(b.Timestamp))
	var opts byte
	if b.Savepoint {
		opts = 1
	}
	return append(f, opts)
}

// EncodeWatermark encodes a watermark.
func EncodeWatermark(ms int64) []byte {
	return binary.LittleEndian.AppendUint64(header(KindWatermark, 0), uint64(ms))
}

// EncodeEndOfPartition encodes the end of a bounded partition.
func EncodeEndOfPartition() []byte { return header(KindEndOfPartition, 0) }

// EncodeCredit encodes a credit grant (consumer to producer).
func EncodeCredit(n int) []byte { return header(KindCredit, uint32(n)) }

// Decoder decodes the frames of one channel, consumer side. Frames must be
// fed in order; it is not safe for concurrent use.
//
// The channel's schema is known to the consumer (it comes with the task's
// deployment), so the decoder never parses a schema from the wire: it skips
// the peer's schema message and gives arrow's reader a schema message it
// encoded itself. Peer batch messages are checked (checkMessages) before
// arrow reads them and validated (batch.Validate) after.
type Decoder struct {
	alloc  memory.Allocator
	msgs   frameMessages
	r      *ipc.Reader
	schema *arrow.Schema
	prefix []byte // our own schema message
}

// NewDecoder returns a decoder for batches of schema, allocated from alloc.
func NewDecoder(schema *arrow.Schema, alloc memory.Allocator) *Decoder {
	return &Decoder{alloc: alloc, schema: schema}
}

// layout counts the field nodes and buffers of a batch of the schema.
func (d *Decoder) layout() layout {
	l := layout{nodes: int64(d.schema.NumFields())}
	for _, f := range d.schema.Fields() {
		switch f.Type.ID() {
		case arrow.STRING, arrow.BINARY:
			l.buffers += 3
		default:
			l.buffers += 2
		}
	}
	return l
}

// schemaMessage encodes the schema message of schema (without the stream's
// end marker).
func schemaMessage(schema *arrow.Schema) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	if err := w.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return b[:len(b)-8], nil // drop the end-of-stream marker
}

// Decode decodes one frame. A malformed frame yields an error wrapping
// ErrFrame, never a panic.
func (d *Decoder) Decode(frame []byte) (ev Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrFrame, r)
			ev = Event{}
		}
	}()
	if len(frame) < HeaderSize {
		return Event{}, fmt.Errorf("%w: %d bytes, shorter than a header", ErrFrame, len(frame))
	}
	kind, version := Kind(frame[0]), frame[1]
	if version != Version {
		return Event{}, fmt.Errorf("%w: version %d, want %d", ErrFrame, version, Version)
	}
	arg := binary.LittleEndian.Uint32(frame[4:])
	payload := frame[HeaderSize:]
	fixed := map[Kind]int{KindBarrier: 17, KindWatermark: 8, KindEndOfPartition: 0, KindCredit: 0}
	if n, ok := fixed[kind]; ok && len(payload) != n {
		return Event{}, fmt.Errorf("%w: %s payload of %d bytes, want %d", ErrFrame, kind, len(payload), n)
	}
	switch kind {
	case KindBatch:
		rec, err := d.batch(payload)
		if err != nil {
			return Event{}, err
		}
		return Event{Kind: kind, Record: rec, Backlog: int(arg)}, nil
	case KindBarrier:
		return Event{Kind: kind, Barrier: Barrier{
			ID:        binary.LittleEndian.Uint64(payload),
			Timestamp: int64(binary.LittleEndian.Uint64(payload[8:])),
			Savepoint: payload[16]&1 != 0,
		}}, nil
	case KindWatermark:
		return Event{Kind: kind, Watermark: int64(binary.LittleEndian.Uint64(payload))}, nil
	case KindEndOfPartition:
		return Event{Kind: kind}, nil
	case KindCredit:
		if arg > 1<<30 {
			return Event{}, fmt.Errorf("%w: credit %d", ErrFrame, arg)
		}
		return Event{Kind: kind, Credit: int(arg)}, nil
	}
	return Event{}, fmt.Errorf("%w: unknown kind %d", ErrFrame, uint8(kind))
}

func (d *Decoder) batch(payload []byte) (arrow.Record, error) {
	if d.schema == nil {
		return nil, fmt.Errorf("%w: the decoder has no schema", ErrFrame)
	}
	msgs, err := checkMessages(payload, d.layout())
	if err != nil {
		return nil, err
	}
	first := d.r == nil
	want := []byte{headerRecordBatch}
	if first {
		want = []byte{headerSchema, headerRecordBatch}
	}
	if len(msgs) != len(want) {
		return nil, fmt.Errorf("%w: %d IPC messages, want %d", ErrFrame, len(msgs), len(want))
	}
	for i, m := range msgs {
		if m.kind != want[i] {
			return nil, fmt.Errorf("%w: IPC message %d has header type %d, want %d", ErrFrame, i, m.kind, want[i])
		}
	}
	batchMsg := payload[msgs[len(msgs)-1].start:msgs[len(msgs)-1].end]
	d.msgs.next = d.msgs.next[:0] // nothing left from a failed frame
	if first {
		if d.prefix == nil {
			if d.prefix, err = schemaMessage(d.schema); err != nil {
				return nil, fmt.Errorf("ipcframe: encode schema: %w", err)
			}
		}
		// Both ends run the same encoder, so equal schemas give equal bytes.
		if !bytes.Equal(payload[msgs[0].start:msgs[0].end], d.prefix) {
			return nil, fmt.Errorf("%w: the channel's schema differs from %s", ErrFrame, d.schema)
		}
		d.msgs.push(d.prefix)
		d.msgs.push(batchMsg)
		r, err := ipc.NewReaderFromMessageReader(&d.msgs, ipc.WithAllocator(d.alloc))
		if err != nil {
			return nil, fmt.Errorf("ipcframe: read own schema: %w", err)
		}
		d.r = r
	} else {
		d.msgs.push(batchMsg)
	}
	if !d.r.Next() {
		err := d.r.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: batch: %w", ErrFrame, err)
	}
	if len(d.msgs.next) != 0 {
		return nil, fmt.Errorf("%w: %d IPC messages left after the batch", ErrFrame, len(d.msgs.next))
	}
	rec := d.r.Record()
	if err := batch.Validate(rec); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFrame, err)
	}
	rec.Retain()
	return rec, nil
}

// Close releases the decoder.
func (d *Decoder) Close() {
	if d.r != nil {
		d.r.Release()
		d.r = nil
	}
	d.msgs.Release()
}

// frameMessages is the ipc.MessageReader under a Decoder: it hands arrow's
// reader the IPC messages of a frame, located and checked by
// checkMessages, as slices of the frame. Arrow's stream reader over an
// io.Reader would copy each message body before copying each buffer out of
// it; this way a batch is copied once, from the frame into the decoder's
// allocator (arrow's reader copies every buffer of a record it builds, so
// nothing refers to the frame once Next returns).
type frameMessages struct {
	next [][]byte // whole IPC messages (continuation, length, metadata, body)
	msg  *ipc.Message
}

func (m *frameMessages) push(msg []byte) { m.next = append(m.next, msg) }

// Message returns the next pushed message, io.EOF if there is none. The
// message is valid until the next call.
func (m *frameMessages) Message() (*ipc.Message, error) {
	if len(m.next) == 0 {
		return nil, io.EOF
	}
	raw := m.next[0]
	m.next[0] = nil
	m.next = m.next[1:]
	if m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
	// checkMessages has checked the marker, the metadata length and that the
	// body fits.
	metaLen := int(int32(binary.LittleEndian.Uint32(raw[4:])))
	meta := memory.NewBufferBytes(raw[8 : 8+metaLen])
	body := memory.NewBufferBytes(raw[8+metaLen:])
	m.msg = ipc.NewMessage(meta, body)
	meta.Release()
	body.Release()
	return m.msg, nil
}

// Retain is a no-op: the decoder owns the reader.
func (m *frameMessages) Retain() {}

// Release drops the last message handed out.
func (m *frameMessages) Release() {
	if m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
	m.next = m.next[:0]
}
