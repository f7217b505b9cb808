// Package control is Weir's JobManager: the Dispatcher with its REST API,
// the ResourceManager that TaskManagers register with, and a JobMaster per
// job. It keeps its coordination state in etcd: an external cluster, or a
// single-node etcd it embeds when none is given.
//
// Every JobManager of a cluster campaigns for leadership (design.md §7).
// While it waits it is a standby: its REST API passes requests on to the
// leader and its ResourceManager sends TaskManagers away. Once it wins, a
// term begins: a fresh ResourceManager, a dispatcher that recovers every
// unfinished job from etcd, and a REST API of its own; when the leadership
// ends, the term's JobMasters are suspended (tasks are left to the next
// leader) and the JobManager campaigns again.
package control

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/weirflow/weir/control/internal/artifact"
	"github.com/weirflow/weir/control/internal/auth"
	"github.com/weirflow/weir/control/internal/checkpoint"
	"github.com/weirflow/weir/control/internal/dispatcher"
	"github.com/weirflow/weir/control/internal/jobstore"
	"github.com/weirflow/weir/control/internal/planread"
	"github.com/weirflow/weir/control/internal/resources"
	"github.com/weirflow/weir/control/internal/rest"
	"github.com/weirflow/weir/control/internal/rmserver"
	"github.com/weirflow/weir/internal/certs"
	"github.com/weirflow/weir/internal/etcdembed"
	"github.com/weirflow/weir/internal/leader"
	"github.com/weirflow/weir/internal/rpcpb"
)

// Defaults of the JobManager's limits (Config), for flags and docs.
const (
	DefaultMaxUploadBytes  = artifact.DefaultMaxSize
	DefaultMaxArtifacts    = artifact.DefaultMaxCount
	DefaultMaxRequestBytes = rest.DefaultMaxRequestBytes
	DefaultMaxActiveJobs   = dispatcher.DefaultMaxActiveJobs
	DefaultMaxRetainedJobs = dispatcher.DefaultMaxRetainedJobs
	DefaultSubmitRate      = rest.DefaultSubmitRate
	DefaultSubmitBurst     = rest.DefaultSubmitBurst
	DefaultPlanMemory      = planread.DefaultMemory
	DefaultPlanBudget      = planread.DefaultBudget
	DefaultPlanOutput      = planread.DefaultOutput
)

// Config configures a JobManager.
type Config struct {
	// RESTAddr and RPCAddr are the listen addresses of the REST API and of
	// the gRPC ResourceManager (port 0 picks one).
	RESTAddr, RPCAddr string
	// DataDir is this JobManager's own directory: the compilation cache and
	// the embedded etcd.
	DataDir string
	// StorageDir is the blob storage shared by every JobManager of the
	// cluster: artifacts, checkpoints and savepoints (default
	// <DataDir>/storage). TaskManagers learn it when they register.
	StorageDir string
	// EtcdEndpoints are the client URLs of an etcd cluster; when empty the
	// JobManager embeds a single-node etcd serving clients at EtcdListen
	// (default http://127.0.0.1:2379).
	EtcdEndpoints []string
	EtcdListen    string
	// ClusterID namespaces the cluster's keys in etcd (default "default").
	ClusterID string
	// ID names this JobManager (default jobmanager-<host>-<pid>).
	ID string
	// LeaseTTL is the life of the leadership's etcd lease without renewal
	// (default 2 s): a dead leader is replaced after about this long.
	LeaseTTL time.Duration
	// HeartbeatInterval and HeartbeatTimeout for TaskManagers (defaults 1 s
	// and 5 s).
	HeartbeatInterval, HeartbeatTimeout time.Duration
	// MaxUploadBytes bounds uploaded modules (default 64 MiB) and
	// MaxArtifacts their number (default 1000).
	MaxUploadBytes int64
	MaxArtifacts   int
	// MaxRequestBytes bounds the other request bodies (default 1 MiB).
	MaxRequestBytes int64
	// MaxActiveJobs bounds the jobs that have not ended (default 100);
	// MaxRetainedJobs the ended ones kept for GET /jobs (default 1000).
	MaxActiveJobs, MaxRetainedJobs int
	// SubmitRate and SubmitBurst limit uploads, runs, savepoints and stops
	// per client: per second on average and at once (defaults 10 and 50; a
	// negative rate turns the limit off).
	SubmitRate  float64
	SubmitBurst int
	// Plan bounds the sandbox that reads job plans (at upload and submit).
	Plan planread.Limits
	// SlotTimeout bounds a job's wait for free slots (default 5 minutes).
	SlotTimeout time.Duration
	// TLS are the PEM files of the JobManager's TLS identity: with them the
	// REST API is served over HTTPS and the ResourceManager and every call
	// to TaskManagers use mutual TLS (all three files are then needed).
	TLS certs.Files
	// AuthFile is a token file ("TOKEN ROLE" per line, roles viewer and
	// submitter); AuthTokens the same text given directly (from the
	// environment). With either, every REST request but GET /health and the
	// dashboard's static files needs a bearer token.
	AuthFile, AuthTokens string
	// AllowDirs are the directories native file sources and sinks may
	// read and write (job arguments name their paths). RestrictFiles turns
	// the allow-list on: with it and no AllowDirs, file connectors are
	// refused. It is on whenever Auth is set; without auth it is on when
	// AllowDirs is given.
	AllowDirs     []string
	RestrictFiles bool
	// Checkpoints are the cluster's checkpoint defaults (jobs override them
	// with checkpoint.* keys).
	Checkpoints checkpoint.Config
	// OnLeadership is told when this JobManager starts (true) and stops
	// (false) leading, with the epoch.
	OnLeadership func(leading bool, epoch int64)
	Logger       *slog.Logger
}

