package connector

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
)

func init() {
	RegisterSink("file", func(p map[string]string) (Sink, error) { return NewFileSink(p) })
}

// FileSink is the "file" sink: each subtask writes rows to an in-progress
// file ".part-<subtask>-<n>.<ext>.inprogress" in the directory and, when
// the part is complete (on Finish, or after rolling-rows rows), fsyncs it
// and renames it to "part-<subtask>-<n>.<ext>" ("part-<job>-<subtask>-<n>.<ext>"
// in a cluster, where a restarted attempt first removes the parts its
// subtask wrote before). Readers that skip names
// starting with '.' (like the file source) never see unfinished output.
type FileSink struct {
	dir         string
	format      string // jsonl, csv
	header      bool
	rollingRows int64 // 0: one part per subtask

	c      Context
	schema *arrow.Schema
	locs   []*time.Location
	part   int // n of the current or next part

	f          *os.File
	w          *bufio.Writer
	cw         *csv.Writer
	rowsInPart int64
	tmp, final string
	buf        []byte
	fields     []string
}

// NewFileSink makes a file sink from plan parameters (see README.md).
func NewFileSink(m map[string]string) (*FileSink, error) {
	p := params{m}
	if err := p.checkKnown("path", "format", "header", "rolling-rows"); err != nil {
		return nil, err
	}
	s := &FileSink{}
	var err error
	if s.dir, err = p.required("path"); err != nil {
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

// Open creates the directory if it is missing.
func (s *FileSink) Open(_ context.Context, c Context, schema *arrow.Schema) error {
	c, err := c.normalize()
	if err != nil {
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
	s.c, s.schema = c, schema
	if c.Attempt > 0 {
		if err := s.discardEarlierAttempts(); err != nil {
			return err
		}
	}
	slog.Debug("file sink open", "path", s.dir, "subtask", c.Subtask, "format", s.format)
	return nil
}

// partPrefix starts the name of every part file of this subtask: in a
// cluster it carries the job id, so jobs writing to one directory never touch
// each other's files.
func (s *FileSink) partPrefix() string {
	if s.c.Job == "" {
		return fmt.Sprintf("part-%d-", s.c.Subtask)
	}
	return fmt.Sprintf("part-%s-%d-", s.c.Job, s.c.Subtask)
}

// discardEarlierAttempts removes the part files, finished or not, that this
// subtask wrote in earlier attempts of the same job: a job that restarts from
// scratch writes its output again, and without this a subtask that had
// finished before the failure would leave its rows twice.
func (s *FileSink) discardEarlierAttempts() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	prefix := s.partPrefix()
	for _, e := range entries {
		name := strings.TrimPrefix(e.Name(), ".")
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("file sink: discarding %s of an earlier attempt: %w", e.Name(), err)
		}
		slog.Info("file sink discarded a part of an earlier attempt", "file", e.Name(), "job", s.c.Job, "attempt", s.c.Attempt)
	}
	syncDir(s.dir)
	return nil
}

// InProgress is the path of the part file being written, "" if none.
func (s *FileSink) InProgress() string {
	if s.f == nil {
		return ""
	}
	return s.tmp
}

func (s *FileSink) ext() string { return s.format }

func (s *FileSink) startPart() error {
	name := fmt.Sprintf("%s%d.%s", s.partPrefix(), s.part, s.ext())
	s.final = filepath.Join(s.dir, name)
	s.tmp = filepath.Join(s.dir, "."+name+".inprogress")
	f, err := os.OpenFile(s.tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
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

// commitPart makes the in-progress part final: flush, fsync, rename, fsync
// the directory.
func (s *FileSink) commitPart() error {
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
	if err := os.Rename(s.tmp, s.final); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	syncDir(s.dir)
	slog.Debug("file sink part done", "file", s.final, "rows", s.rowsInPart)
	s.part++
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
			if err := s.commitPart(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Finish makes the in-progress part, if any, a part file. A subtask that
// wrote no rows leaves no file.
func (s *FileSink) Finish(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.f == nil {
		return nil
	}
	return s.commitPart()
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
