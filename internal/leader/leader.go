// Package leader elects the leading JobManager in etcd and lets
// TaskManagers and clients find it (design.md §7). All JobManagers of a
// cluster campaign on one election under the cluster's prefix; the leader's
// fencing epoch is its election key's create revision, which only grows
// from one leader to the next.
//
// A leadership ends (Lost is closed) when its etcd session ends, when a
// guarded write finds the election key gone, when it is resigned, or, before
// etcd notices anything, when the lease may have run out: the leader stops
// acting a safety margin before the last renewal it saw would expire, and
// at once if its own clock shows it was not running for that long (a
// paused process must not trust a renewal it read before the pause).
package leader

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// Errors of the election.
var (
	// ErrNoLeader means no JobManager leads right now.
	ErrNoLeader = errors.New("leader: no leading JobManager")
	// ErrNotLeader means a guarded write found this JobManager no longer
	// leading (its election key is gone or was replaced).
	ErrNotLeader = errors.New("leader: no longer the leader")
)

// DefaultCluster is the cluster id when none is given.
const DefaultCluster = "default"

// Prefix is the root of a cluster's keys in etcd.
func Prefix(cluster string) string {
	if cluster == "" {
		cluster = DefaultCluster
	}
	return "/weir/" + cluster
}

func electionPrefix(cluster string) string { return Prefix(cluster) + "/leader/" }

// Info is what a JobManager publishes about itself in the election.
type Info struct {
	ID          string `json:"id"`
	RPCAddress  string `json:"rpc"`
	RESTAddress string `json:"rest"`
	// Since is when it won (zero while it waits as a standby).
	Since time.Time `json:"since,omitzero"`
}

// Leadership is a won election.
type Leadership struct {
	Info  Info
	Epoch int64

	cli      *clientv3.Client
	session  *concurrency.Session
	election *concurrency.Election
	watch    *watchdog
}

// Campaign blocks until this JobManager leads the cluster's election (or
// ctx ends). The lease behind the leadership lives ttl (at least 1 s; etcd
// may round it up) and is renewed every ttl/3. After winning, Campaign
// confirms the key is still this session's and records the time of the win.
func Campaign(ctx context.Context, cli *clientv3.Client, cluster string, info Info, ttl time.Duration) (*Leadership, error) {
	secs := max(1, int64((ttl+time.Second-1)/time.Second))
	grant, err := cli.Grant(ctx, secs)
	if err != nil {
		return nil, fmt.Errorf("leader: grant a lease: %w", err)
	}
	wd, err := startWatchdog(cli, grant.ID, time.Duration(grant.TTL)*time.Second)
	if err != nil {
		return nil, err
	}
	s, err := concurrency.NewSession(cli, concurrency.WithLease(grant.ID))
	if err != nil {
		wd.stop(err)
		return nil, fmt.Errorf("leader: open an etcd session: %w", err)
	}
	fail := func(err error) (*Leadership, error) {
		wd.stop(err)
		_ = s.Close()
		return nil, err
	}
	info.Since = time.Time{}
	val, err := json.Marshal(info)
	if err != nil {
		return fail(err)
	}
	e := concurrency.NewElection(s, electionPrefix(cluster))
	if err := e.Campaign(ctx, string(val)); err != nil {
		return fail(fmt.Errorf("leader: campaign: %w", err))
	}
	// Campaign returns once the keys before ours are gone, without
	// checking that ours still exists (the session may have expired while
	// waiting): confirm it, then announce the time of the win.
	resp, err := cli.Get(ctx, e.Key())
	if err != nil {
		return fail(fmt.Errorf("leader: confirm the election key: %w", err))
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != e.Rev() || clientv3.LeaseID(resp.Kvs[0].Lease) != grant.ID {
		return fail(fmt.Errorf("%w: the election key %s expired while campaigning", ErrNotLeader, e.Key()))
	}
	info.Since = time.Now()
	if val, err = json.Marshal(info); err != nil {
		return fail(err)
	}
	if err := e.Proclaim(ctx, string(val)); err != nil {
		return fail(fmt.Errorf("leader: announce the win: %w", err))
	}
	l := &Leadership{Info: info, Epoch: e.Rev(), cli: cli, session: s, election: e, watch: wd}
	go func() {
		select {
		case <-s.Done():
			wd.stop(errors.New("the etcd session ended"))
		case <-wd.lost:
		}
		// Whatever ended it, give the key up so a standby need not wait
		// for the lease to run out (best effort: etcd may be unreachable).
		_ = s.Close()
	}()
	return l, nil
}

// Lost is closed when the leadership ended for any reason.
func (l *Leadership) Lost() <-chan struct{} { return l.watch.lost }

// Err tells why the leadership ended (nil while it lasts).
func (l *Leadership) Err() error { return l.watch.reason() }

// Valid reports whether the leadership can still be trusted now: not lost,
// and its lease not possibly expired.
func (l *Leadership) Valid() bool { return l.watch.valid(time.Now()) }

// Resign gives the leadership up (a planned handover) and closes the
// session.
func (l *Leadership) Resign(ctx context.Context) error {
	err := l.election.Resign(ctx)
	l.watch.stop(errors.New("resigned"))
	return err
}

// Txn applies ops in one etcd transaction that succeeds only while this
// leadership's election key exists with its create revision. A failed
// guard ends the leadership at once and returns ErrNotLeader; so does a
// leadership that is no longer Valid, without writing.
func (l *Leadership) Txn(ctx context.Context, ops ...clientv3.Op) error {
	if !l.Valid() {
		why := l.Err()
		if why == nil {
			why = errors.New("its lease may have expired")
		}
		return fmt.Errorf("%w (epoch %d): %w", ErrNotLeader, l.Epoch, why)
	}
	// A write that etcd does not answer must not outlive the leadership
	// (it would hold up whoever waits for it, and the guard decides anyway).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-l.watch.lost:
			cancel()
		case <-ctx.Done():
		}
	}()
	resp, err := l.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(l.election.Key()), "=", l.Epoch)).
		Then(ops...).
		Commit()
	if err != nil {
		if lost := l.Err(); lost != nil {
			return fmt.Errorf("%w (epoch %d): %w", ErrNotLeader, l.Epoch, lost)
		}
		return fmt.Errorf("leader: guarded write: %w", err)
	}
	if !resp.Succeeded {
		err := fmt.Errorf("%w (epoch %d): the election key is gone", ErrNotLeader, l.Epoch)
		l.watch.stop(err)
		return err
	}
	return nil
}