// JobManager is a running JobManager.
type JobManager struct {
	cfg Config
	log *slog.Logger

	cli      *clientv3.Client
	restLis  net.Listener
	rpcLis   net.Listener
	serving  chan struct{}
	ready    chan struct{}
	endpoint []string

	store *artifact.Store
	plans *planread.Reader
	// tokens check REST requests (nil: auth off).
	tokens *auth.Tokens
	// tls is the transport security of the REST API and gRPC.
	tls certs.Node

	// term is the current leadership's services (nil while standing by).
	term    atomic.Pointer[term]
	standby http.Handler
	// view is the election as last seen (for forwarding and the API).
	view   atomic.Pointer[leader.View]
	resign chan chan int64
}

// term is what a JobManager serves while it leads.
type term struct {
	rm  *rmserver.Server
	api http.Handler
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
	if cfg.StorageDir == "" {
		cfg.StorageDir = filepath.Join(cfg.DataDir, "storage")
	}
	if cfg.ClusterID == "" {
		cfg.ClusterID = leader.DefaultCluster
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 2 * time.Second
	}
	if cfg.ID == "" {
		host, _ := os.Hostname()
		cfg.ID = fmt.Sprintf("jobmanager-%s-%d", host, os.Getpid())
	}
	if cfg.OnLeadership == nil {
		cfg.OnLeadership = func(bool, int64) {}
	}
	for _, d := range []string{cfg.DataDir, cfg.StorageDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("control: %w", err)
		}
	}
	m := &JobManager{cfg: cfg, log: cfg.Logger.With("jobmanager", cfg.ID), serving: make(chan struct{}), ready: make(chan struct{}), resign: make(chan chan int64)}
	var err error
	if m.tokens, err = loadTokens(cfg.AuthFile, cfg.AuthTokens); err != nil {
		return nil, err
	}
	if m.tokens != nil {
		m.cfg.RestrictFiles = true
	}
	if m.tls, err = cfg.TLS.Node(); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if err := m.setFileAccess(); err != nil {
		return nil, err
	}
	if m.restLis, err = net.Listen("tcp", cfg.RESTAddr); err != nil {
		return nil, fmt.Errorf("control: REST address: %w", err)
	}
	if m.rpcLis, err = net.Listen("tcp", cfg.RPCAddr); err != nil {
		m.restLis.Close()
		return nil, fmt.Errorf("control: RPC address: %w", err)
	}
	if m.tokens == nil && !loopback(m.restLis.Addr()) {
		m.log.Warn("the REST API listens beyond loopback WITHOUT authentication: anyone who reaches " + m.RESTAddr() + " can upload and run code and cancel jobs; give --auth-file (see docs/security.md)")
	}
	return m, nil
}

// loadTokens reads the token file, or else the tokens given directly; nil
// when neither is set (auth off).
func loadTokens(file, text string) (*auth.Tokens, error) {
	from, r := "auth tokens", io.Reader(strings.NewReader(text))
	switch {
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("control: auth file: %w", err)
		}
		defer f.Close()
		from, r = "auth file "+file, f
	case text == "":
		return nil, nil
	}
	t, err := auth.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("control: %s: %w", from, err)
	}
	return t, nil
}

