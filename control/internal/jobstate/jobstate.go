// Package jobstate is the state machine of one job in its JobMaster, with
// Flink's job states: events (tasks reporting, a cancel request, a restart
// timer) go in, the new state and the actions to take come out. It does no
// I/O and reads no clock.
package jobstate

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/weirflow/weir/control/internal/restart"
)

// State is a job state.
type State string

// Job states.
const (
	Created    State = "CREATED"
	Running    State = "RUNNING"
	Finished   State = "FINISHED"
	Canceling  State = "CANCELING"
	Canceled   State = "CANCELED"
	Failing    State = "FAILING"
	Failed     State = "FAILED"
	Restarting State = "RESTARTING"
)

// Terminal reports whether the job has ended for good.
func (s State) Terminal() bool { return s == Finished || s == Canceled || s == Failed }

// TaskState is the state of one subtask's current attempt.
type TaskState string

// Task states.
const (
	TaskCreated   TaskState = "CREATED"
	TaskDeploying TaskState = "DEPLOYING"
	TaskRunning   TaskState = "RUNNING"
	TaskFinished  TaskState = "FINISHED"
	TaskCanceling TaskState = "CANCELING"
	TaskCanceled  TaskState = "CANCELED"
	TaskFailed    TaskState = "FAILED"
)

func (s TaskState) terminal() bool { return s == TaskFinished || s == TaskCanceled || s == TaskFailed }

// ErrEvent is returned for an event that makes no sense in the job's state.
var ErrEvent = errors.New("jobstate: event not allowed")

// ActionKind is what the JobMaster must do.
type ActionKind string

// Actions.
const (
	Deploy          ActionKind = "deploy"           // deploy Tasks as attempt Attempt
	Cancel          ActionKind = "cancel"           // cancel Tasks
	ScheduleRestart ActionKind = "schedule-restart" // call Restart after Delay
	ReleaseSlots    ActionKind = "release-slots"    // the job holds no task any more
)

// Action is one thing to do.
type Action struct {
	Kind    ActionKind
	Tasks   []string
	Attempt int
	Delay   time.Duration
}

// Transition is one entry of the job's history.
type Transition struct {
	At       time.Time
	From, To State
	Reason   string
}

// Job is a job's state, its tasks' states and its history.
type Job struct {
	State   State
	Attempt int
	Failure error // the root cause of the last failure
	History []Transition

	tasks    map[string]TaskState
	order    []string
	strategy restart.Strategy
}

// New returns a job in CREATED with the given subtasks.
func New(tasks []string, strategy restart.Strategy) *Job {
	j := &Job{State: Created, tasks: map[string]TaskState{}, strategy: strategy}
	for _, t := range tasks {
		if _, dup := j.tasks[t]; !dup {
			j.order = append(j.order, t)
		}
		j.tasks[t] = TaskCreated
	}
	return j
}

// Task returns a task's state.
func (j *Job) Task(id string) TaskState { return j.tasks[id] }

func (j *Job) to(s State, now time.Time, reason string) {
	j.History = append(j.History, Transition{At: now, From: j.State, To: s, Reason: reason})
	j.State = s
}

func (j *Job) where(pred func(TaskState) bool) []string {
	var out []string
	for _, t := range j.order {
		if pred(j.tasks[t]) {
			out = append(out, t)
		}
	}
	return out
}

func (j *Job) live() []string { return j.where(func(s TaskState) bool { return !s.terminal() }) }

// Start schedules the job: CREATED -> RUNNING, deploy every task.
func (j *Job) Start(now time.Time) ([]Action, error) {
	if j.State != Created {
		return nil, fmt.Errorf("%w: start in %s", ErrEvent, j.State)
	}
	j.to(Running, now, "scheduled")
	return j.deployAll(), nil
}

