package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var (
	_ Checkpointed = (*SequenceSource)(nil)
	_ Checkpointed = (*DatagenSource)(nil)
	_ Checkpointed = (*FileSource)(nil)
)

// stage is one run of a source at a parallelism: subtask i reads cuts[i]
// batches (-1: to the end), then every subtask's position is taken.
type stage struct {
	p    int
	cuts []int
}

// runStages runs the stages of a source one after the other, each restoring
// the positions of the one before, and returns the rows of every subtask of
// every stage.
func runStages(t *testing.T, newSource func() Source, batchRows int, stages []stage) [][][]string {
	t.Helper()
	alloc := newAlloc(t)
	ctx := context.Background()
	var positions [][]byte
	var out [][][]string
	for si, st := range stages {
		var next [][]byte
		for sub := range st.p {
			src := newSource()
			c := Context{Subtask: sub, Parallelism: st.p, Alloc: alloc, BatchRows: batchRows}
			if err := src.Open(ctx, c); err != nil {
				t.Fatal(err)
			}
			if positions != nil {
				if err := src.(Checkpointed).RestorePositions(positions); err != nil {
					t.Fatalf("stage %d subtask %d: RestorePositions: %v", si, sub, err)
				}
			}
			var rows [][]string
			for n := 0; st.cuts[sub] < 0 || n < st.cuts[sub]; n++ {
				rec, err := src.Next(ctx)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if int(rec.NumRows()) > batchRows || rec.NumRows() == 0 {
					t.Errorf("batch of %d rows", rec.NumRows())
				}
				rows = append(rows, rowsOf(rec)...)
				rec.Release()
			}
			pos, err := src.(Checkpointed).SnapshotPosition()
			if err != nil {
				t.Fatal(err)
			}
			next = append(next, pos)
			out = append(out, rows)
			if err := src.Close(); err != nil {
				t.Fatal(err)
			}
		}
		// Any order will do.
		positions = append(next[1:], next[0])
	}
	return out
}

