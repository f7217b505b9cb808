// Package jobstore keeps the JobManager's HA metadata about jobs in etcd
// (design.md §7): each job's graph (the plan as submitted), its status, the
// attempt it was last deployed as, its checkpoint id counter and the pointer
// to its latest complete checkpoint. Every write is guarded by the writer's
// leadership, so a deposed leader cannot change any of it; a new leader
// loads it to recover the jobs that had not ended.
//
// Keys, under the cluster's prefix:
//
//	jobs/<id>/graph       Record (JSON), written once at submission
//	jobs/<id>/status      Status (JSON)
//	jobs/<id>/attempt     the attempt last deployed (decimal)
//	jobs/<id>/counter     the highest checkpoint id handed out (decimal)
//	jobs/<id>/checkpoint  Pointer (JSON) to the latest complete checkpoint
package jobstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/internal/leader"
)

// ErrCorrupt means a key holds what the store cannot read.
var ErrCorrupt = errors.New("jobstore: unreadable job metadata")

// Record is a job's graph: enough to run it again on another JobManager.
type Record struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Artifact string `json:"artifact"`
	// ArtifactName is the module's file name; ProgramArgs the arguments
	// the plan was built with (both shown in /jobs/:id/config).
	ArtifactName string    `json:"artifactName,omitempty"`
	ProgramArgs  []string  `json:"programArgs,omitempty"`
	Plan         *abi.Plan `json:"plan"`
	// SavepointPath is the savepoint the job was submitted with (it starts
	// from it again if it fails over before its first checkpoint).
	SavepointPath    string    `json:"savepointPath,omitempty"`
	AllowNonRestored bool      `json:"allowNonRestoredState,omitempty"`
	Submitted        time.Time `json:"submitted"`
}

// Status is a job's state as last recorded.
type Status struct {
	State string    `json:"state"`
	End   time.Time `json:"end,omitzero"`
}

// Terminal reports whether the recorded state ends the job.
func (s Status) Terminal() bool {
	switch s.State {
	case "FINISHED", "CANCELED", "FAILED":
		return true
	}
	return false
}

// Pointer locates a complete checkpoint.
type Pointer struct {
	ID   int64  `json:"id"`
	Path string `json:"path"`
}

// Job is everything stored about one job.
type Job struct {
	Record
	Status     Status
	Attempt    int   // the attempt last deployed (-1 if none)
	Counter    int64 // the highest checkpoint id handed out
	Checkpoint *Pointer
}

// Guard applies operations in a transaction that succeeds only while the
// writer leads (leader.Leadership).
type Guard interface {
	Txn(ctx context.Context, ops ...clientv3.Op) error
}

// Store reads and writes one cluster's job metadata.
type Store struct {
	cli    *clientv3.Client
	prefix string
	guard  Guard
	// Timeout bounds each etcd request (default 5 s).
	Timeout time.Duration
}

// New returns a store for the cluster's jobs whose writes go through guard.
func New(cli *clientv3.Client, cluster string, guard Guard) *Store {
	return &Store{cli: cli, prefix: leader.Prefix(cluster) + "/jobs/", guard: guard, Timeout: 5 * time.Second}
}

func (s *Store) key(job, field string) string { return s.prefix + job + "/" + field }

func (s *Store) txn(ops ...clientv3.Op) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()
	return s.guard.Txn(ctx, ops...)
}

// Create records a new job: its graph, status RUNNING, no attempt yet.
func (s *Store) Create(r Record) error {
	graph, err := json.Marshal(r)
	if err != nil {
		return err
	}
	st, _ := json.Marshal(Status{State: "RUNNING"})
	if err := s.txn(clientv3.OpPut(s.key(r.ID, "graph"), string(graph)), clientv3.OpPut(s.key(r.ID, "status"), string(st))); err != nil {
		return fmt.Errorf("jobstore: record job %s: %w", r.ID, err)
	}
	return nil
}

// SetAttempt records that attempt is about to be deployed; a leader that
// recovers the job starts after it, so no two attempts share a number.
func (s *Store) SetAttempt(job string, attempt int) error {
	if err := s.txn(clientv3.OpPut(s.key(job, "attempt"), strconv.Itoa(attempt))); err != nil {
		return fmt.Errorf("jobstore: record attempt %d of job %s: %w", attempt, job, err)
	}
	return nil
}

// SetCounter records that checkpoint id is about to be triggered.
func (s *Store) SetCounter(job string, id int64) error {
	if err := s.txn(clientv3.OpPut(s.key(job, "counter"), strconv.FormatInt(id, 10))); err != nil {
		return fmt.Errorf("jobstore: record checkpoint id %d of job %s: %w", id, job, err)
	}
	return nil
}

// CommitCheckpoint points the job at its latest complete checkpoint.
func (s *Store) CommitCheckpoint(job string, id int64, path string) error {
	val, _ := json.Marshal(Pointer{ID: id, Path: path})
	if err := s.txn(clientv3.OpPut(s.key(job, "checkpoint"), string(val))); err != nil {
		return fmt.Errorf("jobstore: commit checkpoint %d of job %s: %w", id, job, err)
	}
	return nil
}

// End records a job's terminal state.
func (s *Store) End(job, state string, at time.Time) error {
	val, _ := json.Marshal(Status{State: state, End: at})
	if err := s.txn(clientv3.OpPut(s.key(job, "status"), string(val))); err != nil {
		return fmt.Errorf("jobstore: record the end of job %s: %w", job, err)
	}
	return nil
}

// Load reads every job, oldest submission first.
func (s *Store) Load(ctx context.Context) ([]Job, error) {
	resp, err := s.cli.Get(ctx, s.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("jobstore: read the jobs: %w", err)
	}
	jobs := map[string]*Job{}
	for _, kv := range resp.Kvs {
		id, field, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), s.prefix), "/")
		if !ok {
			continue
		}
		j := jobs[id]
		if j == nil {
			j = &Job{Attempt: -1}
			jobs[id] = j
		}
		if err := decode(j, field, kv.Value); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, kv.Key, err)
		}
	}
	var out []Job
	for id, j := range jobs {
		if j.ID != id || j.Plan == nil {
			return nil, fmt.Errorf("%w: job %s has no graph", ErrCorrupt, id)
		}
		out = append(out, *j)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Submitted.Before(out[b].Submitted) })
	return out, nil
}

func decode(j *Job, field string, val []byte) error {
	var err error
	switch field {
	case "graph":
		err = json.Unmarshal(val, &j.Record)
	case "status":
		err = json.Unmarshal(val, &j.Status)
	case "attempt":
		j.Attempt, err = strconv.Atoi(string(val))
	case "counter":
		j.Counter, err = strconv.ParseInt(string(val), 10, 64)
	case "checkpoint":
		j.Checkpoint = &Pointer{}
		err = json.Unmarshal(val, j.Checkpoint)
	}
	return err
}