func (j *Job) deployAll() []Action {
	for _, t := range j.order {
		j.tasks[t] = TaskDeploying
	}
	return []Action{{Kind: Deploy, Tasks: slices.Clone(j.order), Attempt: j.Attempt}}
}

// TaskUpdate applies a task's report. Reports of another attempt are stale
// and ignored; err is the failure cause of a FAILED report.
func (j *Job) TaskUpdate(now time.Time, task string, attempt int, s TaskState, cause error) ([]Action, error) {
	old, ok := j.tasks[task]
	if !ok {
		return nil, fmt.Errorf("%w: unknown task %q", ErrEvent, task)
	}
	if attempt != j.Attempt || old.terminal() || j.State.Terminal() {
		return nil, nil
	}
	j.tasks[task] = s
	switch {
	case s == TaskFailed && (j.State == Running || j.State == Created):
		j.Failure = fmt.Errorf("task %s failed: %w", task, cause)
		j.to(Failing, now, j.Failure.Error())
		return j.cancelOthers(now), nil
	case s == TaskFailed && j.State == Canceling:
		// canceled anyway
	}
	return j.settle(now), nil
}

// cancelOthers asks to cancel every live task, or settles when none is left.
func (j *Job) cancelOthers(now time.Time) []Action {
	live := j.live()
	if len(live) == 0 {
		return j.settle(now)
	}
	for _, t := range live {
		j.tasks[t] = TaskCanceling
	}
	return []Action{{Kind: Cancel, Tasks: live, Attempt: j.Attempt}}
}

// settle moves the job on once every task of the attempt has ended.
func (j *Job) settle(now time.Time) []Action {
	if len(j.live()) > 0 {
		return nil
	}
	switch j.State {
	case Running:
		if len(j.where(func(s TaskState) bool { return s != TaskFinished })) == 0 {
			j.to(Finished, now, "every task finished")
			return []Action{{Kind: ReleaseSlots}}
		}
	case Canceling:
		j.to(Canceled, now, "every task canceled")
		return []Action{{Kind: ReleaseSlots}}
	case Failing:
		delay, ok := j.strategy.OnFailure(now)
		if !ok {
			j.to(Failed, now, fmt.Sprintf("%s gives up", j.strategy))
			return []Action{{Kind: ReleaseSlots}}
		}
		j.to(Restarting, now, fmt.Sprintf("restart in %s", delay))
		return []Action{{Kind: ScheduleRestart, Delay: delay}}
	}
	return nil
}

// Restart runs when a scheduled restart is due: RESTARTING -> RUNNING with a
// new attempt of every task.
func (j *Job) Restart(now time.Time) ([]Action, error) {
	if j.State != Restarting {
		return nil, fmt.Errorf("%w: restart in %s", ErrEvent, j.State)
	}
	j.Attempt++
	for _, t := range j.order {
		j.tasks[t] = TaskCreated
	}
	j.to(Running, now, fmt.Sprintf("attempt %d", j.Attempt))
	return j.deployAll(), nil
}

// Fail fails the running job for a reason outside its tasks (too many failed
// checkpoints): RUNNING -> FAILING, cancel every live task; the restart
// strategy decides what follows.
func (j *Job) Fail(now time.Time, cause error) ([]Action, error) {
	if j.State != Running {
		return nil, fmt.Errorf("%w: fail in %s", ErrEvent, j.State)
	}
	j.Failure = cause
	j.to(Failing, now, cause.Error())
	return j.cancelOthers(now), nil
}

// Cancel is a user's cancel request.
func (j *Job) Cancel(now time.Time) ([]Action, error) {
	switch j.State {
	case Created, Restarting:
		j.to(Canceled, now, "canceled by the user")
		return []Action{{Kind: ReleaseSlots}}, nil
	case Running, Failing:
		j.to(Canceling, now, "canceled by the user")
		acts := j.cancelOthers(now)
		return acts, nil
	}
	return nil, fmt.Errorf("%w: cancel in %s", ErrEvent, j.State)
}
