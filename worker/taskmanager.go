package worker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/flight"
	"github.com/apache/arrow/go/v17/arrow/memory"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/weirflow/weir/internal/certs"
	"github.com/weirflow/weir/internal/connector"
	"github.com/weirflow/weir/internal/leader"
	"github.com/weirflow/weir/internal/registration"
	"github.com/weirflow/weir/internal/rpcpb"
	"github.com/weirflow/weir/wasm"
	"github.com/weirflow/weir/worker/internal/exchange"
	"github.com/weirflow/weir/worker/internal/exchange/remote"
	"github.com/weirflow/weir/worker/internal/taskrun"
)

// Version is reported when registering.
const Version = "0.1.0-dev"

// Config configures a TaskManager.
type Config struct {
	// EtcdEndpoints is where to find the leading JobManager, and ClusterID
	// the cluster whose election to follow (default "default").
	EtcdEndpoints []string
	ClusterID     string
	// Slots is the number of task slots (default 1).
	Slots int
	// DataAddr is the listen address of the TaskManager's gRPC services
	// (TaskExecutor and DataExchange); port 0 picks one.
	DataAddr string
	// DataDir holds fetched modules and the compilation cache (default: a
	// temporary directory removed at exit).
	DataDir string
	// ID names the TaskManager (default: a random id).
	ID string
	// Exchange tunes channels and result partitions.
	Exchange exchange.Options
	// TLS are the PEM files of the TaskManager's TLS identity: with them its
	// gRPC services and every call it makes (to the ResourceManager and to
	// other TaskManagers) use mutual TLS; all three files are then needed.
	TLS certs.Files
	// BatchRows is the sources' batch size (default 1024).
	BatchRows int
	// GuestMemory caps the linear memory of each guest instance, in bytes
	// (0: wasm.DefaultMemoryLimit, 256 MiB; at least 64 KiB, at most 4 GiB).
	// A guest whose memory.grow passes it fails with the memory-limit error.
	GuestMemory uint64
	// CallBudget is the wall-clock time one guest call (open, process,
	// timer, snapshot...) may take (0: wasm.DefaultCallBudget, 10 s); a call
	// past it is interrupted and its task fails.
	CallBudget time.Duration
	// GuestOutput is how many bytes of stdout, stderr and weir.log output
	// one guest call may produce (0: wasm.DefaultOutputBudget, 1 MiB); past
	// it the call fails.
	GuestOutput int
	// GuestTables bounds the elements of each guest module's tables, which
	// live outside linear memory (0: wasm.DefaultTableElements, 1M); a
	// module declaring more fails to load.
	GuestTables uint32
	// GuestLogRate bounds the output lines a second each guest instance
	// writes to the TaskManager's log (0: wasm.DefaultLogRate, 100, in
	// bursts of ten times as many; negative: no bound). Lines past it are
	// counted in one warning, and still shown in the job's exceptions.
	GuestLogRate float64
	Logger       *slog.Logger
}

// validateLimits refuses guest limits the wasm runtime cannot honour.
func (c *Config) validateLimits() error {
	if c.GuestMemory != 0 && (c.GuestMemory < wasm.MinMemoryLimit || c.GuestMemory > wasm.MaxMemoryLimit) {
		return fmt.Errorf("worker: guest memory limit %d bytes is outside %d..%d bytes (64 KiB..4 GiB)", c.GuestMemory, wasm.MinMemoryLimit, wasm.MaxMemoryLimit)
	}
	if c.CallBudget < 0 {
		return fmt.Errorf("worker: guest call budget %s is negative", c.CallBudget)
	}
	if c.GuestOutput < 0 {
		return fmt.Errorf("worker: guest output budget %d bytes is negative", c.GuestOutput)
	}
	return nil
}

