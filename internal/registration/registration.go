// Package registration keeps a TaskManager registered with the leading
// JobManager's ResourceManager: it registers, heartbeats at the interval the
// JobManager asks for, registers again when the JobManager no longer knows it
// (a JobManager restart or failover), and retries with backoff while the
// JobManager cannot be reached.
package registration

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/weirflow/weir/internal/rpcpb"
)

// Loop registers and heartbeats until ctx ends.
type Loop struct {
	// Client is the ResourceManager to register with, unless Connect is set.
	Client rpcpb.ResourceManagerClient
	// Connect, when set, finds the current leader's ResourceManager before
	// each registration (through etcd), so the loop follows leader changes.
	Connect func(ctx context.Context) (rpcpb.ResourceManagerClient, error)
	Request *rpcpb.RegisterTaskManagerRequest
	// Slots reports the slots' current state for each heartbeat, and
	// Metrics the running tasks' metrics.
	Slots   func() []*rpcpb.SlotStatus
	Metrics func() []*rpcpb.TaskMetrics
	Logger  *slog.Logger
	// OnRegistered is told of every successful registration.
	OnRegistered func(*rpcpb.RegisterTaskManagerResponse)

	mu     sync.Mutex
	fence  *rpcpb.Fence
	count  int
	client rpcpb.ResourceManagerClient
}

// Current returns the ResourceManager the TaskManager last registered with,
// or nil before the first registration.
func (l *Loop) Current() rpcpb.ResourceManagerClient {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.client
}

// Fence returns the fence of the leader the TaskManager last registered
// with, or nil.
func (l *Loop) Fence() *rpcpb.Fence {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fence
}

// Registrations counts successful registrations.
func (l *Loop) Registrations() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

// Run registers and heartbeats until ctx ends.
func (l *Loop) Run(ctx context.Context) {
	if l.Logger == nil {
		l.Logger = slog.Default()
	}
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		client := l.Client
		var err error
		if l.Connect != nil {
			client, err = l.Connect(ctx)
		}
		var resp *rpcpb.RegisterTaskManagerResponse
		if err == nil {
			resp, err = client.RegisterTaskManager(ctx, l.Request)
		}
		if err != nil {
			l.Logger.Warn("registration with the JobManager failed; retrying", "err", err, "in", backoff)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		l.mu.Lock()
		l.fence = resp.GetFence()
		l.count++
		l.client = client
		l.mu.Unlock()
		if l.OnRegistered != nil {
			l.OnRegistered(resp)
		}
		l.heartbeat(ctx, client, time.Duration(resp.GetHeartbeatIntervalMs())*time.Millisecond)
	}
}

// heartbeat sends heartbeats until the JobManager asks for a new
// registration, stops answering, or ctx ends.
func (l *Loop) heartbeat(ctx context.Context, client rpcpb.ResourceManagerClient, every time.Duration) {
	if every <= 0 {
		every = time.Second
	}
	failures := 0
	for sleep(ctx, every) {
		req := &rpcpb.HeartbeatRequest{TaskManagerId: l.Request.GetTaskManagerId()}
		if l.Slots != nil {
			req.Slots = l.Slots()
		}
		if l.Metrics != nil {
			req.Metrics = l.Metrics()
		}
		resp, err := client.Heartbeat(ctx, req)
		switch {
		case err != nil:
			failures++
			if failures >= 3 {
				l.Logger.Warn("JobManager unreachable; registering again", "err", err)
				return
			}
		case resp.GetReregister():
			l.Logger.Info("JobManager asked for a new registration")
			return
		default:
			failures = 0
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
