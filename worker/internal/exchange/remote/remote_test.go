package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/array"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/weirflow/weir/arrow/ipcframe"
	"github.com/weirflow/weir/internal/rpcpb"
	"github.com/weirflow/weir/worker/internal/exchange"
)

func key(p int) exchange.PartitionKey {
	return exchange.PartitionKey{Producer: fmt.Sprintf("job/src#%d@0", p), Downstream: "sink"}
}

// TestRemoteEndToEnd: producers × consumers over a real loopback gRPC
// server, with barriers and watermarks; one gate mixes a remote and a local
// channel. Every row arrives once, in order per channel, with the in-band
// events in place; the consumer side stays within its credit.
func TestRemoteEndToEnd(t *testing.T) {
	cases := []struct {
		name                 string
		producers, consumers int
		batches, rows        int
		opts                 exchange.Options
		local                bool // channel 0 of every gate is local
	}{
		{"2x2 remote", 2, 2, 120, 300, exchange.Options{Queue: 2, Exclusive: 2, Floating: 2, FlushRows: 256}, false},
		{"3x2 mixed local and remote", 3, 2, 80, 100, exchange.Options{Queue: 1, Exclusive: 1, Floating: 1, FlushRows: -1}, true},
		{"1x1 defaults, small batches", 1, 1, 400, 7, exchange.Options{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prodAlloc, consAlloc := newAlloc(t), newAlloc(t)
			ctx := timeout(t)
			reg := exchange.NewRegistry()
			conn := dial(t, startServer(t, reg))
			popts, copts := tc.opts, tc.opts
			popts.Alloc, copts.Alloc = prodAlloc, consAlloc
			gates := make([]*exchange.InputGate, tc.consumers)
			for c := range gates {
				gates[c] = exchange.NewInputGate(benchSchema, tc.producers, copts)
				for p := range tc.producers {
					if tc.local && p == 0 {
						gates[c].ConnectLocal(ctx, p, reg, key(p), c)
					} else {
						Connect(ctx, gates[c], p, conn, key(p), c)
					}
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, tc.producers+tc.consumers)
			for p := range tc.producers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- produce(ctx, reg, p, tc.consumers, tc.batches, tc.rows, popts)
				}()
			}
			for c := range gates {
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer gates[c].Close()
					errs <- consume(ctx, gates[c], c, tc.producers, tc.consumers, tc.batches, tc.rows, copts)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			checkNoLeaks(t)
		})
	}
}

