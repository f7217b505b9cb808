package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

var _ TwoPhase = (*FileSink)(nil)

func TestWhichSinksAreTwoPhase(t *testing.T) {
	for name, want := range map[string]bool{"file": true, "print": false, "blackhole": false} {
		params := map[string]string{}
		if name == "file" {
			params["path"] = t.TempDir()
		}
		s, err := NewSink(name, params, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.(TwoPhase); ok != want {
			t.Errorf("%s: TwoPhase %v, want %v", name, ok, want)
		}
	}
}

// seqRecord is a batch of rows (key, from..to); the caller releases it.
func seqRecord(alloc memory.Allocator, key, from, to int64) arrow.Record {
	b := array.NewRecordBuilder(alloc, sequenceSchema)
	defer b.Release()
	for s := from; s <= to; s++ {
		b.Field(0).(*array.Int64Builder).Append(key)
		b.Field(1).(*array.Int64Builder).Append(s)
	}
	return b.NewRecord()
}

// sinkRun drives one file sink subtask of a test.
type sinkRun struct {
	t     *testing.T
	alloc memory.Allocator
	s     *FileSink
}

func openSink(t *testing.T, alloc memory.Allocator, dir string, c Context, params map[string]string) *sinkRun {
	t.Helper()
	p := map[string]string{"path": dir}
	for k, v := range params {
		p[k] = v
	}
	s, err := NewFileSink(p, FileAccess{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background(), c, sequenceSchema); err != nil {
		t.Fatal(err)
	}
	r := &sinkRun{t: t, alloc: alloc, s: s}
	t.Cleanup(func() { _ = s.Close() })
	return r
}

func (r *sinkRun) write(key, from, to int64) {
	r.t.Helper()
	rec := seqRecord(r.alloc, key, from, to)
	defer rec.Release()
	if err := r.s.Write(context.Background(), rec); err != nil {
		r.t.Fatal(err)
	}
}

func (r *sinkRun) preCommit(checkpoint int64) []byte {
	r.t.Helper()
	txn, err := r.s.PreCommit(context.Background(), checkpoint)
	if err != nil {
		r.t.Fatal(err)
	}
	return txn
}

func (r *sinkRun) commit(txns ...[]byte) {
	r.t.Helper()
	if err := r.s.Commit(context.Background(), txns); err != nil {
		r.t.Fatal(err)
	}
}

func (r *sinkRun) recover(txns ...[]byte) {
	r.t.Helper()
	if err := r.s.Recover(context.Background(), txns); err != nil {
		r.t.Fatal(err)
	}
}

func (r *sinkRun) finish() {
	r.t.Helper()
	if err := r.s.Finish(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

// crash closes the sink as a failed task does: nothing more becomes visible.
func (r *sinkRun) crash() {
	r.t.Helper()
	if err := r.s.Close(); err != nil {
		r.t.Fatal(err)
	}
}

// visible reads every committed part file of dir, checking that each is
// complete (whole JSON lines of key and seq), and returns its rows as
// sorted "key:seq" strings.
func visible(t *testing.T, dir string) []string {
	t.Helper()
	var rows []string
	for _, name := range listDir(t, dir) {
		if !strings.HasPrefix(name, "part-") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 || data[len(data)-1] != '\n' {
			t.Fatalf("%s is incomplete: %q", name, data)
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			var row struct{ Key, Seq *int64 }
			if err := json.Unmarshal([]byte(line), &row); err != nil || row.Key == nil || row.Seq == nil {
				t.Fatalf("%s: bad line %q (%v)", name, line, err)
			}
			rows = append(rows, fmt.Sprintf("%d:%d", *row.Key, *row.Seq))
		}
	}
	sort.Strings(rows)
	return rows
}

// rowsOfKeys lists key:seq for seqs 1..n of each key, sorted.
func rowsOfKeys(n int64, keys ...int64) []string {
	var out []string
	for _, k := range keys {
		for s := int64(1); s <= n; s++ {
			out = append(out, fmt.Sprintf("%d:%d", k, s))
		}
	}
	sort.Strings(out)
	return out
}

// hidden lists dir's dot files.
func hidden(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, name := range listDir(t, dir) {
		if strings.HasPrefix(name, ".") {
			out = append(out, name)
		}
	}
	return out
}

func checkVisible(t *testing.T, dir string, want []string) {
	t.Helper()
	if got := visible(t, dir); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("visible rows %v, want %v (files %v)", got, want, listDir(t, dir))
	}
}

func TestFileSinkTwoPhase(t *testing.T) {
	alloc := newAlloc(t)
	dir := t.TempDir()
	c := Context{Parallelism: 1, Job: "j", Checkpointing: true}
	r := openSink(t, alloc, dir, c, nil)
	r.write(0, 1, 3)
	txn1 := r.preCommit(1)
	checkVisible(t, dir, nil)
	if got := fmt.Sprint(hidden(t, dir)); got != "[.part-j-0-0-0.jsonl.pending]" {
		t.Errorf("after pre-commit: %s", got)
	}
	r.write(0, 4, 6)
	checkVisible(t, dir, nil)
	r.commit(txn1)
	checkVisible(t, dir, rowsOfKeys(3, 0))
	if got := fmt.Sprint(listDir(t, dir)); got != "[.part-j-0-0-1.jsonl.inprogress part-j-0-0-0.jsonl]" {
		t.Errorf("after commit: %s", got)
	}
	// The commit of checkpoint 2 is lost; checkpoint 3's transaction
	// carries checkpoint 2's part too.
	txn2 := r.preCommit(2)
	r.write(0, 7, 8)
	txn3 := r.preCommit(3)
	var t3 fileTxn
	_ = json.Unmarshal(txn3, &t3)
	if fmt.Sprint(t3.Parts) != "[part-j-0-0-1.jsonl part-j-0-0-2.jsonl]" || t3.Next != 3 || t3.Checkpoint != 3 {
		t.Errorf("transaction 3 %+v", t3)
	}
	checkVisible(t, dir, rowsOfKeys(3, 0))
	r.commit(txn3)
	checkVisible(t, dir, rowsOfKeys(8, 0))
	// Committing again, or an older transaction, is a no-op.
	r.commit(txn2, txn1, txn3)
	checkVisible(t, dir, rowsOfKeys(8, 0))
	// A pre-commit with nothing written still gives a transaction.
	if txn := r.preCommit(4); !strings.Contains(string(txn), `"parts":[]`) {
		t.Errorf("empty transaction %s", txn)
	}
	r.write(0, 9, 10)
	r.finish()
	checkVisible(t, dir, rowsOfKeys(10, 0))
	if h := hidden(t, dir); len(h) != 0 {
		t.Errorf("hidden files after Finish: %v", h)
	}
}

// Crash scenarios: attempt 0 runs up to a failure, attempt 1 restores the
// latest completed checkpoint's transaction.
func TestFileSinkRecover(t *testing.T) {
	ckpt := func(attempt int) Context {
		return Context{Parallelism: 1, Job: "j", Attempt: attempt, Checkpointing: true}
	}
	tests := []struct {
		name string
		// first runs attempt 0 and returns the transaction attempt 1
		// restores (nil: no checkpoint completed).
		first       func(r *sinkRun) []byte
		wantRestore []string // visible after attempt 1 recovered
	}{
		{"pending committed by recover", func(r *sinkRun) []byte {
			r.write(0, 1, 3)
			txn := r.preCommit(1)
			r.write(0, 4, 5)
			return txn
		}, rowsOfKeys(3, 0)},
		{"recover after the final rename", func(r *sinkRun) []byte {
			r.write(0, 1, 3)
			txn := r.preCommit(1)
			r.commit(txn)
			r.write(0, 4, 5)
			return txn
		}, rowsOfKeys(3, 0)},
		{"pending of a checkpoint that never completed", func(r *sinkRun) []byte {
			r.write(0, 1, 3)
			txn := r.preCommit(1)
			r.commit(txn)
			r.write(0, 4, 6)
			_ = r.preCommit(2)
			r.write(0, 7, 7)
			return txn
		}, rowsOfKeys(3, 0)},
		{"parts made final by Finish after the checkpoint", func(r *sinkRun) []byte {
			r.write(0, 1, 3)
			txn := r.preCommit(1)
			r.write(0, 4, 6)
			r.finish()
			checkVisible(r.t, r.s.dir, rowsOfKeys(6, 0))
			return txn
		}, rowsOfKeys(3, 0)},
		{"committed parts of earlier checkpoints stay", func(r *sinkRun) []byte {
			r.write(0, 1, 3)
			r.commit(r.preCommit(1))
			txn := r.preCommit(2) // nothing new
			r.write(0, 4, 4)
			return txn
		}, rowsOfKeys(3, 0)},
		{"restart without a checkpoint", func(r *sinkRun) []byte {
			r.write(0, 1, 3)
			r.commit(r.preCommit(1)) // say the sink committed, but the checkpoint is lost
			r.write(0, 4, 6)
			r.finish()
			return nil
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alloc := newAlloc(t)
			dir := t.TempDir()
			first := openSink(t, alloc, dir, ckpt(0), nil)
			txn := tt.first(first)
			first.crash()

			second := openSink(t, alloc, dir, ckpt(1), nil)
			from := int64(1)
			if txn != nil {
				second.recover(txn)
				checkVisible(t, dir, tt.wantRestore)
				if h := hidden(t, dir); len(h) != 0 {
					t.Errorf("leftovers after Recover: %v", h)
				}
				from = int64(len(tt.wantRestore)) + 1
			}
			// Attempt 1 writes the rest again (its source rewound) and
			// crashes after one more checkpoint; attempt 2 recovers it.
			second.write(0, from, 8)
			txn2 := second.preCommit(10)
			second.write(0, 9, 9)
			second.crash()
			third := openSink(t, alloc, dir, ckpt(2), nil)
			third.recover(txn2)
			third.recover(txn2) // twice: a no-op
			checkVisible(t, dir, rowsOfKeys(8, 0))
			third.write(0, 9, 10)
			third.finish()
			checkVisible(t, dir, rowsOfKeys(10, 0))
			if h := hidden(t, dir); len(h) != 0 {
				t.Errorf("hidden files at the end: %v", h)
			}
		})
	}
}

// A restore at another parallelism: the transactions of the old subtasks
// are spread over the new ones, which commit them and clean up after all
// old subtasks.
func TestFileSinkRecoverRescale(t *testing.T) {
	tests := []struct {
		name       string
		oldP, newP int
		// give[i] lists the old subtasks whose transactions new subtask i gets.
		give [][]int
	}{
		{"2 to 1", 2, 1, [][]int{{0, 1}}},
		{"2 to 1, reversed", 2, 1, [][]int{{1, 0}}},
		{"1 to 3", 1, 3, [][]int{{0}, nil, nil}},
		{"3 to 2", 3, 2, [][]int{{0, 2}, {1}}},
		{"3 to 2, all to subtask 1", 3, 2, [][]int{nil, {2, 0, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alloc := newAlloc(t)
			dir := t.TempDir()
			// Old run: subtask i writes key i: 1..3 before checkpoint 1,
			// 4..5 after; some pre-commit checkpoint 2, which never
			// completes, some finish.
			txns := make([][]byte, tt.oldP)
			var keys []int64
			for i := range tt.oldP {
				r := openSink(t, alloc, dir, Context{Subtask: i, Parallelism: tt.oldP, Job: "j", Checkpointing: true}, map[string]string{"rolling-rows": "2"})
				k := int64(i)
				keys = append(keys, k)
				r.write(k, 1, 3)
				txns[i] = r.preCommit(1)
				r.write(k, 4, 5)
				switch i % 3 {
				case 1:
					_ = r.preCommit(2)
					r.write(k, 6, 6)
				case 2:
					r.finish()
				}
				r.crash()
			}
			var runs []*sinkRun
			for i := range tt.newP {
				runs = append(runs, openSink(t, alloc, dir, Context{Subtask: i, Parallelism: tt.newP, Job: "j", Attempt: 1, Checkpointing: true}, nil))
			}
			for i, r := range runs {
				var mine [][]byte
				for _, old := range tt.give[i] {
					mine = append(mine, txns[old])
				}
				r.recover(mine...)
			}
			checkVisible(t, dir, rowsOfKeys(3, keys...))
			if h := hidden(t, dir); len(h) != 0 {
				t.Errorf("leftovers after Recover: %v", h)
			}
			// The new run writes seqs 4..6 of every key, spread its way.
			for _, k := range keys {
				runs[int(k)%tt.newP].write(k, 4, 6)
			}
			for _, r := range runs {
				r.finish()
			}
			checkVisible(t, dir, rowsOfKeys(6, keys...))
		})
	}
}

func TestFileSinkRollingWithCheckpoints(t *testing.T) {
	alloc := newAlloc(t)
	dir := t.TempDir()
	r := openSink(t, alloc, dir, Context{Parallelism: 1, Checkpointing: true}, map[string]string{"rolling-rows": "2"})
	r.write(0, 1, 5)
	checkVisible(t, dir, nil)
	want := "[.part-0-0-0.jsonl.inprogress .part-0-0-1.jsonl.inprogress .part-0-0-2.jsonl.inprogress]"
	if got := fmt.Sprint(hidden(t, dir)); got != want {
		t.Errorf("in progress %s, want %s", got, want)
	}
	txn := r.preCommit(1)
	checkVisible(t, dir, nil)
	r.commit(txn)
	checkVisible(t, dir, rowsOfKeys(5, 0))
	if got := fmt.Sprint(listDir(t, dir)); got != "[part-0-0-0.jsonl part-0-0-1.jsonl part-0-0-2.jsonl]" {
		t.Errorf("files %s", got)
	}
}

// Commit runs from the checkpoint notification while the task writes.
func TestFileSinkCommitConcurrentWithWrite(t *testing.T) {
	alloc := newAlloc(t)
	dir := t.TempDir()
	r := openSink(t, alloc, dir, Context{Parallelism: 1, Job: "j", Checkpointing: true}, nil)
	var wg sync.WaitGroup
	txns := make(chan []byte, 100)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for txn := range txns {
			if err := r.s.Commit(context.Background(), [][]byte{txn}); err != nil {
				t.Error(err)
			}
		}
	}()
	for i := range int64(50) {
		r.write(0, 2*i+1, 2*i+2)
		txns <- r.preCommit(i + 1)
	}
	close(txns)
	wg.Wait()
	checkVisible(t, dir, rowsOfKeys(100, 0))
	r.finish()
	checkVisible(t, dir, rowsOfKeys(100, 0))
}

// Names never collide: an attempt number seen again (a JobManager that lost
// count) continues after the parts already there.
func TestFileSinkNamesNeverReused(t *testing.T) {
	alloc := newAlloc(t)
	dir := t.TempDir()
	for range 2 {
		r := openSink(t, alloc, dir, Context{Parallelism: 1, Job: "j", Checkpointing: true}, nil)
		r.write(0, 1, 1)
		_ = r.preCommit(1)
		r.write(0, 2, 2)
		r.crash()
	}
	want := "[.part-j-0-0-0.jsonl.pending .part-j-0-0-1.jsonl.inprogress .part-j-0-0-2.jsonl.pending .part-j-0-0-3.jsonl.inprogress]"
	if got := fmt.Sprint(listDir(t, dir)); got != want {
		t.Errorf("files %s, want %s", got, want)
	}
}

func TestFileSinkBadTransactions(t *testing.T) {
	dir := t.TempDir()
	good := fileTxn{V: 1, Sink: "file", Job: "j", Dir: dir, Parts: []string{"part-j-0-0-0.jsonl"}}
	mk := func(edit func(*fileTxn)) []byte {
		txn := good
		edit(&txn)
		b, _ := json.Marshal(txn)
		return b
	}
	tests := []struct {
		name string
		txn  []byte
	}{
		{"garbage", []byte("nope")},
		{"another sink", mk(func(x *fileTxn) { x.Sink = "print" })},
		{"another version", mk(func(x *fileTxn) { x.V = 2 })},
		{"relative directory", mk(func(x *fileTxn) { x.Dir = "out" })},
		{"a path", mk(func(x *fileTxn) { x.Parts = []string{"../part-x"} })},
		{"not a part", mk(func(x *fileTxn) { x.Parts = []string{"passwd"} })},
		{"neither pending nor final", mk(func(*fileTxn) {})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := NewFileSink(map[string]string{"path": dir}, FileAccess{})
			if err := s.Open(context.Background(), Context{Parallelism: 1, Job: "j", Attempt: 1, Checkpointing: true}, sequenceSchema); err != nil {
				t.Fatal(err)
			}
			if err := s.Commit(context.Background(), [][]byte{tt.txn}); !errors.Is(err, ErrTransaction) {
				t.Errorf("Commit: %v, want ErrTransaction", err)
			}
			if err := s.Recover(context.Background(), [][]byte{tt.txn}); !errors.Is(err, ErrTransaction) {
				t.Errorf("Recover: %v, want ErrTransaction", err)
			}
		})
	}
}

// A savepoint of another job is committed, and that job's files are left
// alone otherwise.
func TestFileSinkRecoverOtherJob(t *testing.T) {
	alloc := newAlloc(t)
	dir := t.TempDir()
	old := openSink(t, alloc, dir, Context{Parallelism: 1, Job: "a", Checkpointing: true}, nil)
	old.write(0, 1, 2)
	txn := old.preCommit(1)
	old.write(0, 3, 3)
	old.crash()
	r := openSink(t, alloc, dir, Context{Parallelism: 1, Job: "b", Checkpointing: true}, nil)
	r.recover(txn)
	checkVisible(t, dir, rowsOfKeys(2, 0))
	if got := fmt.Sprint(hidden(t, dir)); got != "[.part-a-0-0-1.jsonl.inprogress]" {
		t.Errorf("hidden %s", got)
	}
}
