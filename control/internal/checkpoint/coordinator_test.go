package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirflow/weir/internal/rpcpb"
)

type fakeIO struct {
	mu        sync.Mutex
	triggered []string
	notified  []int64
	pointers  []int64
	failed    error
	reserved  []int64
	refuse    error // Reserve's answer
}

func (f *fakeIO) Reserve(id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return f.refuse
	}
	f.reserved = append(f.reserved, id)
	return nil
}

func (f *fakeIO) Trigger(exec string, id int64, _ time.Time, _ bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.triggered = append(f.triggered, fmt.Sprintf("%s@%d", exec, id))
}

func (f *fakeIO) NotifyComplete(id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notified = append(f.notified, id)
}

func (f *fakeIO) CommitPointer(id int64, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pointers = append(f.pointers, id)
	return nil
}

func (f *fakeIO) FailJob(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = err
}

var tasks = []Task{{ExecutionID: "src#0", Vertex: "src", Source: true}, {ExecutionID: "map#0", Vertex: "map"}, {ExecutionID: "map#1", Vertex: "map"}}

func ack(c *Coordinator, exec string, id int64, size int64) {
	c.Ack(&rpcpb.CheckpointAck{ExecutionId: exec, CheckpointId: id, SyncMs: 1, AsyncMs: 2, States: []*rpcpb.OperatorState{
		{NodeId: exec[:len(exec)-2], Subtask: int32(exec[len(exec)-1] - '0'), KeyedState: exec + ".state", SizeBytes: size},
	}})
}

func TestCheckpointsCompleteAndRetain(t *testing.T) {
	io := &fakeIO{}
	dir := t.TempDir()
	c := New(Config{Interval: time.Second, Timeout: time.Minute, Retained: 2}, dir, "job", "name", 128, io)
	for want := int64(1); want <= 4; want++ {
		id, done, err := c.Trigger(tasks, false, "")
		if err != nil || id != want {
			t.Fatalf("trigger: %d %v", id, err)
		}
		if _, _, err := c.Trigger(tasks, false, ""); !errors.Is(err, ErrInProgress) {
			t.Fatalf("second trigger: %v", err)
		}
		if err := os.MkdirAll(filepath.Join(dir, fmt.Sprintf("chk-%d", id)), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, tk := range tasks {
			ack(c, tk.ExecutionID, id, 10)
		}
		ack(c, "map#1", id, 10) // a duplicate ack changes nothing
		if r := <-done; r.Err != nil || r.ID != id {
			t.Fatalf("result %+v", r)
		}
	}
	if !slices.Equal(io.triggered, []string{"src#0@1", "src#0@2", "src#0@3", "src#0@4"}) {
		t.Errorf("triggered %v", io.triggered)
	}
	if !slices.Equal(io.notified, []int64{1, 2, 3, 4}) || !slices.Equal(io.pointers, []int64{1, 2, 3, 4}) {
		t.Errorf("notified %v, pointers %v", io.notified, io.pointers)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"chk-3", "chk-4"}) {
		t.Errorf("retained %v", names)
	}
	md, path := c.Latest()
	if md.Checkpoint != 4 || md.Size() != 30 || len(md.States) != 3 {
		t.Fatalf("latest %+v", md)
	}
	back, _, err := ReadMetadata(path)
	if err != nil || back.Checkpoint != 4 || back.States[0].Node != "map" || back.States[2].Node != "src" || back.MaxParallelism != 128 {
		t.Fatalf("read back %+v %v", back, err)
	}
	s := c.Stats()
	if s.Counts.Completed != 4 || s.Counts.Total != 4 || s.Latest.Completed.ID != 4 || s.History[0].Vertices["map"] != 2 {
		t.Errorf("stats %+v", s)
	}
	if d, ok := c.Details(4); !ok || len(d.Tasks) != 3 || !d.Tasks[1].Acked || d.StateSize != 30 {
		t.Errorf("details %+v", d)
	}
}

func TestCheckpointFailuresAndTolerance(t *testing.T) {
	io := &fakeIO{}
	c := New(Config{Interval: time.Second, Timeout: 30 * time.Millisecond, Tolerable: 1, Retained: 3}, t.TempDir(), "job", "name", 128, io)
	// 1 expires (tolerated), 2 is declined (two in a row: the job fails).
	_, done, _ := c.Trigger(tasks, false, "")
	if r := <-done; r.Err == nil {
		t.Fatal("checkpoint 1 did not expire")
	}
	if io.failed != nil {
		t.Fatalf("failed after one tolerated failure: %v", io.failed)
	}
	id, done, _ := c.Trigger(tasks, false, "")
	c.Decline(&rpcpb.CheckpointDecline{ExecutionId: "map#0", CheckpointId: id, Reason: "not running"})
	if r := <-done; r.Err == nil {
		t.Fatal("checkpoint 2 did not fail")
	}
	io.mu.Lock()
	failed := io.failed
	io.mu.Unlock()
	if failed == nil {
		t.Fatal("two failures in a row with one tolerated did not fail the job")
	}
	// A success resets the count; an abort for a failing job does not count.
	id, done, _ = c.Trigger(tasks, false, "")
	c.AbortPending("job failing")
	<-done
	s := c.Stats()
	if s.Counts.Failed != 3 || s.Latest.Failed.ID != id || s.Counts.InProgress != 0 {
		t.Errorf("stats %+v", s.Counts)
	}
}

