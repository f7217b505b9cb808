package taskrun

import (
	"testing"
	"time"
)

// A wait in progress counts as idle at once, so that a task blocked for
// longer than a heartbeat shows idle, not busy; an ended wait is kept.
func TestIdleTimeCountsWaitInProgress(t *testing.T) {
	var m Metrics
	if got := m.IdleTime(time.Now()); got != 0 {
		t.Fatalf("idle %v before any wait", got)
	}
	end := m.BeginIdle()
	time.Sleep(20 * time.Millisecond)
	during := m.IdleTime(time.Now())
	if during < 20*time.Millisecond {
		t.Fatalf("idle %v during a 20 ms wait", during)
	}
	end()
	after := m.IdleTime(time.Now())
	if after < during {
		t.Fatalf("idle went back from %v to %v at the end of the wait", during, after)
	}
	time.Sleep(10 * time.Millisecond)
	if later := m.IdleTime(time.Now()); later != after {
		t.Fatalf("idle grew from %v to %v while not waiting", after, later)
	}
}
