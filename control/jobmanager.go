// Package control is Weir's JobManager: the Dispatcher with its REST API,
// the ResourceManager that TaskManagers register with, and a JobMaster per
// job. It keeps its coordination state in etcd: an external cluster, or a
// single-node etcd it embeds when none is given.
package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/weirflow/weir/control/internal/artifact"
	"github.com/weirflow/weir/control/internal/checkpoint"
	"github.com/weirflow/weir/control/internal/dispatcher"
	"github.com/weirflow/weir/control/internal/planread"
	"github.com/weirflow/weir/control/internal/resources"
	"github.com/weirflow/weir/control/internal/rest"
	"github.com/weirflow/weir/control/internal/rmserver"
	"github.com/weirflow/weir/internal/etcdembed"
	"github.com/weirflow/weir/internal/leader"
	"github.com/weirflow/weir/internal/rpcpb"
)

// Config configures a JobManager.
type Config struct {
	// RESTAddr and RPCAddr are the listen addresses of the REST API and of
	// the gRPC ResourceManager (port 0 picks one).
	RESTAddr, RPCAddr string
	// DataDir holds artifacts, the compilation cache and the embedded etcd.
	DataDir string
	// EtcdEndpoints are the client URLs of an etcd cluster; when empty the
	// JobManager embeds a single-node etcd serving clients at EtcdListen
	// (default http://127.0.0.1:2379).
	EtcdEndpoints []string
	EtcdListen    string
	// HeartbeatInterval and HeartbeatTimeout for TaskManagers (defaults 1 s
	// and 5 s).
	HeartbeatInterval, HeartbeatTimeout time.Duration
	// MaxUploadBytes bounds uploaded modules (default 64 MiB).
	MaxUploadBytes int64
	// SlotTimeout bounds a job's wait for free slots (default 5 minutes).
	SlotTimeout time.Duration
	// Checkpoints are the cluster's checkpoint defaults (jobs override them
	// with checkpoint.* keys).
	Checkpoints checkpoint.Config
	Logger      *slog.Logger
}

// JobManager is a running JobManager.
type JobManager struct {
	cfg Config
	log *slog.Logger

	etcd     *etcdembed.Server
	cli      *clientv3.Client
	restLis  net.Listener
	rpcLis   net.Listener
	ready    chan struct{}
	endpoint []string
}

// New checks the configuration and binds the listeners, so the addresses
// are known before Run.
func New(cfg Config) (*JobManager, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DataDir == "" {
		return nil, errors.New("control: a data dir is required")
	}
	if cfg.EtcdListen == "" {
		cfg.EtcdListen = "http://127.0.0.1:2379"
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("control: data dir: %w", err)
	}
	m := &JobManager{cfg: cfg, log: cfg.Logger, ready: make(chan struct{})}
	var err error
	if m.restLis, err = net.Listen("tcp", cfg.RESTAddr); err != nil {
		return nil, fmt.Errorf("control: REST address: %w", err)
	}
	if m.rpcLis, err = net.Listen("tcp", cfg.RPCAddr); err != nil {
		m.restLis.Close()
		return nil, fmt.Errorf("control: RPC address: %w", err)
	}
	return m, nil
}

// RESTAddr is the REST API's address (host:port).
func (m *JobManager) RESTAddr() string { return m.restLis.Addr().String() }

// RPCAddr is the ResourceManager's gRPC address (host:port).
func (m *JobManager) RPCAddr() string { return m.rpcLis.Addr().String() }

// Ready is closed once the JobManager leads and serves.
func (m *JobManager) Ready() <-chan struct{} { return m.ready }

// EtcdEndpoints are the etcd client URLs in use (known once Ready).
func (m *JobManager) EtcdEndpoints() []string { return m.endpoint }