// loopback reports whether a listener's address is on the loopback
// interface only (127.0.0.0/8 or ::1); an unspecified address (0.0.0.0,
// ::) is not.
func loopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// RESTAddr is the REST API's address (host:port).
func (m *JobManager) RESTAddr() string { return m.restLis.Addr().String() }

// RESTURL is the REST API's URL: https://host:port with TLS, else http.
func (m *JobManager) RESTURL() string { return m.tls.Scheme() + "://" + m.RESTAddr() }

// RPCAddr is the ResourceManager's gRPC address (host:port).
func (m *JobManager) RPCAddr() string { return m.rpcLis.Addr().String() }

// Serving is closed once the JobManager serves its REST API and
// ResourceManager (as leader or standby).
func (m *JobManager) Serving() <-chan struct{} { return m.serving }

// Ready is closed once the JobManager led for the first time.
func (m *JobManager) Ready() <-chan struct{} { return m.ready }

// EtcdEndpoints are the etcd client URLs in use (known once Serving).
func (m *JobManager) EtcdEndpoints() []string { return m.endpoint }

// ID is the JobManager's id (rest.Cluster).
func (m *JobManager) ID() string { return m.cfg.ID }

// ClusterID is the cluster's id (rest.Cluster).
func (m *JobManager) ClusterID() string { return m.cfg.ClusterID }

// Election reads the election (rest.Cluster).
func (m *JobManager) Election(ctx context.Context) (leader.View, error) {
	return leader.Members(ctx, m.cli, m.cfg.ClusterID)
}

// History reads the cluster's past and current leaderships (rest.Cluster).
func (m *JobManager) History(ctx context.Context) ([]leader.Term, error) {
	return leader.History(ctx, m.cli, m.cfg.ClusterID)
}

