package abi

import (
	"errors"
	"fmt"
	"strings"
)

// EventTime gives a source node's rows event time and makes the source
// emit watermarks (SPEC §7.1): the bounded-out-of-orderness strategy
// over the timestamps of Column, per source subtask.
type EventTime struct {
	// Column holds each row's event time: timestamp (any unit) or int64
	// milliseconds since the epoch.
	Column string `json:"column"`
	// MaxOutOfOrderness (ms) is how far behind the highest timestamp seen a
	// row may still come: the watermark is max - MaxOutOfOrderness - 1.
	MaxOutOfOrderness int64 `json:"maxOutOfOrderness,omitempty"`
	// IdleTimeout (ms), when > 0, marks the source subtask idle after that
	// long without rows, so it stops holding back the watermark downstream.
	IdleTimeout int64 `json:"idleTimeout,omitempty"`
}

// Window assigns rows to windows (SPEC §7.2). Durations are milliseconds.
type Window struct {
	// Type is "tumbling", "sliding" or "session".
	Type string `json:"type"`
	// Time is "event" (default) or "processing".
	Time string `json:"time,omitempty"`
	// Column is the event-time column (event time only): timestamp or int64 ms.
	Column string `json:"column,omitempty"`
	// Size of tumbling and sliding windows; Slide of sliding windows; Gap of
	// session windows; Offset shifts tumbling and sliding windows.
	Size   int64 `json:"size,omitempty"`
	Slide  int64 `json:"slide,omitempty"`
	Gap    int64 `json:"gap,omitempty"`
	Offset int64 `json:"offset,omitempty"`
	// AllowedLateness keeps a window's state that long after it fired; a
	// late row inside it fires the window again (event time only).
	AllowedLateness int64 `json:"allowedLateness,omitempty"`
}

// Window types and time characteristics.
const (
	WindowTumbling = "tumbling"
	WindowSliding  = "sliding"
	WindowSession  = "session"
	TimeEvent      = "event"
	TimeProcessing = "processing"
)

// Aggregate is a native built-in aggregate of a window node.
type Aggregate struct {
	// Fn is count, sum, min, max or avg.
	Fn string `json:"fn"`
	// Column is the input column (not for count).
	Column string `json:"column,omitempty"`
	// As names the result column.
	As string `json:"as"`
}

// AggregateFns are the native aggregates.
var AggregateFns = []string{"count", "sum", "min", "max", "avg"}

// Join joins the two inputs of a join node on equal keys (SPEC §7.3).
type Join struct {
	// Type is "regular" (every pair ever seen; state grows with the
	// inputs), "window" (pairs in the same window of Window over each
	// input's Time column) or "interval" (pairs with Lower <= right time -
	// left time <= Upper).
	Type string `json:"type"`
	// Keys are the key columns of the left and the right input, as many on
	// each side; the inputs are hash-partitioned by them.
	Keys [2][]string `json:"keys"`
	// Time names each input's event-time column (window and interval joins).
	Time [2]string `json:"time,omitempty"`
	// Window is the tumbling or sliding window of a window join (event time).
	Window *Window `json:"window,omitempty"`
	// Lower and Upper bound an interval join, in ms.
	Lower int64 `json:"lower,omitempty"`
	Upper int64 `json:"upper,omitempty"`
}

// Join types.
const (
	JoinRegular  = "regular"
	JoinWindow   = "window"
	JoinInterval = "interval"
)

// SideLate is the side output of a window node's late rows: a node takes
// it as input "<window id>:late".
const SideLate = "late"

// SplitInput splits an input reference into the node id and the side
// output it names ("" for the main output).
func SplitInput(in string) (node, side string) {
	node, side, _ = strings.Cut(in, ":")
	return node, side
}

// InputKeyBy returns the key columns partitioning input i of the node: a
// join's key of that side, else KeyBy.
func (n Node) InputKeyBy(i int) []string {
	if n.Kind == "join" && n.Join != nil && i < 2 {
		return n.Join.Keys[i]
	}
	return n.KeyBy
}

// UsesWasm reports whether the node calls guest code: Wasm operator kinds,
// and windows with a guest aggregate function.
func (n Node) UsesWasm() bool { return n.IsWasm() || n.Kind == "window" && n.Function != "" }

func (e *EventTime) validate() error {
	if e.Column == "" {
		return errors.New("eventTime needs a column")
	}
	if e.MaxOutOfOrderness < 0 || e.IdleTimeout < 0 {
		return errors.New("eventTime durations must not be negative")
	}
	return nil
}

