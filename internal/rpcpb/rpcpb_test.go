package rpcpb

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/weirflow/weir/arrow/ipcframe"
)

// TestGeneratedCodeIsFresh regenerates the code with the pinned plugins and
// compares it with the committed files (skipped where protoc is missing;
// .ci/run installs it).
func TestGeneratedCodeIsFresh(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Skip("protoc not installed")
	}
	dir := t.TempDir()
	tool := func(name string) string {
		out, err := exec.Command("go", "tool", "-n", name).Output()
		if err != nil {
			t.Fatalf("go tool -n %s: %v", name, err)
		}
		return string(bytes.TrimSpace(out))
	}
	cmd := exec.Command("protoc", "--plugin=protoc-gen-go="+tool("protoc-gen-go"), "--plugin=protoc-gen-go-grpc="+tool("protoc-gen-go-grpc"),
		"--go_out="+dir, "--go_opt=paths=source_relative", "--go-grpc_out="+dir, "--go-grpc_opt=paths=source_relative", "weir.proto")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, out)
	}
	for _, f := range []string{"weir.pb.go", "weir_grpc.pb.go"} {
		want, _ := os.ReadFile(filepath.Join(dir, f))
		got, _ := os.ReadFile(f)
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go tool task generate", f)
		}
	}
}

// producer is a test DataExchange server: on ChannelOpen it sends one data
// frame per credit it receives, then end of partition.
type producer struct {
	UnimplementedDataExchangeServer
	frames [][]byte
}

func (p *producer) Channel(stream grpc.BidiStreamingServer[ExchangeMessage, ExchangeMessage]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if first.GetOpen() == nil {
		return errors.New("first message must open the channel")
	}
	dec := ipcframe.NewDecoder(nil, memory.DefaultAllocator)
	defer dec.Close()
	for len(p.frames) > 0 {
		msg, err := stream.Recv() // wait for credit
		if err != nil {
			return err
		}
		ev, err := dec.Decode(msg.GetFrame())
		if err != nil || ev.Kind != ipcframe.KindCredit {
			return errors.New("expected a credit frame")
		}
		for i := 0; i < ev.Credit && len(p.frames) > 0; i++ {
			if err := stream.Send(&ExchangeMessage{Body: &ExchangeMessage_Frame{Frame: p.frames[0]}}); err != nil {
				return err
			}
			p.frames = p.frames[1:]
		}
	}
	return stream.Send(&ExchangeMessage{Body: &ExchangeMessage_Frame{Frame: ipcframe.EncodeEndOfPartition()}})
}

// TestDataExchangeOverLoopback streams Arrow batches over a real gRPC
// connection on 127.0.0.1, paced by credit frames.
func TestDataExchangeOverLoopback(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "seq", Type: arrow.PrimitiveTypes.Int64}}, nil)
	enc := ipcframe.NewEncoder(schema, alloc)
	srv := &producer{}
	for s := int64(0); s < 10; s++ {
		b := array.NewInt64Builder(alloc)
		b.AppendValues([]int64{s, s * 10}, nil)
		col := b.NewArray()
		rec := array.NewRecord(schema, []arrow.Array{col}, 2)
		frame, err := enc.Batch(rec, int(9-s))
		if err != nil {
			t.Fatal(err)
		}
		srv.frames = append(srv.frames, frame)
		rec.Release()
		col.Release()
		b.Release()
	}
	enc.Close()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer()
	RegisterDataExchangeServer(server, srv)
	go server.Serve(lis)
	defer server.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := NewDataExchangeClient(conn).Channel(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	open := &ExchangeMessage{Body: &ExchangeMessage_Open{Open: &ChannelOpen{ProducerExecutionId: "job/src#0@0", DownstreamVertex: "sink", ConsumerSubtask: 0}}}
	if err := stream.Send(open); err != nil {
		t.Fatal(err)
	}
	dec := ipcframe.NewDecoder(schema, alloc)
	defer dec.Close()
	got := int64(0)
	for {
		if err := stream.Send(&ExchangeMessage{Body: &ExchangeMessage_Frame{Frame: ipcframe.EncodeCredit(3)}}); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		done := false
		for i := 0; i < 3 && !done; i++ {
			msg, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			ev, err := dec.Decode(msg.GetFrame())
			if err != nil {
				t.Fatal(err)
			}
			switch ev.Kind {
			case ipcframe.KindEndOfPartition:
				done = true
			case ipcframe.KindBatch:
				if v := ev.Record.Column(0).(*array.Int64).Value(0); v != got || ev.Backlog != int(9-got) {
					t.Fatalf("batch %d (backlog %d), want %d", v, ev.Backlog, got)
				}
				got++
				ev.Record.Release()
			}
		}
		if done {
			break
		}
	}
	if got != 10 {
		t.Fatalf("received %d batches", got)
	}
	_ = stream.CloseSend()
}

func TestDeploymentRoundTrip(t *testing.T) {
	d := &DeployTaskRequest{
		Fence: &Fence{Epoch: 7, LeaderId: "jm-1"},
		Task: &TaskDeployment{JobId: "j", ExecutionId: "j/words#2@0", VertexId: "words", Subtask: 2, Parallelism: 4,
			MaxParallelism: 128, ChainJson: []byte(`[{"id":"words"}]`), KeyGroupStart: 64, KeyGroupEnd: 95,
			Inputs:  []*InputGate{{UpstreamVertex: "lines", Partition: "rebalance", Producers: []*ProducerLocation{{Subtask: 0, DataAddress: "127.0.0.1:7000"}}}},
			Outputs: []*ResultPartition{{DownstreamVertex: "counts", Partition: "hash", KeyBy: []string{"word"}, Consumers: 4}},
			Config:  map[string]string{"pipeline.buffer-timeout": "100ms"}},
	}
	b, err := proto.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back DeployTaskRequest
	if err := proto.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(d, &back) {
		t.Fatalf("round trip differs: %v", &back)
	}
}