// TaskManager is a running TaskManager.
type TaskManager struct {
	cfg Config
	log *slog.Logger
	lis net.Listener
	// tls is the transport security of its gRPC server and calls.
	tls certs.Node

	rt       *wasm.Runtime
	registry *exchange.Registry
	loop     *registration.Loop
	alloc    memory.Allocator

	mu sync.Mutex
	// epoch is the lowest fencing epoch accepted: the newest leader's, or
	// one past a leader whose election key is gone.
	epoch   int64
	tasks   map[string]*running
	modules map[string]*wasm.Module
	// loading holds the module loads under way, so that the tasks of a job
	// deployed together wait for one load instead of racing on the cache.
	loading map[string]*moduleLoad
	conns   map[string]*grpc.ClientConn
	prev    map[string]sample // for per-second rates
	// canceled remembers cancellations of tasks this TaskManager did not
	// run (yet): a deployment that arrives after its cancellation (the two
	// RPCs race) is refused.
	canceled map[string]time.Time
	// finished holds, per job, the partitions of finished tasks that may
	// still be registered (until consumed or the job's slots are released).
	finished map[string][]exchange.PartitionKey
	// jobEpoch is the epoch that last deployed a task of each job with
	// finished partitions.
	jobEpoch map[string]int64
	// storageDir is the cluster's shared storage, and files the file
	// connectors' access policy, as the leader said.
	storageDir string
	files      connector.FileAccess
}

type running struct {
	task   *taskrun.Task
	cancel context.CancelFunc
	slot   int
	job    string
	epoch  int64 // of the leader that deployed it
}

type sample struct {
	at       time.Time
	idle, bp time.Duration
}

// NewTaskManager binds the TaskManager's listener.
func NewTaskManager(cfg Config) (*TaskManager, error) {
	if cfg.Slots <= 0 {
		cfg.Slots = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		cfg.ID = "taskmanager-" + hex.EncodeToString(b[:])
	}
	if len(cfg.EtcdEndpoints) == 0 {
		return nil, errors.New("worker: etcd endpoints are required to find the JobManager")
	}
	if err := cfg.validateLimits(); err != nil {
		return nil, err
	}
	transport, err := cfg.TLS.Node()
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	lis, err := net.Listen("tcp", cfg.DataAddr)
	if err != nil {
		return nil, fmt.Errorf("worker: data address: %w", err)
	}
	return &TaskManager{
		cfg: cfg, tls: transport, log: cfg.Logger.With("taskmanager", cfg.ID), lis: lis, registry: exchange.NewRegistry(),
		tasks: map[string]*running{}, modules: map[string]*wasm.Module{}, loading: map[string]*moduleLoad{}, conns: map[string]*grpc.ClientConn{},
		prev: map[string]sample{}, finished: map[string][]exchange.PartitionKey{}, jobEpoch: map[string]int64{}, canceled: map[string]time.Time{}, alloc: memory.DefaultAllocator,
	}, nil
}

// ID is the TaskManager's id.
func (tm *TaskManager) ID() string { return tm.cfg.ID }

// Addr is the address of its gRPC services.
func (tm *TaskManager) Addr() string { return tm.lis.Addr().String() }

