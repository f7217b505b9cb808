package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/weirflow/weir/arrow/ipcframe"
	"github.com/weirflow/weir/internal/rpcpb"
	"github.com/weirflow/weir/worker/internal/exchange"
)

// Server implements rpcpb.DataExchangeServer over an exchange.Registry: each
// Channel stream reads one subpartition for a consumer in another
// TaskManager. The grpc.Server must be created with ServerOptions().
type Server struct {
	rpcpb.UnimplementedDataExchangeServer
	reg  *exchange.Registry
	log  *slog.Logger
	pool framePool
}

// NewServer returns a DataExchange server over the partitions of r. A nil
// logger discards.
func NewServer(r *exchange.Registry, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{reg: r, log: logger}
}

// Register registers s on gs.
func (s *Server) Register(gs *grpc.Server) { rpcpb.RegisterDataExchangeServer(gs, s) }

var errConsumerClosed = errors.New("remote: the consumer closed its side of the stream")

// Channel serves one exchange channel: it waits for the consumer's
// ChannelOpen and for the partition to be registered, then sends the
// subpartition's events against the credit frames it receives. It ends with
// OK after end-of-partition, Aborted with the producer's error if the
// producer fails, InvalidArgument or AlreadyExists for a bad open.
func (s *Server) Channel(stream grpc.BidiStreamingServer[rpcpb.ExchangeMessage, rpcpb.ExchangeMessage]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	open := first.GetOpen()
	if open == nil {
		return status.Error(codes.InvalidArgument, "remote: the first message of a channel must be ChannelOpen")
	}
	key := exchange.PartitionKey{Producer: open.GetProducerExecutionId(), Downstream: open.GetDownstreamVertex()}
	sub := int(open.GetConsumerSubtask())
	if key.Producer == "" || key.Downstream == "" {
		return status.Error(codes.InvalidArgument, "remote: ChannelOpen without a producer or a downstream vertex")
	}
	log := s.log.With("partition", key.String(), "subpartition", sub)
	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	rd, err := s.reg.Subpartition(ctx, key, sub)
	if err != nil {
		log.Warn("exchange channel refused", "err", err)
		return refusal(err)
	}
	defer rd.Close()
	log.Debug("exchange channel opened")

	// Credits arrive on the stream while events go out: a goroutine reads
	// them. gRPC ends its Recv when the handler returns.
	go func() { cancel(readCredits(stream, rd)) }()

	err = s.send(ctx, stream, rd)
	switch {
	case err == nil:
		log.Debug("exchange channel ended")
		return nil
	case errors.Is(err, exchange.ErrProducerFailed):
		log.Debug("exchange channel ends with the producer's failure", "err", err)
		return status.Error(codes.Aborted, err.Error())
	case ctx.Err() != nil:
		cause := context.Cause(ctx)
		if errors.Is(cause, errConsumerClosed) || status.Code(cause) == codes.Canceled || errors.Is(cause, context.Canceled) {
			log.Debug("exchange channel canceled by the consumer")
			return status.FromContextError(context.Canceled).Err()
		}
		log.Warn("exchange channel failed", "err", cause)
		if _, ok := status.FromError(cause); ok {
			return cause
		}
		return status.Error(codes.InvalidArgument, cause.Error())
	}
	log.Warn("exchange channel failed", "err", err)
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Internal, err.Error())
}

// send streams the subpartition's events until end-of-partition.
func (s *Server) send(ctx context.Context, stream grpc.BidiStreamingServer[rpcpb.ExchangeMessage, rpcpb.ExchangeMessage], rd *exchange.SubpartitionReader) error {
	enc := ipcframe.NewEncoder(rd.Schema(), memory.DefaultAllocator)
	defer enc.Close()
	for {
		ev, backlog, err := rd.Next(ctx)
		if err != nil {
			return err
		}
		var out outFrame
		switch ev.Kind {
		case ipcframe.KindBatch:
			buf := s.pool.Get(0)
			frame, err := enc.AppendBatch(*buf, ev.Record, backlog)
			ev.Record.Release()
			if err != nil {
				s.pool.Put(buf)
				return err
			}
			*buf = frame
			out = outFrame{buf: buf, pool: &s.pool}
		case ipcframe.KindBarrier:
			f := ipcframe.EncodeBarrier(ev.Barrier)
			out = outFrame{buf: &f}
		case ipcframe.KindWatermark:
			f := ipcframe.EncodeWatermark(ev.Watermark)
			out = outFrame{buf: &f}
		case ipcframe.KindEndOfPartition:
			f := ipcframe.EncodeEndOfPartition()
			out = outFrame{buf: &f}
		default:
			return fmt.Errorf("remote: unexpected event kind %s", ev.Kind)
		}
		if err := stream.SendMsg(&out); err != nil {
			return err
		}
		if ev.Kind == ipcframe.KindEndOfPartition {
			return nil
		}
	}
}

// readCredits forwards the consumer's credit frames to the reader until the
// stream ends, and returns why it ended.
func readCredits(stream grpc.BidiStreamingServer[rpcpb.ExchangeMessage, rpcpb.ExchangeMessage], rd *exchange.SubpartitionReader) error {
	dec := ipcframe.NewDecoder(nil, memory.DefaultAllocator)
	defer dec.Close()
	for {
		var in inFrame
		if err := stream.RecvMsg(&in); err != nil {
			if errors.Is(err, io.EOF) {
				return errConsumerClosed
			}
			return err
		}
		if !in.hasFrame {
			return errors.New("remote: a message without a frame after ChannelOpen")
		}
		ev, err := dec.Decode(in.frame)
		if err != nil {
			return err
		}
		if ev.Kind != ipcframe.KindCredit {
			return fmt.Errorf("remote: the consumer sent a %s frame, want credit", ev.Kind)
		}
		if err := rd.Grant(ev.Credit); err != nil {
			return err
		}
	}
}

// refusal maps why a channel could not be opened to a gRPC status.
func refusal(err error) error {
	switch {
	case errors.Is(err, exchange.ErrNoSubpartition):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, exchange.ErrReaderTaken):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, err.Error())
}
