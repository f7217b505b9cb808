package remote

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/arrow/bufpool"
	"github.com/weirflow/weir/arrow/ipcframe"
	"github.com/weirflow/weir/internal/certs"
	"github.com/weirflow/weir/worker/internal/exchange"
)

// BenchmarkExchange moves batches of two int64 columns from a producer to a
// consumer; MB/s is payload (value bytes). Sub-benchmarks:
//
//	inprocess-copy  a plain copy of each batch's value buffers (the memory
//	                bandwidth ceiling)
//	local           ResultPartition -> InputGate in one process (by reference)
//	remote-process  the producer is another process (this test binary
//	                re-executed) serving over gRPC on 127.0.0.1; the consumer
//	                decodes into a pooled allocator; default Options
//	remote-process-deep  the same with Queue 16 and Floating 16: more
//	                batches in flight per channel
//	remote-process-mtls  remote-process under mutual TLS (weir certs'
//	                certificates), as between TaskManagers with --tls-*
func BenchmarkExchange(b *testing.B) {
	pki := b.TempDir()
	if _, err := certs.Generate(pki, certs.Options{}); err != nil {
		b.Fatal(err)
	}
	for _, rows := range []int{64 << 10, 4 << 10} {
		payload := int64(rows * 2 * 8)
		b.Run(fmt.Sprintf("rows=%d/inprocess-copy", rows), func(b *testing.B) {
			rec := int64Batch(memory.DefaultAllocator, 0, rows)
			defer rec.Release()
			dst := [2][]byte{make([]byte, rows*8), make([]byte, rows*8)}
			b.SetBytes(payload)
			b.ResetTimer()
			for range b.N {
				for c := range 2 {
					copy(dst[c], rec.Column(c).Data().Buffers()[1].Bytes())
				}
			}
		})
		b.Run(fmt.Sprintf("rows=%d/local", rows), func(b *testing.B) {
			benchLocal(b, rows, payload)
		})
		b.Run(fmt.Sprintf("rows=%d/remote-process", rows), func(b *testing.B) {
			benchRemote(b, rows, payload, 0, 0, "")
		})
		b.Run(fmt.Sprintf("rows=%d/remote-process-mtls", rows), func(b *testing.B) {
			benchRemote(b, rows, payload, 0, 0, pki)
		})
		b.Run(fmt.Sprintf("rows=%d/remote-process-deep", rows), func(b *testing.B) {
			benchRemote(b, rows, payload, 16, 16, "")
		})
	}
}

func benchLocal(b *testing.B, rows int, payload int64) {
	ctx := context.Background()
	reg := exchange.NewRegistry()
	opts := exchange.Options{FlushRows: -1}
	part := exchange.NewResultPartition(childKey, benchSchema, 1, opts)
	if err := reg.Register(part); err != nil {
		b.Fatal(err)
	}
	g := exchange.NewInputGate(benchSchema, 1, opts)
	defer g.Close()
	g.ConnectLocal(ctx, 0, reg, childKey, 0)
	rec := int64Batch(memory.DefaultAllocator, 0, rows)
	defer rec.Release()
	errs := make(chan error, 1)
	b.SetBytes(payload)
	b.ResetTimer()
	go func() {
		for range b.N {
			rec.Retain()
			if err := part.Add(ctx, 0, exchange.Event{Kind: ipcframe.KindBatch, Record: rec}); err != nil {
				errs <- err
				return
			}
		}
		errs <- part.Finish(ctx)
	}()
	consumeN(b, g, b.N)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

func benchRemote(b *testing.B, rows int, payload int64, queue, floating int, tlsDir string) {
	const warmup = 8
	ctx := context.Background()
	child := startProducer(b, b.N+warmup, rows, queue, tlsDir)
	conn := dial(b, child.addr, tlsDir)
	g := exchange.NewInputGate(benchSchema, 1, exchange.Options{Alloc: bufpool.New(), Floating: floating})
	defer g.Close()
	Connect(ctx, g, 0, conn, childKey, 0)
	consumeN(b, g, warmup)
	b.SetBytes(payload)
	b.ResetTimer()
	consumeN(b, g, b.N)
	b.StopTimer()
	if ev, _, err := g.Next(ctx); err != nil || ev.Kind != ipcframe.KindEndOfPartition {
		b.Fatalf("after the batches: %v %v", ev.Kind, err)
	}
	if err := child.cmd.Wait(); err != nil {
		b.Fatalf("producer process: %v", err)
	}
}

func consumeN(b *testing.B, g *exchange.InputGate, n int) {
	ctx := context.Background()
	for i := 0; i < n; {
		ev, ch, err := g.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if ev.Kind != ipcframe.KindBatch {
			continue
		}
		ev.Record.Release()
		if err := g.Release(ch); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
