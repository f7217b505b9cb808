package weir

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// This file is the plan builder's part for event time, windows and joins
// (SPEC §7): the eventTime of sources, window nodes with native or guest
// aggregates, the late side output of windows, and join nodes. Durations
// are written to the plan in whole milliseconds.

type eventTimeJSON struct {
	Column            string `json:"column"`
	MaxOutOfOrderness int64  `json:"maxOutOfOrderness,omitempty"`
	IdleTimeout       int64  `json:"idleTimeout,omitempty"`
}

type windowJSON struct {
	Type            string `json:"type"`
	Time            string `json:"time,omitempty"`
	Column          string `json:"column,omitempty"`
	Size            int64  `json:"size,omitempty"`
	Slide           int64  `json:"slide,omitempty"`
	Gap             int64  `json:"gap,omitempty"`
	Offset          int64  `json:"offset,omitempty"`
	AllowedLateness int64  `json:"allowedLateness,omitempty"`
}

type aggregateJSON struct {
	Fn     string `json:"fn"`
	Column string `json:"column,omitempty"`
	As     string `json:"as"`
}

type joinJSON struct {
	Type   string      `json:"type"`
	Keys   [2][]string `json:"keys"`
	Time   []string    `json:"time,omitempty"`
	Window *windowJSON `json:"window,omitempty"`
	Lower  int64       `json:"lower,omitempty"`
	Upper  int64       `json:"upper,omitempty"`
}

// millis converts d to whole milliseconds; what names it in the error.
func millis(what string, d time.Duration) (int64, error) {
	if d%time.Millisecond != 0 {
		return 0, fmt.Errorf("%s %v is not a whole number of milliseconds", what, d)
	}
	return d.Milliseconds(), nil
}

// EventTimeOption configures [Stream.EventTime].
type EventTimeOption func(*eventTimeOptions)

type eventTimeOptions struct{ idle time.Duration }

// IdleTimeout marks a source subtask idle after d without rows, so that it
// stops holding back the watermark downstream (a source subtask with no
// data, or a slow partition).
func IdleTimeout(d time.Duration) EventTimeOption {
	return func(o *eventTimeOptions) { o.idle = d }
}

// EventTime gives the rows of the source that produced s event time: the
// timestamps of column (a timestamp column, or int64 milliseconds since the
// epoch), and makes the source emit watermarks with the bounded
// out-of-orderness strategy: each source subtask's watermark is the highest
// timestamp it has seen minus maxOutOfOrderness minus 1 ms. Event-time
// windows and window and interval joins downstream fire on these
// watermarks; keyed process functions get event-time timers from them.
//
//	bids := p.Source("nexmark", weir.Params{"kinds": "bid"}).
//		EventTime("dateTime", 4*time.Second, weir.IdleTimeout(time.Minute))
func (s *Stream) EventTime(column string, maxOutOfOrderness time.Duration, opts ...EventTimeOption) *Stream {
	n := s.producer("EventTime")
	if n == nil {
		return s
	}
	if n.kind != "source" {
		s.plan.errorf("EventTime on a %s node: only sources take event time", n.kind)
		return s
	}
	var o eventTimeOptions
	for _, opt := range opts {
		opt(&o)
	}
	et := &eventTimeJSON{Column: column}
	var err error
	if column == "" {
		s.plan.errorf("EventTime with no column")
	}
	if maxOutOfOrderness < 0 || o.idle < 0 {
		s.plan.errorf("EventTime durations must not be negative (max out-of-orderness %v, idle timeout %v)", maxOutOfOrderness, o.idle)
	}
	if et.MaxOutOfOrderness, err = millis("EventTime max out-of-orderness", maxOutOfOrderness); err != nil {
		s.plan.errs = append(s.plan.errs, err)
	}
	if et.IdleTimeout, err = millis("EventTime idle timeout", o.idle); err != nil {
		s.plan.errs = append(s.plan.errs, err)
	}
	n.eventTime = et
	return s
}

