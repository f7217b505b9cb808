package connector

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
)

func init() {
	RegisterSink("file", func(p map[string]string, o Options) (Sink, error) { return NewFileSink(p, o.Files) })
}

// FileSink is the "file" sink: each subtask writes rows to part files in
// the directory. A part is written as an in-progress dot file and becomes
// visible only by an atomic rename once complete and fsynced, so a
// "part-*" file is never incomplete and readers that skip names starting
// with '.' (like the file source) never see unfinished output.
//
// Names, with <ext> the format:
//
//	part-<subtask>-<n>.<ext>                      outside a cluster, without checkpoints
//	part-<job>-<subtask>-<attempt>-<n>.<ext>      in a cluster ("part-<subtask>-<attempt>-<n>" with checkpoints outside one)
//	.<part name>.inprogress                       being written
//	.<part name>.pending                          pre-committed: complete, durable, in a checkpoint's transaction
//
// n counts the parts of a subtask in an attempt, from 0 (or after the
// highest already in the directory, so a name is never reused).
//
// Without checkpoints a part becomes final after rolling-rows rows and on
// Finish, and an attempt > 0 first removes what its subtask wrote in
// earlier attempts. With checkpoints it implements [TwoPhase]: parts
// become pending on PreCommit and final on Commit (and on Finish).
type FileSink struct {
	dir         string
	access      FileAccess
	format      string // jsonl, csv
	header      bool
	rollingRows int64 // 0: one part per subtask (per checkpoint with checkpoints)

	c      Context
	schema *arrow.Schema
	locs   []*time.Location
	absDir string
	part   int // n of the current or next part

	f          *os.File
	w          *bufio.Writer
	cw         *csv.Writer
	rowsInPart int64
	tmp, final string
	buf        []byte
	fields     []string

	// closed holds the names of parts rolled over since the last PreCommit:
	// complete and fsynced, still in progress (with checkpoints).
	closed []string
	// scratch is set when an attempt > 0 with checkpoints opened: unless
	// Recover comes first, the first Write, PreCommit or Finish removes what
	// earlier attempts wrote (the job restarted without a checkpoint).
	scratch bool

	mu sync.Mutex
	// uncommitted holds the names of the pending parts not known to be
	// committed, oldest first.
	uncommitted []string
}

// NewFileSink makes a file sink from plan parameters (see README.md). It
// creates nothing; access must allow path.
func NewFileSink(m map[string]string, access FileAccess) (*FileSink, error) {
	p := params{m}
	if err := p.checkKnown("path", "format", "header", "rolling-rows"); err != nil {
		return nil, err
	}
	s := &FileSink{access: access}
	var err error
	if s.dir, err = p.required("path"); err != nil {
		return nil, err
	}
	if err := access.Check("path", s.dir); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(s.dir); err == nil && !fi.IsDir() {
		return nil, p.bad("path", s.dir, "exists and is not a directory")
	}
	if s.format, err = p.oneOf("format", "jsonl", "jsonl", "csv"); err != nil {
		return nil, err
	}
	if s.format != "csv" && p.has("header") {
		return nil, p.bad("header", m["header"], "only the csv format has a header")
	}
	if s.header, err = p.boolean("header", false); err != nil {
		return nil, err
	}
	if s.rollingRows, err = p.int64In("rolling-rows", 0, 1, math.MaxInt64); err != nil {
		return nil, err
	}
	return s, nil
}

