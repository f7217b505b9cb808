//go:build !wasip1

package weir

import (
	"strings"
	"testing"
)

var (
	fTS    = Field{Name: "ts", Type: TimestampMs}
	fN     = Field{Name: "n", Type: Int64}
	fTimer = Field{Name: TimerColumn, Type: TimestampMs}
)

func init() {
	// t_timer counts rows per key and sets the key's timer 10 ms after its
	// latest row; when the timer fires it emits the key's count and clears
	// the key if the count is odd, else deletes only the timer.
	Process("t_timer", func(op *Operator) (ProcessFunc, error) {
		ts, err := op.Input.Lookup("ts", TimestampMs)
		if err != nil {
			return nil, err
		}
		op.State = Schema{fN, fTimer}
		op.Output = Schema{{Name: "n", Type: Int64}, {Name: "fired_at", Type: TimestampMs}}
		onRows := func(in *Batch, keys []int32, state *Table, out *Builder) error {
			n := state.Int64(0)
			for i, k := range keys {
				n[k]++
				t, _ := state.Timer(int(k))
				state.SetTimer(int(k), max(t, in.Timestamp(ts).Value(i)+10))
			}
			return nil
		}
		onTimer := func(state *Table, out *Builder) error {
			for k := range state.Len() {
				t, ok := state.Timer(k)
				if !ok {
					return errorString("timer call for a key without a timer")
				}
				out.Int64(0).Append(state.Int64(0)[k])
				out.Timestamp(1).Append(t)
				if state.Int64(0)[k]%2 == 1 {
					state.Clear(k)
				} else {
					state.DeleteTimer(k)
				}
			}
			return nil
		}
		return WithTimers(onRows, onTimer), nil
	})
	// t_proctimer_i64 sets an int64 processing-time timer to the row's ts,
	// or deletes it for a ts of 0.
	Process("t_proctimer_i64", func(op *Operator) (ProcessFunc, error) {
		op.State = Schema{{Name: ProcTimerColumn, Type: Int64}}
		op.Output = Schema{fN}
		return func(in *Batch, keys []int32, state *Table, out *Builder) error {
			for i, k := range keys {
				state.SetProcTimer(int(k), in.Timestamp(1).Value(i))
			}
			return nil
		}, nil
	})
	for name, f := range map[string]Field{
		"t_timer_notnull": {Name: TimerColumn, Type: TimestampMs, NotNull: true},
		"t_timer_int32":   {Name: ProcTimerColumn, Type: Int32},
		"t_timer_seconds": {Name: TimerColumn, Type: TimestampS},
	} {
		Process(name, func(op *Operator) (ProcessFunc, error) {
			op.State = Schema{fN, f}
			op.Output = Schema{fN}
			return func(*Batch, []int32, *Table, *Builder) error { return nil }, nil
		})
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// timerValues reads the timer column j of the state array at a: the
// values, nil where null.
func timerValues(t *testing.T, s Schema, a uint32, j int) []any {
	t.Helper()
	b := newBatch(s)
	if err := b.load(a); err != nil {
		t.Fatal(err)
	}
	return columnValues(&b, j)
}

func TestProcessTimers(t *testing.T) {
	o := mustOpen(t, KindProcess, "t_timer", "", Schema{fKey, fTS})
	if o.state.String() != "n:int64,_timer:timestamp[ms]" {
		t.Fatalf("state schema %v", o.state)
	}
	// A data call: keys 0 and 1 get timers; key 2 has a timer and no row.
	in := buildBatch(t, []col{{fKey, []any{7, 8, 7}}, {fTS, []any{100, 105, 120}}}, 0, -1)
	state := stateBatch(t, []col{{fN, []any{nil, 4, 1}}, {fTimer, []any{nil, nil, 90}}}, []bool{false, true, true})
	if st, msg := call(func() int32 { return abiProcess(o.h, in, keyIndexes([]int32{0, 1, 0}), state, o.ret) }); st != 0 {
		t.Fatalf("status %d: %s", st, msg)
	}
	if out := readBatch(t, slot(o.ret, 0), o.out); out.Len() != 0 {
		t.Errorf("a data call emitted %d rows", out.Len())
	}
	if got, want := timerValues(t, o.state, slot(o.ret, 1), 1), []any{130, 115, 90}; !equalValues(got, want) {
		t.Errorf("timers %s, want %s", fmtValues(got), fmtValues(want))
	}

	// A timer call: zero rows, no keys, the fired keys' state.
	empty := buildBatch(t, []col{{fKey, nil}, {fTS, nil}}, 0, -1)
	fired := stateBatch(t, []col{{fN, []any{2, 5}}, {fTimer, []any{130, 115}}}, []bool{true, true})
	if st, msg := call(func() int32 { return abiProcess(o.h, empty, keyIndexes(nil), fired, o.ret) }); st != 0 {
		t.Fatalf("timer call: status %d: %s", st, msg)
	}
	out := readBatch(t, slot(o.ret, 0), o.out)
	if got, want := columnValues(out, 0), []any{2, 5}; !equalValues(got, want) {
		t.Errorf("timer output n %s, want %s", fmtValues(got), fmtValues(want))
	}
	if got, want := columnValues(out, 1), []any{130, 115}; !equalValues(got, want) {
		t.Errorf("timer output fired_at %s, want %s", fmtValues(got), fmtValues(want))
	}
	ns := slot(o.ret, 1)
	arr := arrayAt(ns)
	if arr.length != 2 || arr.nullCount != 1 {
		t.Fatalf("new state: %d rows, %d null rows; want 2, 1 (key 1 cleared)", arr.length, arr.nullCount)
	}
	// Key 0 keeps its state with the timer deleted: null, not 0.
	timer := arrayAt(u32s(arr.children, 2)[1])
	if timer.nullCount != 1 {
		t.Errorf("timer column null count %d, want 1", timer.nullCount)
	}
	if got := timerValues(t, o.state, ns, 1)[0]; got != nil {
		t.Errorf("deleted timer reads %v, want null", got)
	}
}

func TestInt64ProcTimer(t *testing.T) {
	o := mustOpen(t, KindProcess, "t_proctimer_i64", "", Schema{fKey, fTS})
	in := buildBatch(t, []col{{fKey, []any{1, 2}}, {fTS, []any{0, 77}}}, 0, -1)
	state := stateBatch(t, []col{{Field{Name: ProcTimerColumn, Type: Int64}, []any{5, nil}}}, []bool{true, false})
	if st, msg := call(func() int32 { return abiProcess(o.h, in, keyIndexes([]int32{0, 1}), state, o.ret) }); st != 0 {
		t.Fatalf("status %d: %s", st, msg)
	}
	if got, want := timerValues(t, o.state, slot(o.ret, 1), 0), []any{nil, 77}; !equalValues(got, want) {
		t.Errorf("timers %s, want %s", fmtValues(got), fmtValues(want))
	}
}

func TestTimerStateSchema(t *testing.T) {
	for name, msg := range map[string]string{
		"t_timer_notnull": `timer column "_timer" must be nullable`,
		"t_timer_int32":   `timer column "_proctimer" is int32, want timestamp[ms] or int64 (ms)`,
		"t_timer_seconds": `timer column "_timer" is timestamp[s], want timestamp[ms] or int64 (ms)`,
	} {
		t.Run(name, func(t *testing.T) {
			o := openOp(t, KindProcess, name, "", Schema{fKey})
			if o.status == 0 || !strings.Contains(o.err, msg) || !strings.HasPrefix(o.err, name+": state schema: ") {
				t.Errorf("open: status %d, %q; want %q", o.status, o.err, msg)
			}
		})
	}
}

func TestTableTimers(t *testing.T) {
	st := NewTable(Schema{fN, fTimer, {Name: ProcTimerColumn, Type: Int64}}, 2)
	if _, ok := st.Timer(0); ok {
		t.Error("a new table has a timer")
	}
	st.SetTimer(0, 1500)
	st.SetProcTimer(1, 99)
	if ms, ok := st.Timer(0); !ok || ms != 1500 {
		t.Errorf("Timer(0) = %d, %v", ms, ok)
	}
	if ms, ok := st.ProcTimer(1); !ok || ms != 99 || st.Int64(2)[1] != 99 {
		t.Errorf("ProcTimer(1) = %d, %v", ms, ok)
	}
	st.DeleteTimer(0)
	st.DeleteProcTimer(1)
	if _, ok := st.Timer(0); ok {
		t.Error("timer still set after DeleteTimer")
	}
	if _, ok := st.ProcTimer(1); ok {
		t.Error("processing-time timer still set after DeleteProcTimer")
	}
	st.Clear(1)
	if st.Cleared(0) || !st.Cleared(1) {
		t.Errorf("Cleared after Clear(1): %v %v", st.Cleared(0), st.Cleared(1))
	}
	st.Keep(1)
	if st.Cleared(1) {
		t.Error("Cleared(1) after Keep(1)")
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), `no timer column "_timer"`) {
			t.Errorf("Timer without a timer column: panic %v", r)
		}
	}()
	NewTable(Schema{fN}, 1).Timer(0)
}

func TestWithTimers(t *testing.T) {
	var calls []string
	fn := WithTimers(
		func(in *Batch, keys []int32, state *Table, out *Builder) error {
			calls = append(calls, "rows")
			return nil
		},
		func(state *Table, out *Builder) error {
			calls = append(calls, "timer")
			return nil
		})
	schema := Schema{fKey}
	rows := NewBuilder(schema)
	rows.Int64(0).Append(1)
	none := NewBuilder(schema)
	for _, tc := range []struct {
		in   *Builder
		keys int
		want string
	}{
		{rows, 1, "rows"},
		{none, 2, "timer"},
		{none, 0, "rows"}, // nothing at all: not a timer call
	} {
		calls = nil
		in, err := tc.in.Batch()
		if err != nil {
			t.Fatal(err)
		}
		state := NewTable(Schema{fN, fTimer}, tc.keys)
		if err := fn(in, make([]int32, in.Len()), state, NewBuilder(Schema{fN})); err != nil {
			t.Fatal(err)
		}
		if len(calls) != 1 || calls[0] != tc.want {
			t.Errorf("%d rows, %d keys: called %v, want %s", in.Len(), tc.keys, calls, tc.want)
		}
	}
}
