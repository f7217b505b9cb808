package wasm

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/weirflow/weir/abi"
)

// probe runs sandbox_probe.wasm once and returns realtime, monotonic and
// random values the guest saw.
func probe(t *testing.T, rt *Runtime, opts InstanceOptions) (int64, int64, int64) {
	t.Helper()
	in := instantiate(t, rt, "sandbox_probe.wasm", opts)
	rec := int64Batch(rt.cfg.Allocator, "x", []int64{0, 0, 0}, nil)
	defer rec.Release()
	out, err := open(t, in, abi.KindMap, "probe", "", rec.Schema()).Map(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	y := out.Column(0).(*array.Int64)
	return y.Value(0), y.Value(1), y.Value(2)
}

func TestSandboxClocksAndRandomness(t *testing.T) {
	rt, alloc, logs := newTestRuntime(t, nil)
	defer alloc.AssertSize(t, 0)
	now := time.Now().UnixNano()

	wall1, _, rand1 := probe(t, rt, InstanceOptions{Job: "job-1", Task: "task-7", Seed: 42})
	wall2, _, rand2 := probe(t, rt, InstanceOptions{Seed: 42})
	_, _, rand3 := probe(t, rt, InstanceOptions{Seed: 43})
	realWall, _, _ := probe(t, rt, InstanceOptions{RealClock: true})

	checks := []struct {
		name string
		ok   bool
	}{
		{"the fake wall clock is not the host's", wall1 < now-365*24*int64(time.Hour)},
		{"the fake wall clock is the same for every instance", wall1 == wall2},
		{"the same seed gives the same random bytes", rand1 == rand2},
		{"another seed gives other random bytes", rand1 != rand3},
		{"RealClock gives the host's clock", realWall >= now && realWall < now+int64(time.Minute)},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s (wall %d %d real %d now %d, random %d %d %d)", c.name, wall1, wall2, realWall, now, rand1, rand2, rand3)
		}
	}
	// Guest output reaches the log, labelled with the module, job and task.
	for _, want := range []string{"probe stdout", "probe: hello", "job=job-1", "task=task-7", "module=sandbox_probe@", "stream=stdout", "stream=log"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}