func TestSequenceRestoreAcrossParallelism(t *testing.T) {
	tests := []struct {
		name               string
		keys, count, batch int
		stages             []stage
	}{
		{"same parallelism", 4, 9, 4, []stage{{2, []int{2, 1}}, {2, []int{-1, -1}}}},
		{"2 to 3", 7, 20, 4, []stage{{2, []int{3, 1}}, {3, []int{-1, -1, -1}}}},
		{"3 to 1", 10, 15, 6, []stage{{3, []int{0, 2, 5}}, {1, []int{-1}}}},
		{"mid-round cut", 5, 6, 3, []stage{{1, []int{3}}, {2, []int{-1, -1}}}},
		{"2 to 3 to 2", 11, 30, 4, []stage{{2, []int{1, 6}}, {3, []int{2, 4, 1}}, {2, []int{-1, -1}}}},
		{"2 to 4 to 1", 6, 25, 5, []stage{{2, []int{7, 2}}, {4, []int{1, 0, 3, 9}}, {1, []int{-1}}}},
		{"one subtask done", 4, 3, 2, []stage{{2, []int{-1, 1}}, {3, []int{1, 1, 1}}, {1, []int{-1}}}},
		{"more subtasks than keys", 2, 5, 8, []stage{{1, []int{1}}, {5, []int{-1, -1, -1, -1, -1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := map[string]string{"keys": strconv.Itoa(tt.keys), "count": strconv.Itoa(tt.count)}
			runs := runStages(t, func() Source {
				s, err := NewSequence(params)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}, tt.batch, tt.stages)
			seen := map[int64][]int64{}
			for _, rows := range runs {
				last := map[int64]int64{}
				for _, r := range rows {
					k, _ := strconv.ParseInt(r[0], 10, 64)
					s, _ := strconv.ParseInt(r[1], 10, 64)
					if s <= last[k] {
						t.Errorf("key %d: seq %d after %d in one subtask", k, s, last[k])
					}
					last[k] = s
					seen[k] = append(seen[k], s)
				}
			}
			if len(seen) != tt.keys {
				t.Errorf("%d keys, want %d", len(seen), tt.keys)
			}
			for k, seqs := range seen {
				sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
				if len(seqs) != tt.count {
					t.Fatalf("key %d: %d rows, want %d: %v", k, len(seqs), tt.count, seqs)
				}
				for i, s := range seqs {
					if s != int64(i+1) {
						t.Fatalf("key %d: seqs %v, want 1..%d once each", k, seqs, tt.count)
					}
				}
			}
		})
	}
}

// At the same parallelism a restored subtask emits exactly the rows an
// uninterrupted one would have, in the same order.
func TestSequenceRestoreSameOrder(t *testing.T) {
	alloc := newAlloc(t)
	ctx := context.Background()
	c := Context{Subtask: 1, Parallelism: 2, Alloc: alloc, BatchRows: 3}
	params := map[string]string{"keys": "5", "count": "9"}
	full, _ := NewSequence(params)
	all, _ := drain(t, full, c)
	for cut := range 8 {
		first, _ := NewSequence(params)
		if err := first.Open(ctx, c); err != nil {
			t.Fatal(err)
		}
		var head [][]string
		for range cut {
			rec, err := first.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			head = append(head, rowsOf(rec)...)
			rec.Release()
		}
		pos, err := first.SnapshotPosition()
		if err != nil {
			t.Fatal(err)
		}
		// Subtask 0's position is needed too; it read nothing.
		other, _ := NewSequence(params)
		_ = other.Open(ctx, Context{Subtask: 0, Parallelism: 2, Alloc: alloc})
		pos0, _ := other.SnapshotPosition()

		second, _ := NewSequence(params)
		if err := second.Open(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := second.RestorePositions([][]byte{pos, pos0}); err != nil {
			t.Fatal(err)
		}
		tail, _ := drainOpen(t, second, c.BatchRows)
		if got := fmt.Sprint(append(head, tail...)); got != fmt.Sprint(all) {
			t.Errorf("cut after %d batches: %v, want %v", cut, got, all)
		}
	}
}

func TestSequenceRestoreChangedParams(t *testing.T) {
	alloc := newAlloc(t)
	ctx := context.Background()
	snap := func(params map[string]string, batches int) []byte {
		s, _ := NewSequence(params)
		if err := s.Open(ctx, Context{Parallelism: 1, Alloc: alloc, BatchRows: 2}); err != nil {
			t.Fatal(err)
		}
		for range batches {
			rec, err := s.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rec.Release()
		}
		b, err := s.SnapshotPosition()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pos := snap(map[string]string{"keys": "2", "count": "5"}, 2) // both keys at seq 3
	// More keys and a larger count: the new key starts at 1, the others go on.
	s, _ := NewSequence(map[string]string{"keys": "3", "count": "6"})
	if err := s.Open(ctx, Context{Parallelism: 1, Alloc: alloc, BatchRows: 100}); err != nil {
		t.Fatal(err)
	}
	if err := s.RestorePositions([][]byte{pos}); err != nil {
		t.Fatal(err)
	}
	rows, _ := drainOpen(t, s, 100)
	want := "[[2 1] [2 2] [0 3] [1 3] [2 3] [0 4] [1 4] [2 4] [0 5] [1 5] [2 5] [0 6] [1 6] [2 6]]"
	if fmt.Sprint(rows) != want {
		t.Errorf("rows %v, want %v", rows, want)
	}
	// Another start is refused.
	s, _ = NewSequence(map[string]string{"keys": "2", "count": "5", "start": "0"})
	_ = s.Open(ctx, Context{Parallelism: 1, Alloc: alloc})
	if err := s.RestorePositions([][]byte{pos}); !errors.Is(err, ErrPosition) {
		t.Errorf("other start: %v", err)
	}
	// Unbounded: the position goes on.
	pos = snap(map[string]string{"keys": "1", "unbounded": "true"}, 3)
	s, _ = NewSequence(map[string]string{"keys": "1", "unbounded": "true"})
	_ = s.Open(ctx, Context{Parallelism: 1, Alloc: alloc, BatchRows: 2})
	if err := s.RestorePositions([][]byte{pos}); err != nil {
		t.Fatal(err)
	}
	if s.Position() != 7 {
		t.Errorf("unbounded position %d, want 7", s.Position())
	}
}

func TestRestorePositionsBad(t *testing.T) {
	ctx := context.Background()
	mk := func(sub, p int) []byte {
		s, _ := NewSequence(map[string]string{"keys": "4"})
		_ = s.Open(ctx, Context{Subtask: sub, Parallelism: p})
		b, err := s.SnapshotPosition()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	edit := func(b []byte, key string, v any) []byte {
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		m[key] = v
		out, _ := json.Marshal(m)
		return out
	}
	dg, _ := NewDatagen(map[string]string{"schema": "x:int64"})
	_ = dg.Open(ctx, Context{Parallelism: 1})
	dgPos, _ := dg.SnapshotPosition()
	tests := []struct {
		name string
		all  [][]byte
	}{
		{"none", nil},
		{"garbage", [][]byte{[]byte("{not json")}},
		{"another source", [][]byte{dgPos}},
		{"another version", [][]byte{edit(mk(0, 1), "v", 2)}},
		{"a subtask missing", [][]byte{mk(0, 2)}},
		{"a subtask twice", [][]byte{mk(0, 2), mk(0, 2)}},
		{"parallelisms mixed", [][]byte{mk(0, 2), mk(1, 3)}},
		{"subtask out of range", [][]byte{edit(mk(0, 1), "subtask", 5)}},
		{"keys mixed", [][]byte{mk(0, 2), edit(mk(1, 2), "keys", 9)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := NewSequence(map[string]string{"keys": "4"})
			_ = s.Open(ctx, Context{Parallelism: 1})
			if err := s.RestorePositions(tt.all); !errors.Is(err, ErrPosition) {
				t.Errorf("RestorePositions: %v, want ErrPosition", err)
			}
		})
	}
}

func TestDatagenRestore(t *testing.T) {
	params := map[string]string{"schema": "a:int64,s:utf8,ts:timestamp[ms]", "rows": "20", "seed": "3", "null-ratio": "0.2"}
	newSrc := func() Source {
		s, err := NewDatagen(params)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Uninterrupted streams of subtasks 0..2 at parallelism 3.
	full := runStages(t, newSrc, 4, []stage{{3, []int{-1, -1, -1}}})
	// Same parallelism: every subtask continues its own stream.
	runs := runStages(t, newSrc, 4, []stage{{3, []int{1, 2, 0}}, {3, []int{-1, -1, -1}}})
	for sub := range 3 {
		got := append(append([][]string{}, runs[sub]...), runs[3+sub]...)
		if fmt.Sprint(got) != fmt.Sprint(full[sub]) {
			t.Errorf("subtask %d: restored stream differs from the uninterrupted one", sub)
		}
	}
	// 2 → 3: subtasks 0 and 1 continue, subtask 2 starts stream seed+2.
	runs = runStages(t, newSrc, 4, []stage{{2, []int{2, 3}}, {3, []int{-1, -1, -1}}})
	for sub := range 2 {
		got := append(append([][]string{}, runs[sub]...), runs[2+sub]...)
		if fmt.Sprint(got) != fmt.Sprint(full[sub]) {
			t.Errorf("2→3 subtask %d: restored stream differs from the uninterrupted one", sub)
		}
	}
	if fmt.Sprint(runs[4]) != fmt.Sprint(full[2]) {
		t.Errorf("2→3 subtask 2: not stream seed+2 from its start")
	}
	// Another seed is refused.
	alloc := newAlloc(t)
	s, _ := NewDatagen(params)
	_ = s.Open(context.Background(), Context{Parallelism: 1, Alloc: alloc})
	pos, _ := s.SnapshotPosition()
	other, _ := NewDatagen(map[string]string{"schema": "a:int64", "seed": "4"})
	_ = other.Open(context.Background(), Context{Parallelism: 1, Alloc: alloc})
	if err := other.RestorePositions([][]byte{pos}); !errors.Is(err, ErrPosition) {
		t.Errorf("other seed: %v", err)
	}
}

func TestFileSourceRestoreAcrossParallelism(t *testing.T) {
	files := map[string]string{}
	want := map[string]bool{}
	for f := range 7 {
		var b strings.Builder
		b.WriteString("h\n")
		for l := range 2 + f {
			v := fmt.Sprintf("f%dl%d", f, l)
			b.WriteString(v + "\n")
			want[v] = true
		}
		files[fmt.Sprintf("%c.csv", 'a'+f)] = b.String()
	}
	dir := writeFiles(t, files)
	tests := []struct {
		name   string
		stages []stage
	}{
		{"same parallelism", []stage{{2, []int{1, 3}}, {2, []int{-1, -1}}}},
		{"2 to 3", []stage{{2, []int{2, 1}}, {3, []int{-1, -1, -1}}}},
		{"3 to 1", []stage{{3, []int{1, 0, 4}}, {1, []int{-1}}}},
		{"2 to 3 to 2", []stage{{2, []int{3, 1}}, {3, []int{1, 2, 1}}, {2, []int{-1, -1}}}},
		{"1 to 5", []stage{{1, []int{4}}, {5, []int{-1, -1, -1, -1, -1}}}},
	}
	for _, format := range []string{"csv", "lines"} {
		for _, tt := range tests {
			t.Run(format+"/"+tt.name, func(t *testing.T) {
				params := map[string]string{"path": dir, "format": format}
				if format == "csv" {
					params["schema"], params["header"] = "x:utf8", "true"
				}
				runs := runStages(t, func() Source {
					s, err := NewFileSource(params, FileAccess{})
					if err != nil {
						t.Fatal(err)
					}
					return s
				}, 3, tt.stages)
				got := map[string]int{}
				for _, rows := range runs {
					for _, r := range rows {
						got[r[0]]++
					}
				}
				for v, n := range got {
					if v == "h" && format == "lines" {
						if n != len(files) {
							t.Errorf("%d header lines, want %d", n, len(files))
						}
						continue
					}
					if !want[v] || n != 1 {
						t.Errorf("row %q read %d times", v, n)
					}
				}
				for v := range want {
					if got[v] == 0 {
						t.Errorf("row %q lost", v)
					}
				}
			})
		}
	}
}

func TestFileSourceRestoreChangedFiles(t *testing.T) {
	alloc := newAlloc(t)
	ctx := context.Background()
	dir := writeFiles(t, map[string]string{"a": "1\n2\n", "b": "3\n4\n"})
	params := map[string]string{"path": dir}
	src, _ := NewFileSource(params, FileAccess{})
	if err := src.Open(ctx, Context{Parallelism: 1, Alloc: alloc, BatchRows: 1}); err != nil {
		t.Fatal(err)
	}
	rec, _ := src.Next(ctx) // "1"
	rec.Release()
	pos, err := src.SnapshotPosition()
	if err != nil {
		t.Fatal(err)
	}
	_ = src.Close()

	// A new file is read from its start.
	if err := os.WriteFile(filepath.Join(dir, "c"), []byte("5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, _ = NewFileSource(params, FileAccess{})
	_ = src.Open(ctx, Context{Parallelism: 1, Alloc: alloc, BatchRows: 10})
	if err := src.RestorePositions([][]byte{pos}); err != nil {
		t.Fatal(err)
	}
	rows, _ := drainOpen(t, src, 10)
	if fmt.Sprint(rows) != "[[2] [3] [4] [5]]" {
		t.Errorf("rows %v", rows)
	}
	// A file not read to its end that is gone is an error.
	if err := os.Remove(filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	src, _ = NewFileSource(params, FileAccess{})
	_ = src.Open(ctx, Context{Parallelism: 1, Alloc: alloc})
	if err := src.RestorePositions([][]byte{pos}); !errors.Is(err, ErrPosition) || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("restore with b gone: %v", err)
	}
}