// produce sends producer p's rows: batch b goes to consumer b%consumers, a
// barrier every 10 batches and a watermark every 3 are broadcast.
func produce(ctx context.Context, reg *exchange.Registry, p, consumers, batches, rows int, opts exchange.Options) error {
	part := exchange.NewResultPartition(key(p), benchSchema, consumers, opts)
	if err := reg.Register(part); err != nil {
		return err
	}
	defer reg.Unregister(part.Key())
	for b := range batches {
		rec := int64Batch(opts.Alloc, int64(b*rows), rows)
		if err := part.Add(ctx, b%consumers, exchange.Event{Kind: ipcframe.KindBatch, Record: rec}); err != nil {
			return err
		}
		if b%10 == 9 {
			if err := part.Broadcast(ctx, exchange.Event{Kind: ipcframe.KindBarrier, Barrier: ipcframe.Barrier{ID: uint64(b / 10)}}); err != nil {
				return err
			}
		}
		if b%3 == 2 {
			if err := part.Broadcast(ctx, exchange.Event{Kind: ipcframe.KindWatermark, Watermark: int64(b)}); err != nil {
				return err
			}
		}
	}
	if err := part.Finish(ctx); err != nil {
		return err
	}
	select {
	case <-part.Consumed():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// consume checks consumer c's view of every channel: the rows of its
// batches in order and complete, barriers and watermarks behind the rows
// sent before them.
func consume(ctx context.Context, g *exchange.InputGate, c, producers, consumers, batches, rows int, opts exchange.Options) error {
	next := make([]int64, producers) // next expected a value per channel
	for p := range next {
		next[p] = int64(c * rows)
	}
	barrier := make([]int, producers)
	wm := make([]int64, producers)
	for p := range wm {
		wm[p] = -1
	}
	o := opts
	if o.Exclusive <= 0 {
		o.Exclusive = exchange.DefaultExclusive
	}
	if o.Floating == 0 {
		o.Floating = exchange.DefaultFloating
	}
	bound := producers*o.Exclusive + max(o.Floating, 0)
	for ended := 0; ended < producers; {
		ev, ch, err := g.Next(ctx)
		if err != nil {
			return fmt.Errorf("consumer %d: %w", c, err)
		}
		switch ev.Kind {
		case ipcframe.KindBatch:
			a := ev.Record.Column(0).(*array.Int64).Int64Values()
			bv := ev.Record.Column(1).(*array.Int64).Int64Values()
			for i, v := range a {
				if v != next[ch] || bv[i] != 2*v {
					ev.Record.Release()
					return fmt.Errorf("consumer %d channel %d: row %d, want %d", c, ch, v, next[ch])
				}
				next[ch]++
				if next[ch]%int64(rows) == 0 { // skip the other consumers' batches
					next[ch] += int64((consumers - 1) * rows)
				}
			}
			ev.Record.Release()
			if h := g.Held(); h > bound {
				return fmt.Errorf("consumer %d holds %d batches, bound %d", c, h, bound)
			}
			if err := g.Release(ch); err != nil {
				return err
			}
		case ipcframe.KindBarrier:
			if int(ev.Barrier.ID) != barrier[ch] || next[ch] < int64((barrier[ch]*10+10)*rows) {
				return fmt.Errorf("consumer %d channel %d: barrier %d at row %d", c, ch, ev.Barrier.ID, next[ch])
			}
			barrier[ch]++
		case ipcframe.KindWatermark:
			if ev.Watermark <= wm[ch] || next[ch] < (ev.Watermark+1)*int64(rows)-int64((consumers-1)*rows) {
				return fmt.Errorf("consumer %d channel %d: watermark %d at row %d", c, ch, ev.Watermark, next[ch])
			}
			wm[ch] = ev.Watermark
		case ipcframe.KindEndOfPartition:
			if want := lastRow(c, consumers, batches, rows); next[ch] < want {
				return fmt.Errorf("consumer %d channel %d: ended at row %d, want %d", c, ch, next[ch], want)
			}
			ended++
		}
	}
	return nil
}

// lastRow is one past the last row consumer c gets from a producer.
func lastRow(c, consumers, batches, rows int) int64 {
	last := -1
	for b := range batches {
		if b%consumers == c {
			last = b
		}
	}
	return int64((last + 1) * rows)
}

// TestRemoteProducerFailure: a producer's failure ends its streams with its
// error, which the consumer's Next returns with the producer's name.
func TestRemoteProducerFailure(t *testing.T) {
	prodAlloc, consAlloc := newAlloc(t), newAlloc(t)
	ctx := timeout(t)
	reg := exchange.NewRegistry()
	conn := dial(t, startServer(t, reg))
	part := exchange.NewResultPartition(key(4), benchSchema, 1, exchange.Options{FlushRows: -1, Alloc: prodAlloc})
	if err := reg.Register(part); err != nil {
		t.Fatal(err)
	}
	g := exchange.NewInputGate(benchSchema, 1, exchange.Options{Alloc: consAlloc})
	defer g.Close()
	Connect(ctx, g, 0, conn, key(4), 0)
	for b := range 3 {
		if err := part.Add(ctx, 0, exchange.Event{Kind: ipcframe.KindBatch, Record: int64Batch(prodAlloc, int64(b*10), 10)}); err != nil {
			t.Fatal(err)
		}
	}
	ev, ch, err := g.Next(ctx) // the stream is up
	if err != nil {
		t.Fatal(err)
	}
	ev.Record.Release()
	if err := g.Release(ch); err != nil {
		t.Fatal(err)
	}
	part.Fail(errors.New("boom: the operator trapped"))
	for {
		ev, ch, err = g.Next(ctx)
		if err != nil {
			break
		}
		ev.Record.Release()
		if err := g.Release(ch); err != nil {
			t.Fatal(err)
		}
	}
	msg := err.Error()
	if !errors.Is(err, exchange.ErrProducerFailed) || !strings.Contains(msg, "boom: the operator trapped") ||
		!strings.Contains(msg, key(4).Producer) || !strings.Contains(msg, "channel 0") {
		t.Fatalf("Next: %v", err)
	}
	t.Log(msg)
	g.Close()
	checkNoLeaks(t)
}

// TestRemoteRefusals: the server refuses a bad ChannelOpen with a clear
// error that reaches the consumer.
func TestRemoteRefusals(t *testing.T) {
	alloc := newAlloc(t)
	ctx := timeout(t)
	reg := exchange.NewRegistry()
	conn := dial(t, startServer(t, reg))
	part := exchange.NewResultPartition(key(0), benchSchema, 2, exchange.Options{Alloc: alloc})
	defer part.Fail(errors.New("test over"))
	if err := reg.Register(part); err != nil {
		t.Fatal(err)
	}
	first := exchange.NewInputGate(benchSchema, 1, exchange.Options{Alloc: alloc})
	defer first.Close()
	Connect(ctx, first, 0, conn, key(0), 1) // takes subpartition 1's reader
	// Once an event of subpartition 1 arrives, the first reader holds it.
	if err := part.Add(ctx, 1, exchange.Event{Kind: ipcframe.KindWatermark, Watermark: 1}); err != nil {
		t.Fatal(err)
	}
	if ev, _, err := first.Next(ctx); err != nil || ev.Kind != ipcframe.KindWatermark {
		t.Fatalf("first channel: %v %v", ev.Kind, err)
	}

	cases := []struct {
		name     string
		sub      int
		wantCode string
		wantText string
	}{
		{"subpartition index out of range", 2, "InvalidArgument", "no such subpartition"},
		{"negative subpartition index", -1, "InvalidArgument", "no such subpartition"},
		{"second reader of a subpartition", 1, "AlreadyExists", "already has a reader"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := exchange.NewInputGate(benchSchema, 1, exchange.Options{Alloc: alloc})
			defer g.Close()
			Connect(ctx, g, 0, conn, key(0), tc.sub)
			_, _, err := g.Next(ctx)
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.wantCode) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("Next: %v", err)
			}
		})
	}

	raw := []struct {
		name string
		msg  *rpcpb.ExchangeMessage
	}{
		{"a frame before ChannelOpen", &rpcpb.ExchangeMessage{Body: &rpcpb.ExchangeMessage_Frame{Frame: ipcframe.EncodeCredit(1)}}},
		{"an empty ChannelOpen", &rpcpb.ExchangeMessage{Body: &rpcpb.ExchangeMessage_Open{Open: &rpcpb.ChannelOpen{}}}},
	}
	for _, tc := range raw {
		t.Run(tc.name, func(t *testing.T) {
			stream, err := rpcpb.NewDataExchangeClient(conn).Channel(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(tc.msg); err != nil {
				t.Fatal(err)
			}
			_, err = stream.Recv()
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("Recv: %v", err)
			}
		})
	}
	t.Run("a data frame instead of credit", func(t *testing.T) {
		k := key(7)
		p := exchange.NewResultPartition(k, benchSchema, 1, exchange.Options{Alloc: alloc})
		if err := reg.Register(p); err != nil {
			t.Fatal(err)
		}
		stream, err := rpcpb.NewDataExchangeClient(conn).Channel(ctx)
		if err != nil {
			t.Fatal(err)
		}
		open := &rpcpb.ExchangeMessage{Body: &rpcpb.ExchangeMessage_Open{Open: &rpcpb.ChannelOpen{ProducerExecutionId: k.Producer, DownstreamVertex: k.Downstream}}}
		if err := stream.Send(open); err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&rpcpb.ExchangeMessage{Body: &rpcpb.ExchangeMessage_Frame{Frame: ipcframe.EncodeWatermark(5)}}); err != nil {
			t.Fatal(err)
		}
		_, err = stream.Recv()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "want credit") {
			t.Fatalf("Recv: %v", err)
		}
		// The reader was closed: the producer learns its consumer is gone.
		waitFor(t, "the producer to see its consumer gone", func() bool {
			err := p.Add(ctx, 0, exchange.Event{Kind: ipcframe.KindWatermark, Watermark: 1})
			return errors.Is(err, exchange.ErrConsumerGone)
		})
	})
	first.Close()
	checkNoLeaks(t)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestRemoteConsumerGoes: a consumer whose context ends or whose gate