// WindowSpec is how rows are assigned to windows: [Tumbling], [Sliding] or
// [Session].
type WindowSpec struct {
	typ              string
	size, slide, gap time.Duration
}

// Tumbling windows of the given size: fixed, back to back, not overlapping
// ([epoch + offset + k·size, ... + size)).
func Tumbling(size time.Duration) WindowSpec { return WindowSpec{typ: "tumbling", size: size} }

// Sliding (hopping) windows of the given size, one starting every slide:
// each row falls into size/slide windows.
func Sliding(size, slide time.Duration) WindowSpec {
	return WindowSpec{typ: "sliding", size: size, slide: slide}
}

// Session windows per key: a window closes after gap without rows.
func Session(gap time.Duration) WindowSpec { return WindowSpec{typ: "session", gap: gap} }

// String describes the window, for example "sliding 10s/2s".
func (w WindowSpec) String() string {
	switch w.typ {
	case "tumbling":
		return "tumbling " + w.size.String()
	case "sliding":
		return "sliding " + w.size.String() + "/" + w.slide.String()
	case "session":
		return "session gap " + w.gap.String()
	}
	return "no window"
}

// WindowOption configures a window: [TimeColumn], [ProcessingTime],
// [Offset], [AllowedLateness].
type WindowOption func(*windowOptions)

type windowOptions struct {
	column     string
	processing bool
	offset     time.Duration
	lateness   time.Duration
}

// TimeColumn names the event-time column the window assigns rows by (a
// timestamp column or int64 milliseconds). Event-time windows need one;
// window joins take their time columns from [JoinBuilder.Time] instead.
func TimeColumn(column string) WindowOption {
	return func(o *windowOptions) { o.column = column }
}

// ProcessingTime makes the window assign rows by the wall clock of the
// operator when they arrive, instead of by event time.
func ProcessingTime() WindowOption {
	return func(o *windowOptions) { o.processing = true }
}

// Offset shifts tumbling and sliding windows by d (less than the slide),
// for example to align daily windows to a time zone.
func Offset(d time.Duration) WindowOption {
	return func(o *windowOptions) { o.offset = d }
}

// AllowedLateness keeps an event-time window's state for d after it fired:
// a late row inside it fires the window again with the updated result.
// Rows later than that go to the window's late side output ([Stream.Late]).
func AllowedLateness(d time.Duration) WindowOption {
	return func(o *windowOptions) { o.lateness = d }
}

