package jobstate

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/weirflow/weir/control/internal/restart"
)

var t0 = time.Unix(1700000000, 0)

func strategy(t *testing.T, conf map[string]string) restart.Strategy {
	t.Helper()
	s, err := restart.Parse(conf, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// step applies one event and checks the resulting state and actions.
type step struct {
	event   func(j *Job) ([]Action, error)
	state   State
	actions string // fmt of the actions, "" for none
}

func update(task string, attempt int, s TaskState) func(j *Job) ([]Action, error) {
	return func(j *Job) ([]Action, error) {
		var cause error
		if s == TaskFailed {
			cause = errors.New("guest trapped: unreachable")
		}
		return j.TaskUpdate(t0, task, attempt, s, cause)
	}
}

func start(j *Job) ([]Action, error)    { return j.Start(t0) }
func restartJ(j *Job) ([]Action, error) { return j.Restart(t0) }
func cancel(j *Job) ([]Action, error)   { return j.Cancel(t0) }

func TestScenarios(t *testing.T) {
	expNoJitter := map[string]string{restart.KeyExpJitter: "0"}
	cases := []struct {
		name     string
		strategy map[string]string
		steps    []step
	}{
		{"finishes", nil, []step{
			{start, Running, "[{deploy [a b] 0 0s}]"},
			{update("a", 0, TaskRunning), Running, ""},
			{update("a", 0, TaskFinished), Running, ""},
			{update("b", 0, TaskFinished), Finished, "[{release-slots [] 0 0s}]"},
		}},
		{"fails and restarts", expNoJitter, []step{
			{start, Running, "[{deploy [a b] 0 0s}]"},
			{update("a", 0, TaskRunning), Running, ""},
			{update("b", 0, TaskRunning), Running, ""},
			{update("a", 0, TaskFailed), Failing, "[{cancel [b] 0 0s}]"},
			{update("b", 0, TaskCanceled), Restarting, "[{schedule-restart [] 0 200ms}]"},
			{restartJ, Running, "[{deploy [a b] 1 0s}]"},
			{update("a", 0, TaskFinished), Running, ""}, // stale attempt: ignored
			{update("a", 1, TaskFinished), Running, ""},
			{update("b", 1, TaskFinished), Finished, "[{release-slots [] 0 0s}]"},
		}},
		{"fails for good", map[string]string{restart.KeyType: "none"}, []step{
			{start, Running, "[{deploy [a b] 0 0s}]"},
			{update("b", 0, TaskFailed), Failing, "[{cancel [a] 0 0s}]"},
			{update("a", 0, TaskCanceled), Failed, "[{release-slots [] 0 0s}]"},
			{update("a", 0, TaskRunning), Failed, ""},
		}},
		{"gives up after attempts", map[string]string{restart.KeyType: "fixed-delay", restart.KeyFixedAttempts: "1", restart.KeyFixedDelay: "1s"}, []step{
			{start, Running, "[{deploy [a b] 0 0s}]"},
			{update("a", 0, TaskFailed), Failing, "[{cancel [b] 0 0s}]"},
			{update("b", 0, TaskFailed), Restarting, "[{schedule-restart [] 0 1s}]"},
			{restartJ, Running, "[{deploy [a b] 1 0s}]"},
			{update("b", 1, TaskFailed), Failing, "[{cancel [a] 1 0s}]"},
			{update("a", 1, TaskCanceled), Failed, "[{release-slots [] 0 0s}]"},
		}},
		{"canceled while running", nil, []step{
			{start, Running, "[{deploy [a b] 0 0s}]"},
			{update("a", 0, TaskFinished), Running, ""},
			{cancel, Canceling, "[{cancel [b] 0 0s}]"},
			{update("b", 0, TaskCanceled), Canceled, "[{release-slots [] 0 0s}]"},
		}},
		{"canceled while restarting", expNoJitter, []step{
			{start, Running, "[{deploy [a b] 0 0s}]"},
			{update("a", 0, TaskFailed), Failing, "[{cancel [b] 0 0s}]"},
			{update("b", 0, TaskCanceled), Restarting, "[{schedule-restart [] 0 200ms}]"},
			{cancel, Canceled, "[{release-slots [] 0 0s}]"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := New([]string{"a", "b"}, strategy(t, tc.strategy))
			for i, s := range tc.steps {
				acts, err := s.event(j)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				got := ""
				if len(acts) > 0 {
					got = fmt.Sprint(acts)
				}
				if j.State != s.state || got != s.actions {
					t.Fatalf("step %d: state %s actions %s, want %s %s", i, j.State, got, s.state, s.actions)
				}
			}
		})
	}
}

func TestFailureAndHistory(t *testing.T) {
	j := New([]string{"src#0"}, strategy(t, map[string]string{restart.KeyType: "none"}))
	if _, err := j.Start(t0); err != nil {
		t.Fatal(err)
	}
	if _, err := j.TaskUpdate(t0.Add(time.Second), "src#0", 0, TaskFailed, errors.New("guest trapped: unreachable")); err != nil {
		t.Fatal(err)
	}
	if j.State != Failed || !strings.Contains(j.Failure.Error(), "task src#0 failed: guest trapped: unreachable") {
		t.Fatalf("%s: %v", j.State, j.Failure)
	}
	var path []string
	for _, h := range j.History {
		path = append(path, string(h.To))
	}
	if strings.Join(path, ">") != "RUNNING>FAILING>FAILED" {
		t.Fatalf("history %v", path)
	}
}

func TestRefusedEvents(t *testing.T) {
	j := New([]string{"a"}, restart.None{})
	if _, err := j.Restart(t0); !errors.Is(err, ErrEvent) {
		t.Fatalf("restart in CREATED: %v", err)
	}
	if _, err := j.Start(t0); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Start(t0); !errors.Is(err, ErrEvent) {
		t.Fatalf("second start: %v", err)
	}
	if _, err := j.TaskUpdate(t0, "zz", 0, TaskRunning, nil); !errors.Is(err, ErrEvent) {
		t.Fatalf("unknown task: %v", err)
	}
	j.TaskUpdate(t0, "a", 0, TaskFinished, nil)
	if _, err := j.Cancel(t0); !errors.Is(err, ErrEvent) {
		t.Fatalf("cancel a finished job: %v", err)
	}
}

func TestFail(t *testing.T) {
	now := time.Unix(0, 0)
	j := New([]string{"a", "b"}, &restart.FixedDelay{Attempts: 1, Delay: time.Second})
	if _, err := j.Fail(now, errors.New("x")); !errors.Is(err, ErrEvent) {
		t.Fatalf("fail before start: %v", err)
	}
	_, _ = j.Start(now)
	acts, err := j.Fail(now, errors.New("checkpoints keep failing"))
	if err != nil || j.State != Failing || len(acts) != 1 || acts[0].Kind != Cancel || len(acts[0].Tasks) != 2 {
		t.Fatalf("fail: %v %s %+v", err, j.State, acts)
	}
	_, _ = j.TaskUpdate(now, "a", 0, TaskCanceled, nil)
	acts, _ = j.TaskUpdate(now, "b", 0, TaskCanceled, nil)
	if j.State != Restarting || acts[0].Kind != ScheduleRestart {
		t.Fatalf("after the cancels: %s %+v", j.State, acts)
	}
}