// Run serves until ctx ends, then cancels its tasks and stops.
func (tm *TaskManager) Run(ctx context.Context) error {
	defer tm.lis.Close()
	if tm.cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "weir-taskmanager-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		tm.cfg.DataDir = dir
	}
	for _, sub := range []string{"artifacts", "cache"} {
		if err := os.MkdirAll(filepath.Join(tm.cfg.DataDir, sub), 0o755); err != nil {
			return fmt.Errorf("worker: data dir: %w", err)
		}
	}
	rt, err := wasm.NewRuntime(ctx, wasm.Config{
		CacheDir:      filepath.Join(tm.cfg.DataDir, "cache"),
		MemoryLimit:   tm.cfg.GuestMemory,
		CallBudget:    tm.cfg.CallBudget,
		OutputBudget:  tm.cfg.GuestOutput,
		TableElements: tm.cfg.GuestTables,
		LogRate:       tm.cfg.GuestLogRate,
		Logger:        tm.log,
	})
	if err != nil {
		return fmt.Errorf("worker: wasm runtime: %w", err)
	}
	defer rt.Close(context.Background())
	tm.rt = rt

	cli, err := leader.Dial(tm.cfg.EtcdEndpoints, tm.tls.Client)
	if err != nil {
		return err
	}
	defer cli.Close()

	gs := grpc.NewServer(append(remote.ServerOptions(), grpc.Creds(tm.tls.Server))...)
	rpcpb.RegisterTaskExecutorServer(gs, executor{tm: tm})
	rpcpb.RegisterDataExchangeServer(gs, dataExchange{Server: remote.NewServer(tm.registry, tm.log), tm: tm})
	go func() { _ = gs.Serve(tm.lis) }()
	defer gs.Stop()
	defer tm.closeConns()

	var rmConn *grpc.ClientConn
	var rmAddr string
	defer func() {
		if rmConn != nil {
			rmConn.Close()
		}
	}()
	tm.loop = &registration.Loop{
		Connect: func(ctx context.Context) (rpcpb.ResourceManagerClient, error) {
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			info, _, err := leader.Current(lctx, cli, tm.cfg.ClusterID)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("%w (is etcd at %s reachable, and does it take this TaskManager's TLS settings?)", err, strings.Join(tm.cfg.EtcdEndpoints, ","))
			}
			if info.RPCAddress != rmAddr || rmConn == nil {
				if rmConn != nil {
					rmConn.Close()
				}
				if rmConn, err = grpc.NewClient(info.RPCAddress, grpc.WithTransportCredentials(tm.tls.Dial)); err != nil {
					return nil, err
				}
				rmAddr = info.RPCAddress
			}
			return rpcpb.NewResourceManagerClient(rmConn), nil
		},
		Request: &rpcpb.RegisterTaskManagerRequest{
			TaskManagerId: tm.cfg.ID, RpcAddress: tm.Addr(), DataAddress: tm.Addr(), Slots: int32(tm.cfg.Slots),
			Version: Version, CpuCores: int32(runtime.NumCPU()), MemoryBytes: physicalMemory(),
		},
		Slots:        tm.slotStatus,
		Metrics:      tm.metrics,
		Memory:       tm.memory,
		Logger:       tm.log,
		OnRegistered: tm.registered,
	}
	go tm.followElection(ctx, cli)
	lim := rt.Config()
	tm.log.Info("TaskManager serving", "addr", tm.Addr(), "slots", tm.cfg.Slots,
		"guest_memory", lim.MemoryLimit, "call_budget", lim.CallBudget, "guest_output", lim.OutputBudget)
	tm.loop.Run(ctx)

	// Shutting down: cancel what still runs.
	tm.mu.Lock()
	for _, r := range tm.tasks {
		r.cancel()
	}
	tm.mu.Unlock()
	return nil
}

// physicalMemory reads the machine's memory from /proc/meminfo (0 if
// unknown).
func physicalMemory() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	var kb int64
	if _, err := fmt.Sscanf(string(data), "MemTotal: %d kB", &kb); err != nil {
		return 0
	}
	return kb << 10
}

// followElection watches the JobManager election: a new leader's epoch is
// observed at once (tasks of older leaders are canceled, calls from them
// refused) and the TaskManager registers with it without waiting for its
// heartbeats to the old leader to fail. When the leader's key is gone and
// no one leads yet, calls from that leader are refused already.
func (tm *TaskManager) followElection(ctx context.Context, cli *clientv3.Client) {
	var last int64
	for v := range leader.Watch(ctx, cli, tm.cfg.ClusterID) {
		switch {
		case v.Leader != nil:
			last = v.Leader.Epoch
			tm.observe(last)
			tm.loop.Kick(last)
		case last > 0:
			tm.observe(last + 1)
		}
	}
}

// observe raises the lowest epoch accepted.
func (tm *TaskManager) observe(epoch int64) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.raise(epoch)
}

// raise moves to a newer epoch: the tasks and finished partitions of older
// leaders' deployments go (the new leader recovers their jobs from their
// checkpoints). Called with mu held.
func (tm *TaskManager) raise(epoch int64) {
	if epoch <= tm.epoch {
		return
	}
	tm.epoch = epoch
	n := 0
	for _, r := range tm.tasks {
		if r.epoch < epoch {
			r.cancel()
			n++
		}
	}
	for job, e := range tm.jobEpoch {
		if e >= epoch {
			continue
		}
		for _, k := range tm.finished[job] {
			go tm.registry.Unregister(k)
		}
		delete(tm.finished, job)
		delete(tm.jobEpoch, job)
	}
	if n > 0 {
		tm.log.Info("a newer JobManager leads; canceling the tasks of older leaders", "epoch", epoch, "tasks", n)
	}
}