// Open creates the directory if it is missing (once the access policy
// allowed it again: it may have changed since the sink was made). An attempt
// > 0 without checkpoints removes the parts its subtask wrote in earlier
// attempts.
func (s *FileSink) Open(_ context.Context, c Context, schema *arrow.Schema) error {
	c, err := c.normalize()
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	if err := s.access.Check("path", s.dir); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	if err := checkSupported(schema); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	if s.locs, err = zones(schema); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	if s.absDir, err = filepath.Abs(s.dir); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	s.c, s.schema = c, schema
	s.part, s.closed, s.scratch, s.uncommitted = 0, nil, false, nil
	if s.attemptNames() {
		// Parts never reuse a name, even if an attempt number comes again.
		err := s.scan(func(name string, p partName) error {
			if p.subtask == c.Subtask && p.attempt == c.Attempt {
				s.part = max(s.part, p.n+1)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	switch {
	case c.Attempt > 0 && c.Checkpointing:
		s.scratch = true
	case c.Attempt > 0:
		if err := s.remove("an earlier attempt", func(p partName) bool {
			return p.subtask == c.Subtask && p.attempt < c.Attempt
		}); err != nil {
			return err
		}
	}
	slog.Debug("file sink open", "path", s.dir, "subtask", c.Subtask, "format", s.format, "attempt", c.Attempt, "checkpointing", c.Checkpointing)
	return nil
}

// attemptNames tells whether part names carry the job and the attempt.
func (s *FileSink) attemptNames() bool { return s.c.Job != "" || s.c.Checkpointing }

// partName is what a part file's name says: subtask, attempt and n, and
// whether it is in progress, pending or final.
type partName struct {
	subtask, attempt, n int
	state               partState
}

type partState int

const (
	partFinal partState = iota
	partInProgress
	partPending
)

// prefix starts the final name of every part of this sink's job.
func (s *FileSink) prefix() string {
	if s.c.Job == "" {
		return "part-"
	}
	return "part-" + s.c.Job + "-"
}

// nameOf is the final name of part n of this subtask and attempt.
func (s *FileSink) nameOf(n int) string {
	if !s.attemptNames() {
		return fmt.Sprintf("part-%d-%d.%s", s.c.Subtask, n, s.format)
	}
	return fmt.Sprintf("%s%d-%d-%d.%s", s.prefix(), s.c.Subtask, s.c.Attempt, n, s.format)
}

func inProgressName(final string) string { return "." + final + ".inprogress" }
func pendingName(final string) string    { return "." + final + ".pending" }

// parse reads name as a part file of this sink's job and format, with the
// job and attempt in its name; false if it is not one.
func (s *FileSink) parse(name string) (partName, bool) {
	var p partName
	rest, hidden := strings.CutPrefix(name, ".")
	if hidden {
		var ok bool
		if rest, ok = strings.CutSuffix(rest, ".inprogress"); ok {
			p.state = partInProgress
		} else if rest, ok = strings.CutSuffix(rest, ".pending"); ok {
			p.state = partPending
		} else {
			return p, false
		}
	}
	rest, ok := strings.CutPrefix(rest, s.prefix())
	if !ok {
		return p, false
	}
	if rest, ok = strings.CutSuffix(rest, "."+s.format); !ok {
		return p, false
	}
	fields := strings.Split(rest, "-")
	if len(fields) != 3 {
		return p, false
	}
	var nums [3]int
	for i, f := range fields {
		v, err := strconv.Atoi(f)
		if err != nil || v < 0 || strconv.Itoa(v) != f {
			return p, false
		}
		nums[i] = v
	}
	p.subtask, p.attempt, p.n = nums[0], nums[1], nums[2]
	return p, true
}

// scan calls fn for every part file of this sink's job in the directory.
func (s *FileSink) scan(fn func(name string, p partName) error) error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	for _, e := range entries {
		if p, ok := s.parse(e.Name()); ok {
			if err := fn(e.Name(), p); err != nil {
				return err
			}
		}
	}
	return nil
}

// remove deletes the part files of this sink's job that match, whatever
// their state (another subtask may delete the same file at the same time).
func (s *FileSink) remove(why string, match func(partName) bool) error {
	removed := 0
	err := s.scan(func(name string, p partName) error {
		if !match(p) {
			return nil
		}
		if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("file sink: discarding %s of %s: %w", name, why, err)
		}
		removed++
		slog.Info("file sink discarded a part of "+why, "file", name, "job", s.c.Job, "subtask", s.c.Subtask, "attempt", s.c.Attempt)
		return nil
	})
	if removed > 0 {
		syncDir(s.dir)
	}
	return err
}

// startOver removes, on the first write of an attempt > 0 with checkpoints
// that did not recover a checkpoint, what earlier attempts wrote: the job
// restarted from scratch. This subtask takes the files of old subtasks
// congruent to it modulo the parallelism.
func (s *FileSink) startOver() error {
	if !s.scratch {
		return nil
	}
	s.scratch = false
	return s.remove("an earlier attempt", func(p partName) bool {
		return p.attempt < s.c.Attempt && p.subtask%s.c.Parallelism == s.c.Subtask
	})
}

// InProgress is the path of the part file being written, "" if none.
func (s *FileSink) InProgress() string {
	if s.f == nil {
		return ""
	}
	return s.tmp
}

func (s *FileSink) startPart() error {
	name := s.nameOf(s.part)
	s.final = filepath.Join(s.dir, name)
	s.tmp = filepath.Join(s.dir, inProgressName(name))
	flags := os.O_CREATE | os.O_TRUNC | os.O_WRONLY
	if s.attemptNames() {
		flags = os.O_CREATE | os.O_EXCL | os.O_WRONLY
	}
	f, err := os.OpenFile(s.tmp, flags, 0o644)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	s.f, s.rowsInPart = f, 0
	if s.w == nil {
		s.w = bufio.NewWriterSize(f, 64<<10)
	} else {
		s.w.Reset(f)
	}
	if s.format == "csv" {
		s.cw = csv.NewWriter(s.w)
		if s.header {
			if err := s.cw.Write(columnNames(s.schema)); err != nil {
				return fmt.Errorf("file sink: writing %s: %w", s.tmp, err)
			}
		}
	}
	return nil
}

// closePart completes the in-progress part: flush, fsync, close. It stays
// in progress; the next part gets the next n.
func (s *FileSink) closePart() error {
	if s.cw != nil {
		s.cw.Flush()
		if err := s.cw.Error(); err != nil {
			return fmt.Errorf("file sink: writing %s: %w", s.tmp, err)
		}
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("file sink: writing %s: %w", s.tmp, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("file sink: fsync %s: %w", s.tmp, err)
	}
	err := s.f.Close()
	s.f, s.cw = nil, nil
	if err != nil {
		return fmt.Errorf("file sink: closing %s: %w", s.tmp, err)
	}
	s.part++
	return nil
}

// commitPart makes the in-progress part final: flush, fsync, rename, fsync
// the directory.
func (s *FileSink) commitPart() error {
	if err := s.closePart(); err != nil {
		return err
	}
	if err := os.Rename(s.tmp, s.final); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	syncDir(s.dir)
	slog.Debug("file sink part done", "file", s.final, "rows", s.rowsInPart)
	return nil
}

// rollPart ends the in-progress part after rolling-rows rows: final at once
// without checkpoints, else closed and left for the next PreCommit.
func (s *FileSink) rollPart() error {
	if !s.c.Checkpointing {
		return s.commitPart()
	}
	if err := s.closePart(); err != nil {
		return err
	}
	s.closed = append(s.closed, filepath.Base(s.final))
	return nil
}

// syncDir makes a rename in dir durable; file systems that cannot fsync a
// directory only get a warning.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err == nil {
		err = d.Sync()
		_ = d.Close()
	}
	if err != nil {
		slog.Warn("file sink: fsync of directory failed", "dir", dir, "err", err)
	}
}

// Write appends rec's rows to the in-progress part, rolling to a new part
// every rolling-rows rows. It only reads rec.
func (s *FileSink) Write(ctx context.Context, rec arrow.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if int(rec.NumCols()) != len(s.locs) {
		return fmt.Errorf("file sink: batch has %d columns, the schema %d", rec.NumCols(), len(s.locs))
	}
	if err := s.startOver(); err != nil {
		return err
	}
	for i := range int(rec.NumRows()) {
		if s.f == nil {
			if err := s.startPart(); err != nil {
				return err
			}
		}
		var err error
		if s.format == "csv" {
			s.fields = s.fields[:0]
			for c := range int(rec.NumCols()) {
				col := rec.Column(c)
				if col.IsNull(i) {
					s.fields = append(s.fields, "")
					continue
				}
				s.buf = appendTextValue(s.buf[:0], col, i, s.locs[c])
				s.fields = append(s.fields, string(s.buf))
			}
			err = s.cw.Write(s.fields)
		} else {
			s.buf = jsonRow(s.buf[:0], rec, i, s.locs, "")
			s.buf = append(s.buf, '\n')
			_, err = s.w.Write(s.buf)
		}
		if err != nil {
			return fmt.Errorf("file sink: writing %s: %w", s.tmp, err)
		}
		s.rowsInPart++
		if s.rollingRows > 0 && s.rowsInPart >= s.rollingRows {
			if err := s.rollPart(); err != nil {
				return err
			}
		}
	}
	return nil
}

// fileTxn is a transaction of the file sink: the pending parts of one
// subtask not known to be committed when checkpoint Checkpoint was taken.
// Next is the n of the subtask's next part: the parts of (Job, Subtask,
// Attempt) with n ≥ Next were written after the checkpoint.
type fileTxn struct {
	V          int      `json:"v"`
	Sink       string   `json:"sink"`
	Job        string   `json:"job"`
	Subtask    int      `json:"subtask"`
	Attempt    int      `json:"attempt"`
	Checkpoint int64    `json:"checkpoint"`
	Dir        string   `json:"dir"`
	Next       int      `json:"next"`
	Parts      []string `json:"parts"` // final names
}

// txnVersion is the version of the file sink's transactions.
const txnVersion = 1

func decodeTxn(b []byte) (*fileTxn, error) {
	var t fileTxn
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%w: file sink: %w", ErrTransaction, err)
	}
	if t.V != txnVersion || t.Sink != "file" {
		return nil, fmt.Errorf("%w: file sink: a transaction of sink %q version %d, want file version %d", ErrTransaction, t.Sink, t.V, txnVersion)
	}
	if !filepath.IsAbs(t.Dir) {
		return nil, fmt.Errorf("%w: file sink: directory %q is not absolute", ErrTransaction, t.Dir)
	}
	for _, p := range t.Parts {
		if !strings.HasPrefix(p, "part-") || filepath.Base(p) != p || strings.ContainsAny(p, `/\`) {
			return nil, fmt.Errorf("%w: file sink: %q is not a part file name", ErrTransaction, p)
		}
	}
	return &t, nil
}

// checkTxnDir refuses a transaction whose directory the access policy does
// not allow (a checkpoint or savepoint names it, not the job's parameters).
func (s *FileSink) checkTxnDir(t *fileTxn) error {
	return s.access.checker().verdict(ErrTransaction, fmt.Sprintf("file sink: directory %q", t.Dir), t.Dir)
}

// preCommitParts makes the in-progress part and the parts rolled over since
// the last PreCommit pending: complete, fsynced, renamed, the directory
// fsynced.
func (s *FileSink) preCommitParts() error {
	if s.f != nil {
		if err := s.closePart(); err != nil {
			return err
		}
		s.closed = append(s.closed, filepath.Base(s.final))
	}
	if len(s.closed) == 0 {
		return nil
	}
	for _, name := range s.closed {
		if err := os.Rename(filepath.Join(s.dir, inProgressName(name)), filepath.Join(s.dir, pendingName(name))); err != nil {
			return fmt.Errorf("file sink: pre-commit: %w", err)
		}
	}
	syncDir(s.dir)
	s.mu.Lock()
	s.uncommitted = append(s.uncommitted, s.closed...)
	s.mu.Unlock()
	s.closed = s.closed[:0]
	return nil
}

// PreCommit makes the in-progress part and the parts rolled over since the
// last PreCommit pending (".part-...pending": complete, fsynced, still
// hidden) and returns a transaction of every pending part not yet committed.
func (s *FileSink) PreCommit(ctx context.Context, checkpoint int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.startOver(); err != nil {
		return nil, err
	}
	if err := s.preCommitParts(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	parts := slices.Clone(s.uncommitted)
	s.mu.Unlock()
	if parts == nil {
		parts = []string{}
	}
	b, err := json.Marshal(fileTxn{
		V: txnVersion, Sink: "file", Job: s.c.Job, Subtask: s.c.Subtask, Attempt: s.c.Attempt,
		Checkpoint: checkpoint, Dir: s.absDir, Next: s.part, Parts: parts,
	})
	if err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	slog.Debug("file sink pre-committed", "checkpoint", checkpoint, "subtask", s.c.Subtask, "parts", len(parts))
	return b, nil
}

// commitParts renames the pending parts of dir to their final names; a
// part already final (and no longer pending) is left alone.
func commitParts(dir string, parts []string) error {
	renamed := false
	for _, name := range parts {
		final := filepath.Join(dir, name)
		err := os.Rename(filepath.Join(dir, pendingName(name)), final)
		if err == nil {
			renamed = true
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("file sink: commit: %w", err)
		}
		if _, err := os.Stat(final); err != nil {
			return fmt.Errorf("%w: file sink: %s is neither pending nor committed in %s: %w", ErrTransaction, name, dir, err)
		}
	}
	if renamed {
		syncDir(dir)
	}
	return nil
}

// Commit renames the transactions' pending parts to their final names
// ("part-..."); parts already final are left alone, a part neither pending
// nor final is an error wrapping ErrTransaction. It may run concurrently
// with Write and PreCommit.
func (s *FileSink) Commit(ctx context.Context, txns [][]byte) error {
	for _, b := range txns {
		if err := ctx.Err(); err != nil {
			return err
		}
		t, err := decodeTxn(b)
		if err != nil {
			return err
		}
		if err := s.checkTxnDir(t); err != nil {
			return err
		}
		if err := commitParts(t.Dir, t.Parts); err != nil {
			return err
		}
		if t.Dir == s.absDir {
			s.forget(t.Parts)
		}
	}
	return nil
}

// forget drops committed parts from uncommitted.
func (s *FileSink) forget(parts []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uncommitted = slices.DeleteFunc(s.uncommitted, func(name string) bool { return slices.Contains(parts, name) })
}

// Recover commits the transactions (of any old subtasks, at any
// parallelism) and removes what the job's earlier attempts wrote after the
// checkpoint, in any state (in progress, pending, and final parts made
// final by Finish): every file of attempts after the checkpoint's (and
// before this one), and, for each old subtask whose transaction it got, the
// parts numbered from the transaction's Next on. Transactions of another job
// (a savepoint) are committed only.
func (s *FileSink) Recover(ctx context.Context, txns [][]byte) error {
	s.scratch = false
	var mine []*fileTxn
	for _, b := range txns {
		if err := ctx.Err(); err != nil {
			return err
		}
		t, err := decodeTxn(b)
		if err != nil {
			return err
		}
		if err := s.checkTxnDir(t); err != nil {
			return err
		}
		if err := commitParts(t.Dir, t.Parts); err != nil {
			return err
		}
		if t.Job == s.c.Job && t.Dir == s.absDir && s.attemptNames() {
			mine = append(mine, t)
		}
	}
	if len(mine) == 0 {
		return nil
	}
	checkpointAttempt := -1
	for _, t := range mine {
		checkpointAttempt = max(checkpointAttempt, t.Attempt)
	}
	after := func(p partName) bool {
		if p.attempt >= s.c.Attempt {
			return false // this attempt's, or an attempt number seen again
		}
		if p.attempt > checkpointAttempt {
			return true
		}
		for _, t := range mine {
			if p.subtask == t.Subtask && p.attempt == t.Attempt && p.n >= t.Next {
				return true
			}
		}
		return false
	}
	if err := s.remove("an attempt after the checkpoint", after); err != nil {
		return err
	}
	slog.Info("file sink recovered", "subtask", s.c.Subtask, "transactions", len(txns), "checkpoint-attempt", checkpointAttempt)
	return nil
}

// Finish makes everything final: without checkpoints the in-progress part;
// with them also the parts rolled over and the pending ones (Finish is the
// last commit). A subtask that wrote no rows leaves no file.
func (s *FileSink) Finish(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.startOver(); err != nil {
		return err
	}
	s.mu.Lock()
	pending := len(s.uncommitted) > 0
	s.mu.Unlock()
	if !pending && len(s.closed) == 0 {
		if s.f == nil {
			return nil
		}
		return s.commitPart()
	}
	if err := s.preCommitParts(); err != nil {
		return err
	}
	s.mu.Lock()
	parts := slices.Clone(s.uncommitted)
	s.mu.Unlock()
	if err := commitParts(s.dir, parts); err != nil {
		return err
	}
	s.forget(parts)
	return nil
}

// Close closes an in-progress part without making it visible: it stays a
// dot file.
func (s *FileSink) Close() error {
	if s.f == nil {
		return nil
	}
	var errs []error
	if s.cw != nil {
		s.cw.Flush()
	}
	if err := s.w.Flush(); err != nil {
		errs = append(errs, err)
	}
	if err := s.f.Close(); err != nil {
		errs = append(errs, err)
	}
	s.f, s.cw = nil, nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("file sink: closing %s: %w", s.tmp, err)
	}
	return nil
}