// closes ends its streams; the producer sees its consumer gone and nothing
// leaks on either side.
func TestRemoteConsumerGoes(t *testing.T) {
	for _, how := range []string{"context canceled", "gate closed"} {
		t.Run(how, func(t *testing.T) {
			prodAlloc, consAlloc := newAlloc(t), newAlloc(t)
			ctx := timeout(t)
			reg := exchange.NewRegistry()
			conn := dial(t, startServer(t, reg))
			part := exchange.NewResultPartition(key(1), benchSchema, 1, exchange.Options{Queue: 1, FlushRows: -1, Alloc: prodAlloc})
			if err := reg.Register(part); err != nil {
				t.Fatal(err)
			}
			g := exchange.NewInputGate(benchSchema, 1, exchange.Options{Exclusive: 1, Floating: -1, Alloc: consAlloc})
			defer g.Close()
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			Connect(cctx, g, 0, conn, key(1), 0)
			addErr := make(chan error, 1)
			go func() {
				for b := 0; ; b++ {
					if err := part.Add(ctx, 0, exchange.Event{Kind: ipcframe.KindBatch, Record: int64Batch(prodAlloc, int64(b), 1)}); err != nil {
						addErr <- err
						return
					}
				}
			}()
			waitFor(t, "the producer to block", func() bool { return part.Queued(0) == 1 && g.Held() == 1 })
			switch how {
			case "context canceled":
				cancel()
				var err error
				for err == nil {
					var ev exchange.Event
					ev, _, err = g.Next(ctx)
					if ev.Record != nil {
						ev.Record.Release()
					}
				}
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Next after cancel: %v", err)
				}
			case "gate closed":
				g.Close()
			}
			if err := <-addErr; !errors.Is(err, exchange.ErrConsumerGone) {
				t.Fatalf("Add: %v", err)
			}
			g.Close()
			checkNoLeaks(t)
		})
	}
}

