package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/internal/connector"
)

// writeParts writes files (name -> lines) into a new directory.
func writeParts(t *testing.T, files map[string][]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, lines := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// records returns the lines of key k for seqs from..to, count == seq.
func records(k, from, to int) []string {
	var out []string
	for s := from; s <= to; s++ {
		out = append(out, fmt.Sprintf(`{"key":%d,"seq":%d,"count":%d}`, k, s, s))
	}
	return out
}

func joinLines(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestVerifyDir(t *testing.T) {
	const keys, count = 3, 5
	full := map[string][]string{
		"part-j-0-0-0.jsonl": joinLines(records(0, 1, 5), records(1, 1, 2)),
		"part-j-0-0-1.jsonl": records(1, 3, 5),
		"part-j-1-0-0.jsonl": records(2, 1, 5),
	}
	with := func(edit func(m map[string][]string)) map[string][]string {
		m := map[string][]string{}
		for k, v := range full {
			m[k] = append([]string(nil), v...)
		}
		edit(m)
		return m
	}
	tests := []struct {
		name  string
		files map[string][]string
		check func(t *testing.T, r verifyReport)
	}{
		{"exactly once", with(func(m map[string][]string) {
			m[".part-j-0-0-2.jsonl.inprogress"] = records(0, 1, 5) // not committed: skipped
			m[".part-j-1-0-1.jsonl.pending"] = []string{"garbage"}
			m["_SUCCESS"] = nil
		}), func(t *testing.T, r verifyReport) {
			if !r.OK || r.Records != 15 || r.Files != 3 || r.Hidden != 2 || r.KeysSeen != 3 {
				t.Errorf("report %+v", r)
			}
		}},
		{"lost", with(func(m map[string][]string) {
			m["part-j-0-0-0.jsonl"] = joinLines(records(0, 1, 5), records(1, 1, 1))
			m["part-j-0-0-1.jsonl"] = records(1, 4, 4)
		}), func(t *testing.T, r verifyReport) {
			if r.OK || r.Lost != 3 || fmt.Sprint(r.LostByKey) != "[{1 3 [2-3 5] false}]" {
				t.Errorf("lost %d %v", r.Lost, r.LostByKey)
			}
		}},
		{"a key lost", with(func(m map[string][]string) { delete(m, "part-j-1-0-0.jsonl") }), func(t *testing.T, r verifyReport) {
			if r.OK || r.Lost != 5 || r.KeysSeen != 2 || fmt.Sprint(r.LostByKey) != "[{2 5 [1-5] false}]" {
				t.Errorf("lost %d keys %d %v", r.Lost, r.KeysSeen, r.LostByKey)
			}
		}},
		{"duplicated", with(func(m map[string][]string) {
			m["part-j-0-1-0.jsonl"] = joinLines(records(2, 2, 3), records(2, 3, 3))
		}), func(t *testing.T, r verifyReport) {
			if r.OK || r.Duplicated != 3 || r.Lost != 0 || fmt.Sprint(r.DuplicatedByKey) != "[{2 3 [2-3] false}]" {
				t.Errorf("duplicated %d %v", r.Duplicated, r.DuplicatedByKey)
			}
		}},
		{"count != seq", with(func(m map[string][]string) {
			m["part-j-1-0-0.jsonl"][2] = `{"key":2,"seq":3,"count":2}`
		}), func(t *testing.T, r verifyReport) {
			if r.OK || r.CountMismatches != 1 || r.Lost != 0 || len(r.Mismatches) != 1 ||
				r.Mismatches[0] != (recordIssue{File: "part-j-1-0-0.jsonl", Line: 3, Key: 2, Seq: 3, Count: 2}) {
				t.Errorf("mismatches %d %+v", r.CountMismatches, r.Mismatches)
			}
		}},
		{"unexpected", with(func(m map[string][]string) {
			m["part-x.jsonl"] = []string{`{"key":7,"seq":1,"count":1}`, `{"key":-1,"seq":1,"count":1}`, `{"key":0,"seq":6,"count":6}`, `{"key":0,"seq":0,"count":0}`}
		}), func(t *testing.T, r verifyReport) {
			if r.OK || r.Unexpected != 4 || fmt.Sprint(r.UnexpectedKeys) != "[-1 7]" || r.Lost != 0 {
				t.Errorf("unexpected %d keys %v", r.Unexpected, r.UnexpectedKeys)
			}
		}},
		{"malformed", with(func(m map[string][]string) {
			m["part-y.jsonl"] = []string{`{"key":1,"seq":2}`, `not json`, ``, `{"key":"a","seq":1,"count":1}`}
		}), func(t *testing.T, r verifyReport) {
			if r.OK || r.Malformed != 3 || r.MalformedLines[1].Line != 2 {
				t.Errorf("malformed %d %+v", r.Malformed, r.MalformedLines)
			}
		}},
		{"nested, dot directories skipped", map[string][]string{
			"a/part-0.jsonl":      joinLines(records(0, 1, 5), records(1, 1, 5)),
			"b/c/part-1.jsonl":    records(2, 1, 5),
			".trash/part-2.jsonl": records(2, 1, 5),
		}, func(t *testing.T, r verifyReport) {
			if !r.OK || r.Files != 2 {
				t.Errorf("report %+v", r)
			}
		}},
		{"empty", map[string][]string{}, func(t *testing.T, r verifyReport) {
			if r.OK || r.Lost != 15 || r.KeysSeen != 0 || len(r.LostByKey) != 3 {
				t.Errorf("report %+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := verifyDir(writeParts(t, tt.files), keys, count)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

// Many gaps are summarised: the first ranges of a key, then "more".
func TestVerifyDirSummary(t *testing.T) {
	var lines []string
	for s := 1; s <= 100; s += 2 { // every even seq lost
		lines = append(lines, records(0, s, s)...)
	}
	r, err := verifyDir(writeParts(t, map[string][]string{"part-0.jsonl": lines}), 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if r.Lost != 50 || len(r.LostByKey) != 1 || len(r.LostByKey[0].Ranges) != verifyMaxRanges || !r.LostByKey[0].More {
		t.Errorf("lost %d %+v", r.Lost, r.LostByKey)
	}
}

func TestVerifyCLI(t *testing.T) {
	good := writeParts(t, map[string][]string{"part-0.jsonl": joinLines(records(0, 1, 4), records(1, 1, 4))})
	bad := writeParts(t, map[string][]string{"part-0.jsonl": joinLines(records(0, 1, 4), records(1, 1, 2), records(1, 2, 2))})
	tests := []struct {
		args     []string
		code     int
		contains []string
	}{
		{[]string{"verify", "--keys", "2", "--count", "4", good}, 0, []string{"records     8", "lost        0", "OK: every key has seq 1..4"}},
		{[]string{"verify", good, "--keys", "2", "--count", "4"}, 0, []string{"OK"}},
		{[]string{"verify", "--keys", "2", "--count", "4", bad}, 1, []string{"lost        2", "duplicated  1", "key 1: 2 seqs: 3-4", "key 1: 1 seq: 2", "FAILED"}},
		{[]string{"verify", "--keys", "3", "--count", "4", good}, 1, []string{"keys        2 of 3", "key 2: 4 seqs: 1-4"}},
		{[]string{"verify", "--keys", "2", "--count", "4", "--json", bad}, 1, []string{`"lost": 2`, `"duplicated": 1`, `"ok": false`}},
		{[]string{"verify", "--keys", "2", "--count", "4"}, 2, []string{"want exactly one directory"}},
		{[]string{"verify", "--count", "4", good}, 2, []string{"at least 1"}},
		{[]string{"verify", "--keys", "2", "--count", "4", "--bogus", good}, 2, []string{"bogus"}},
		{[]string{"verify", "--keys", "2", "--count", "4", filepath.Join(good, "missing")}, 1, []string{"no such file"}},
		{[]string{"verify", "--keys", "2", "--count", "4", filepath.Join(good, "part-0.jsonl")}, 1, []string{"not a directory"}},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(t, tt.args...)
		if code != tt.code {
			t.Errorf("%q: exit %d, want %d\n%s%s", tt.args, code, tt.code, out, errOut)
		}
		for _, s := range tt.contains {
			if !strings.Contains(out+errOut, s) {
				t.Errorf("%q: output lacks %q:\n%s%s", tt.args, s, out, errOut)
			}
		}
	}
	// --json is a verifyReport.
	_, out, _ := runCLI(t, "verify", "--json", "--keys", "2", "--count", "4", good)
	var r verifyReport
	if err := json.Unmarshal([]byte(out), &r); err != nil || !r.OK || r.Records != 8 || r.Expected != 8 {
		t.Errorf("json report %+v (%v)", r, err)
	}
}

// The exactly-once protocol, played in-process with the real connectors the
// way a task runner plays it: sequence source → keyed count (a map, the
// operator state) → two-phase file sink; checkpoints snapshot positions,
// state and pre-commits, their completion commits (sometimes late or
// never); failures restart from the latest completed checkpoint at another
// parallelism. verifyDir must find every record exactly once with
// count == seq, and must catch a run that skips the sink's recovery.
func TestVerifySimulatedRecovery(t *testing.T) {
	for _, recover := range []bool{true, false} {
		t.Run(fmt.Sprintf("recover=%v", recover), func(t *testing.T) {
			dir := t.TempDir()
			const keys, count = 7, 60
			sim := newSimulation(t, dir, keys, count, recover)
			sim.run([]simStage{
				{p: 2, steps: 9, checkpointEvery: 3, failAfter: true},
				{p: 3, steps: 10, checkpointEvery: 4, lateCommit: true, failAfter: true},
				{p: 1, steps: 4, checkpointEvery: 2, failAfter: true},
				{p: 2, steps: -1, checkpointEvery: 5},
			})
			r, err := verifyDir(dir, keys, count)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			r.print(&b)
			if recover && !r.OK {
				t.Errorf("with recovery:\n%s", b.String())
			}
			if !recover && r.OK {
				t.Errorf("without the sink's recovery the output should be wrong:\n%s", b.String())
			}
		})
	}
}

var simSchema = arrow.NewSchema([]arrow.Field{
	{Name: "key", Type: arrow.PrimitiveTypes.Int64},
	{Name: "seq", Type: arrow.PrimitiveTypes.Int64},
	{Name: "count", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// simStage runs the job at parallelism p for steps rounds (-1: to the end),
// checkpointing every checkpointEvery rounds, then fails if failAfter.
// lateCommit delays each commit until after the next checkpoint's
// pre-commit, and loses the last one.
type simStage struct {
	p, steps, checkpointEvery int
	lateCommit, failAfter     bool
}

type simCheckpoint struct {
	id        int64
	positions [][]byte
	state     map[int64]int64
	txns      [][]byte
}

type simulation struct {
	t           *testing.T
	dir         string
	keys, count int
	recover     bool
	alloc       *memory.CheckedAllocator
	attempt     int
	nextID      int64
	completed   *simCheckpoint
}

func newSimulation(t *testing.T, dir string, keys, count int, recover bool) *simulation {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { alloc.AssertSize(t, 0) })
	return &simulation{t: t, dir: dir, keys: keys, count: count, recover: recover, alloc: alloc, nextID: 1}
}

func (s *simulation) run(stages []simStage) {
	t := s.t
	ctx := context.Background()
	for _, st := range stages {
		c := func(i int) connector.Context {
			return connector.Context{Subtask: i, Parallelism: st.p, Alloc: s.alloc, BatchRows: 5, Job: "job", Attempt: s.attempt, Checkpointing: true}
		}
		var sources []connector.Source
		var sinks []connector.Sink
		state := map[int64]int64{} // key → count, of every operator subtask
		for i := range st.p {
			src, err := connector.NewSource("sequence", map[string]string{"keys": fmt.Sprint(s.keys), "count": fmt.Sprint(s.count)}, connector.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := src.Open(ctx, c(i)); err != nil {
				t.Fatal(err)
			}
			sink, err := connector.NewSink("file", map[string]string{"path": s.dir}, connector.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := sink.Open(ctx, c(i), simSchema); err != nil {
				t.Fatal(err)
			}
			sources, sinks = append(sources, src), append(sinks, sink)
		}
		if cp := s.completed; cp != nil {
			for i := range st.p {
				if err := sources[i].(connector.Checkpointed).RestorePositions(cp.positions); err != nil {
					t.Fatal(err)
				}
				if s.recover {
					var mine [][]byte
					for j, txn := range cp.txns {
						if j%st.p == i {
							mine = append(mine, txn)
						}
					}
					if err := sinks[i].(connector.TwoPhase).Recover(ctx, mine); err != nil {
						t.Fatal(err)
					}
				}
			}
			for k, v := range cp.state {
				state[k] = v
			}
		}
		var late [][]byte
		done := make([]bool, st.p)
		for step := 0; st.steps < 0 || step < st.steps; step++ {
			ended := 0
			for i, src := range sources {
				if done[i] {
					ended++
					continue
				}
				rec, err := src.Next(ctx)
				if errors.Is(err, io.EOF) {
					done[i] = true
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				s.process(rec, state, sinks, st.p)
			}
			if ended == st.p {
				break
			}
			if (step+1)%st.checkpointEvery == 0 {
				cp := &simCheckpoint{id: s.nextID, state: map[int64]int64{}}
				s.nextID++
				for i := range st.p {
					pos, err := sources[i].(connector.Checkpointed).SnapshotPosition()
					if err != nil {
						t.Fatal(err)
					}
					txn, err := sinks[i].(connector.TwoPhase).PreCommit(ctx, cp.id)
					if err != nil {
						t.Fatal(err)
					}
					cp.positions, cp.txns = append(cp.positions, pos), append(cp.txns, txn)
				}
				for k, v := range state {
					cp.state[k] = v
				}
				s.completed = cp
				commitNow := cp.txns
				if st.lateCommit {
					commitNow, late = late, cp.txns
				}
				for i, sink := range sinks {
					if i < len(commitNow) {
						if err := sink.(connector.TwoPhase).Commit(ctx, commitNow); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
		}
		if !st.failAfter {
			for _, sink := range sinks {
				if err := sink.Finish(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i := range st.p {
			_ = sources[i].Close()
			_ = sinks[i].Close()
		}
		s.attempt++
	}
}

// process counts rec's rows per key and writes (key, seq, count) to the
// sink subtask owning the key (a keyBy with another spread than the
// source's).
func (s *simulation) process(rec arrow.Record, state map[int64]int64, sinks []connector.Sink, p int) {
	defer rec.Release()
	keys := rec.Column(0).(*array.Int64).Int64Values()
	seqs := rec.Column(1).(*array.Int64).Int64Values()
	builders := make([]*array.RecordBuilder, p)
	for i, k := range keys {
		state[k]++
		o := int(k*31+3) % p
		if builders[o] == nil {
			builders[o] = array.NewRecordBuilder(s.alloc, simSchema)
		}
		b := builders[o]
		b.Field(0).(*array.Int64Builder).Append(k)
		b.Field(1).(*array.Int64Builder).Append(seqs[i])
		b.Field(2).(*array.Int64Builder).Append(state[k])
	}
	for o, b := range builders {
		if b == nil {
			continue
		}
		out := b.NewRecord()
		b.Release()
		if err := sinks[o].Write(context.Background(), out); err != nil {
			s.t.Fatal(err)
		}
		out.Release()
	}
}