func (w *Window) validate(joined bool) error {
	if w.Time == "" {
		w.Time = TimeEvent
	}
	switch w.Time {
	case TimeEvent:
		if w.Column == "" && !joined {
			return errors.New("an event-time window needs a column")
		}
	case TimeProcessing:
		if w.Column != "" || w.AllowedLateness != 0 {
			return errors.New("a processing-time window takes no column or allowedLateness")
		}
	default:
		return fmt.Errorf("window time %q (want event or processing)", w.Time)
	}
	if w.AllowedLateness < 0 || w.Offset < 0 {
		return errors.New("window allowedLateness and offset must not be negative")
	}
	switch w.Type {
	case WindowTumbling:
		if w.Size <= 0 || w.Slide != 0 || w.Gap != 0 {
			return errors.New("a tumbling window needs size > 0 and no slide or gap")
		}
		w.Slide = w.Size
	case WindowSliding:
		if w.Size <= 0 || w.Slide <= 0 || w.Gap != 0 {
			return errors.New("a sliding window needs size > 0 and slide > 0, and no gap")
		}
		if w.Size/w.Slide > 1000 {
			return fmt.Errorf("a sliding window of size %d and slide %d puts each row in more than 1000 windows", w.Size, w.Slide)
		}
	case WindowSession:
		if w.Gap <= 0 || w.Size != 0 || w.Slide != 0 || w.Offset != 0 {
			return errors.New("a session window needs gap > 0 and no size, slide or offset")
		}
		if joined {
			return errors.New("a window join takes tumbling or sliding windows")
		}
	default:
		return fmt.Errorf("window type %q (want tumbling, sliding or session)", w.Type)
	}
	if w.Offset >= w.Slide && w.Type != WindowSession {
		return errors.New("window offset must be smaller than the slide")
	}
	return nil
}

// validateWindow checks a window node: a window, and either native
// aggregates or a guest aggregate function.
func (n *Node) validateWindow() error {
	if n.Window == nil {
		return errors.New("a window node needs a window")
	}
	if err := n.Window.validate(false); err != nil {
		return err
	}
	if (n.Function == "") == (len(n.Aggregates) == 0) {
		return errors.New("a window node needs either aggregates or a function (a guest aggregate)")
	}
	seen := map[string]bool{"window_start": true, "window_end": true}
	for _, k := range n.KeyBy {
		seen[k] = true
	}
	for i, a := range n.Aggregates {
		known := false
		for _, f := range AggregateFns {
			known = known || a.Fn == f
		}
		switch {
		case !known:
			return fmt.Errorf("aggregate %d: unknown fn %q (want %s)", i, a.Fn, strings.Join(AggregateFns, ", "))
		case a.Fn != "count" && a.Column == "":
			return fmt.Errorf("aggregate %d: %s needs a column", i, a.Fn)
		case a.As == "":
			return fmt.Errorf("aggregate %d: needs a result name (as)", i)
		case seen[a.As]:
			return fmt.Errorf("aggregate %d: result name %q is used twice (key columns and window_start/window_end count)", i, a.As)
		}
		seen[a.As] = true
	}
	if len(n.KeyBy) == 0 && n.Parallelism != 1 {
		return fmt.Errorf("a window without keyBy runs at parallelism 1 (has %d), as Flink's windowAll", n.Parallelism)
	}
	if err := n.decodeParams(); err != nil {
		return err
	}
	return nil
}

func (n *Node) validateJoin() error {
	j := n.Join
	if j == nil {
		return errors.New("a join node needs a join")
	}
	if len(n.Inputs) != 2 {
		return fmt.Errorf("a join takes two inputs, has %d", len(n.Inputs))
	}
	if n.Inputs[0] == n.Inputs[1] {
		return errors.New("a join takes two different inputs")
	}
	if len(n.KeyBy) > 0 || n.Partition != "" && n.Partition != "hash" {
		return errors.New("a join is keyed by join.keys; it takes no keyBy or partition")
	}
	if len(j.Keys[0]) == 0 || len(j.Keys[0]) != len(j.Keys[1]) {
		return errors.New("join keys need one or more columns, as many on each side")
	}
	switch j.Type {
	case JoinRegular:
		if j.Window != nil || j.Time != [2]string{} || j.Lower != 0 || j.Upper != 0 {
			return errors.New("a regular join takes no window, time or bounds")
		}
	case JoinWindow:
		if j.Window == nil || j.Time[0] == "" || j.Time[1] == "" {
			return errors.New("a window join needs a window and a time column for each input")
		}
		if err := j.Window.validate(true); err != nil {
			return err
		}
		if j.Window.Time != TimeEvent || j.Window.Column != "" {
			return errors.New("a window join is in event time over join.time; its window takes no time or column")
		}
	case JoinInterval:
		if j.Window != nil || j.Time[0] == "" || j.Time[1] == "" {
			return errors.New("an interval join needs a time column for each input and no window")
		}
		if j.Lower > j.Upper {
			return fmt.Errorf("interval join lower bound %d exceeds upper bound %d", j.Lower, j.Upper)
		}
	default:
		return fmt.Errorf("join type %q (want regular, window or interval)", j.Type)
	}
	n.Partition = "hash"
	return nil
}
