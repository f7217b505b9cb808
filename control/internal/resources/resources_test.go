package resources

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/weirflow/weir/control/internal/execgraph"
)

func TestRegistry(t *testing.T) {
	t0 := time.Unix(0, 0)
	r := New(3 * time.Second)
	r.Register(t0, TaskManager{ID: "tm-b", Slots: 2})
	r.Register(t0, TaskManager{ID: "tm-a", Slots: 2})
	if total, free := r.Totals(); total != 4 || free != 4 {
		t.Fatalf("totals %d %d", total, free)
	}
	// Pick and allocate like the JobMaster does: spread over both.
	slots, err := execgraph.PickSlots(2, r.FreeSlots())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Allocate("job-1", slots); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(slots) != "[tm-a/0 tm-b/0]" {
		t.Fatalf("picked %v", slots)
	}
	if err := r.Allocate("job-2", slots[:1]); !errors.Is(err, ErrSlotTaken) {
		t.Fatalf("double allocation: %v", err)
	}
	if err := r.Allocate("job-2", []execgraph.Slot{{TaskManager: "tm-a", Index: 1}, {TaskManager: "tm-z", Index: 0}}); !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown TaskManager: %v", err)
	}
	if tm, _ := r.Get("tm-a"); tm.Jobs[1] != "" {
		t.Fatal("a failed allocation must allocate nothing")
	}
	if err := r.Allocate("job-2", []execgraph.Slot{{TaskManager: "tm-a", Index: 1}}); err != nil {
		t.Fatal(err)
	}

	// tm-b stops heartbeating; tm-a keeps going.
	if err := r.Heartbeat(t0.Add(2*time.Second), "tm-a", Status{TasksRunning: 3, RSS: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if tm, _ := r.Get("tm-a"); tm.Status.TasksRunning != 3 || tm.Status.RSS != 1<<20 {
		t.Fatalf("heartbeat status not kept: %+v", tm.Status)
	}
	if lost := r.Expire(t0.Add(3 * time.Second)); len(lost) != 0 {
		t.Fatalf("lost too early: %v", lost)
	}
	lost := r.Expire(t0.Add(4 * time.Second))
	if fmt.Sprint(lost) != "[{tm-b [job-1]}]" {
		t.Fatalf("lost %v", lost)
	}
	if err := r.Heartbeat(t0.Add(4*time.Second), "tm-b", Status{}); !errors.Is(err, ErrUnknown) {
		t.Fatalf("heartbeat of a lost TaskManager: %v", err)
	}
	// It comes back: registered again with free slots.
	if orphaned := r.Register(t0.Add(5*time.Second), TaskManager{ID: "tm-b", Slots: 2}); len(orphaned) != 0 {
		t.Fatalf("orphans after expiry: %v", orphaned)
	}
	// tm-a restarts and registers again while holding slots: its jobs are orphaned.
	if orphaned := r.Register(t0.Add(5*time.Second), TaskManager{ID: "tm-a", Slots: 4}); fmt.Sprint(orphaned) != "[job-1 job-2]" {
		t.Fatalf("orphaned %v", orphaned)
	}
	if total, free := r.Totals(); total != 6 || free != 6 {
		t.Fatalf("after re-registration: %d %d", total, free)
	}
	if err := r.Allocate("job-3", []execgraph.Slot{{TaskManager: "tm-a", Index: 3}, {TaskManager: "tm-b", Index: 1}}); err != nil {
		t.Fatal(err)
	}
	if n := r.Release("job-3"); n != 2 {
		t.Fatalf("released %d", n)
	}
	if len(r.List()) != 2 || r.List()[0].ID != "tm-a" {
		t.Fatalf("list %v", r.List())
	}
}

func TestRemove(t *testing.T) {
	r := New(time.Second)
	r.Register(time.Unix(0, 0), TaskManager{ID: "tm-a", Slots: 2})
	if err := r.Allocate("job-1", []execgraph.Slot{{TaskManager: "tm-a", Index: 1}}); err != nil {
		t.Fatal(err)
	}
	lost, ok := r.Remove("tm-a")
	if !ok || fmt.Sprint(lost) != "{tm-a [job-1]}" {
		t.Fatalf("remove: %v %v", lost, ok)
	}
	if _, ok := r.Remove("tm-a"); ok {
		t.Fatal("removed twice")
	}
	if total, _ := r.Totals(); total != 0 {
		t.Fatalf("%d slots left", total)
	}
}
