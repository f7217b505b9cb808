package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/weirflow/weir/internal/guesttest"
	"github.com/weirflow/weir/internal/registration"
	"github.com/weirflow/weir/internal/rpcpb"
	"github.com/weirflow/weir/wasm"
)

// fakeRM is a ResourceManager that serves one module (or other bytes under
// its id) in small chunks and counts the fetches.
type fakeRM struct {
	rpcpb.UnimplementedResourceManagerServer
	id      string
	serve   atomic.Pointer[[]byte]
	fetches atomic.Int32
	files   *rpcpb.FileAccess
	// announce, when set, is the size the first chunk announces.
	announce int64
}

func (f *fakeRM) RegisterTaskManager(context.Context, *rpcpb.RegisterTaskManagerRequest) (*rpcpb.RegisterTaskManagerResponse, error) {
	return &rpcpb.RegisterTaskManagerResponse{Fence: &rpcpb.Fence{Epoch: 1, LeaderId: "jm"}, HeartbeatIntervalMs: 1000, FileAccess: f.files}, nil
}

func (f *fakeRM) Heartbeat(context.Context, *rpcpb.HeartbeatRequest) (*rpcpb.HeartbeatResponse, error) {
	return &rpcpb.HeartbeatResponse{}, nil
}

func (f *fakeRM) FetchArtifact(req *rpcpb.FetchArtifactRequest, stream grpc.ServerStreamingServer[rpcpb.ArtifactChunk]) error {
	f.fetches.Add(1)
	if req.GetSha256() != f.id {
		return status.Errorf(codes.NotFound, "no artifact %q is stored", req.GetSha256())
	}
	time.Sleep(50 * time.Millisecond) // let every task ask while it fetches
	bin := *f.serve.Load()
	const chunk = 1000
	for i := 0; i == 0 || i < len(bin); i += chunk {
		c := &rpcpb.ArtifactChunk{Data: bin[i:min(i+chunk, len(bin))]}
		if i == 0 {
			c.Size = int64(len(bin))
			if f.announce != 0 {
				c.Size = f.announce
			}
		}
		if err := stream.Send(c); err != nil {
			return err
		}
	}
	return nil
}

// registeredTM returns a TaskManager registered with rm (its registration
// loop runs until the test ends), with a Wasm runtime and its data dir.
func registeredTM(t *testing.T, rm rpcpb.ResourceManagerServer) (*TaskManager, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	rpcpb.RegisterResourceManagerServer(g, rm)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "artifacts"), 0o755); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tm, err := NewTaskManager(Config{EtcdEndpoints: []string{"http://127.0.0.1:1"}, DataAddr: "127.0.0.1:0", DataDir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tm.lis.Close() })
	if tm.rt, err = wasm.NewRuntime(ctx, wasm.Config{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tm.rt.Close(context.Background()) })
	tm.loop = &registration.Loop{
		Client: rpcpb.NewResourceManagerClient(conn), Request: &rpcpb.RegisterTaskManagerRequest{TaskManagerId: tm.ID(), Slots: 1},
		OnRegistered: tm.registered, Logger: quiet,
	}
	go tm.loop.Run(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for tm.loop.Current() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the TaskManager did not register")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return tm, dir
}