// checkFence refuses calls from a JobManager older than the newest leader
// seen (design.md §7); a newer one's call raises the epoch.
func (tm *TaskManager) checkFence(f *rpcpb.Fence) error {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.checkFenceLocked(f)
}

func (tm *TaskManager) checkFenceLocked(f *rpcpb.Fence) error {
	if f.GetEpoch() < tm.epoch {
		return status.Errorf(codes.FailedPrecondition, "stale JobManager %s: epoch %d is older than %d", f.GetLeaderId(), f.GetEpoch(), tm.epoch)
	}
	tm.raise(f.GetEpoch())
	return nil
}

func (tm *TaskManager) slotStatus() []*rpcpb.SlotStatus {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	out := make([]*rpcpb.SlotStatus, tm.cfg.Slots)
	for i := range out {
		out[i] = &rpcpb.SlotStatus{Index: int32(i)}
	}
	for id, r := range tm.tasks {
		if r.slot >= 0 && r.slot < len(out) {
			out[r.slot].ExecutionId, out[r.slot].JobId = id, r.job
		}
	}
	return out
}

// memory reports the process's memory use: the resident set, the Go heap
// (which holds the Arrow buffers) and the running tasks' Wasm memories.
func (tm *TaskManager) memory() *rpcpb.MemoryStats {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(samples)
	st := &rpcpb.MemoryStats{Rss: residentSetSize()}
	if samples[0].Value.Kind() == metrics.KindUint64 {
		st.HeapInUse = int64(samples[0].Value.Uint64())
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	for _, r := range tm.tasks {
		st.Wasm += r.task.Metrics.WasmMemory.Load()
	}
	return st
}

// residentSetSize reads the process's resident set from /proc (0 where
// there is no /proc).
func residentSetSize() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// metrics samples every running task, with time rates over the last
// heartbeat interval.
func (tm *TaskManager) metrics() []*rpcpb.TaskMetrics {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	now := time.Now()
	var out []*rpcpb.TaskMetrics
	for id, r := range tm.tasks {
		out = append(out, tm.sample(id, r.task, now))
	}
	return out
}

// sample reads a task's metrics, with time rates since the previous sample.
// Called with mu held.
func (tm *TaskManager) sample(id string, t *taskrun.Task, now time.Time) *rpcpb.TaskMetrics {
	m := &t.Metrics
	idle, bp := m.IdleTime(now), m.Backpressured()
	prev, ok := tm.prev[id]
	if !ok {
		prev = sample{at: m.Started}
	}
	tm.prev[id] = sample{at: now, idle: idle, bp: bp}
	wall := now.Sub(prev.at)
	tmx := &rpcpb.TaskMetrics{
		ExecutionId: id, RecordsIn: m.RecordsIn.Load(), RecordsOut: m.RecordsOut.Load(),
		BytesIn: m.BytesIn.Load(), BytesOut: m.BytesOut.Load(),
	}
	if wm := m.Watermark.Load(); wm != math.MinInt64 && wm != math.MaxInt64 {
		tmx.Watermark = &wm
	}
	if wall > 0 {
		perSec := func(d time.Duration) int64 { return min(1000, max(0, int64(d)*1000/int64(wall))) }
		tmx.IdleMsPerSecond = perSec(idle - prev.idle)
		tmx.BackpressuredMsPerSecond = perSec(bp - prev.bp)
		tmx.BusyMsPerSecond = max(0, 1000-tmx.IdleMsPerSecond-tmx.BackpressuredMsPerSecond)
	}
	return tmx
}

// registered takes in what the leader said at registration: its epoch, the
// shared storage and the file connectors' access policy.
func (tm *TaskManager) registered(r *rpcpb.RegisterTaskManagerResponse) {
	tm.observe(r.GetFence().GetEpoch())
	files := connector.FileAccess{Restricted: r.GetFileAccess().GetRestricted(), AllowDirs: r.GetFileAccess().GetAllowDirs()}
	tm.mu.Lock()
	tm.storageDir = r.GetStorageDir()
	tm.files = files
	tm.mu.Unlock()
	tm.log.Info("registered with the JobManager", "leader", r.GetFence().GetLeaderId(), "epoch", r.GetFence().GetEpoch(), "storage", r.GetStorageDir(), "files", files)
}

// fileAccess is the file connectors' policy the leader gave.
func (tm *TaskManager) fileAccess() connector.FileAccess {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.files
}

// ErrArtifact is wrapped by errors about getting a job's module.
var ErrArtifact = errors.New("worker: cannot get the job's module")

// maxArtifactBytes bounds a module fetched from the JobManager.
const maxArtifactBytes = 1 << 30

// module returns the compiled module of an artifact, fetching it from the
// JobManager into the data dir the first time; name (its upload name, may
// be empty) names it in errors and logs.
func (tm *TaskManager) module(ctx context.Context, sum, name string) (*wasm.Module, error) {
	if len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("%w: bad artifact id %q (want 64 lower-case hex digits)", ErrArtifact, sum)
	}
	tm.mu.Lock()
	if m, ok := tm.modules[sum]; ok {
		tm.mu.Unlock()
		return m, nil
	}
	if l, ok := tm.loading[sum]; ok {
		tm.mu.Unlock()
		select {
		case <-l.done:
			return l.mod, l.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l := &moduleLoad{done: make(chan struct{})}
	tm.loading[sum] = l
	tm.mu.Unlock()

	l.mod, l.err = tm.loadModule(ctx, sum, name)
	tm.mu.Lock()
	delete(tm.loading, sum)
	if l.err == nil {
		tm.modules[sum] = l.mod
	}
	tm.mu.Unlock()
	close(l.done)
	return l.mod, l.err
}

// moduleLoad is a module being loaded; done closes when mod or err is set.
type moduleLoad struct {
	done chan struct{}
	mod  *wasm.Module
	err  error
}

// loadModule reads an artifact from this TaskManager's cache, the
// cluster's shared storage (where this machine can see it) or the leader's
// ResourceManager, in that order, taking the first copy whose sha256 is
// right, caches it and compiles it.
func (tm *TaskManager) loadModule(ctx context.Context, sum, name string) (*wasm.Module, error) {
	cache := filepath.Join(tm.cfg.DataDir, "artifacts", sum+".wasm")
	tm.mu.Lock()
	shared := tm.storageDir
	tm.mu.Unlock()
	right := func(b []byte) bool { got := sha256.Sum256(b); return hex.EncodeToString(got[:]) == sum }
	bin, err := os.ReadFile(cache)
	cached := err == nil && right(bin)
	ok := cached
	if !ok && shared != "" {
		bin, err = os.ReadFile(filepath.Join(shared, "artifacts", sum+".wasm"))
		ok = err == nil && right(bin)
	}
	if !ok {
		if bin, err = tm.fetch(ctx, sum); err != nil {
			return nil, err
		}
		if !right(bin) {
			got := sha256.Sum256(bin)
			return nil, fmt.Errorf("%w: the JobManager sent %d bytes with sha256 %x, want %s", ErrArtifact, len(bin), got, sum)
		}
	}
	if !cached {
		// Written aside and renamed, so that no reader sees half a file.
		tmp := fmt.Sprintf("%s.%d.tmp", cache, time.Now().UnixNano())
		if err := os.WriteFile(tmp, bin, 0o644); err != nil {
			return nil, fmt.Errorf("worker: caching the artifact: %w", err)
		}
		if err := os.Rename(tmp, cache); err != nil {
			_ = os.Remove(tmp)
			return nil, fmt.Errorf("worker: caching the artifact: %w", err)
		}
	}
	if name = path.Base("/" + strings.ReplaceAll(name, "\\", "/")); name == "/" || name == "." || name == ".." {
		name = sum[:12] + ".wasm"
	}
	return tm.rt.Load(ctx, name, bin)
}

// fetch streams an artifact from the ResourceManager this TaskManager is
// registered with (the connection of the registration loop: the one that
// gets mutual TLS), at most maxArtifactBytes, as big as the first chunk
// says. The caller checks its sha256.
func (tm *TaskManager) fetch(ctx context.Context, sum string) ([]byte, error) {
	var rm rpcpb.ResourceManagerClient
	if tm.loop != nil {
		rm = tm.loop.Current()
	}
	if rm == nil {
		return nil, fmt.Errorf("%w: %s: not registered with a JobManager", ErrArtifact, sum)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	stream, err := rm.FetchArtifact(ctx, &rpcpb.FetchArtifactRequest{Sha256: sum, TaskManagerId: tm.cfg.ID})
	if err != nil {
		return nil, fmt.Errorf("%w: fetching %s from the JobManager: %w", ErrArtifact, sum, err)
	}
	var bin []byte
	size := int64(-1)
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: fetching %s from the JobManager: %w", ErrArtifact, sum, err)
		}
		if size < 0 {
			if size = chunk.GetSize(); size < 0 || size > maxArtifactBytes {
				return nil, fmt.Errorf("%w: the JobManager announced %s as %d bytes (at most %d)", ErrArtifact, sum, size, maxArtifactBytes)
			}
			bin = make([]byte, 0, size)
		}
		if int64(len(bin))+int64(len(chunk.GetData())) > size {
			return nil, fmt.Errorf("%w: the JobManager sent more of %s than the %d bytes it announced", ErrArtifact, sum, size)
		}
		bin = append(bin, chunk.GetData()...)
	}
	if size < 0 || int64(len(bin)) != size {
		return nil, fmt.Errorf("%w: the JobManager sent %d bytes of %s, not the %d it announced", ErrArtifact, len(bin), sum, max(size, 0))
	}
	tm.log.Debug("artifact fetched from the JobManager", "artifact", sum, "bytes", size)
	return bin, nil
}

// conn returns a shared connection to another TaskManager.
func (tm *TaskManager) conn(addr string) (*grpc.ClientConn, error) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if c, ok := tm.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, append(remote.DialOptions(), grpc.WithTransportCredentials(tm.tls.Dial))...)
	if err != nil {
		return nil, fmt.Errorf("worker: connect to TaskManager at %s: %w", addr, err)
	}
	tm.conns[addr] = c
	return c, nil
}

