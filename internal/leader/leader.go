// Package leader elects the leading JobManager in etcd and lets
// TaskManagers and clients find it (design.md §7). All JobManagers campaign
// on one election; the leader's fencing epoch is its election key's create
// revision, which only grows from one leader to the next.
package leader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// ElectionPrefix is the etcd prefix of the JobManager election.
const ElectionPrefix = "/weir/leader"

// ErrNoLeader means no JobManager leads right now.
var ErrNoLeader = errors.New("leader: no leading JobManager")

// Info is what a leader publishes about itself.
type Info struct {
	ID          string `json:"id"`
	RPCAddress  string `json:"rpc"`
	RESTAddress string `json:"rest"`
}

// Leadership is a won election.
type Leadership struct {
	Info  Info
	Epoch int64

	session  *concurrency.Session
	election *concurrency.Election
}

// Campaign blocks until this JobManager leads (or ctx ends). The lease
// behind the leadership lives ttl; Lost is closed when it cannot be renewed.
func Campaign(ctx context.Context, cli *clientv3.Client, info Info, ttl time.Duration) (*Leadership, error) {
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(max(1, int(ttl.Seconds()))))
	if err != nil {
		return nil, fmt.Errorf("leader: open an etcd session: %w", err)
	}
	val, err := json.Marshal(info)
	if err != nil {
		s.Close()
		return nil, err
	}
	e := concurrency.NewElection(s, ElectionPrefix)
	if err := e.Campaign(ctx, string(val)); err != nil {
		s.Close()
		return nil, fmt.Errorf("leader: campaign: %w", err)
	}
	return &Leadership{Info: info, Epoch: e.Rev(), session: s, election: e}, nil
}

// Lost is closed when the leadership's lease could not be kept alive.
func (l *Leadership) Lost() <-chan struct{} { return l.session.Done() }

// Resign gives the leadership up and closes the session.
func (l *Leadership) Resign(ctx context.Context) error {
	err := l.election.Resign(ctx)
	return errors.Join(err, l.session.Close())
}

// Current returns the leader's info and epoch.
func Current(ctx context.Context, cli *clientv3.Client) (Info, int64, error) {
	resp, err := cli.Get(ctx, ElectionPrefix+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return Info{}, 0, fmt.Errorf("leader: read the election: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return Info{}, 0, ErrNoLeader
	}
	kv := resp.Kvs[0]
	var info Info
	if err := json.Unmarshal(kv.Value, &info); err != nil {
		return Info{}, 0, fmt.Errorf("leader: the leader key %s holds %q: %w", kv.Key, kv.Value, err)
	}
	return info, kv.CreateRevision, nil
}

// Dial connects to etcd with a client that logs only errors.
func Dial(endpoints []string) (*clientv3.Client, error) {
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(zap.ErrorLevel)
	lg, err := zc.Build()
	if err != nil {
		lg = zap.NewNop()
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: lg})
	if err != nil {
		return nil, fmt.Errorf("leader: etcd client for %v: %w", endpoints, err)
	}
	return cli, nil
}

// CheckpointKey is where a job's latest complete checkpoint is recorded.
func CheckpointKey(job string) string { return "/weir/jobs/" + job + "/checkpoint" }

// CommitCheckpoint records a job's latest complete checkpoint, guarded by
// the leadership: the write happens only while l's election key exists
// with its create revision (a deposed leader cannot move the pointer).
func CommitCheckpoint(ctx context.Context, cli *clientv3.Client, l *Leadership, job string, id int64, path string) error {
	val, err := json.Marshal(map[string]any{"id": id, "path": path})
	if err != nil {
		return err
	}
	key := l.election.Key()
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", l.Epoch)).
		Then(clientv3.OpPut(CheckpointKey(job), string(val))).
		Commit()
	if err != nil {
		return fmt.Errorf("leader: commit checkpoint %d of %s: %w", id, job, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("leader: commit checkpoint %d of %s: no longer the leader (epoch %d)", id, job, l.Epoch)
	}
	return nil
}
