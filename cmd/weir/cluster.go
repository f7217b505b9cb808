package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/weirflow/weir/control"
	"github.com/weirflow/weir/internal/certs"
	"github.com/weirflow/weir/internal/etcdembed"
	"github.com/weirflow/weir/wasm"
	"github.com/weirflow/weir/worker"
)

// clusterCommands start the cluster processes: jobmanager, taskmanager, local.
func clusterCommands() []command {
	return []command{
		{"jobmanager", "[--rest-addr ADDR] [--rpc-addr ADDR] --data-dir DIR [--storage-dir DIR] [--etcd-endpoints URLS | --etcd-listen URL] [--cluster-id ID] [--lease-ttl D] [--auth-file FILE] [--allow-dir DIR]... [--tls-ca F --tls-cert F --tls-key F] [limits: -h]",
			"run a JobManager (embeds a single-node etcd unless --etcd-endpoints is given; with it, every JobManager of the cluster campaigns for leadership)", runJobManager},
		{"taskmanager", "--etcd-endpoints URLS [--cluster-id ID] [--slots N] [--data-addr ADDR] [--data-dir DIR] [--tls-ca F --tls-cert F --tls-key F] [guest limits: -h]",
			"run a TaskManager that registers with the leading JobManager", runTaskManager},
		{"etcd", "--data-dir DIR [--listen URL]",
			"run a single-node etcd for a cluster's JobManagers and TaskManagers to share (tests and drills; production runs an etcd cluster)", runEtcd},
		{"local", "[--rest-addr ADDR] [--task-managers N] [--slots N] [--data-dir DIR] [--auth-file FILE] [JobManager and TaskManager flags]",
			"run etcd, a JobManager and TaskManagers in one process", runLocal},
	}
}

// logFlag adds --log-level and returns a function that installs the logger.
func logFlag(fs *flag.FlagSet) func() *slog.Logger {
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	return func() *slog.Logger {
		var l slog.Level
		if err := l.UnmarshalText([]byte(*level)); err != nil {
			l = slog.LevelInfo
		}
		lg := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
		slog.SetDefault(lg)
		return lg
	}
}

// flagSet reports whether the command line set the flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// localLeaseTTL is weir local's leadership lease unless --lease-ttl says otherwise.
const localLeaseTTL = 10 * time.Second

// jobManagerFlags registers the JobManager's flags on fs.
func jobManagerFlags(fs *flag.FlagSet, cfg *control.Config) {
	fs.StringVar(&cfg.RESTAddr, "rest-addr", "127.0.0.1:8081", "REST API and dashboard listen address")
	fs.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", time.Second, "TaskManager heartbeat interval")
	fs.DurationVar(&cfg.HeartbeatTimeout, "heartbeat-timeout", 5*time.Second, "a TaskManager silent this long is lost")
	fs.Int64Var(&cfg.MaxUploadBytes, "max-upload-bytes", control.DefaultMaxUploadBytes, "largest module accepted by upload")
	fs.DurationVar(&cfg.SlotTimeout, "slot-timeout", 5*time.Minute, "how long a job waits for free slots")
	securityFlags(fs, cfg)
}

func runJobManager(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("jobmanager", flag.ContinueOnError)
	var cfg control.Config
	jobManagerFlags(fs, &cfg)
	fs.StringVar(&cfg.RPCAddr, "rpc-addr", "127.0.0.1:6123", "gRPC listen address (ResourceManager)")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "this JobManager's own directory: caches and the embedded etcd (required)")
	fs.StringVar(&cfg.StorageDir, "storage-dir", "", "blob storage shared by the cluster's JobManagers: artifacts, checkpoints, savepoints (default <data-dir>/storage)")
	endpoints := fs.String("etcd-endpoints", "", "comma-separated etcd client URLs; empty embeds a single-node etcd")
	fs.StringVar(&cfg.EtcdListen, "etcd-listen", "http://127.0.0.1:2379", "client URL of the embedded etcd (https://127.0.0.1:2379 with the --tls-* files: then etcd takes only clients with the cluster's certificates)")
	fs.StringVar(&cfg.ClusterID, "cluster-id", "default", "cluster id: the etcd prefix /weir/<id> of the election and the jobs")
	fs.StringVar(&cfg.ID, "id", "", "JobManager id (default jobmanager-<host>-<pid>)")
	fs.DurationVar(&cfg.LeaseTTL, "lease-ttl", 2*time.Second, "leadership lease: a dead leader is replaced after about this long")
	logger := logFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.DataDir == "" {
		return fmt.Errorf("%w: --data-dir is required", errUsage)
	}
	if cfg.TLS.Enabled() && !flagSet(fs, "etcd-listen") {
		cfg.EtcdListen = "https://127.0.0.1:2379"
	}
	cfg.EtcdEndpoints = splitList(*endpoints)
	cfg.Logger = logger()
	var jm *control.JobManager
	var out sync.Mutex
	cfg.OnLeadership = func(leading bool, epoch int64) {
		out.Lock()
		defer out.Unlock()
		if leading {
			fmt.Fprintf(w, "JobManager leading: REST %s, RPC %s, etcd %s (epoch %d)\n", jm.RESTURL(), jm.RPCAddr(), strings.Join(jm.EtcdEndpoints(), ","), epoch)
		} else {
			fmt.Fprintf(w, "JobManager standing by (epoch %d ended)\n", epoch)
		}
	}
	jm, err := control.New(cfg)
	if err != nil {
		return err
	}
	go func() {
		select {
		case <-jm.Serving():
			out.Lock()
			fmt.Fprintf(w, "JobManager %s serving: REST %s, RPC %s, etcd %s\n", jm.ID(), jm.RESTURL(), jm.RPCAddr(), strings.Join(jm.EtcdEndpoints(), ","))
			out.Unlock()
		case <-ctx.Done():
		}
	}()
	return jm.Run(ctx)
}