// Run starts etcd (if embedded), campaigns for leadership, and serves until
// ctx ends; then it shuts down cleanly.
func (m *JobManager) Run(ctx context.Context) error {
	defer m.restLis.Close()
	defer m.rpcLis.Close()
	m.endpoint = m.cfg.EtcdEndpoints
	if len(m.endpoint) == 0 {
		srv, err := etcdembed.Start(ctx, m.cfg.DataDir, m.cfg.EtcdListen)
		if err != nil {
			return err
		}
		defer srv.Close()
		m.etcd = srv
		m.endpoint = []string{srv.ClientURL}
		m.log.Info("embedded etcd serving", "url", srv.ClientURL)
	}
	cli, err := leader.Dial(m.endpoint)
	if err != nil {
		return err
	}
	defer cli.Close()
	m.cli = cli

	host, _ := os.Hostname()
	id := fmt.Sprintf("jobmanager-%s-%d", host, os.Getpid())
	m.log.Info("campaigning for leadership", "id", id, "etcd", strings.Join(m.endpoint, ","))
	lead, err := leader.Campaign(ctx, cli, leader.Info{ID: id, RPCAddress: m.RPCAddr(), RESTAddress: m.RESTAddr()}, 10*time.Second)
	if err != nil {
		return err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = lead.Resign(rctx)
	}()
	m.log.Info("leading", "id", id, "epoch", lead.Epoch)
	fence := &rpcpb.Fence{Epoch: lead.Epoch, LeaderId: id}

	store, err := artifact.Open(filepath.Join(m.cfg.DataDir, "artifacts"), m.cfg.MaxUploadBytes)
	if err != nil {
		return err
	}
	plans, err := planread.New(ctx, filepath.Join(m.cfg.DataDir, "cache"), planread.Limits{})
	if err != nil {
		return err
	}
	defer plans.Close(context.Background())

	var disp *dispatcher.Dispatcher
	rm := rmserver.New(rmserver.Config{
		Fence: fence, HeartbeatInterval: m.cfg.HeartbeatInterval, HeartbeatTimeout: m.cfg.HeartbeatTimeout,
		OnLost:              func(l resources.Lost) { disp.Lost(l) },
		OnTaskState:         func(r *rpcpb.TaskStateReport) { disp.TaskState(r) },
		OnHeartbeat:         func(r *rpcpb.HeartbeatRequest) { disp.Heartbeat(r) },
		OnCheckpointAck:     func(a *rpcpb.CheckpointAck) { disp.CheckpointAck(a) },
		OnCheckpointDecline: func(d *rpcpb.CheckpointDecline) { disp.CheckpointDecline(d) },
		Logger:              m.log,
	})
	restURL := "http://" + m.RESTAddr()
	disp = dispatcher.New(dispatcher.Config{
		Artifacts: store, Plans: plans, RM: rm, Fence: fence, SlotTimeout: m.cfg.SlotTimeout, Logger: m.log,
		ArtifactURL:    func(id string) string { return restURL + "/wasm/" + id + "/module" },
		CheckpointRoot: filepath.Join(m.cfg.DataDir, "checkpoints"),
		Checkpoints:    m.cfg.Checkpoints,
		CommitPointer: func(job string, id int64, path string) error {
			return leader.CommitCheckpoint(ctx, cli, lead, job, id, path)
		},
	})
	defer disp.Close()

	gs := grpc.NewServer()
	rpcpb.RegisterResourceManagerServer(gs, rm)
	go func() { _ = gs.Serve(m.rpcLis) }()
	defer gs.Stop()

	hs := &http.Server{Handler: rest.New(rest.Config{Artifacts: store, Plans: plans, Jobs: disp, Logger: m.log}).Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(m.restLis) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()

	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go rm.RunExpiry(rctx)
	close(m.ready)
	m.log.Info("JobManager serving", "rest", restURL, "rpc", m.RPCAddr())

	var etcdErr <-chan error
	if m.etcd != nil {
		etcdErr = m.etcd.Err()
	}
	select {
	case <-ctx.Done():
		m.log.Info("JobManager shutting down")
		return nil
	case <-lead.Lost():
		return errors.New("control: lost the leadership (etcd session expired)")
	case err := <-etcdErr:
		return fmt.Errorf("control: embedded etcd failed: %w", err)
	}
}
