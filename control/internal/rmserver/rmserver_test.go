package rmserver

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weirflow/weir/control/internal/execgraph"
	"github.com/weirflow/weir/control/internal/resources"
	"github.com/weirflow/weir/internal/registration"
	"github.com/weirflow/weir/internal/rpcpb"
)

// serve starts a ResourceManager on a fixed loopback address.
func serve(t *testing.T, addr string, s *Server) (*grpc.Server, string) {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	rpcpb.RegisterResourceManagerServer(g, s)
	go g.Serve(lis)
	return g, lis.Addr().String()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func count(s *Server) (n int) {
	s.Registry(func(r *resources.Registry) { n = len(r.List()) })
	return n
}

// TestRegisterHeartbeatExpireAndFailover: a TaskManager registers and keeps
// heartbeating; when it stops it is declared lost; when the JobManager is
// replaced (a new registry with a new epoch), it registers again.
func TestRegisterHeartbeatExpireAndFailover(t *testing.T) {
	var mu sync.Mutex
	var lost []resources.Lost
	cfg := Config{
		Fence:             &rpcpb.Fence{Epoch: 1, LeaderId: "jm-1"},
		HeartbeatInterval: 20 * time.Millisecond,
		HeartbeatTimeout:  150 * time.Millisecond,
		OnLost:            func(l resources.Lost) { mu.Lock(); lost = append(lost, l); mu.Unlock() },
	}
	rm := New(cfg)
	g, addr := serve(t, "127.0.0.1:0", rm)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go rm.RunExpiry(ctx)

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	loop := &registration.Loop{
		Client:  rpcpb.NewResourceManagerClient(conn),
		Request: &rpcpb.RegisterTaskManagerRequest{TaskManagerId: "tm-1", Slots: 2, RpcAddress: "127.0.0.1:7001"},
	}
	tmCtx, stopTM := context.WithCancel(ctx)
	go loop.Run(tmCtx)
	// Both sides: the server has recorded it, and the client has the answer.
	eventually(t, "registration", func() bool { return count(rm) == 1 && loop.Fence() != nil })
	if f := loop.Fence(); f.GetEpoch() != 1 || f.GetLeaderId() != "jm-1" {
		t.Fatalf("fence %v", f)
	}
	time.Sleep(400 * time.Millisecond) // several timeouts long: heartbeats keep it alive
	if count(rm) != 1 {
		t.Fatal("a heartbeating TaskManager was expired")
	}
	rm.Registry(func(r *resources.Registry) {
		if err := r.Allocate("job-1", []execgraph.Slot{{TaskManager: "tm-1", Index: 0}}); err != nil {
			t.Fatal(err)
		}
	})

	// The JobManager is replaced: same address, empty registry, new epoch.
	g.Stop()
	cfg.Fence = &rpcpb.Fence{Epoch: 2, LeaderId: "jm-2"}
	rm2 := New(cfg)
	g2, _ := serve(t, addr, rm2)
	defer g2.Stop()
	eventually(t, "registration with the new leader", func() bool { return count(rm2) == 1 && loop.Fence().GetEpoch() == 2 })
	if loop.Registrations() < 2 {
		t.Fatalf("%d registrations", loop.Registrations())
	}

	// The TaskManager dies: the new leader declares it lost.
	stopTM()
	go rm2.RunExpiry(ctx)
	eventually(t, "expiry", func() bool { return count(rm2) == 0 })

	// The first leader, before it stopped, had tm-1 holding job-1's slot;
	// its expiry loop reports the loss with the job.
	eventually(t, "loss report", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range lost {
			if l.ID == "tm-1" && len(l.Jobs) == 1 && l.Jobs[0] == "job-1" {
				return true
			}
		}
		return false
	})
}

func TestRegisterRefusesBadRequests(t *testing.T) {
	rm := New(Config{})
	for _, req := range []*rpcpb.RegisterTaskManagerRequest{{Slots: 1}, {TaskManagerId: "x"}, {TaskManagerId: "x", Slots: 5000}} {
		if _, err := rm.RegisterTaskManager(context.Background(), req); err == nil {
			t.Errorf("%v accepted", req)
		}
	}
	resp, err := rm.Heartbeat(context.Background(), &rpcpb.HeartbeatRequest{TaskManagerId: "nobody"})
	if err != nil || !resp.GetReregister() {
		t.Fatalf("unknown heartbeat: %v %v", resp, err)
	}
}