func (tm *TaskManager) closeConns() {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	for addr, c := range tm.conns {
		c.Close()
		delete(tm.conns, addr)
	}
}

// schema returns the schema of a producer's partition, here or remote.
func (tm *TaskManager) schema(ctx context.Context, addr string, key exchange.PartitionKey) (*arrow.Schema, error) {
	if addr == "" {
		p, err := tm.registry.Wait(ctx, key)
		if err != nil {
			return nil, err
		}
		return p.Schema(), nil
	}
	c, err := tm.conn(addr)
	if err != nil {
		return nil, err
	}
	resp, err := rpcpb.NewDataExchangeClient(c).Schema(ctx, &rpcpb.SchemaRequest{ProducerExecutionId: key.Producer, DownstreamVertex: key.Downstream})
	if err != nil {
		return nil, fmt.Errorf("schema of %s from %s: %w", key, addr, err)
	}
	s, err := flight.DeserializeSchema(resp.GetSchema(), tm.alloc)
	if err != nil {
		return nil, fmt.Errorf("schema of %s from %s: %w", key, addr, err)
	}
	return s, nil
}

// dataExchange adds the Schema call to the exchange's server.
type dataExchange struct {
	*remote.Server
	tm *TaskManager
}

func (d dataExchange) Schema(ctx context.Context, req *rpcpb.SchemaRequest) (*rpcpb.SchemaResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	p, err := d.tm.registry.Wait(ctx, exchange.PartitionKey{Producer: req.GetProducerExecutionId(), Downstream: req.GetDownstreamVertex()})
	if err != nil {
		return nil, status.Error(codes.DeadlineExceeded, err.Error())
	}
	return &rpcpb.SchemaResponse{Schema: flight.SerializeSchema(p.Schema(), d.tm.alloc)}, nil
}

