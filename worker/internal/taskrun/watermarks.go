package taskrun

import (
	"fmt"
	"math"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/worker/internal/task"
)

// WatermarkIdle is the value of a watermark event that marks its channel
// idle: it stops holding back the watermark downstream until it sends a
// batch or a watermark again. (No real watermark is math.MinInt64: that is
// task.NoWatermark, "none yet", which is never sent.)
const WatermarkIdle = math.MinInt64

// valve combines the watermarks of a task's input channels, as Flink's
// StatusWatermarkValve: the task's watermark is the minimum over the
// channels that are not idle, and it only moves forward. An ended channel
// keeps its last watermark: one that ended normally sent the maximum
// first; one stopped by a stop-with-savepoint must not let the others
// fire windows after the savepoint.
type valve struct {
	wm      []int64
	idle    []bool
	current int64
	// allIdle is set while every live channel is idle (the task then
	// tells its consumers it is idle too).
	allIdle bool
}

func newValve(channels int) *valve {
	v := &valve{wm: make([]int64, channels), idle: make([]bool, channels), current: task.NoWatermark}
	for i := range v.wm {
		v.wm[i] = task.NoWatermark
	}
	return v
}

// watermark takes channel ch's watermark event; it returns the new combined
// watermark when it advanced.
func (v *valve) watermark(ch int, wm int64) (int64, bool) {
	if wm == WatermarkIdle {
		v.idle[ch] = true
		return v.combine()
	}
	v.idle[ch] = false
	v.wm[ch] = max(v.wm[ch], wm)
	return v.combine()
}

// active marks channel ch active (it delivered a batch).
func (v *valve) active(ch int) {
	if v.idle[ch] {
		v.idle[ch] = false
		v.allIdle = false
	}
}

// end marks channel ch ended (its watermark stays what it was; an idle
// mark no longer applies).
func (v *valve) end(ch int) (int64, bool) {
	v.idle[ch] = false
	return v.combine()
}

func (v *valve) combine() (int64, bool) {
	lowest, live := int64(math.MaxInt64), false
	for i, w := range v.wm {
		if v.idle[i] {
			continue
		}
		live = true
		lowest = min(lowest, w)
	}
	if !live {
		// Every channel idle: hold the watermark.
		v.allIdle = true
		return v.current, false
	}
	v.allIdle = false
	if lowest > v.current {
		v.current = lowest
		return lowest, true
	}
	return v.current, false
}

// generator makes a source subtask's watermarks with the bounded
// out-of-orderness strategy: max timestamp seen - maxOutOfOrderness - 1.
type generator struct {
	lag     int64
	maxTs   int64
	emitted int64
	ts      []int64
	read    func([]int64, arrow.Record) ([]int64, error)
}

func newGenerator(et *abi.EventTime, schema *arrow.Schema) (*generator, error) {
	tc, err := task.NewTimeColumn(schema, et.Column)
	if err != nil {
		return nil, fmt.Errorf("eventTime: %w", err)
	}
	return &generator{lag: et.MaxOutOfOrderness, maxTs: task.NoWatermark, emitted: task.NoWatermark, read: tc.Millis}, nil
}

// observe takes a batch's timestamps; it returns a watermark to emit when
// it advanced.
func (g *generator) observe(rec arrow.Record) (int64, bool, error) {
	var err error
	if g.ts, err = g.read(g.ts[:0], rec); err != nil {
		return 0, false, err
	}
	for _, t := range g.ts {
		g.maxTs = max(g.maxTs, t)
	}
	if g.maxTs == task.NoWatermark {
		return 0, false, nil
	}
	wm := g.maxTs - g.lag - 1
	if wm > g.emitted {
		g.emitted = wm
		return wm, true, nil
	}
	return 0, false, nil
}

// restore starts from a checkpointed watermark.
func (g *generator) restore(wm int64) {
	if wm > g.emitted {
		g.emitted = wm
		g.maxTs = max(g.maxTs, wm+g.lag+1)
	}
}
