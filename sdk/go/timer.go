package weir

import "fmt"

// Keyed timers of process functions (SPEC §9.3.1). A process function whose
// state schema has a nullable timestamp[ms] (or int64 ms) column called
// TimerColumn has an event-time timer per key: the column's value. When the operator's
// watermark reaches it (timer <= watermark), the host calls the function
// with an input batch of zero rows and, as state, the rows of exactly the
// keys whose timers fired (keys is empty). The function emits output rows
// and updates their state: it sets the timer to a later time, deletes it,
// or clears the key; a timer left at or before the time that fired it does
// not fire again. ProcTimerColumn does the same in processing time (the
// operator's wall clock, in ms since the epoch).
//
// In the SDK a timer of 0 means "no timer": a null timer reads as 0 and 0
// is sent to the host as null, so a timer at the epoch itself cannot be set.
const (
	TimerColumn     = "_timer"
	ProcTimerColumn = "_proctimer"
)

// TimerFunc handles a timer call of a process function: state holds one row
// per key whose timer fired, out is the output as for [ProcessFunc].
type TimerFunc func(state *Table, out *Builder) error

// IsTimerCall reports whether a call of a process function is a timer call
// (no input rows, some keys) rather than a call with a batch of rows.
func IsTimerCall(in *Batch, state *Table) bool { return in.Len() == 0 && state.Len() > 0 }

// WithTimers returns a process function that calls onRows for batches of
// rows and onTimer for timer calls:
//
//	weir.Process("expire", func(op *weir.Operator) (weir.ProcessFunc, error) {
//		op.State = weir.Schema{{Name: "n", Type: weir.Int64}, {Name: weir.TimerColumn, Type: weir.TimestampMs}}
//		...
//		return weir.WithTimers(onRows, onTimer), nil
//	})
func WithTimers(onRows ProcessFunc, onTimer TimerFunc) ProcessFunc {
	return func(in *Batch, keys []int32, state *Table, out *Builder) error {
		if IsTimerCall(in, state) {
			return onTimer(state, out)
		}
		return onRows(in, keys, state, out)
	}
}

// validateTimers checks the timer columns of a process state schema.
func validateTimers(s Schema) error {
	for _, f := range s {
		if f.Name != TimerColumn && f.Name != ProcTimerColumn {
			continue
		}
		if f.Type != Int64 && (!f.Type.IsTimestamp() || f.Type.Unit() != Millisecond) {
			return fmt.Errorf("timer column %q is %s, want timestamp[ms] or int64 (ms)", f.Name, f.Type)
		}
		if f.NotNull {
			return fmt.Errorf("timer column %q must be nullable (null: no timer)", f.Name)
		}
	}
	return nil
}

// isTimer reports whether a state column of type id called name holds a
// timer.
func isTimer(name string, id typeID) bool {
	return (name == TimerColumn || name == ProcTimerColumn) && (id == tTimestamp || id == tInt64)
}

func (t *Table) timerValues(name, what string) []int64 {
	j := t.schema.Index(name)
	switch {
	case j < 0 || !isTimer(name, t.cols[j].id):
		panic(fmt.Sprintf("weir: %s: the state has no timer column %q (timestamp[ms] or int64)", what, name))
	case t.cols[j].id == tInt64:
		return t.Int64(j)
	}
	return t.Timestamp(j)
}

// Timer returns key row k's event-time timer (ms) and whether it is set.
// It panics if the state has no [TimerColumn].
func (t *Table) Timer(k int) (ms int64, ok bool) {
	v := t.timerValues(TimerColumn, "Timer")[k]
	return v, v != 0
}

// SetTimer sets key row k's event-time timer to ms (0 deletes it). It
// panics if the state has no [TimerColumn].
func (t *Table) SetTimer(k int, ms int64) { t.timerValues(TimerColumn, "SetTimer")[k] = ms }

// DeleteTimer deletes key row k's event-time timer.
func (t *Table) DeleteTimer(k int) { t.SetTimer(k, 0) }

// ProcTimer returns key row k's processing-time timer (ms) and whether it
// is set. It panics if the state has no [ProcTimerColumn].
func (t *Table) ProcTimer(k int) (ms int64, ok bool) {
	v := t.timerValues(ProcTimerColumn, "ProcTimer")[k]
	return v, v != 0
}

// SetProcTimer sets key row k's processing-time timer to ms (0 deletes it).
// It panics if the state has no [ProcTimerColumn].
func (t *Table) SetProcTimer(k int, ms int64) {
	t.timerValues(ProcTimerColumn, "SetProcTimer")[k] = ms
}

// DeleteProcTimer deletes key row k's processing-time timer.
func (t *Table) DeleteProcTimer(k int) { t.SetProcTimer(k, 0) }
