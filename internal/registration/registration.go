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

// callTimeout bounds a registration or heartbeat call.
const callTimeout = 5 * time.Second

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
	// Memory, when set, reports the process's memory use.
	Memory func() *rpcpb.MemoryStats
	Logger *slog.Logger
	// OnRegistered is told of every successful registration.
	OnRegistered func(*rpcpb.RegisterTaskManagerResponse)

	mu     sync.Mutex
	fence  *rpcpb.Fence
	count  int
	client rpcpb.ResourceManagerClient
	kick   chan int64
}

// Kick makes the loop register again at once when a leader with the given
// epoch was elected, instead of waiting for heartbeats to the old one to
// fail. Nothing happens if the loop is registered with that leader (or a
// newer one) already: registering twice would look like a restart.
func (l *Loop) Kick(epoch int64) {
	if l.registeredWith(epoch) {
		return
	}
	ch := l.kicks()
	select {
	case ch <- epoch:
	default:
	}
}

func (l *Loop) registeredWith(epoch int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fence != nil && l.fence.GetEpoch() >= epoch
}

func (l *Loop) kicks() chan int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kick == nil {
		l.kick = make(chan int64, 1)
	}
	return l.kick
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
			// A JobManager that is paused or cut off holds the call open.
			rctx, cancel := context.WithTimeout(ctx, callTimeout)
			resp, err = client.RegisterTaskManager(rctx, l.Request)
			cancel()
		}
		if err != nil {
			l.Logger.Warn("registration with the JobManager failed; retrying", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-l.kicks():
				backoff = 50 * time.Millisecond
			case <-time.After(backoff):
				backoff = min(backoff*2, time.Second)
			}
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
	// A kick for a newer leader ends the heartbeats at once, even in the
	// middle of a call the old leader does not answer.
	hctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		kick := l.kicks()
		for {
			select {
			case <-hctx.Done():
				return
			case epoch := <-kick:
				if !l.registeredWith(epoch) {
					l.Logger.Info("a new JobManager leads; registering with it", "epoch", epoch)
					stop()
					return
				}
			}
		}
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-hctx.Done():
			return
		case <-t.C:
		}
		req := &rpcpb.HeartbeatRequest{TaskManagerId: l.Request.GetTaskManagerId()}
		if l.Slots != nil {
			req.Slots = l.Slots()
		}
		if l.Metrics != nil {
			req.Metrics = l.Metrics()
		}
		if l.Memory != nil {
			req.Memory = l.Memory()
		}
		cctx, cancel := context.WithTimeout(hctx, min(callTimeout, 3*every))
		resp, err := client.Heartbeat(cctx, req)
		cancel()
		switch {
		case hctx.Err() != nil:
			return
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