// json checks the spec and options and returns the plan's window. The
// window of a window join (joined) takes no time column or processing time.
func (w WindowSpec) json(opts []WindowOption, joined bool) (*windowJSON, error) {
	var o windowOptions
	for _, opt := range opts {
		opt(&o)
	}
	wj := &windowJSON{Type: w.typ}
	var err error
	ms := func(what string, d time.Duration, dst *int64) {
		if err == nil {
			*dst, err = millis(what, d)
		}
	}
	ms("window size", w.size, &wj.Size)
	ms("window slide", w.slide, &wj.Slide)
	ms("window gap", w.gap, &wj.Gap)
	ms("window offset", o.offset, &wj.Offset)
	ms("window allowed lateness", o.lateness, &wj.AllowedLateness)
	if err != nil {
		return nil, err
	}
	switch w.typ {
	case "tumbling":
		if wj.Size <= 0 {
			return nil, fmt.Errorf("tumbling window size %v: must be at least 1ms", w.size)
		}
	case "sliding":
		if wj.Size <= 0 || wj.Slide <= 0 {
			return nil, fmt.Errorf("sliding window of size %v and slide %v: both must be at least 1ms", w.size, w.slide)
		}
		if wj.Size/wj.Slide > 1000 {
			return nil, fmt.Errorf("sliding window of size %v and slide %v puts each row in more than 1000 windows", w.size, w.slide)
		}
	case "session":
		if wj.Gap <= 0 {
			return nil, fmt.Errorf("session window gap %v: must be at least 1ms", w.gap)
		}
		if joined {
			return nil, fmt.Errorf("a window join takes tumbling or sliding windows, not %s", w)
		}
		if wj.Offset != 0 {
			return nil, fmt.Errorf("a session window takes no offset")
		}
	default:
		return nil, fmt.Errorf("no window given (use weir.Tumbling, weir.Sliding or weir.Session)")
	}
	slide := wj.Size
	if w.typ == "sliding" {
		slide = wj.Slide
	}
	switch {
	case wj.Offset < 0 || wj.AllowedLateness < 0:
		return nil, fmt.Errorf("window offset %v and allowed lateness %v must not be negative", o.offset, o.lateness)
	case w.typ != "session" && wj.Offset >= slide:
		return nil, fmt.Errorf("window offset %v must be smaller than the slide %v", o.offset, time.Duration(slide)*time.Millisecond)
	case joined && (o.column != "" || o.processing):
		return nil, fmt.Errorf("a window join is in event time over the columns of JoinBuilder.Time; its window takes no TimeColumn or ProcessingTime")
	case o.processing && o.column != "":
		return nil, fmt.Errorf("a processing-time window takes no TimeColumn (%q)", o.column)
	case o.processing && o.lateness != 0:
		return nil, fmt.Errorf("a processing-time window takes no AllowedLateness")
	case !o.processing && !joined && o.column == "":
		return nil, fmt.Errorf("an event-time %s window needs weir.TimeColumn(column) (or weir.ProcessingTime())", w)
	}
	if o.processing {
		wj.Time = "processing"
	}
	wj.Column = o.column
	return wj, nil
}

// Window groups the stream into windows: per key when the stream is keyed
// ([Stream.KeyBy]), else over all rows at parallelism 1 (Flink's
// windowAll). Finish it with [WindowedStream.Aggregate] (native aggregates)
// or [WindowedStream.AggregateFunc] (a registered guest aggregate function).
//
//	bids.KeyBy("auction").
//		Window(weir.Sliding(10*time.Second, 2*time.Second), weir.TimeColumn("dateTime")).
//		Aggregate(weir.Count("num"), weir.Max("price", "top"))
//
// The window node's output (the engine builds it) has the key columns,
// window_start and window_end (timestamp[ms]), then the aggregate results,
// one row per key and window when the window fires.
func (s *Stream) Window(w WindowSpec, opts ...WindowOption) *WindowedStream {
	wj, err := w.json(opts, false)
	if err != nil {
		s.plan.errorf("Window: %w", err)
	}
	return &WindowedStream{s: s, w: wj}
}

// WindowedStream is a stream grouped into windows, waiting for its
// aggregates.
type WindowedStream struct {
	s *Stream
	w *windowJSON
}

// Agg is a native aggregate of a window: [Count], [Sum], [Min], [Max] or
// [Avg].
type Agg struct{ fn, column, as string }

// Count counts the rows of each window and key into an int64 column called
// as.
func Count(as string) Agg { return Agg{fn: "count", as: as} }

// Sum adds column up into a column called as: int64 for integer columns,
// float64 for floating-point ones. Nulls are skipped.
func Sum(column, as string) Agg { return Agg{fn: "sum", column: column, as: as} }

// Min is the smallest value of column, of column's type. Nulls are skipped.
func Min(column, as string) Agg { return Agg{fn: "min", column: column, as: as} }

// Max is the largest value of column, of column's type. Nulls are skipped.
func Max(column, as string) Agg { return Agg{fn: "max", column: column, as: as} }

// Avg is the mean of column as float64. Nulls are skipped.
func Avg(column, as string) Agg { return Agg{fn: "avg", column: column, as: as} }

func (ws *WindowedStream) node() *node {
	s := ws.s
	n := &node{kind: "window", inputs: s.inputs, keyBy: s.keyBy, partition: s.partition, window: ws.w}
	if len(s.keyBy) == 0 {
		n.parallelism = 1
	}
	s.plan.nodes = append(s.plan.nodes, n)
	return n
}

