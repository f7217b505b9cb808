// Package remote carries exchange channels between TaskManager processes:
// one gRPC stream (rpcpb.DataExchange.Channel) per channel, opened by the
// consumer, with the same credit protocol as a local channel. The consumer
// sends ChannelOpen, then credit frames; the producer sends batch, barrier,
// watermark and end-of-partition frames (arrow/ipcframe), a batch only
// against credit and with its backlog, so the consumer can lend floating
// credit. A producer failure ends the stream with status Aborted and the
// producer's error text.
package remote

import (
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// MaxMessageSize is the largest exchange message (an encoded batch plus a
// few bytes) either side accepts. A batch that encodes larger fails its
// channel; keep batches well below it (64K rows of a few columns is a few
// MiB).
const MaxMessageSize = 256 << 20

// Flow-control windows and buffers of the exchange's HTTP/2 connections.
// Credits bound what a producer sends; the HTTP/2 windows only have to be
// large enough not to throttle a channel below that (a 64K-row batch of two
// int64 columns is 1 MiB).
const (
	streamWindow = 16 << 20
	connWindow   = 64 << 20
	ioBuffer     = 512 << 10
)

// Keepalive: a peer that vanishes without closing its connection (a killed
// machine, a partition) fails its channels within keepaliveTime +
// keepaliveTimeout. A killed process is noticed at once: its kernel closes
// the socket.
const (
	keepaliveTime    = 10 * time.Second
	keepaliveTimeout = 5 * time.Second
)

// Sentinel errors of remote channels, wrapped by what a gate's Next returns.
var (
	// ErrRefused means the producer's TaskManager refused the channel (no
	// such subpartition, a second reader, a malformed open).
	ErrRefused = errors.New("remote: channel refused")
	// ErrBroken means the stream failed: the producer's TaskManager died or
	// became unreachable, or a peer broke the protocol.
	ErrBroken = errors.New("remote: channel broken")
)

// ServerOptions are the grpc.ServerOptions a server carrying the
// DataExchange service must be created with: the exchange's codec (frames
// without extra copies; every other message still uses protobuf, so other
// services can share the server), message size limits, flow-control
// windows, buffers and keepalive.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(codec{}),
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connWindow),
		grpc.WriteBufferSize(ioBuffer),
		grpc.ReadBufferSize(ioBuffer),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveTime / 2, PermitWithoutStream: true}),
	}
}

// DialOptions are the recommended grpc.DialOptions for a connection to
// another TaskManager's DataExchange service: windows, buffers and
// keepalive. Transport credentials are the caller's to add. Connect sets the
// codec and message sizes per call, so it also works on other connections.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
		grpc.WithInitialWindowSize(streamWindow),
		grpc.WithInitialConnWindowSize(connWindow),
		grpc.WithWriteBufferSize(ioBuffer),
		grpc.WithReadBufferSize(ioBuffer),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveTime, Timeout: keepaliveTimeout, PermitWithoutStream: true}),
	}
}

func callOptions() []grpc.CallOption {
	return []grpc.CallOption{
		grpc.ForceCodecV2(codec{}),
		grpc.MaxCallRecvMsgSize(MaxMessageSize),
		grpc.MaxCallSendMsgSize(MaxMessageSize),
	}
}