// Resign ends this JobManager's leadership, if it leads (rest.Cluster).
func (m *JobManager) Resign(ctx context.Context) (int64, error) {
	if m.term.Load() == nil {
		return 0, rest.ErrNotLeader
	}
	done := make(chan int64, 1)
	select {
	case m.resign <- done:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case epoch := <-done:
		return epoch, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Run starts etcd (if embedded), serves as a standby, and campaigns for
// leadership again and again until ctx ends; then it shuts down cleanly.
func (m *JobManager) Run(ctx context.Context) error {
	defer m.restLis.Close()
	defer m.rpcLis.Close()
	m.endpoint = m.cfg.EtcdEndpoints
	var etcdErr <-chan error
	if len(m.endpoint) == 0 {
		srv, err := etcdembed.Start(ctx, m.cfg.DataDir, m.cfg.EtcdListen, m.cfg.TLS)
		if err != nil {
			return err
		}
		defer srv.Close()
		m.endpoint = []string{srv.ClientURL}
		etcdErr = srv.Err()
		m.log.Info("embedded etcd serving", "url", srv.ClientURL)
	}
	cli, err := leader.Dial(m.endpoint, m.tls.Client)
	if err != nil {
		return err
	}
	defer cli.Close()
	m.cli = cli

	if m.store, err = artifact.Open(filepath.Join(m.cfg.StorageDir, "artifacts"), m.cfg.MaxUploadBytes, m.cfg.MaxArtifacts); err != nil {
		return err
	}
	if m.plans, err = planread.New(ctx, filepath.Join(m.cfg.DataDir, "cache"), m.cfg.Plan); err != nil {
		return err
	}
	defer m.plans.Close(context.Background())

	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go m.followElection(rctx)
	m.standby = rest.New(rest.Config{Artifacts: m.store, Plans: m.plans, Cluster: m, Forward: m.forwarder(), Scheme: m.tls.Scheme(), Logger: m.log}).Handler()

	gs := grpc.NewServer(grpc.Creds(m.tls.Server))
	rpcpb.RegisterResourceManagerServer(gs, rmSwitch{m: m})
	go func() { _ = gs.Serve(m.rpcLis) }()
	defer gs.Stop()
	var handler http.Handler = m
	if m.tokens != nil {
		handler = m.tokens.Middleware(m)
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	restLis := m.restLis
	if m.tls.REST != nil {
		restLis = tls.NewListener(restLis, m.tls.REST)
	}
	go func() { _ = hs.Serve(restLis) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	close(m.serving)
	m.log.Info("JobManager serving", "rest", m.RESTURL(), "rpc", m.RPCAddr(), "etcd", strings.Join(m.endpoint, ","), "cluster", m.cfg.ClusterID)

	info := leader.Info{ID: m.cfg.ID, RPCAddress: m.RPCAddr(), RESTAddress: m.RESTAddr()}
	for {
		won := make(chan *leader.Leadership, 1)
		cctx, cancel := context.WithCancel(rctx)
		go func() {
			lead, err := leader.Campaign(cctx, cli, m.cfg.ClusterID, info, m.cfg.LeaseTTL)
			if err != nil && cctx.Err() == nil {
				m.log.Warn("campaign failed; campaigning again", "err", err)
				time.Sleep(200 * time.Millisecond)
			}
			won <- lead
		}()
		var lead *leader.Leadership
		select {
		case lead = <-won:
		case err := <-etcdErr:
			cancel()
			return fmt.Errorf("control: embedded etcd failed: %w", err)
		}
		cancel()
		if ctx.Err() != nil {
			if lead != nil {
				m.resignQuietly(lead)
			}
			m.log.Info("JobManager shutting down")
			return nil
		}
		if lead == nil {
			continue
		}
		if err := m.lead(ctx, lead, etcdErr); err != nil {
			return err
		}
		if ctx.Err() != nil {
			m.log.Info("JobManager shutting down")
			return nil
		}
	}
}

func (m *JobManager) resignQuietly(lead *leader.Leadership) {
	rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = lead.Resign(rctx)
}

// lead runs one term: from winning until the leadership ends (or ctx, when
// it resigns). A non-nil error ends the JobManager.
func (m *JobManager) lead(ctx context.Context, lead *leader.Leadership, etcdErr <-chan error) error {
	log := m.log.With("epoch", lead.Epoch)
	log.Info("leading")
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fence := &rpcpb.Fence{Epoch: lead.Epoch, LeaderId: m.cfg.ID}
	jobs := jobstore.New(m.cli, m.cfg.ClusterID, lead)
	var disp *dispatcher.Dispatcher
	rm := rmserver.New(rmserver.Config{
		Fence: fence, HeartbeatInterval: m.cfg.HeartbeatInterval, HeartbeatTimeout: m.cfg.HeartbeatTimeout,
		StorageDir:          m.cfg.StorageDir,
		Artifacts:           m.store,
		FileAccess:          m.fileAccess(),
		OnLost:              func(l resources.Lost) { disp.Lost(l) },
		OnTaskState:         func(r *rpcpb.TaskStateReport) { disp.TaskState(r) },
		OnHeartbeat:         func(r *rpcpb.HeartbeatRequest) { disp.Heartbeat(r) },
		OnCheckpointAck:     func(a *rpcpb.CheckpointAck) { disp.CheckpointAck(a) },
		OnCheckpointDecline: func(d *rpcpb.CheckpointDecline) { disp.CheckpointDecline(d) },
		Logger:              log,
	})
	disp = dispatcher.New(dispatcher.Config{
		Artifacts: m.store, Plans: m.plans, RM: rm, Fence: fence, SlotTimeout: m.cfg.SlotTimeout, Logger: log,
		CheckpointRoot:  filepath.Join(m.cfg.StorageDir, "checkpoints"),
		Checkpoints:     m.cfg.Checkpoints,
		Store:           jobs,
		Valid:           lead.Valid,
		Dial:            m.tls.Dial,
		Savepoints:      m.savepointAccess(),
		MaxActiveJobs:   m.cfg.MaxActiveJobs,
		MaxRetainedJobs: m.cfg.MaxRetainedJobs,
	})
	api := rest.New(rest.Config{
		Artifacts: m.store, Plans: m.plans, Jobs: disp, Cluster: m, Done: tctx.Done(), Logger: log, Scheme: m.tls.Scheme(),
		MaxRequestBytes: m.cfg.MaxRequestBytes, SubmitRate: m.cfg.SubmitRate, SubmitBurst: m.cfg.SubmitBurst,
	}).Handler()
	m.term.Store(&term{rm: rm, api: api})
	defer func() {
		m.term.Store(nil)
		disp.Suspend("the leadership ended: " + fmt.Sprint(lead.Err()))
		disp.Close()
		m.cfg.OnLeadership(false, lead.Epoch)
	}()
	go rm.RunExpiry(tctx)

	lctx, lcancel := context.WithTimeout(tctx, 10*time.Second)
	recovered, err := jobs.Load(lctx)
	lcancel()
	if err != nil {
		log.Error("the jobs could not be read from etcd; giving the leadership up", "err", err)
		m.resignQuietly(lead)
		return nil
	}
	disp.Recover(recovered)
	hctx, hcancel := context.WithTimeout(tctx, 5*time.Second)
	if err := lead.Record(hctx, m.cfg.ClusterID); err != nil {
		log.Warn("this leadership is missing from the failover history", "err", err)
	}
	hcancel()
	m.cfg.OnLeadership(true, lead.Epoch)
	select {
	case <-m.ready:
	default:
		close(m.ready)
	}

	select {
	case <-ctx.Done():
		m.resignQuietly(lead)
		return nil
	case <-lead.Lost():
		log.Warn("lost the leadership; standing by", "why", lead.Err())
		return nil
	case done := <-m.resign:
		m.term.Store(nil)
		m.resignQuietly(lead)
		log.Info("resigned the leadership; standing by")
		done <- lead.Epoch
		return nil
	case err := <-etcdErr:
		return fmt.Errorf("control: embedded etcd failed: %w", err)
	}
}

// ServeHTTP serves the REST API: the term's while leading, the standby's
// (which forwards to the leader) otherwise.
func (m *JobManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if t := m.term.Load(); t != nil {
		t.api.ServeHTTP(w, r)
		return
	}
	m.standby.ServeHTTP(w, r)
}

// followElection keeps the election's view fresh.
func (m *JobManager) followElection(ctx context.Context) {
	for v := range leader.Watch(ctx, m.cli, m.cfg.ClusterID) {
		m.view.Store(&v)
	}
}

// leaderInfo is the leader as last seen, unless it is this JobManager (a
// standby must not forward to itself while its own term winds down).
func (m *JobManager) leaderInfo() (leader.Member, bool) {
	v := m.view.Load()
	if v == nil || v.Leader == nil || v.Leader.ID == m.cfg.ID {
		return leader.Member{}, false
	}
	return *v.Leader, true
}

var errStandby = errors.New("control: not the leading JobManager")

// rmSwitch is the ResourceManager service of the process: the term's while
// leading; a standby asks TaskManagers to find the leader.
type rmSwitch struct {
	rpcpb.UnimplementedResourceManagerServer
	m *JobManager
}

func (s rmSwitch) server() (*rmserver.Server, error) {
	if t := s.m.term.Load(); t != nil {
		return t.rm, nil
	}
	return nil, statusUnavailable(errStandby)
}

func (s rmSwitch) RegisterTaskManager(ctx context.Context, req *rpcpb.RegisterTaskManagerRequest) (*rpcpb.RegisterTaskManagerResponse, error) {
	rm, err := s.server()
	if err != nil {
		return nil, err
	}
	return rm.RegisterTaskManager(ctx, req)
}

func (s rmSwitch) Heartbeat(ctx context.Context, req *rpcpb.HeartbeatRequest) (*rpcpb.HeartbeatResponse, error) {
	if t := s.m.term.Load(); t != nil {
		return t.rm.Heartbeat(ctx, req)
	}
	// A standby: register again, with whoever leads now.
	return &rpcpb.HeartbeatResponse{Reregister: true}, nil
}

func (s rmSwitch) ReportTaskState(ctx context.Context, req *rpcpb.TaskStateReport) (*rpcpb.Ack, error) {
	rm, err := s.server()
	if err != nil {
		return nil, err
	}
	return rm.ReportTaskState(ctx, req)
}

func (s rmSwitch) AcknowledgeCheckpoint(ctx context.Context, a *rpcpb.CheckpointAck) (*rpcpb.Ack, error) {
	rm, err := s.server()
	if err != nil {
		return nil, err
	}
	return rm.AcknowledgeCheckpoint(ctx, a)
}

func (s rmSwitch) DeclineCheckpoint(ctx context.Context, d *rpcpb.CheckpointDecline) (*rpcpb.Ack, error) {
	rm, err := s.server()
	if err != nil {
		return nil, err
	}
	return rm.DeclineCheckpoint(ctx, d)
}