// The tasks of a job deployed together load its module once: they wait for
// one fetch from the JobManager's ResourceManager instead of racing on the
// cache (a reader of a half-written cache file used to fail its task), and
// a corrupt cache is not trusted.
func TestModuleLoadsOnceForConcurrentTasks(t *testing.T) {
	ctx := context.Background()
	bin, err := os.ReadFile(filepath.Join(guesttest.RepoRoot(t), "wasm", "testdata", "minimal.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	id := hex.EncodeToString(sum[:])

	for _, tc := range []struct {
		name        string
		cache       []byte // written to the cache first (nil: none)
		wantFetches int32
	}{
		{"empty cache", nil, 1},
		{"corrupt cache", []byte("not the module"), 1},
		{"good cache", bin, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rm := &fakeRM{id: id}
			rm.serve.Store(&bin)
			tm, dir := registeredTM(t, rm)
			cache := filepath.Join(dir, "artifacts", id+".wasm")
			if tc.cache != nil {
				if err := os.WriteFile(cache, tc.cache, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			const tasks = 16
			mods := make([]*wasm.Module, tasks)
			errs := make([]error, tasks)
			var wg sync.WaitGroup
			for i := range tasks {
				wg.Go(func() { mods[i], errs[i] = tm.module(ctx, id, "..\\uploads/minimal.wasm") })
			}
			wg.Wait()
			for i := range tasks {
				if errs[i] != nil || mods[i] == nil || mods[i] != mods[0] {
					t.Fatalf("task %d: %p %v (task 0: %p)", i, mods[i], errs[i], mods[0])
				}
			}
			if mods[0].Name != "minimal.wasm" {
				t.Errorf("the module is named %q, want its upload name's last element", mods[0].Name)
			}
			if n := rm.fetches.Load(); n != tc.wantFetches {
				t.Errorf("%d fetches, want %d", n, tc.wantFetches)
			}
			if got, err := os.ReadFile(cache); err != nil || string(got) != string(bin) {
				t.Errorf("cache holds %d bytes (%v), want the module", len(got), err)
			}
		})
	}
}

// A module the JobManager cannot give, or gives wrong, fails the load with
// a clear error and is not cached.
func TestModuleFetchErrors(t *testing.T) {
	ctx := context.Background()
	bin, err := os.ReadFile(filepath.Join(guesttest.RepoRoot(t), "wasm", "testdata", "minimal.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	id := hex.EncodeToString(sum[:])
	wrong := append([]byte(nil), bin...)
	wrong[len(wrong)-1] ^= 1
	for _, tc := range []struct {
		name     string
		id       string
		serve    []byte
		announce int64
		want     string
	}{
		{"wrong bytes", id, wrong, 0, "with sha256"},
		{"unknown", strings.Repeat("0", 64), bin, 0, "NotFound"},
		{"malformed id", "../../../../etc/passwd", bin, 0, "bad artifact id"},
		{"upper-case id", strings.ToUpper(id), bin, 0, "bad artifact id"},
		{"truncated", id, bin, int64(len(bin)) + 1, "not the"},
		{"longer than announced", id, bin, 10, "more of"},
		{"too large", id, bin, maxArtifactBytes + 1, "at most"},
		{"negative size", id, bin, -1, "announced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rm := &fakeRM{id: id, announce: tc.announce}
			rm.serve.Store(&tc.serve)
			tm, dir := registeredTM(t, rm)
			_, err := tm.module(ctx, tc.id, "")
			if !errors.Is(err, ErrArtifact) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrArtifact with %q", err, tc.want)
			}
			if files, _ := os.ReadDir(filepath.Join(dir, "artifacts")); len(files) != 0 {
				t.Errorf("cached %v", files)
			}
		})
	}
	t.Run("not registered", func(t *testing.T) {
		tm, err := NewTaskManager(Config{EtcdEndpoints: []string{"http://127.0.0.1:1"}, DataAddr: "127.0.0.1:0", DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer tm.lis.Close()
		if _, err := tm.fetch(ctx, id); !errors.Is(err, ErrArtifact) || !strings.Contains(err.Error(), "not registered") {
			t.Fatalf("got %v", err)
		}
	})
}

// The file connectors' policy comes from the leader at registration.
func TestRegistrationGivesFileAccess(t *testing.T) {
	rm := &fakeRM{files: &rpcpb.FileAccess{Restricted: true, AllowDirs: []string{"/data/in", "/data/out"}}}
	tm, _ := registeredTM(t, rm)
	if got := tm.fileAccess(); !got.Restricted || strings.Join(got.AllowDirs, ",") != "/data/in,/data/out" {
		t.Fatalf("file access %+v", got)
	}
}
