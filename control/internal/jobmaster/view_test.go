package jobmaster

import (
	"sync"
	"testing"
	"time"

	"github.com/weirflow/weir/internal/rpcpb"
)

// fakeClock is a settable Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestRecordRates(t *testing.T) {
	c := newCluster(2, 2)
	m := newJob(t, c, nil)
	clock := &fakeClock{now: time.UnixMilli(1_700_000_000_000)}
	m.cfg.Now = clock.Now
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	ds := c.deployments(t, 0, 5)
	for _, d := range ds {
		report(m, d, rpcpb.TaskState_TASK_STATE_RUNNING, "")
	}
	words := func(i int) *rpcpb.TaskDeployment { return ds[[]string{"words#0", "words#1"}[i]] }
	sample := func(i int, in, out int64) {
		m.Metrics(&rpcpb.TaskMetrics{ExecutionId: words(i).GetExecutionId(), RecordsIn: in, RecordsOut: out})
	}
	vertex := func() VertexView {
		for _, v := range m.Details().Vertices {
			if v.ID == "words" {
				return v
			}
		}
		t.Fatal("no vertex words")
		return VertexView{}
	}
	steps := []struct {
		name         string
		advance      time.Duration
		in0, out0    int64
		in1, out1    int64
		wantIn       float64 // of the vertex
		wantOut      float64
		wantSubtask0 float64 // words#0 read rate
	}{
		{"first samples give no rate", 0, 100, 400, 50, 200, 0, 0, 0},
		{"two seconds later", 2 * time.Second, 1100, 4400, 250, 1000, 500 + 100, 2000 + 400, 500},
		{"a sample too soon keeps the last rate", 50 * time.Millisecond, 1200, 4800, 260, 1040, 600, 2400, 500},
		{"idle", time.Second, 1100 + 0, 4400, 250, 1000, 0, 0, 0},
	}
	for _, s := range steps {
		clock.add(s.advance)
		sample(0, s.in0, s.out0)
		sample(1, s.in1, s.out1)
		v := vertex()
		if v.Metrics.ReadRate != s.wantIn || v.Metrics.WriteRate != s.wantOut || v.Subtasks[0].Metrics.ReadRate != s.wantSubtask0 {
			t.Fatalf("%s: vertex in %v/s out %v/s, words#0 in %v/s; want %v, %v, %v", s.name,
				v.Metrics.ReadRate, v.Metrics.WriteRate, v.Subtasks[0].Metrics.ReadRate, s.wantIn, s.wantOut, s.wantSubtask0)
		}
	}
	// The final report of a finished subtask carries its totals and no rate.
	m.TaskReport(&rpcpb.TaskStateReport{ExecutionId: words(0).GetExecutionId(), State: rpcpb.TaskState_TASK_STATE_FINISHED,
		Metrics: &rpcpb.TaskMetrics{ExecutionId: words(0).GetExecutionId(), RecordsIn: 5000, RecordsOut: 20000}})
	if sv := vertex().Subtasks[0]; sv.Metrics.ReadRecords != 5000 || sv.Metrics.ReadRate != 0 {
		t.Fatalf("finished subtask: %+v", sv.Metrics)
	}
}

func TestConfigView(t *testing.T) {
	c := newCluster(1, 2)
	m := newJob(t, c, nil)
	m.cfg.ArtifactName, m.cfg.ProgramArgs = "wc.wasm", []string{"--input", "/in"}
	m.cfg.Plan.Config = map[string]string{"pipeline.operator-chaining": "false"}
	v := m.Config()
	if v.ID != "j1" || v.Name != "wc" || v.Module.ID != "abc" || v.Module.Name != "wc.wasm" || len(v.ProgramArgs) != 2 {
		t.Fatalf("config view %+v", v)
	}
	if e := v.Execution; e.Parallelism != 2 || e.MaxParallelism != 8 || e.Chaining || e.CheckpointInterval != 0 || e.Restart == "" || e.UserConfig["pipeline.operator-chaining"] != "false" {
		t.Fatalf("execution config %+v", e)
	}
}
