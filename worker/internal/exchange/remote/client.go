package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/weirflow/weir/arrow/ipcframe"
	"github.com/weirflow/weir/internal/rpcpb"
	"github.com/weirflow/weir/worker/internal/exchange"
)

// Connect feeds channel ch of g from subpartition sub of the partition key,
// produced in another TaskManager whose DataExchange server conn reaches
// (recommended dial options: DialOptions). It returns at once; the
// connection runs in goroutines until end-of-partition, an error (delivered
// to g.Next: the channel was refused, the producer failed, the stream broke
// or ctx ended) or g.Close.
//
// Decoded batches are allocated from the gate's Options.Alloc and owned by
// the gate, then by the consumer that takes them from Next.
func Connect(ctx context.Context, g *exchange.InputGate, ch int, conn *grpc.ClientConn, key exchange.PartitionKey, sub int) {
	c := g.Channel(ch)
	if c == nil {
		g.Fail(fmt.Errorf("remote: connect channel %d of a gate of %d", ch, g.NumChannels()))
		return
	}
	cctx, err := c.Attach(ctx)
	if err != nil {
		c.Fail(fmt.Errorf("remote: connect to %s subpartition %d: %w", key, sub, err))
		return
	}
	go run(cctx, c, conn, key, sub)
}

func run(ctx context.Context, c *exchange.Channel, conn *grpc.ClientConn, key exchange.PartitionKey, sub int) {
	defer c.Detach()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) {
		c.Fail(fmt.Errorf("remote: channel from %s subpartition %d at %s: %w", key, sub, conn.Target(), err))
	}
	stream, err := rpcpb.NewDataExchangeClient(conn).Channel(ctx, callOptions()...)
	if err != nil {
		fail(streamError(err))
		return
	}
	open := &rpcpb.ExchangeMessage{Body: &rpcpb.ExchangeMessage_Open{Open: &rpcpb.ChannelOpen{
		ProducerExecutionId: key.Producer,
		DownstreamVertex:    key.Downstream,
		ConsumerSubtask:     int32(sub),
	}}}
	if err := stream.Send(open); err != nil && !errors.Is(err, io.EOF) {
		fail(streamError(err)) // with io.EOF the status comes with the next receive
		return
	}

	// Credits are written by their own goroutine: the gate grants them under
	// its lock, from the consumer's Release, and must not wait for the
	// network.
	var owed atomic.Int64
	wake := make(chan struct{}, 1)
	c.OnGrant(func(n int) {
		owed.Add(int64(n))
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	written := make(chan struct{})
	go func() {
		defer close(written)
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
			if n := owed.Swap(0); n > 0 {
				f := ipcframe.EncodeCredit(int(n))
				if err := stream.SendMsg(&outFrame{buf: &f}); err != nil {
					return // the receiving side sees the stream's status
				}
			}
		}
	}()
	defer func() {
		cancel()
		<-written
	}()

	dec := ipcframe.NewDecoder(c.Schema(), c.Alloc())
	defer dec.Close()
	var in inFrame
	for {
		if err := stream.RecvMsg(&in); err != nil {
			if ctx.Err() != nil {
				fail(ctx.Err()) // the caller's context ended (after Close, Fail does nothing)
				return
			}
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w: the stream ended before end-of-partition", ErrBroken)
			} else {
				err = streamError(err)
			}
			fail(err)
			return
		}
		if !in.hasFrame {
			fail(fmt.Errorf("%w: a message without a frame", ErrBroken))
			return
		}
		f, err := dec.Decode(in.frame)
		if err != nil {
			fail(fmt.Errorf("%w: %w", ErrBroken, err))
			return
		}
		ev := exchange.Event{Kind: f.Kind, Record: f.Record, Barrier: f.Barrier, Watermark: f.Watermark}
		if err := c.Deliver(ev, f.Backlog); err != nil || ev.Kind == ipcframe.KindEndOfPartition {
			return // Deliver failed the channel itself, or the gate is closed
		}
	}
}

// streamError turns a stream's status into the error a consumer sees.
func streamError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%w: %w", ErrBroken, err)
	}
	switch st.Code() {
	case codes.Aborted:
		msg := strings.TrimPrefix(st.Message(), exchange.ErrProducerFailed.Error()+": ")
		return fmt.Errorf("%w: %s", exchange.ErrProducerFailed, msg)
	case codes.InvalidArgument, codes.AlreadyExists, codes.NotFound, codes.FailedPrecondition, codes.Unimplemented:
		return fmt.Errorf("%w: %s: %s", ErrRefused, st.Code(), st.Message())
	case codes.Canceled, codes.DeadlineExceeded:
		return fmt.Errorf("%w: %s: %s: %w", ErrBroken, st.Code(), st.Message(), err)
	}
	return fmt.Errorf("%w: %s: %s", ErrBroken, st.Code(), st.Message())
}
