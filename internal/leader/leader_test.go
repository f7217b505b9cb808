package leader_test

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weirflow/weir/internal/etcdembed"
	"github.com/weirflow/weir/internal/leader"
)

func TestCampaignHandover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := etcdembed.Start(ctx, t.TempDir(), "http://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.ClientURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	if _, _, err := leader.Current(ctx, cli); !errors.Is(err, leader.ErrNoLeader) {
		t.Fatalf("before any campaign: %v", err)
	}
	a, err := leader.Campaign(ctx, cli, leader.Info{ID: "a", RPCAddress: "127.0.0.1:1"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	won := make(chan *leader.Leadership, 1)
	go func() {
		b, err := leader.Campaign(ctx, cli, leader.Info{ID: "b", RPCAddress: "127.0.0.1:2"}, 5*time.Second)
		if err != nil {
			t.Error(err)
		}
		won <- b
	}()
	info, epoch, err := leader.Current(ctx, cli)
	if err != nil || info.ID != "a" || epoch != a.Epoch {
		t.Fatalf("current = %+v %d %v, want a at epoch %d", info, epoch, err, a.Epoch)
	}
	select {
	case <-won:
		t.Fatal("b leads while a does")
	case <-time.After(300 * time.Millisecond):
	}
	if err := a.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	b := <-won
	if b == nil {
		t.FailNow()
	}
	defer b.Resign(ctx)
	if b.Epoch <= a.Epoch {
		t.Errorf("epoch went from %d to %d; it must grow", a.Epoch, b.Epoch)
	}
	info, epoch, err = leader.Current(ctx, cli)
	if err != nil || info.ID != "b" || epoch != b.Epoch {
		t.Fatalf("current after handover = %+v %d %v", info, epoch, err)
	}
}
