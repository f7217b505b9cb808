package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	for _, tc := range []struct {
		n     int
		kinds []string
	}{
		{5, allFaults}, {4, allFaults}, {1, allFaults}, {9, []string{faultKillLeader, faultResign}}, {3, []string{faultPause}},
	} {
		got := schedule(tc.n, tc.kinds, 42)
		if len(got) != tc.n {
			t.Fatalf("schedule(%d) has %d faults", tc.n, len(got))
		}
		// Every kind once before any repeats.
		first := got[:min(tc.n, len(tc.kinds))]
		seen := map[string]bool{}
		for _, k := range first {
			if seen[k] || !slices.Contains(tc.kinds, k) {
				t.Errorf("schedule(%d, %v) starts %v: a kind repeats or is foreign", tc.n, tc.kinds, first)
			}
			seen[k] = true
		}
		if again := schedule(tc.n, tc.kinds, 42); !slices.Equal(again, got) {
			t.Errorf("the same seed gave %v, then %v", got, again)
		}
	}
	if slices.Equal(schedule(12, allFaults, 1), schedule(12, allFaults, 2)) {
		t.Error("seeds 1 and 2 give the same schedule")
	}
}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in   []int64
		want percentiles
	}{
		{nil, percentiles{}},
		{[]int64{-1, -1}, percentiles{}},
		{[]int64{300}, percentiles{Count: 1, P50: 300, P90: 300, Max: 300}},
		{[]int64{5, 1, 4, 2, 3, -1}, percentiles{Count: 5, P50: 3, P90: 5, Max: 5}},
		{[]int64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, percentiles{Count: 10, P50: 50, P90: 90, Max: 100}},
	} {
		if got := summarize(tc.in); got != tc.want {
			t.Errorf("summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// TestHADrill is the short failover drill of the test task: three
// JobManagers on a separate etcd process, two TaskManagers, the
// exactly-once job, and every kind of fault (five in all). Each leader
// fault must bring a new leader serving REST, the TaskManagers registered
// with it with all their slots, the job processing again, a paused leader
// standing by once resumed, and at the end no record lost or duplicated.
func TestHADrill(t *testing.T) {
	bin := weirBinary(t)
	cfg := drillConfig{
		Binary: bin, Module: exampleModule(t, "./exactlyonce"), Dir: t.TempDir(),
		JobManagers: 3, TaskManagers: 2, Slots: 2, Parallelism: 2,
		Faults: 5, Kinds: allFaults, Seed: 5, Duration: 25 * time.Second,
		LeaseTTL: 2 * time.Second, Rate: 2000, Keys: 8,
	}
	var log bytes.Buffer
	cfg.Log = &log
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := runDrill(ctx, cfg)
	if err != nil {
		t.Fatalf("drill: %v\n%s", err, log.String())
	}
	var out bytes.Buffer
	rep.text(&out)
	t.Logf("\n%s", out.String())
	if !rep.Passed || rep.Lost != 0 || rep.Duplicated != 0 || rep.Records != rep.Expected {
		t.Fatalf("drill failed: %s\n%s", rep.Failure, log.String())
	}
	kinds := map[string]bool{}
	for _, f := range rep.Faults {
		kinds[f.Kind] = true
		if f.ProcessingMs < 0 {
			t.Errorf("fault %d (%s): the job was not seen processing again", f.N, f.Kind)
		}
		if f.Kind != faultKillTM && (f.NewLeaderMs < 0 || f.Epoch == 0) {
			t.Errorf("fault %d (%s): no new leader measured", f.N, f.Kind)
		}
		if f.Note != "" {
			t.Errorf("fault %d (%s): %s", f.N, f.Kind, f.Note)
		}
		if f.Kind == faultPause && f.StaleSteppedDownMs <= 0 {
			t.Errorf("fault %d: the resumed leader's stepping down was not measured", f.N)
		}
	}
	if len(kinds) != len(allFaults) {
		t.Errorf("the drill injected %v, not every kind", kinds)
	}
	if !strings.Contains(out.String(), "PASSED") {
		t.Errorf("report:\n%s", out.String())
	}
}
