package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWindowsExample runs examples/windows on a cluster: sensor readings
// out of order (shuffled within half a second), some of them a minute
// late. Tumbling windows (native count/avg/max), the late side output and
// sessions with a guest aggregate (merging as rows fill gaps) are compared
// with a straightforward computation over the same readings.
func TestWindowsExample(t *testing.T) {
	c := startCluster(t, 2, 2)
	wasm := exampleModule(t, "./windows")
	dir := t.TempDir()
	readings := windowReadings()
	var csv strings.Builder
	for _, r := range readings {
		fmt.Fprintf(&csv, "%s,%d,%g\n", r.sensor, r.ts, r.value)
	}
	input := filepath.Join(dir, "readings.csv")
	if err := os.WriteFile(input, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	_, stderr, err := c.weir(t, "run", "-p", "2", "--wait", "--timeout", "2m", wasm, "--",
		"--input", input, "--output", out, "--window", "10s", "--gap", "5s", "--out-of-order", "2s", "--parallelism", "2")
	if err != nil {
		t.Fatalf("weir run: %v\n%s", err, stderr)
	}
	wantWindows, wantLate, wantSessions := expectWindows(readings, 10_000, 5_000)
	check := func(name string, got, want []string) {
		t.Helper()
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d rows, want %d", name, len(got), len(want))
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Fatalf("%s: first difference at sorted row %d:\n got %s\nwant %s", name, i, got[i], want[i])
				}
			}
		}
		t.Logf("%s: %d rows as expected", name, len(got))
	}
	check("windows", windowLines(t, filepath.Join(out, "windows"), "sensor", "window_start", "window_end", "n", "avg", "max"), wantWindows)
	check("late", windowLines(t, filepath.Join(out, "late"), "sensor", "ts", "value"), wantLate)
	check("sessions", windowLines(t, filepath.Join(out, "sessions"), "sensor", "window_start", "window_end", "spread"), wantSessions)
	if len(wantLate) == 0 || len(wantSessions) < 8 {
		t.Fatalf("the input exercises too little: %d late rows, %d sessions", len(wantLate), len(wantSessions))
	}
}

type reading struct {
	sensor string
	ts     int64
	value  float64
	late   bool
}

// windowReadings are four sensors reading every 40 ms over five minutes,
// each silent 20 s of every minute (so sessions end), shuffled within
// groups of 50 rows, with every 997th row from the 2997th re-sent a minute late.
func windowReadings() []reading {
	const base = 1_700_000_000_000
	var rs []reading
	for i := range 30_000 {
		ts := base + int64(i)*10
		s := i % 4
		if (ts/1000+int64(s)*7)%60 >= 40 {
			continue
		}
		rs = append(rs, reading{sensor: "s" + strconv.Itoa(s), ts: ts, value: float64((i*7919)%1000) / 10})
	}
	for g := 0; g+50 <= len(rs); g += 50 {
		slices.Reverse(rs[g : g+50])
	}
	for i := 2997; i < len(rs); i += 997 { // past the first batch: the watermark is there
		late := rs[i]
		late.ts -= 60_000
		late.value = -1
		late.late = true
		rs = slices.Insert(rs, i, late)
		i++
	}
	return rs
}

// expectWindows computes the example's outputs: tumbling windows and
// sessions over the rows that are not late; late rows as they are.
func expectWindows(rs []reading, size, gap int64) (windows, late, sessions []string) {
	type win struct {
		sensor string
		start  int64
	}
	type agg struct {
		n        int64
		sum, max float64
	}
	tumbling := map[win]*agg{}
	bySensor := map[string][]reading{}
	for _, r := range rs {
		if r.late {
			late = append(late, fmt.Sprintf("%s %d %g", r.sensor, r.ts, r.value))
			continue
		}
		w := win{r.sensor, r.ts - r.ts%size}
		a := tumbling[w]
		if a == nil {
			a = &agg{max: r.value}
			tumbling[w] = a
		}
		a.n++
		a.sum += r.value
		a.max = max(a.max, r.value)
		bySensor[r.sensor] = append(bySensor[r.sensor], r)
	}
	for w, a := range tumbling {
		windows = append(windows, fmt.Sprintf("%s %d %d %d %g %g", w.sensor, w.start, w.start+size, a.n, a.sum/float64(a.n), a.max))
	}
	for s, rows := range bySensor {
		sort.Slice(rows, func(i, j int) bool { return rows[i].ts < rows[j].ts })
		start, end, lo, hi := rows[0].ts, rows[0].ts+gap, rows[0].value, rows[0].value
		flush := func() { sessions = append(sessions, fmt.Sprintf("%s %d %d %g", s, start, end, hi-lo)) }
		for _, r := range rows[1:] {
			if r.ts > end { // touching sessions merge: a row at end still joins
				flush()
				start, end, lo, hi = r.ts, r.ts+gap, r.value, r.value
				continue
			}
			end = max(end, r.ts+gap)
			lo, hi = min(lo, r.value), max(hi, r.value)
		}
		flush()
	}
	slices.Sort(windows)
	slices.Sort(late)
	slices.Sort(sessions)
	return windows, late, sessions
}

// windowLines reads the jsonl part files of dir as lines of the named
// columns, timestamps in ms.
func windowLines(t *testing.T, dir string, cols ...string) []string {
	t.Helper()
	var out []string
	for _, line := range readParts(t, dir) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		var f []string
		for _, c := range cols {
			switch v := m[c].(type) {
			case string:
				if ts, err := time.Parse(time.RFC3339Nano, v); err == nil {
					f = append(f, strconv.FormatInt(ts.UnixMilli(), 10))
				} else {
					f = append(f, v)
				}
			case float64:
				f = append(f, strconv.FormatFloat(v, 'g', -1, 64))
			default:
				t.Fatalf("row %s: column %s is %v", line, c, m[c])
			}
		}
		out = append(out, strings.Join(f, " "))
	}
	return out
}