func TestSavepointCopy(t *testing.T) {
	io := &fakeIO{}
	dir := t.TempDir()
	c := New(Config{Retained: 3}, dir, "job", "name", 128, io)
	target := filepath.Join(t.TempDir(), "sp")
	id, done, err := c.Trigger(tasks, true, target)
	if err != nil {
		t.Fatal(err)
	}
	chk := filepath.Join(dir, fmt.Sprintf("chk-%d", id))
	if err := os.MkdirAll(chk, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tk := range tasks {
		if err := os.WriteFile(filepath.Join(chk, tk.ExecutionID+".state"), []byte(tk.ExecutionID), 0o644); err != nil {
			t.Fatal(err)
		}
		ack(c, tk.ExecutionID, id, 1)
	}
	r := <-done
	if r.Err != nil || r.Path != target {
		t.Fatalf("savepoint %+v", r)
	}
	md, got, err := ReadMetadata(filepath.Join(target, MetadataFile))
	if err != nil || !md.Savepoint || got != target {
		t.Fatalf("savepoint metadata %+v %v", md, err)
	}
	if b, err := os.ReadFile(filepath.Join(target, "map#1.state")); err != nil || string(b) != "map#1" {
		t.Errorf("state file in the savepoint: %q %v", b, err)
	}
	if len(io.pointers) != 0 {
		t.Errorf("a savepoint moved the checkpoint pointer: %v", io.pointers)
	}
	c2 := New(Config{}, t.TempDir(), "job2", "name", 128, io)
	c2.SetRestored(md, target)
	if id2, _, _ := c2.Trigger(tasks, false, ""); id2 != id+1 {
		t.Errorf("ids after a restore continue at %d, want %d", id2, id+1)
	}
}

func TestReadMetadataRefuses(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := ReadMetadata(dir); !errors.Is(err, ErrNotFound) {
		t.Errorf("empty dir: %v", err)
	}
	for name, body := range map[string]string{
		"version": `{"version": 99}`,
		"escape":  `{"version": 1, "states": [{"node": "a", "keyedState": "../../etc/passwd"}]}`,
		"json":    `{"version": `,
	} {
		d := filepath.Join(dir, name)
		_ = os.MkdirAll(d, 0o755)
		_ = os.WriteFile(filepath.Join(d, MetadataFile), []byte(body), 0o644)
		if _, _, err := ReadMetadata(d); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseConfig(t *testing.T) {
	cases := []struct {
		conf    map[string]string
		want    Config
		wantErr bool
	}{
		{conf: nil, want: Config{Timeout: 10 * time.Minute, Retained: 3}},
		{conf: map[string]string{KeyInterval: "500ms", KeyTolerable: "2", KeyMinPause: "100ms", KeyTimeout: "1m"},
			want: Config{Interval: 500 * time.Millisecond, Timeout: time.Minute, MinPause: 100 * time.Millisecond, Tolerable: 2, Retained: 3}},
		{conf: map[string]string{"execution.checkpointing.interval": "2s"}, want: Config{Interval: 2 * time.Second, Timeout: 10 * time.Minute, Retained: 3}},
		{conf: map[string]string{KeyInterval: "often"}, wantErr: true},
		{conf: map[string]string{KeyInterval: "1ms"}, wantErr: true},
		{conf: map[string]string{KeyTolerable: "-1"}, wantErr: true},
		{conf: map[string]string{KeyRetained: "0"}, wantErr: true},
	}
	for _, tc := range cases {
		got, err := ParseConfig(tc.conf, Config{})
		if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
			t.Errorf("%v: %+v %v", tc.conf, got, err)
		}
		if err != nil && !errors.Is(err, ErrConfig) {
			t.Errorf("%v: %v does not wrap ErrConfig", tc.conf, err)
		}
	}
}

func TestTriggerReservesIDs(t *testing.T) {
	io := &fakeIO{}
	c := New(Config{Interval: time.Second}, t.TempDir(), "job", "name", 128, io)
	c.ContinueAfter(41)
	id, _, err := c.Trigger(tasks, false, "")
	if err != nil || id != 42 {
		t.Fatalf("first trigger after a previous leader's 41 = %d, %v; want 42", id, err)
	}
	c.AbortPending("test")
	io.refuse = errors.New("no longer the leader")
	if _, _, err := c.Trigger(tasks, false, ""); err == nil || !strings.Contains(err.Error(), "no longer the leader") {
		t.Fatalf("trigger with a refused reservation: %v", err)
	}
	io.refuse = nil
	if id, _, err := c.Trigger(tasks, false, ""); err != nil || id != 43 {
		t.Fatalf("trigger after a refused reservation = %d, %v; want 43 (the refused id is not used)", id, err)
	}
	if fmt.Sprint(io.reserved) != "[42 43]" || len(io.triggered) != 2 {
		t.Fatalf("reserved %v, triggered %v", io.reserved, io.triggered)
	}
}
