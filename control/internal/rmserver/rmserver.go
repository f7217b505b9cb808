// Package rmserver serves the ResourceManager gRPC service of the leading
// JobManager over the registry of package resources: TaskManagers register
// and heartbeat, and TaskManagers that stop heartbeating are declared lost.
package rmserver

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/weirflow/weir/control/internal/artifact"
	"github.com/weirflow/weir/control/internal/resources"
	"github.com/weirflow/weir/internal/connector"
	"github.com/weirflow/weir/internal/rpcpb"
)

// ChunkSize is the largest piece of a module FetchArtifact sends at once.
const ChunkSize = 1 << 20

// Artifacts reads stored job modules: Bytes returns a module by its id (its
// hex sha256), an error wrapping artifact.ErrBadID for a malformed id and
// artifact.ErrNotFound for an unknown one (*artifact.Store does).
type Artifacts interface {
	Bytes(id string) ([]byte, error)
}

// Config configures the service.
type Config struct {
	// Fence is the leader's identity, sent to TaskManagers.
	Fence *rpcpb.Fence
	// HeartbeatInterval and HeartbeatTimeout default to 1 s and 5 s (Flink:
	// 10 s and 50 s).
	HeartbeatInterval, HeartbeatTimeout time.Duration
	// StorageDir is the shared blob storage TaskManagers read artifacts from.
	StorageDir string
	// Artifacts serves FetchArtifact, for TaskManagers that cannot read
	// StorageDir (nil: every fetch is NOT_FOUND).
	Artifacts Artifacts
	// FileAccess is the file connectors' policy, sent to TaskManagers when
	// they register (they apply it too).
	FileAccess connector.FileAccess
	// OnLost is told of TaskManagers that missed their heartbeats, and of
	// the jobs that had tasks there; OnTaskState of every task report.
	OnLost      func(resources.Lost)
	OnTaskState func(*rpcpb.TaskStateReport)
	// OnHeartbeat is told of every heartbeat of a known TaskManager (its
	// task metrics).
	OnHeartbeat func(*rpcpb.HeartbeatRequest)
	// OnCheckpointAck and OnCheckpointDecline are told of tasks' checkpoint
	// acknowledgements and refusals.
	OnCheckpointAck     func(*rpcpb.CheckpointAck)
	OnCheckpointDecline func(*rpcpb.CheckpointDecline)
	Logger              *slog.Logger
	// Now reads the clock (default time.Now).
	Now func() time.Time
}

// Server implements rpcpb.ResourceManagerServer.
type Server struct {
	rpcpb.UnimplementedResourceManagerServer
	cfg Config
	mu  sync.Mutex
	reg *resources.Registry
}

// New returns a server with an empty registry.
func New(cfg Config) *Server {
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = time.Second
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OnLost == nil {
		cfg.OnLost = func(resources.Lost) {}
	}
	if cfg.OnCheckpointAck == nil {
		cfg.OnCheckpointAck = func(*rpcpb.CheckpointAck) {}
	}
	if cfg.OnCheckpointDecline == nil {
		cfg.OnCheckpointDecline = func(*rpcpb.CheckpointDecline) {}
	}
	if cfg.OnHeartbeat == nil {
		cfg.OnHeartbeat = func(*rpcpb.HeartbeatRequest) {}
	}
	if cfg.OnTaskState == nil {
		cfg.OnTaskState = func(*rpcpb.TaskStateReport) {}
	}
	return &Server{cfg: cfg, reg: resources.New(cfg.HeartbeatTimeout)}
}

// Registry runs f with the registry locked (for the JobMasters' slot
// requests and the REST views).
func (s *Server) Registry(f func(*resources.Registry)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.reg)
}

// RegisterTaskManager implements the service.
func (s *Server) RegisterTaskManager(_ context.Context, req *rpcpb.RegisterTaskManagerRequest) (*rpcpb.RegisterTaskManagerResponse, error) {
	if req.GetTaskManagerId() == "" || req.GetSlots() < 1 || req.GetSlots() > 4096 {
		return nil, status.Errorf(codes.InvalidArgument, "a TaskManager needs an id and 1..4096 slots (got %q, %d)", req.GetTaskManagerId(), req.GetSlots())
	}
	s.mu.Lock()
	orphaned := s.reg.Register(s.cfg.Now(), resources.TaskManager{
		ID: req.GetTaskManagerId(), RPCAddress: req.GetRpcAddress(), DataAddress: req.GetDataAddress(),
		Slots: int(req.GetSlots()), Memory: req.GetMemoryBytes(), CPUCores: int(req.GetCpuCores()),
	})
	s.mu.Unlock()
	s.cfg.Logger.Info("TaskManager registered", "id", req.GetTaskManagerId(), "slots", req.GetSlots(), "rpc", req.GetRpcAddress())
	if len(orphaned) > 0 {
		s.cfg.OnLost(resources.Lost{ID: req.GetTaskManagerId(), Jobs: orphaned})
	}
	return &rpcpb.RegisterTaskManagerResponse{
		Fence:               s.cfg.Fence,
		HeartbeatIntervalMs: s.cfg.HeartbeatInterval.Milliseconds(),
		HeartbeatTimeoutMs:  s.cfg.HeartbeatTimeout.Milliseconds(),
		StorageDir:          s.cfg.StorageDir,
		FileAccess:          &rpcpb.FileAccess{Restricted: s.cfg.FileAccess.On(), AllowDirs: s.cfg.FileAccess.AllowDirs},
	}, nil
}

