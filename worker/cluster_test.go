package worker_test

// An in-process cluster (embedded etcd, a JobManager, two TaskManagers) run
// under the race detector: the multi-process tests in cmd/weir run the real
// binary, which is not built with -race.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/weirflow/weir/control"
	"github.com/weirflow/weir/internal/guesttest"
	"github.com/weirflow/weir/internal/rpcpb"
	"github.com/weirflow/weir/worker"
)

func TestInProcessCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	jm, err := control.New(control.Config{
		RESTAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", DataDir: t.TempDir(), EtcdListen: "http://127.0.0.1:0",
		HeartbeatInterval: 100 * time.Millisecond, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 3)
	go func() { done <- jm.Run(ctx) }()
	select {
	case <-jm.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	for i := range 2 {
		tm, err := worker.NewTaskManager(worker.Config{
			EtcdEndpoints: jm.EtcdEndpoints(), Slots: 2, DataAddr: "127.0.0.1:0", ID: fmt.Sprintf("tm%d", i), Logger: quiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		go func() { done <- tm.Run(ctx) }()
	}
	rest := "http://" + jm.RESTAddr()
	getJSON := func(path string, v any) {
		t.Helper()
		resp, err := http.Get(rest + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wait("two TaskManagers", func() bool {
		var v struct{ TaskManagers []any }
		getJSON("/taskmanagers", &v)
		return len(v.TaskManagers) == 2
	})

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("wasmfile", "stream.wasm")
	module := guesttest.BuildGo(t, "examples", "./stream")
	_, _ = fw.Write(module)
	_ = mw.Close()
	resp, err := http.Post(rest+"/wasm/upload", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	var up struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&up)
	resp.Body.Close()
	checkFetchArtifact(t, jm.RPCAddr(), up.ID, module)
	run := func(args ...string) string {
		t.Helper()
		req, _ := json.Marshal(map[string]any{"parallelism": 2, "programArgs": args})
		resp, err := http.Post(rest+"/wasm/"+up.ID+"/run", "application/json", bytes.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct{ JobID string }
		_ = json.NewDecoder(resp.Body).Decode(&r)
		if r.JobID == "" {
			t.Fatalf("run: %d", resp.StatusCode)
		}
		return r.JobID
	}
	type details struct {
		State    string
		Vertices []struct {
			Metrics struct {
				WriteRecords int64 `json:"write-records"`
				ReadRecords  int64 `json:"read-records"`
			}
		}
	}
	state := func(id string) details {
		var d details
		getJSON("/jobs/"+id, &d)
		return d
	}

	// A bounded job through the rebalance exchange into files.
	out := t.TempDir()
	id := run("--keys", "4", "--count", "5000", "--output", out)
	wait("the job to finish", func() bool {
		s := state(id).State
		if s == "FAILED" {
			t.Fatal("job failed")
		}
		return s == "FINISHED"
	})
	files, _ := filepath.Glob(filepath.Join(out, "part-*"))
	seen := map[string]bool{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var r struct{ Key, Seq, Scaled int64 }
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Scaled != 3*r.Seq {
				t.Fatalf("%s: %q %v", f, sc.Text(), err)
			}
			k := fmt.Sprint(r.Key, "/", r.Seq)
			if seen[k] {
				t.Fatalf("row %s twice", k)
			}
			seen[k] = true
		}
		fh.Close()
	}
	if len(seen) != 4*5000 {
		t.Errorf("%d rows, want %d", len(seen), 4*5000)
	}
	d := state(id)
	if d.Vertices[0].Metrics.WriteRecords != 4*5000 || d.Vertices[1].Metrics.ReadRecords != 4*5000 {
		t.Errorf("final metrics %+v", d.Vertices)
	}

	// An unbounded job, canceled.
	id = run("--count", "0", "--sink-rate", "5000")
	wait("rows to flow", func() bool { return state(id).Vertices[0].Metrics.WriteRecords > 0 })
	req, _ := http.NewRequest(http.MethodPatch, rest+"/jobs/"+id+"?mode=cancel", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("cancel: %v %v", err, resp)
	}
	resp.Body.Close()
	wait("the job to be canceled", func() bool { return state(id).State == "CANCELED" })

	cancel()
	for range 3 {
		if err := <-done; err != nil && !strings.Contains(err.Error(), "context canceled") {
			t.Error(err)
		}
	}
}

// checkFetchArtifact fetches a module from the JobManager's ResourceManager
// as TaskManager tm0 does (these TaskManagers read the shared storage
// instead), and asks for what does not exist.
func checkFetchArtifact(t *testing.T, rpcAddr, id string, want []byte) {
	t.Helper()
	conn, err := grpc.NewClient(rpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rm := rpcpb.NewResourceManagerClient(conn)
	fetch := func(id string) ([]byte, error) {
		stream, err := rm.FetchArtifact(context.Background(), &rpcpb.FetchArtifactRequest{Sha256: id, TaskManagerId: "tm0"})
		if err != nil {
			return nil, err
		}
		var got []byte
		for {
			chunk, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return got, nil
			}
			if err != nil {
				return nil, err
			}
			got = append(got, chunk.GetData()...)
		}
	}
	if got, err := fetch(id); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("FetchArtifact: %d bytes, %v; want the %d uploaded", len(got), err, len(want))
	}
	if _, err := fetch(strings.Repeat("0", 64)); status.Code(err) != codes.NotFound {
		t.Errorf("FetchArtifact of an unknown module: %v", err)
	}
	if _, err := fetch("not-an-id"); status.Code(err) != codes.InvalidArgument {
		t.Errorf("FetchArtifact of a malformed id: %v", err)
	}
}