// TestRemoteProducerKilled: the consumer of a producer TaskManager that is
// killed (SIGKILL) gets an error from Next promptly instead of hanging.
func TestRemoteProducerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	alloc := newAlloc(t)
	ctx := timeout(t)
	child := startProducer(t, -1, 1000, 0, "")
	conn := dial(t, child.addr)
	g := exchange.NewInputGate(benchSchema, 1, exchange.Options{Alloc: alloc})
	defer g.Close()
	Connect(ctx, g, 0, conn, childKey, 0)
	for range 5 {
		ev, ch, err := g.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ev.Record.Release()
		if err := g.Release(ch); err != nil {
			t.Fatal(err)
		}
	}
	if err := child.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var err error
	for err == nil {
		var ev exchange.Event
		var ch int
		ev, ch, err = g.Next(ctx)
		if err == nil && ev.Record != nil {
			ev.Record.Release()
			if err := g.Release(ch); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !errors.Is(err, ErrBroken) || time.Since(killed) > 10*time.Second {
		t.Fatalf("Next %s after the kill: %v", time.Since(killed), err)
	}
	t.Logf("after %s: %v", time.Since(killed).Round(time.Millisecond), err)
	g.Close()
	checkNoLeaks(t)
}

// TestRemoteUnreachable: a producer TaskManager that does not listen fails
// the channel at once with ErrBroken.
func TestRemoteUnreachable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there any more
	ctx := timeout(t)
	g := exchange.NewInputGate(benchSchema, 1, exchange.Options{})
	defer g.Close()
	Connect(ctx, g, 0, dial(t, addr), key(0), 0)
	if _, _, err := g.Next(ctx); !errors.Is(err, ErrBroken) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Next: %v", err)
	}
	g.Close()
	checkNoLeaks(t)
}

// TestCodec: frames marshal to the protobuf encoding of ExchangeMessage
// and back, other messages go through protobuf, malformed input is refused.
func TestCodec(t *testing.T) {
	frame := ipcframe.EncodeWatermark(42)
	out, err := codec{}.Marshal(&outFrame{buf: &frame})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := proto.Marshal(&rpcpb.ExchangeMessage{Body: &rpcpb.ExchangeMessage_Frame{Frame: frame}})
	if got := out.Materialize(); string(got) != string(want) {
		t.Fatalf("marshal: % x, want % x", got, want)
	}
	var in inFrame
	if err := (codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(want[:3]), mem.SliceBuffer(want[3:])}, &in); err != nil {
		t.Fatal(err)
	}
	if !in.hasFrame || string(in.frame) != string(frame) {
		t.Fatalf("unmarshal: % x", in.frame)
	}
	openMsg, _ := proto.Marshal(&rpcpb.ExchangeMessage{Body: &rpcpb.ExchangeMessage_Open{Open: &rpcpb.ChannelOpen{ProducerExecutionId: "x"}}})
	if err := (codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(openMsg)}, &in); err != nil || in.hasFrame {
		t.Fatalf("an open message: frame %v, %v", in.hasFrame, err)
	}
	var msg rpcpb.ExchangeMessage
	if err := (codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(openMsg)}, &msg); err != nil || msg.GetOpen().GetProducerExecutionId() != "x" {
		t.Fatalf("proto fallback: %v", err)
	}
	for _, bad := range [][]byte{{0x12, 0x05, 1}, {0x12}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		if err := (codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(bad)}, &in); err == nil {
			t.Fatalf("% x accepted", bad)
		}
	}
}