func taskManagerFlags(fs *flag.FlagSet, cfg *worker.Config) {
	fs.IntVar(&cfg.Slots, "slots", 1, "task slots")
	fs.IntVar(&cfg.BatchRows, "batch-rows", 1024, "rows per source batch")
	fs.Uint64Var(&cfg.GuestMemory, "guest-memory-bytes", wasm.DefaultMemoryLimit, "linear memory limit of each guest instance, in bytes (64 KiB..4 GiB)")
	fs.DurationVar(&cfg.CallBudget, "call-budget", wasm.DefaultCallBudget, "wall-clock time one guest call may take before it is interrupted")
	fs.IntVar(&cfg.GuestOutput, "guest-output-bytes", wasm.DefaultOutputBudget, "bytes of stdout, stderr and log output one guest call may produce")
	rateFlag(fs, "guest-log-rate", "output lines a second each guest instance may write to the TaskManager's log, in bursts of ten times as many; the rest are counted", wasm.DefaultLogRate, &cfg.GuestLogRate)
	tableElementsFlag(fs, "guest-table-elements", "elements a guest module's tables may hold, outside its linear memory", &cfg.GuestTables)
}

func runTaskManager(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("taskmanager", flag.ContinueOnError)
	var cfg worker.Config
	taskManagerFlags(fs, &cfg)
	endpoints := fs.String("etcd-endpoints", "", "comma-separated etcd client URLs (required)")
	fs.StringVar(&cfg.ClusterID, "cluster-id", "default", "cluster id (as given to the JobManagers)")
	fs.StringVar(&cfg.DataAddr, "data-addr", "127.0.0.1:0", "listen address of the TaskExecutor and data exchange")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory for modules and the compilation cache (default: temporary)")
	fs.StringVar(&cfg.ID, "id", "", "TaskManager id (default: random)")
	cfg.TLS.RegisterFlags(fs)
	logger := logFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.EtcdEndpoints = splitList(*endpoints); len(cfg.EtcdEndpoints) == 0 {
		return fmt.Errorf("%w: --etcd-endpoints is required", errUsage)
	}
	if cfg.Slots < 1 {
		return fmt.Errorf("%w: --slots must be at least 1", errUsage)
	}
	cfg.Logger = logger()
	tm, err := worker.NewTaskManager(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "TaskManager %s serving at %s with %d slots\n", tm.ID(), tm.Addr(), cfg.Slots)
	return tm.Run(ctx)
}

func runLocal(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	var jcfg control.Config
	var tcfg worker.Config
	jobManagerFlags(fs, &jcfg)
	taskManagerFlags(fs, &tcfg)
	tms := fs.Int("task-managers", 1, "TaskManagers to run")
	fs.StringVar(&jcfg.DataDir, "data-dir", "", "data directory (default: temporary, removed at exit)")
	logger := logFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tms < 1 || tcfg.Slots < 1 {
		return fmt.Errorf("%w: --task-managers and --slots must be at least 1", errUsage)
	}
	if err := loopbackOnly(jcfg.RESTAddr); err != nil {
		return err
	}
	lg := logger()
	// One JobManager and nobody to take over: the lease guards only against
	// stalls, and on a busy machine (thousands of tasks deploying on two
	// cores) a short one deposes the only leader, which restarts every job.
	if !flagSet(fs, "lease-ttl") {
		jcfg.LeaseTTL = localLeaseTTL
	}
	if jcfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "weir-local-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		jcfg.DataDir = dir
	}
	jcfg.RPCAddr = "127.0.0.1:0"
	jcfg.EtcdListen = "http://127.0.0.1:0"
	if jcfg.TLS.Enabled() {
		jcfg.EtcdListen = "https://127.0.0.1:0"
	}
	jcfg.Logger = lg.With("process", "jobmanager")
	jm, err := control.New(jcfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, *tms+1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs <- jm.Run(ctx)
		cancel()
	}()
	select {
	case <-jm.Ready():
	case err := <-errs:
		wg.Wait()
		return err
	}
	for i := 0; i < *tms; i++ {
		c := tcfg
		c.EtcdEndpoints = jm.EtcdEndpoints()
		c.DataAddr = "127.0.0.1:0"
		c.ID = fmt.Sprintf("local-taskmanager-%d", i)
		c.TLS = jcfg.TLS
		c.Logger = lg.With("process", c.ID)
		tm, err := worker.NewTaskManager(c)
		if err != nil {
			cancel()
			wg.Wait()
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- tm.Run(ctx)
		}()
	}
	fmt.Fprintf(w, "Weir local cluster: %d TaskManager(s) with %d slot(s) each.\nDashboard and REST API: %s\n", *tms, tcfg.Slots, jm.RESTURL())
	<-ctx.Done()
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

func runEtcd(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	dir := fs.String("data-dir", "", "directory for etcd's data (required)")
	listen := fs.String("listen", "http://127.0.0.1:2379", "client URL to serve (port 0 picks one; https with the --tls-* files: mutual TLS)")
	var files certs.Files
	files.RegisterFlags(fs)
	logger := logFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("%w: --data-dir is required", errUsage)
	}
	lg := logger()
	srv, err := etcdembed.Start(ctx, *dir, *listen, files)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(w, "etcd serving: %s\n", srv.ClientURL)
	lg.Info("etcd serving", "url", srv.ClientURL)
	select {
	case <-ctx.Done():
		return nil
	case err := <-srv.Err():
		return fmt.Errorf("etcd: %w", err)
	}
}
