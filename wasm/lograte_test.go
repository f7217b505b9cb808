package wasm

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"golang.org/x/time/rate"

	"github.com/weirflow/weir/abi"
)

// records is a slog handler that keeps what it is given.
type records struct {
	mu   sync.Mutex
	msgs []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// TestGuestLogRate: past its log rate a guest's lines stay out of the
// host's log (but among the lines kept for errors), and the next line
// written says how many were left out.
func TestGuestLogRate(t *testing.T) {
	var got records
	c := newCapture(slog.New(&got), 1<<20, 5, 1, nil) // 1 line/s, bursts of 10
	for range 50 {
		c.line("stdout", abi.LogInfo, "hello")
	}
	if n := len(got.msgs); n < 10 || n > 11 {
		t.Fatalf("%d of 50 lines logged at once, want the burst of 10", n)
	}
	if len(c.lines) != 5 {
		t.Fatalf("%d lines kept, want 5", len(c.lines))
	}
	c.logs = rate.NewLimiter(rate.Inf, 1) // time passes
	c.line("stdout", abi.LogInfo, "after")
	n := len(got.msgs)
	warn, last := got.msgs[n-2], got.msgs[n-1]
	var dropped int64
	warn.Attrs(func(a slog.Attr) bool {
		if a.Key == "dropped" {
			dropped = a.Value.Int64()
		}
		return true
	})
	if warn.Level != slog.LevelWarn || dropped != int64(50-(n-2)) || last.Message != "after" {
		t.Fatalf("after the pause: %v (dropped %d) then %q", warn.Message, dropped, last.Message)
	}
	// Without a bound every line is logged.
	var all records
	c = newCapture(slog.New(&all), 1<<20, 5, -1, nil)
	for range 500 {
		c.line("stdout", abi.LogInfo, "x")
	}
	if len(all.msgs) != 500 {
		t.Fatalf("%d of 500 lines logged without a bound", len(all.msgs))
	}
}