// Aggregate computes native aggregates per key and window. Result names
// must be unique and differ from the key columns, window_start and
// window_end.
func (ws *WindowedStream) Aggregate(aggs ...Agg) *Stream {
	p := ws.s.plan
	if len(aggs) == 0 {
		p.errorf("window Aggregate with no aggregates (use weir.Count, weir.Sum, ...)")
	}
	seen := map[string]bool{"window_start": true, "window_end": true}
	for _, k := range ws.s.keyBy {
		seen[k] = true
	}
	n := ws.node()
	for i, a := range aggs {
		switch {
		case a.as == "":
			p.errorf("window aggregate %d (%s): no result name", i, a.fn)
		case a.fn != "count" && a.column == "":
			p.errorf("window aggregate %s(%q): no column", a.fn, a.as)
		case seen[a.as]:
			p.errorf("window aggregate %s: result name %q is taken (key columns, window_start and window_end count)", a.fn, a.as)
		}
		seen[a.as] = true
		n.aggregates = append(n.aggregates, aggregateJSON{Fn: a.fn, Column: a.column, As: a.as})
	}
	return &Stream{plan: p, node: n, inputs: []ref{{node: n}}}
}

// AggregateFunc aggregates each key's window with the guest aggregate
// function registered as function ([Aggregate]); its result columns follow
// the key columns, window_start and window_end. The params are joined with
// commas as for [Stream.Map].
func (ws *WindowedStream) AggregateFunc(function string, params ...string) *Stream {
	p := ws.s.plan
	if function == "" {
		p.errorf("window AggregateFunc with no function name")
	}
	n := ws.node()
	n.function = function
	n.fparams = strings.Join(params, ",")
	return &Stream{plan: p, node: n, inputs: []ref{{node: n}}}
}

// Late is the side output of the event-time window node that produced s:
// the rows that arrived after their windows were final (later than the
// watermark plus the allowed lateness), with the window's input schema.
//
//	counts := bids.KeyBy("auction").Window(weir.Tumbling(time.Minute), weir.TimeColumn("dateTime")).Aggregate(weir.Count("n"))
//	counts.Late().Sink("file", weir.Params{"path": "late", "format": "jsonl"})
func (s *Stream) Late() *Stream {
	n := s.producer("Late")
	if n == nil {
		return s
	}
	if n.kind != "window" || n.window == nil || n.window.Time == "processing" {
		s.plan.errorf("Late on a %s node: only event-time windows have a late side output", n.kind)
	}
	return &Stream{plan: s.plan, inputs: []ref{{node: n, side: "late"}}}
}

// JoinBuilder describes a join of two streams, started by [Join] and
// finished by [JoinBuilder.Regular], [JoinBuilder.Window] or
// [JoinBuilder.Interval].
type JoinBuilder struct {
	plan        *Plan
	left, right ref
	keys        [2][]string
	time        []string
}

// Join starts a join of left and right on equal keys ([JoinBuilder.Where]
// and [JoinBuilder.EqualTo]); the inputs are partitioned by their keys, so
// they must not be keyed or rebalanced themselves.
//
//	weir.Join(persons, auctions).Where("id").EqualTo("seller").Regular()
//
// The join node's output (the engine builds it) has all the left columns,
// then all the right columns; a right column whose name is already taken
// gets the suffix "_r".
func Join(left, right *Stream) *JoinBuilder {
	p := left.plan
	j := &JoinBuilder{plan: p}
	side := func(name string, s *Stream) ref {
		switch {
		case s.plan != p:
			p.errorf("Join of streams of different plans")
		case len(s.inputs) != 1:
			p.errorf("Join: the %s input is a union of %d streams; join a single stream", name, len(s.inputs))
		case len(s.keyBy) > 0 || s.partition != "":
			p.errorf("Join: the %s input is keyed or rebalanced; the join partitions its inputs by the join keys", name)
		}
		if len(s.inputs) == 0 {
			return ref{}
		}
		return s.inputs[0]
	}
	j.left, j.right = side("left", left), side("right", right)
	if j.left.node != nil && j.left == j.right {
		p.errorf("Join of a stream with itself")
	}
	return j
}

