package worker

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/weirflow/weir/internal/rpcpb"
)

// A TaskManager that learns of a newer leader (from the election, or from
// the new leader's first call) cancels the tasks older leaders deployed and
// refuses their calls from then on; the new leader's calls pass.
func TestNewerLeaderFencesOlderOnes(t *testing.T) {
	tm, err := NewTaskManager(Config{EtcdEndpoints: []string{"http://127.0.0.1:1"}, DataAddr: "127.0.0.1:0", Slots: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer tm.lis.Close()
	e := executor{tm: tm}
	canceled := map[string]bool{}
	add := func(id, job string, epoch int64) {
		_, cancel := context.WithCancel(context.Background())
		tm.tasks[id] = &running{job: job, epoch: epoch, cancel: func() { canceled[id] = true; cancel() }}
	}
	tm.observe(5)
	add("j/a#0@0", "j", 5)
	add("j/b#0@0", "j", 5)

	fence := func(epoch int64) *rpcpb.Fence { return &rpcpb.Fence{Epoch: epoch, LeaderId: "jm"} }
	// The election shows epoch 9: epoch 5's tasks go.
	tm.observe(9)
	if !canceled["j/a#0@0"] || !canceled["j/b#0@0"] {
		t.Fatalf("tasks of epoch 5 not canceled when epoch 9 leads: %v", canceled)
	}
	// Epoch 5 (now stale) cannot cancel, release, trigger or commit.
	ctx := context.Background()
	calls := map[string]error{}
	_, calls["cancel"] = e.CancelTask(ctx, &rpcpb.CancelTaskRequest{Fence: fence(5), ExecutionId: "j/a#0@0"})
	_, calls["release"] = e.ReleaseSlots(ctx, &rpcpb.ReleaseSlotsRequest{Fence: fence(5), JobId: "j"})
	_, calls["trigger"] = e.TriggerCheckpoint(ctx, &rpcpb.TriggerCheckpointRequest{Fence: fence(5), ExecutionId: "j/a#0@0", CheckpointId: 3})
	_, calls["commit"] = e.NotifyCheckpointComplete(ctx, &rpcpb.NotifyCheckpointRequest{Fence: fence(5), JobId: "j", CheckpointId: 3})
	_, calls["deploy"] = e.DeployTask(ctx, &rpcpb.DeployTaskRequest{Fence: fence(5), Task: &rpcpb.TaskDeployment{ExecutionId: "j/a#0@1", Slot: 0}})
	for name, err := range calls {
		if status.Code(err) != codes.FailedPrecondition {
			t.Errorf("%s from the stale epoch 5: %v, want FailedPrecondition", name, err)
		}
	}
	// A call from an even newer leader raises the epoch by itself.
	add("j/a#0@1", "j", 9)
	if _, err := e.NotifyCheckpointComplete(ctx, &rpcpb.NotifyCheckpointRequest{Fence: fence(12), JobId: "other", CheckpointId: 1}); err != nil {
		t.Fatalf("call from epoch 12: %v", err)
	}
	if !canceled["j/a#0@1"] {
		t.Error("epoch 12's call did not cancel epoch 9's task")
	}
	if _, err := e.CancelTask(ctx, &rpcpb.CancelTaskRequest{Fence: fence(9), ExecutionId: "x"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("epoch 9 after epoch 12: %v", err)
	}
}