// executor implements the TaskExecutor service.
type executor struct {
	rpcpb.UnimplementedTaskExecutorServer
	tm *TaskManager
}

func (e executor) DeployTask(_ context.Context, req *rpcpb.DeployTaskRequest) (*rpcpb.Ack, error) {
	tm := e.tm
	if err := tm.checkFence(req.GetFence()); err != nil {
		return nil, err
	}
	d := req.GetTask()
	if d.GetSlot() < 0 || int(d.GetSlot()) >= tm.cfg.Slots {
		return nil, status.Errorf(codes.InvalidArgument, "slot %d does not exist (this TaskManager has %d)", d.GetSlot(), tm.cfg.Slots)
	}
	env := &taskrun.Env{
		Module: tm.module, Files: tm.fileAccess(), Registry: tm.registry, Conn: tm.conn, Schema: tm.schema,
		Exchange: tm.cfg.Exchange, BatchRows: tm.cfg.BatchRows, Alloc: tm.alloc, Logger: tm.log,
		Ack: tm.ackCheckpoint, Decline: tm.declineCheckpoint,
	}
	t, err := taskrun.New(env, d)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	tm.mu.Lock()
	// Checked again with the task's insertion: a newer leader may have
	// been seen since (its tasks sweep would miss this one).
	if err := tm.checkFenceLocked(req.GetFence()); err != nil {
		tm.mu.Unlock()
		cancel()
		return nil, err
	}
	if _, gone := tm.canceled[d.GetExecutionId()]; gone {
		tm.mu.Unlock()
		cancel()
		go tm.report(d.GetExecutionId(), rpcpb.TaskState_TASK_STATE_CANCELED, nil, nil, nil)
		return &rpcpb.Ack{}, nil
	}
	if _, dup := tm.tasks[d.GetExecutionId()]; dup {
		tm.mu.Unlock()
		cancel()
		return nil, status.Errorf(codes.AlreadyExists, "task %s is already deployed", d.GetExecutionId())
	}
	tm.tasks[d.GetExecutionId()] = &running{task: t, cancel: cancel, slot: int(d.GetSlot()), job: d.GetJobId(), epoch: req.GetFence().GetEpoch()}
	tm.jobEpoch[d.GetJobId()] = max(tm.jobEpoch[d.GetJobId()], req.GetFence().GetEpoch())
	tm.mu.Unlock()
	go tm.run(ctx, t)
	return &rpcpb.Ack{}, nil
}