// Member is one JobManager taking part in the election.
type Member struct {
	Info
	// Epoch is the create revision of its election key (the leader's
	// fencing epoch).
	Epoch int64 `json:"epoch"`
}

// View is the election as seen now: the leader (nil during an election)
// and the standbys in the order they would take over.
type View struct {
	Leader   *Member  `json:"leader"`
	Standbys []Member `json:"standbys"`
	// Revision is the etcd revision the view was read at.
	Revision int64 `json:"-"`
}

// Members reads the election.
func Members(ctx context.Context, cli *clientv3.Client, cluster string) (View, error) {
	resp, err := cli.Get(ctx, electionPrefix(cluster), clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		return View{}, fmt.Errorf("leader: read the election: %w", err)
	}
	v := View{Standbys: []Member{}, Revision: resp.Header.Revision}
	for i, kv := range resp.Kvs {
		var m Member
		if err := json.Unmarshal(kv.Value, &m.Info); err != nil {
			return View{}, fmt.Errorf("leader: the election key %s holds %q: %w", kv.Key, kv.Value, err)
		}
		m.Epoch = kv.CreateRevision
		if i == 0 {
			v.Leader = &m
		} else {
			v.Standbys = append(v.Standbys, m)
		}
	}
	return v, nil
}

// Current returns the leader's info and epoch.
func Current(ctx context.Context, cli *clientv3.Client, cluster string) (Info, int64, error) {
	v, err := Members(ctx, cli, cluster)
	if err != nil {
		return Info{}, 0, err
	}
	if v.Leader == nil {
		return Info{}, 0, ErrNoLeader
	}
	return v.Leader.Info, v.Leader.Epoch, nil
}

// Watch sends the election's view now and after every change, until ctx
// ends (then the channel is closed). A slow receiver sees only the latest
// view. Read errors are retried.
func Watch(ctx context.Context, cli *clientv3.Client, cluster string) <-chan View {
	out := make(chan View, 1)
	push := func(v View) {
		select {
		case <-out:
		default:
		}
		out <- v
	}
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			v, err := Members(ctx, cli, cluster)
			if err != nil {
				sleep(ctx, 200*time.Millisecond)
				continue
			}
			push(v)
			wctx, cancel := context.WithCancel(ctx)
			wch := cli.Watch(clientv3.WithRequireLeader(wctx), electionPrefix(cluster), clientv3.WithPrefix(), clientv3.WithRev(v.Revision+1))
			for resp := range wch {
				if resp.Err() != nil {
					break
				}
				if v, err = Members(ctx, cli, cluster); err != nil {
					break
				}
				push(v)
			}
			cancel()
			sleep(ctx, 50*time.Millisecond)
		}
	}()
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Dial connects to etcd with a client that logs only errors; tlsConfig
// (nil: none) is used for https endpoints, with a client certificate for an
// etcd that asks for one.
func Dial(endpoints []string, tlsConfig *tls.Config) (*clientv3.Client, error) {
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(zap.ErrorLevel)
	lg, err := zc.Build()
	if err != nil {
		lg = zap.NewNop()
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: lg, TLS: tlsConfig,
		// Notice a dead etcd connection within a few seconds.
		DialKeepAliveTime: 2 * time.Second, DialKeepAliveTimeout: 2 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("leader: etcd client for %v: %w", endpoints, err)
	}
	return cli, nil
}