// Where names the key columns of the left input.
func (j *JoinBuilder) Where(leftColumns ...string) *JoinBuilder {
	j.keys[0] = slices.Clone(leftColumns)
	return j
}

// EqualTo names the key columns of the right input, as many as
// [JoinBuilder.Where]'s.
func (j *JoinBuilder) EqualTo(rightColumns ...string) *JoinBuilder {
	j.keys[1] = slices.Clone(rightColumns)
	return j
}

// Time names each input's event-time column, which window and interval
// joins need.
func (j *JoinBuilder) Time(leftColumn, rightColumn string) *JoinBuilder {
	j.time = []string{leftColumn, rightColumn}
	return j
}

func (j *JoinBuilder) node(jj *joinJSON) *Stream {
	p := j.plan
	switch {
	case len(j.keys[0]) == 0 || len(j.keys[1]) == 0:
		p.errorf("%s join: no keys (use Where(left columns...).EqualTo(right columns...))", jj.Type)
	case len(j.keys[0]) != len(j.keys[1]):
		p.errorf("%s join: %d left keys %v and %d right keys %v", jj.Type, len(j.keys[0]), j.keys[0], len(j.keys[1]), j.keys[1])
	case slices.Contains(j.keys[0], "") || slices.Contains(j.keys[1], ""):
		p.errorf("%s join: an empty key column name", jj.Type)
	}
	if jj.Type != "regular" && (len(j.time) != 2 || j.time[0] == "" || j.time[1] == "") {
		p.errorf("%s join: needs the time column of each input (JoinBuilder.Time)", jj.Type)
	}
	jj.Keys = j.keys
	if jj.Type == "regular" {
		if j.time != nil {
			p.errorf("regular join: takes no time columns")
		}
	} else {
		jj.Time = j.time
	}
	n := &node{kind: "join", join: jj}
	if j.left.node != nil && j.right.node != nil {
		n.inputs = []ref{j.left, j.right}
	}
	p.nodes = append(p.nodes, n)
	return &Stream{plan: p, node: n, inputs: []ref{{node: n}}}
}

// Regular joins every pair of rows with equal keys ever seen on the two
// inputs (its state grows with the inputs: use it on bounded or small
// streams).
func (j *JoinBuilder) Regular() *Stream { return j.node(&joinJSON{Type: "regular"}) }

// Window joins the pairs with equal keys that fall into the same tumbling
// or sliding window of their time columns ([JoinBuilder.Time]); each
// window's pairs are emitted when the watermark passes its end. Only
// [Offset] and [AllowedLateness] apply as options.
func (j *JoinBuilder) Window(w WindowSpec, opts ...WindowOption) *Stream {
	wj, err := w.json(opts, true)
	if err != nil {
		j.plan.errorf("window join: %w", err)
	}
	return j.node(&joinJSON{Type: "window", Window: wj})
}

// Interval joins the pairs with equal keys whose times ([JoinBuilder.Time])
// satisfy lower <= right time - left time <= upper.
func (j *JoinBuilder) Interval(lower, upper time.Duration) *Stream {
	jj := &joinJSON{Type: "interval"}
	var err error
	if jj.Lower, err = millis("interval join lower bound", lower); err != nil {
		j.plan.errs = append(j.plan.errs, err)
	}
	if jj.Upper, err = millis("interval join upper bound", upper); err != nil {
		j.plan.errs = append(j.plan.errs, err)
	}
	if lower > upper {
		j.plan.errorf("interval join: lower bound %v exceeds upper bound %v", lower, upper)
	}
	return j.node(jj)
}
