package remote

import (
	"errors"
	"fmt"
	"sync"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	// The standard proto codec, for every other message.
	_ "google.golang.org/grpc/encoding/proto"
)

// frameField is the field number of ExchangeMessage.frame (internal/rpcpb).
const frameField = 2

// codec is the gRPC codec of the data exchange. It speaks the protobuf wire
// format of rpcpb.ExchangeMessage (so its content subtype is "proto"), but a
// frame is marshalled without copying it (outFrame) and unmarshalled into a
// buffer the connection reuses (inFrame). Other messages, on this service or
// any other of the same server, go through the standard proto codec.
type codec struct{}

var protoCodec = encoding.GetCodecV2("proto")

// Name is the content subtype: the bytes on the wire are protobuf.
func (codec) Name() string { return "proto" }

// outFrame is an ExchangeMessage{frame: ...} to send. If pool is set, buf
// came from it and goes back to it once gRPC has written it out.
type outFrame struct {
	buf  *[]byte
	pool mem.BufferPool
}

// inFrame receives an ExchangeMessage: frame is valid until the next
// receive into the same inFrame.
type inFrame struct {
	buf      []byte
	frame    []byte
	hasFrame bool
}

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	f, ok := v.(*outFrame)
	if !ok {
		return protoCodec.Marshal(v)
	}
	n := len(*f.buf)
	head := protowire.AppendVarint(protowire.AppendTag(make([]byte, 0, 8), frameField, protowire.BytesType), uint64(n))
	return mem.BufferSlice{mem.SliceBuffer(head), mem.NewBuffer(f.buf, f.pool)}, nil
}

func (codec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*inFrame)
	if !ok {
		return protoCodec.Unmarshal(data, v)
	}
	n := data.Len()
	if cap(f.buf) < n {
		f.buf = make([]byte, n)
	}
	f.buf = f.buf[:n]
	data.CopyTo(f.buf)
	return f.parse(f.buf)
}

var errWire = errors.New("remote: malformed ExchangeMessage")

// parse reads the frame field of an ExchangeMessage, skipping other fields.
func (f *inFrame) parse(b []byte) error {
	f.frame, f.hasFrame = nil, false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %w", errWire, protowire.ParseError(n))
		}
		b = b[n:]
		if num == frameField && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return fmt.Errorf("%w: %w", errWire, protowire.ParseError(m))
			}
			f.frame, f.hasFrame = v, true
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return fmt.Errorf("%w: %w", errWire, protowire.ParseError(m))
		}
		b = b[m:]
	}
	return nil
}

// framePool recycles the buffers batches are encoded into: a sender takes
// one per batch, gRPC puts it back once written, so a channel in steady
// state does not allocate.
type framePool struct{ p sync.Pool }

func (p *framePool) Get(length int) *[]byte {
	if b, ok := p.p.Get().(*[]byte); ok && cap(*b) >= length {
		*b = (*b)[:length]
		return b
	}
	b := make([]byte, length)
	return &b
}

func (p *framePool) Put(b *[]byte) {
	*b = (*b)[:0]
	p.p.Put(b)
}
