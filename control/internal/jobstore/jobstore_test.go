package jobstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/control/internal/jobstore"
	"github.com/weirflow/weir/internal/certs"
	"github.com/weirflow/weir/internal/etcdembed"
	"github.com/weirflow/weir/internal/leader"
)

func TestStoreRoundTripAndFencing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := etcdembed.Start(ctx, t.TempDir(), "http://127.0.0.1:0", certs.Files{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cli, err := leader.Dial([]string{srv.ClientURL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	a, err := leader.Campaign(ctx, cli, "t", leader.Info{ID: "a"}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st := jobstore.New(cli, "t", a)
	plan := &abi.Plan{Version: 1, Name: "job", Nodes: []abi.Node{{ID: "src", Kind: "source"}}}
	t0 := time.Now()
	for i, id := range []string{"j1", "j2"} {
		if err := st.Create(jobstore.Record{ID: id, Name: "job", Artifact: "sha", Plan: plan, Submitted: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []error{
		st.SetAttempt("j1", 0), st.SetAttempt("j1", 1), st.SetCounter("j1", 7),
		st.CommitCheckpoint("j1", 6, "/s/chk-6"), st.End("j2", "FINISHED", t0),
	}
	if err := errors.Join(steps...); err != nil {
		t.Fatal(err)
	}
	jobs, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].ID != "j1" || jobs[1].ID != "j2" {
		t.Fatalf("loaded %+v", jobs)
	}
	j1, j2 := jobs[0], jobs[1]
	if j1.Attempt != 1 || j1.Counter != 7 || j1.Checkpoint == nil || *j1.Checkpoint != (jobstore.Pointer{ID: 6, Path: "/s/chk-6"}) || j1.Status.Terminal() || j1.Plan.Name != "job" {
		t.Errorf("j1 = %+v (checkpoint %+v)", j1, j1.Checkpoint)
	}
	if j2.Attempt != -1 || !j2.Status.Terminal() || j2.Status.State != "FINISHED" || j2.Checkpoint != nil {
		t.Errorf("j2 = %+v", j2)
	}

	// A deposed leader's writes fail and change nothing.
	if err := a.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.CommitCheckpoint("j1", 9, "/s/chk-9"); !errors.Is(err, leader.ErrNotLeader) {
		t.Fatalf("commit after resigning: %v", err)
	}
	if err := st.SetAttempt("j1", 2); !errors.Is(err, leader.ErrNotLeader) {
		t.Fatalf("attempt after resigning: %v", err)
	}
	jobs, err = st.Load(ctx)
	if err != nil || jobs[0].Checkpoint.ID != 6 || jobs[0].Attempt != 1 {
		t.Fatalf("after the deposed leader's writes: %+v, %v", jobs, err)
	}
}