// FetchArtifact implements the service: it streams a stored module to a
// registered TaskManager in chunks of at most ChunkSize bytes, the first
// carrying the module's size.
func (s *Server) FetchArtifact(req *rpcpb.FetchArtifactRequest, stream grpc.ServerStreamingServer[rpcpb.ArtifactChunk]) error {
	s.mu.Lock()
	_, known := s.reg.Get(req.GetTaskManagerId())
	s.mu.Unlock()
	if !known {
		return status.Errorf(codes.FailedPrecondition, "TaskManager %q is not registered with this JobManager: register before fetching artifacts", req.GetTaskManagerId())
	}
	var bin []byte
	err := artifact.ErrNotFound
	if s.cfg.Artifacts != nil {
		bin, err = s.cfg.Artifacts.Bytes(req.GetSha256())
	}
	switch {
	case errors.Is(err, artifact.ErrBadID):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, artifact.ErrNotFound):
		return status.Errorf(codes.NotFound, "no artifact %q is stored: it was deleted, or never uploaded", req.GetSha256())
	case err != nil:
		s.cfg.Logger.Error("reading an artifact for a TaskManager failed", "artifact", req.GetSha256(), "taskmanager", req.GetTaskManagerId(), "err", err)
		return status.Errorf(codes.Internal, "reading artifact %s: %v", req.GetSha256(), err)
	}
	size := int64(len(bin))
	for first := true; first || len(bin) > 0; first = false {
		n := min(len(bin), ChunkSize)
		chunk := &rpcpb.ArtifactChunk{Data: bin[:n]}
		if first {
			chunk.Size = size
		}
		if err := stream.Send(chunk); err != nil {
			return err
		}
		bin = bin[n:]
	}
	s.cfg.Logger.Debug("artifact sent to a TaskManager", "artifact", req.GetSha256(), "taskmanager", req.GetTaskManagerId(), "bytes", size)
	return nil
}

// Heartbeat implements the service; an unknown TaskManager is asked to
// register again.
func (s *Server) Heartbeat(_ context.Context, req *rpcpb.HeartbeatRequest) (*rpcpb.HeartbeatResponse, error) {
	s.mu.Lock()
	mem := req.GetMemory()
	err := s.reg.Heartbeat(s.cfg.Now(), req.GetTaskManagerId(), resources.Status{
		TasksRunning: len(req.GetMetrics()), RSS: mem.GetRss(), HeapInUse: mem.GetHeapInUse(), Wasm: mem.GetWasm(),
	})
	s.mu.Unlock()
	if errors.Is(err, resources.ErrUnknown) {
		return &rpcpb.HeartbeatResponse{Fence: s.cfg.Fence, Reregister: true}, nil
	}
	if err == nil {
		s.cfg.OnHeartbeat(req)
	}
	return &rpcpb.HeartbeatResponse{Fence: s.cfg.Fence}, err
}

// ReportTaskState implements the service.
func (s *Server) ReportTaskState(_ context.Context, req *rpcpb.TaskStateReport) (*rpcpb.Ack, error) {
	s.cfg.OnTaskState(req)
	return &rpcpb.Ack{}, nil
}

// AcknowledgeCheckpoint implements the service.
func (s *Server) AcknowledgeCheckpoint(_ context.Context, a *rpcpb.CheckpointAck) (*rpcpb.Ack, error) {
	s.cfg.OnCheckpointAck(a)
	return &rpcpb.Ack{}, nil
}

// DeclineCheckpoint implements the service.
func (s *Server) DeclineCheckpoint(_ context.Context, d *rpcpb.CheckpointDecline) (*rpcpb.Ack, error) {
	s.cfg.OnCheckpointDecline(d)
	return &rpcpb.Ack{}, nil
}

// Expire declares lost the TaskManagers that missed their heartbeats.
func (s *Server) Expire() []resources.Lost {
	s.mu.Lock()
	lost := s.reg.Expire(s.cfg.Now())
	s.mu.Unlock()
	for _, l := range lost {
		s.cfg.Logger.Warn("TaskManager lost: no heartbeat", "id", l.ID, "timeout", s.cfg.HeartbeatTimeout, "jobs", l.Jobs)
		s.cfg.OnLost(l)
	}
	return lost
}

// Expel declares a TaskManager lost before its heartbeats time out, when
// calling it showed it is gone (connection refused). If it is alive after
// all, its next heartbeat is answered with reregister.
func (s *Server) Expel(id, why string) {
	s.mu.Lock()
	lost, ok := s.reg.Remove(id)
	s.mu.Unlock()
	if ok {
		s.cfg.Logger.Warn("TaskManager lost: unreachable", "id", id, "why", why, "jobs", lost.Jobs)
		s.cfg.OnLost(lost)
	}
}

// RunExpiry calls Expire every heartbeat interval until ctx ends.
func (s *Server) RunExpiry(ctx context.Context) {
	t := time.NewTicker(s.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Expire()
		}
	}
}