// watchdog follows the lease's renewals and ends the leadership a margin
// before the lease could expire unnoticed.
type watchdog struct {
	ttl, margin time.Duration
	cancel      context.CancelFunc
	lost        chan struct{}

	mu       sync.Mutex
	deadline time.Time // monotonic; the leadership is not trusted after it
	err      error
}

// tick is how often the watchdog checks the deadline and its own pauses.
const tick = 50 * time.Millisecond

func startWatchdog(cli *clientv3.Client, id clientv3.LeaseID, ttl time.Duration) (*watchdog, error) {
	ctx, cancel := context.WithCancel(context.Background())
	ka, err := cli.KeepAlive(ctx, id)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("leader: keep the lease alive: %w", err)
	}
	w := &watchdog{
		ttl: ttl, margin: max(ttl/4, 250*time.Millisecond), cancel: cancel, lost: make(chan struct{}),
	}
	w.deadline = time.Now().Add(ttl - w.margin)
	go w.run(ka)
	return w, nil
}

func (w *watchdog) run(ka <-chan *clientv3.LeaseKeepAliveResponse) {
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	// awake measures how long the watchdog could not run before now, and
	// ends the leadership if that was long enough for the lease to expire.
	awake := func(now time.Time) (time.Duration, bool) {
		gap := now.Sub(last)
		last = now
		if gap > w.ttl-w.margin {
			w.stop(fmt.Errorf("the process did not run for %s, longer than the lease can be trusted", gap.Round(time.Millisecond)))
			return gap, false
		}
		return gap, true
	}
	for {
		select {
		case <-w.lost:
			return
		case resp, ok := <-ka:
			gap, fine := awake(time.Now())
			switch {
			case !fine:
			case !ok:
				w.stop(errors.New("the lease could not be kept alive"))
			case resp.TTL <= 0:
				w.stop(errors.New("the lease expired"))
			default:
				// The renewal may have waited in a buffer while the
				// watchdog could not run: count it from before the gap.
				w.mu.Lock()
				w.deadline = last.Add(min(w.ttl, time.Duration(resp.TTL)*time.Second) - w.margin - gap)
				w.mu.Unlock()
			}
		case now := <-t.C:
			if _, fine := awake(now); fine && !w.valid(now) {
				w.stop(errors.New("the lease was not renewed in time"))
			}
		}
	}
}

func (w *watchdog) valid(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err == nil && now.Before(w.deadline)
}

func (w *watchdog) reason() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// stop ends the leadership (the first reason wins).
func (w *watchdog) stop(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	w.err = err
	w.cancel()
	close(w.lost)
}

// HistoryKeep is how many leaderships the history keeps.
const HistoryKeep = 50

func historyPrefix(cluster string) string { return Prefix(cluster) + "/history/" }

// Term is one leadership in the cluster's history.
type Term struct {
	Info
	Epoch int64 `json:"epoch"`
	// Until is when the next leader took over (zero for the current or
	// last one).
	Until time.Time `json:"until,omitzero"`
}

// Record adds this leadership to the cluster's history (a guarded write,
// like every HA write) and drops the oldest entries beyond HistoryKeep.
func (l *Leadership) Record(ctx context.Context, cluster string) error {
	val, err := json.Marshal(Term{Info: l.Info, Epoch: l.Epoch})
	if err != nil {
		return fmt.Errorf("leader: encode the history entry: %w", err)
	}
	prefix := historyPrefix(cluster)
	if err := l.Txn(ctx, clientv3.OpPut(fmt.Sprintf("%s%020d", prefix, l.Epoch), string(val))); err != nil {
		return fmt.Errorf("leader: record the leadership: %w", err)
	}
	resp, err := l.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return fmt.Errorf("leader: read the history: %w", err)
	}
	if extra := len(resp.Kvs) - HistoryKeep; extra > 0 {
		ops := make([]clientv3.Op, 0, extra)
		for _, kv := range resp.Kvs[:extra] {
			ops = append(ops, clientv3.OpDelete(string(kv.Key)))
		}
		if err := l.Txn(ctx, ops...); err != nil {
			return fmt.Errorf("leader: prune the history: %w", err)
		}
	}
	return nil
}

// History reads the cluster's leaderships, newest first, each ended by the
// next one's start.
func History(ctx context.Context, cli *clientv3.Client, cluster string) ([]Term, error) {
	resp, err := cli.Get(ctx, historyPrefix(cluster), clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	if err != nil {
		return nil, fmt.Errorf("leader: read the history: %w", err)
	}
	terms := make([]Term, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var t Term
		if err := json.Unmarshal(kv.Value, &t); err != nil {
			return nil, fmt.Errorf("leader: the history key %s holds %q: %w", kv.Key, kv.Value, err)
		}
		if n := len(terms); n > 0 {
			t.Until = terms[n-1].Since
		}
		terms = append(terms, t)
	}
	return terms, nil
}
