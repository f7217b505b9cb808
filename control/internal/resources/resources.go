// Package resources is the ResourceManager's bookkeeping: registered
// TaskManagers, their heartbeats and their slots, which jobs hold which
// slots, and which TaskManagers have been lost. It does no I/O and reads no
// clock: callers pass the time.
package resources

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/weirflow/weir/control/internal/execgraph"
)

// Sentinel errors.
var (
	ErrUnknown   = errors.New("resources: unknown TaskManager")
	ErrSlotTaken = errors.New("resources: slot already allocated")
)

// TaskManager is a registered TaskManager.
type TaskManager struct {
	ID          string
	RPCAddress  string
	DataAddress string
	Slots       int
	Memory      int64
	CPUCores    int
	Registered  time.Time
	LastSeen    time.Time
	// Status is what the last heartbeat reported.
	Status Status
	// Jobs holds, per slot index, the job using it ("" when free).
	Jobs []string
}

// Free counts the TaskManager's free slots.
func (tm *TaskManager) Free() int {
	n := 0
	for _, j := range tm.Jobs {
		if j == "" {
			n++
		}
	}
	return n
}

// Registry tracks TaskManagers and slots.
type Registry struct {
	timeout time.Duration
	tms     map[string]*TaskManager
}

// New returns an empty registry that considers a TaskManager lost after
// timeout without a heartbeat.
func New(timeout time.Duration) *Registry {
	return &Registry{timeout: timeout, tms: map[string]*TaskManager{}}
}

// Register adds a TaskManager, or refreshes one that registers again (after
// a restart or a JobManager failover). A re-registering TaskManager keeps no
// slot allocations: the jobs it ran are told by Lost-style handling in the
// caller; here its slots start free. It returns the jobs that held its
// slots before.
func (r *Registry) Register(now time.Time, tm TaskManager) (orphaned []string) {
	if old, ok := r.tms[tm.ID]; ok {
		orphaned = jobsOf(old)
	}
	tm.Registered, tm.LastSeen = now, now
	tm.Jobs = make([]string, tm.Slots)
	r.tms[tm.ID] = &tm
	return orphaned
}

func jobsOf(tm *TaskManager) []string {
	var out []string
	for _, j := range tm.Jobs {
		if j != "" && !slices.Contains(out, j) {
			out = append(out, j)
		}
	}
	slices.Sort(out)
	return out
}

// Heartbeat records a heartbeat. An unknown TaskManager must register again.
func (r *Registry) Heartbeat(now time.Time, id string, st Status) error {
	tm, ok := r.tms[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknown, id)
	}
	tm.LastSeen, tm.Status = now, st
	return nil
}

// Status is a TaskManager's state as a heartbeat reports it.
type Status struct {
	// TasksRunning counts the tasks it runs.
	TasksRunning int
	// RSS, HeapInUse and Wasm are its memory use in bytes: the process's
	// resident set, the Go heap, the tasks' Wasm memories.
	RSS, HeapInUse, Wasm int64
}

// Lost is a TaskManager that missed its heartbeats, with the jobs that had
// tasks on it.
type Lost struct {
	ID   string
	Jobs []string
}

// Expire removes the TaskManagers not heard from within the timeout and
// returns them with the jobs they affected, sorted by id.
func (r *Registry) Expire(now time.Time) []Lost {
	var lost []Lost
	for id, tm := range r.tms {
		if now.Sub(tm.LastSeen) > r.timeout {
			lost = append(lost, Lost{ID: id, Jobs: jobsOf(tm)})
			delete(r.tms, id)
		}
	}
	slices.SortFunc(lost, func(a, b Lost) int {
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	return lost
}

// Remove forgets a TaskManager at once (it is known to be gone) and
// returns it as lost with the jobs it had slots for.
func (r *Registry) Remove(id string) (Lost, bool) {
	tm, ok := r.tms[id]
	if !ok {
		return Lost{}, false
	}
	delete(r.tms, id)
	return Lost{ID: id, Jobs: jobsOf(tm)}, true
}

// Get returns a registered TaskManager.
func (r *Registry) Get(id string) (*TaskManager, bool) {
	tm, ok := r.tms[id]
	return tm, ok
}

// List returns the TaskManagers sorted by id.
func (r *Registry) List() []*TaskManager {
	out := make([]*TaskManager, 0, len(r.tms))
	for _, tm := range r.tms {
		out = append(out, tm)
	}
	slices.SortFunc(out, func(a, b *TaskManager) int {
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	return out
}

// FreeSlots lists every free slot.
func (r *Registry) FreeSlots() []execgraph.Slot {
	var out []execgraph.Slot
	for _, tm := range r.List() {
		for i, j := range tm.Jobs {
			if j == "" {
				out = append(out, execgraph.Slot{TaskManager: tm.ID, Index: i})
			}
		}
	}
	return out
}

// Totals returns the total and free slot counts.
func (r *Registry) Totals() (total, free int) {
	for _, tm := range r.tms {
		total += tm.Slots
		free += tm.Free()
	}
	return total, free
}

// Allocate gives slots to a job, all or nothing.
func (r *Registry) Allocate(job string, slots []execgraph.Slot) error {
	for _, s := range slots {
		tm, ok := r.tms[s.TaskManager]
		if !ok {
			return fmt.Errorf("%w: %s", ErrUnknown, s.TaskManager)
		}
		if s.Index < 0 || s.Index >= len(tm.Jobs) {
			return fmt.Errorf("resources: %s has no slot %d", s.TaskManager, s.Index)
		}
		if tm.Jobs[s.Index] != "" {
			return fmt.Errorf("%w: %s held by %s", ErrSlotTaken, s, tm.Jobs[s.Index])
		}
	}
	for _, s := range slots {
		r.tms[s.TaskManager].Jobs[s.Index] = job
	}
	return nil
}

// Release frees every slot a job holds and returns how many.
func (r *Registry) Release(job string) int {
	n := 0
	for _, tm := range r.tms {
		for i, j := range tm.Jobs {
			if j == job {
				tm.Jobs[i] = ""
				n++
			}
		}
	}
	return n
}
