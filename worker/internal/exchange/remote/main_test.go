package remote

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weirflow/weir/arrow/ipcframe"
	"github.com/weirflow/weir/internal/certs"
	"github.com/weirflow/weir/worker/internal/exchange"
)

// The test binary doubles as a producer TaskManager: with
// WEIR_EXCHANGE_PRODUCER=1 it serves one partition of WEIR_EXCHANGE_BATCHES
// batches (-1: until killed) of WEIR_EXCHANGE_ROWS rows of two int64
// columns on 127.0.0.1 (with WEIR_EXCHANGE_QUEUE as Options.Queue), prints
// "ADDR host:port" and exits once the batches are consumed.
func TestMain(m *testing.M) {
	if os.Getenv("WEIR_EXCHANGE_PRODUCER") == "1" {
		if err := serveProducer(); err != nil {
			fmt.Fprintln(os.Stderr, "producer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var (
	benchSchema = arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int64},
		{Name: "b", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	childKey = exchange.PartitionKey{Producer: "bench/src#0@0", Downstream: "sink"}
)

// int64Batch returns rows rows of benchSchema: a = from+i, b = 2*(from+i).
func int64Batch(alloc memory.Allocator, from int64, rows int) arrow.Record {
	a := make([]int64, rows)
	b := make([]int64, rows)
	for i := range a {
		a[i], b[i] = from+int64(i), 2*(from+int64(i))
	}
	ab := array.NewInt64Builder(alloc)
	defer ab.Release()
	ab.AppendValues(a, nil)
	bb := array.NewInt64Builder(alloc)
	defer bb.Release()
	bb.AppendValues(b, nil)
	ac, bc := ab.NewArray(), bb.NewArray()
	defer ac.Release()
	defer bc.Release()
	return array.NewRecord(benchSchema, []arrow.Array{ac, bc}, int64(rows))
}

func serveProducer() error {
	if path := os.Getenv("WEIR_EXCHANGE_CPUPROFILE"); path != "" { // for tuning
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	batches, err := strconv.Atoi(os.Getenv("WEIR_EXCHANGE_BATCHES"))
	if err != nil {
		return err
	}
	rows, err := strconv.Atoi(os.Getenv("WEIR_EXCHANGE_ROWS"))
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	reg := exchange.NewRegistry()
	opts := ServerOptions()
	if dir := os.Getenv("WEIR_EXCHANGE_TLS"); dir != "" { // a weir certs directory: mutual TLS
		node, err := tlsFiles(dir, "taskmanager").Node()
		if err != nil {
			return err
		}
		opts = append(opts, grpc.Creds(node.Server))
	}
	gs := grpc.NewServer(opts...)
	NewServer(reg, nil).Register(gs)
	go gs.Serve(lis)
	defer gs.Stop()
	queue, _ := strconv.Atoi(os.Getenv("WEIR_EXCHANGE_QUEUE")) // 0: the default
	part := exchange.NewResultPartition(childKey, benchSchema, 1, exchange.Options{FlushRows: -1, Queue: queue})
	if err := reg.Register(part); err != nil {
		return err
	}
	fmt.Printf("ADDR %s\n", lis.Addr())
	ctx := context.Background()
	rec := int64Batch(memory.DefaultAllocator, 0, rows)
	defer rec.Release()
	for i := 0; batches < 0 || i < batches; i++ {
		rec.Retain()
		if err := part.Add(ctx, 0, exchange.Event{Kind: ipcframe.KindBatch, Record: rec}); err != nil {
			return err
		}
	}
	if err := part.Finish(ctx); err != nil {
		return err
	}
	select {
	case <-part.Consumed():
	case <-time.After(time.Minute):
		return fmt.Errorf("not consumed within a minute")
	}
	// Let the last frames and the stream's status go out.
	done := make(chan struct{})
	go func() { gs.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	return nil
}

// producerProcess is a child producer TaskManager.
type producerProcess struct {
	cmd  *exec.Cmd
	addr string
}

// tlsFiles are the files of name in a weir certs directory.
func tlsFiles(dir, name string) certs.Files {
	return certs.Files{CA: filepath.Join(dir, certs.CAFile), Cert: certs.CertFile(dir, name), Key: certs.KeyFile(dir, name)}
}

// startProducer re-executes the test binary as a producer TaskManager
// (serving mutual TLS with tlsDir's certificates when it is not "").
func startProducer(tb testing.TB, batches, rows, queue int, tlsDir string) *producerProcess {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "WEIR_EXCHANGE_PRODUCER=1", "WEIR_EXCHANGE_BATCHES="+strconv.Itoa(batches),
		"WEIR_EXCHANGE_ROWS="+strconv.Itoa(rows), "WEIR_EXCHANGE_QUEUE="+strconv.Itoa(queue), "WEIR_EXCHANGE_TLS="+tlsDir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &producerProcess{cmd: cmd}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		tb.Fatalf("producer process: %v", err)
	}
	p.addr = strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))
	go io.Copy(io.Discard, out)
	return p
}

// dial connects to a DataExchange server with the recommended options
// (under mutual TLS with tlsDir's certificates, if given and not "").
func dial(tb testing.TB, addr string, tlsDir ...string) *grpc.ClientConn {
	tb.Helper()
	creds := insecure.NewCredentials()
	if len(tlsDir) > 0 && tlsDir[0] != "" {
		node, err := tlsFiles(tlsDir[0], "taskmanager").Node()
		if err != nil {
			tb.Fatal(err)
		}
		creds = node.Dial
	}
	conn, err := grpc.NewClient(addr, append(DialOptions(), grpc.WithTransportCredentials(creds))...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// startServer serves reg's partitions on 127.0.0.1 in this process.
func startServer(tb testing.TB, reg *exchange.Registry) string {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	gs := grpc.NewServer(ServerOptions()...)
	NewServer(reg, nil).Register(gs)
	go gs.Serve(lis)
	tb.Cleanup(gs.Stop)
	return lis.Addr().String()
}

// checkNoLeaks fails if goroutines running the exchange's code outlive the
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
			if strings.Contains(g, "weir/worker/internal/exchange") && !strings.Contains(g, "testing.tRunner") &&
				!strings.Contains(g, "remote.startServer") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return
		}
	}
	t.Fatalf("%d goroutines leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
}

func newAlloc(t *testing.T) *memory.CheckedAllocator {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { alloc.AssertSize(t, 0) })
	return alloc
}

func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
