package leader_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weirflow/weir/internal/certs"
	"github.com/weirflow/weir/internal/etcdembed"
	"github.com/weirflow/weir/internal/leader"
)

func startEtcd(t *testing.T, ctx context.Context) (*etcdembed.Server, *clientv3.Client) {
	t.Helper()
	srv, err := etcdembed.Start(ctx, t.TempDir(), "http://127.0.0.1:0", certs.Files{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cli, err := leader.Dial([]string{srv.ClientURL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return srv, cli
}

func TestCampaignHandover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, cli := startEtcd(t, ctx)

	if _, _, err := leader.Current(ctx, cli, "c1"); !errors.Is(err, leader.ErrNoLeader) {
		t.Fatalf("before any campaign: %v", err)
	}
	a, err := leader.Campaign(ctx, cli, "c1", leader.Info{ID: "a", RPCAddress: "127.0.0.1:1"}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if a.Info.Since.IsZero() || !a.Valid() {
		t.Fatalf("a new leadership: since %v, valid %v", a.Info.Since, a.Valid())
	}
	// Another cluster's election is separate.
	other, err := leader.Campaign(ctx, cli, "c2", leader.Info{ID: "x"}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Resign(ctx)

	views := leader.Watch(ctx, cli, "c1")
	won := make(chan *leader.Leadership, 1)
	go func() {
		b, err := leader.Campaign(ctx, cli, "c1", leader.Info{ID: "b", RPCAddress: "127.0.0.1:2"}, 2*time.Second)
		if err != nil {
			t.Error(err)
		}
		won <- b
	}()
	waitView(t, views, func(v leader.View) bool {
		return v.Leader != nil && v.Leader.ID == "a" && v.Leader.Epoch == a.Epoch && len(v.Standbys) == 1 && v.Standbys[0].ID == "b" && v.Standbys[0].Since.IsZero()
	})
	select {
	case <-won:
		t.Fatal("b leads while a does")
	case <-time.After(300 * time.Millisecond):
	}
	if err := a.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Lost():
	case <-time.After(time.Second):
		t.Fatal("a resigned but its leadership is not lost")
	}
	b := <-won
	if b == nil {
		t.FailNow()
	}
	defer b.Resign(ctx)
	if b.Epoch <= a.Epoch {
		t.Errorf("epoch went from %d to %d; it must grow", a.Epoch, b.Epoch)
	}
	waitView(t, views, func(v leader.View) bool { return v.Leader != nil && v.Leader.ID == "b" && len(v.Standbys) == 0 })
	info, epoch, err := leader.Current(ctx, cli, "c1")
	if err != nil || info.ID != "b" || epoch != b.Epoch {
		t.Fatalf("current after handover = %+v %d %v", info, epoch, err)
	}
	// The deposed leader's guarded writes fail and change nothing.
	if err := a.Txn(ctx, clientv3.OpPut("/k", "from a")); !errors.Is(err, leader.ErrNotLeader) {
		t.Fatalf("a's write after its resignation: %v", err)
	}
	if err := b.Txn(ctx, clientv3.OpPut("/k", "from b")); err != nil {
		t.Fatalf("b's write: %v", err)
	}
	resp, err := cli.Get(ctx, "/k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "from b" {
		t.Fatalf("/k = %v, %v", resp, err)
	}
}

// A leadership whose key is gone (its lease revoked behind its back, as
// when etcd expires it) fails its next guarded write and ends at once.
func TestGuardEndsLeadership(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, cli := startEtcd(t, ctx)
	a, err := leader.Campaign(ctx, cli, "", leader.Info{ID: "a"}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	v, err := leader.Members(ctx, cli, "")
	if err != nil || v.Leader == nil {
		t.Fatal(v, err)
	}
	resp, err := cli.Get(ctx, leader.Prefix("")+"/leader/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatal(resp, err)
	}
	if _, err := cli.Delete(ctx, string(resp.Kvs[0].Key)); err != nil {
		t.Fatal(err)
	}
	if err := a.Txn(ctx, clientv3.OpPut("/k", "v")); !errors.Is(err, leader.ErrNotLeader) {
		t.Fatalf("write with the key gone: %v", err)
	}
	select {
	case <-a.Lost():
	default:
		t.Fatal("a failed guard did not end the leadership")
	}
	if a.Valid() {
		t.Fatal("valid after a failed guard")
	}
	if g, _ := cli.Get(ctx, "/k"); len(g.Kvs) != 0 {
		t.Fatal("the failed write changed /k")
	}
}

// A leader cut off from etcd stops acting before its lease could expire.
func TestLeaderCutOffStopsBeforeLeaseEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, _ := startEtcd(t, ctx)
	// The leader reaches etcd through a proxy that can cut it off.
	p := newProxy(t, strings.TrimPrefix(srv.ClientURL, "http://"))
	cli, err := leader.Dial([]string{"http://" + p.addr()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ttl := 2 * time.Second
	a, err := leader.Campaign(ctx, cli, "", leader.Info{ID: "a"}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl / 2) // a renewal or two
	cut := time.Now()
	p.cut()
	select {
	case <-a.Lost():
	case <-time.After(ttl):
		t.Fatalf("still leading %s after the cut (lease %s)", time.Since(cut), ttl)
	}
	took := time.Since(cut)
	// The last renewal was at most at the cut, so the lease ends at the
	// earliest ttl/3 before cut+ttl (renewals come every ttl/3) and at the
	// latest at cut+ttl; the leader must stop a margin (ttl/4) before.
	if limit := ttl*3/4 + 100*time.Millisecond; took > limit {
		t.Fatalf("stopped %s after the cut; the lease could have ended before (limit %s)", took, limit)
	}
	if a.Valid() {
		t.Fatal("valid after being lost")
	}
	t.Logf("stopped %s after the cut (%v)", took.Round(time.Millisecond), a.Err())
}

// proxy forwards TCP connections to etcd until cut.
type proxy struct {
	lis   net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{lis: lis}
	t.Cleanup(p.cut)
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.lis.Addr().String() }

func (p *proxy) cut() {
	p.lis.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func waitView(t *testing.T, views <-chan leader.View, ok func(leader.View) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	var last leader.View
	for {
		select {
		case v := <-views:
			if ok(v) {
				return
			}
			last = v
		case <-deadline:
			t.Fatalf("the election never reached the expected view; last %+v", last)
		}
	}
}

// Each leadership records itself; the history reads newest first with each
// term ended by its successor's start, keeps HistoryKeep entries, and a
// deposed leader cannot add to it.
func TestHistory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, cli := startEtcd(t, ctx)
	if h, err := leader.History(ctx, cli, "h"); err != nil || len(h) != 0 {
		t.Fatalf("empty history: %v %v", h, err)
	}
	var terms []*leader.Leadership
	for i := range leader.HistoryKeep + 3 {
		l, err := leader.Campaign(ctx, cli, "h", leader.Info{ID: fmt.Sprintf("jm-%d", i)}, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Record(ctx, "h"); err != nil {
			t.Fatal(err)
		}
		if err := l.Resign(ctx); err != nil {
			t.Fatal(err)
		}
		terms = append(terms, l)
	}
	if err := terms[0].Record(ctx, "h"); !errors.Is(err, leader.ErrNotLeader) {
		t.Fatalf("a deposed leader recorded itself: %v", err)
	}
	h, err := leader.History(ctx, cli, "h")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != leader.HistoryKeep {
		t.Fatalf("%d entries, want %d", len(h), leader.HistoryKeep)
	}
	last := terms[len(terms)-1]
	if h[0].ID != last.Info.ID || h[0].Epoch != last.Epoch || !h[0].Until.IsZero() || !h[0].Since.Equal(last.Info.Since) {
		t.Fatalf("newest entry %+v, want %s epoch %d", h[0], last.Info.ID, last.Epoch)
	}
	for i := 1; i < len(h); i++ {
		if h[i].Epoch >= h[i-1].Epoch || !h[i].Until.Equal(h[i-1].Since) {
			t.Fatalf("entry %d %+v after %+v: want an older epoch ended by the newer one's start", i, h[i], h[i-1])
		}
	}
	if h[len(h)-1].ID != "jm-3" {
		t.Fatalf("oldest kept %s, want jm-3", h[len(h)-1].ID)
	}
}