// run runs a task and reports its states.
func (tm *TaskManager) run(ctx context.Context, t *taskrun.Task) {
	id := t.Deployment.GetExecutionId()
	log := tm.log.With("task", id)
	err := t.Run(ctx, func() { tm.report(id, rpcpb.TaskState_TASK_STATE_RUNNING, nil, nil, nil) })
	state := rpcpb.TaskState_TASK_STATE_FINISHED
	var logs []string
	switch {
	case err != nil && ctx.Err() != nil:
		state = rpcpb.TaskState_TASK_STATE_CANCELED
		err = nil
	case err != nil:
		state = rpcpb.TaskState_TASK_STATE_FAILED
		var f *taskrun.Failure
		if errors.As(err, &f) {
			logs = f.GuestLogs
		}
		log.Warn("task failed", "err", err)
	default:
		log.Info("task finished", "records_in", t.Metrics.RecordsIn.Load(), "records_out", t.Metrics.RecordsOut.Load())
	}
	tm.mu.Lock()
	final := tm.sample(id, t, time.Now())
	delete(tm.tasks, id)
	delete(tm.prev, id)
	tm.mu.Unlock()
	// Finished partitions stay until their consumers have read them (or the
	// job's slots are released); failed ones go at once.
	for _, key := range t.Partitions() {
		if state != rpcpb.TaskState_TASK_STATE_FINISHED {
			tm.registry.Unregister(key)
			continue
		}
		if p, ok := tm.registry.Lookup(key); ok {
			tm.mu.Lock()
			tm.finished[t.Deployment.GetJobId()] = append(tm.finished[t.Deployment.GetJobId()], key)
			tm.mu.Unlock()
			go func() {
				<-p.Consumed()
				tm.registry.Unregister(key)
			}()
		}
	}
	tm.report(id, state, err, logs, final)
}

// report tells the JobManager about a task, retrying while it is
// unreachable.
func (tm *TaskManager) report(id string, s rpcpb.TaskState, cause error, logs []string, m *rpcpb.TaskMetrics) {
	r := &rpcpb.TaskStateReport{TaskManagerId: tm.cfg.ID, ExecutionId: id, State: s, GuestLogs: logs, Metrics: m}
	if cause != nil {
		r.Error = cause.Error()
	}
	for attempt, wait := 0, 50*time.Millisecond; attempt < 10; attempt, wait = attempt+1, min(2*wait, time.Second) {
		if c := tm.loop.Current(); c != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := c.ReportTaskState(ctx, r)
			cancel()
			if err == nil {
				return
			}
			tm.log.Debug("task report failed; retrying", "task", id, "err", err)
		}
		time.Sleep(wait)
	}
	tm.log.Warn("could not report a task state to the JobManager", "task", id, "state", s)
}

func (e executor) CancelTask(_ context.Context, req *rpcpb.CancelTaskRequest) (*rpcpb.Ack, error) {
	if err := e.tm.checkFence(req.GetFence()); err != nil {
		return nil, err
	}
	e.tm.mu.Lock()
	r, ok := e.tm.tasks[req.GetExecutionId()]
	if !ok {
		// Ended (its final state was or is being reported), or not deployed
		// yet: its deployment may still be on its way.
		now := time.Now()
		for id, at := range e.tm.canceled {
			if now.Sub(at) > 10*time.Minute {
				delete(e.tm.canceled, id)
			}
		}
		e.tm.canceled[req.GetExecutionId()] = now
	}
	e.tm.mu.Unlock()
	if !ok {
		return &rpcpb.Ack{}, nil
	}
	r.cancel()
	return &rpcpb.Ack{}, nil
}

func (e executor) ReleaseSlots(_ context.Context, req *rpcpb.ReleaseSlotsRequest) (*rpcpb.Ack, error) {
	if err := e.tm.checkFence(req.GetFence()); err != nil {
		return nil, err
	}
	e.tm.mu.Lock()
	for _, r := range e.tm.tasks {
		if r.job == req.GetJobId() {
			r.cancel()
		}
	}
	keys := e.tm.finished[req.GetJobId()]
	delete(e.tm.finished, req.GetJobId())
	delete(e.tm.jobEpoch, req.GetJobId())
	e.tm.mu.Unlock()
	for _, k := range keys {
		e.tm.registry.Unregister(k)
	}
	return &rpcpb.Ack{}, nil
}

func (e executor) TriggerCheckpoint(_ context.Context, req *rpcpb.TriggerCheckpointRequest) (*rpcpb.Ack, error) {
	if err := e.tm.checkFence(req.GetFence()); err != nil {
		return nil, err
	}
	e.tm.mu.Lock()
	r, ok := e.tm.tasks[req.GetExecutionId()]
	e.tm.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "task %s is not running here", req.GetExecutionId())
	}
	if err := r.task.TriggerCheckpoint(req.GetCheckpointId(), req.GetTimestampMs(), req.GetSavepoint(), req.GetTerminate()); err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return &rpcpb.Ack{}, nil
}

func (e executor) NotifyCheckpointComplete(ctx context.Context, req *rpcpb.NotifyCheckpointRequest) (*rpcpb.Ack, error) {
	if err := e.tm.checkFence(req.GetFence()); err != nil {
		return nil, err
	}
	e.tm.mu.Lock()
	var tasks []*taskrun.Task
	for _, r := range e.tm.tasks {
		if r.job == req.GetJobId() {
			tasks = append(tasks, r.task)
		}
	}
	e.tm.mu.Unlock()
	var errs []error
	for _, t := range tasks {
		errs = append(errs, t.NotifyCheckpointComplete(ctx, req.GetCheckpointId()))
	}
	if err := errors.Join(errs...); err != nil {
		e.tm.log.Warn("committing a checkpoint failed", "checkpoint", req.GetCheckpointId(), "err", err)
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &rpcpb.Ack{}, nil
}

// ackCheckpoint and declineCheckpoint send a task's checkpoint answer to
// the JobManager.
func (tm *TaskManager) ackCheckpoint(a *rpcpb.CheckpointAck) {
	a.TaskManagerId = tm.cfg.ID
	if c := tm.loop.Current(); c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.AcknowledgeCheckpoint(ctx, a); err != nil {
			tm.log.Warn("checkpoint acknowledgement not delivered", "task", a.GetExecutionId(), "checkpoint", a.GetCheckpointId(), "err", err)
		}
	}
}

func (tm *TaskManager) declineCheckpoint(d *rpcpb.CheckpointDecline) {
	d.TaskManagerId = tm.cfg.ID
	if c := tm.loop.Current(); c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = c.DeclineCheckpoint(ctx, d)
	}
}

var _ rpcpb.TaskExecutorServer = executor{}
