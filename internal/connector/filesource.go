package connector

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

func init() {
	RegisterSource("file", func(p map[string]string, o Options) (Source, error) { return NewFileSource(p, o.Files) })
}

// linesSchema is the schema of the file source's lines format.
var linesSchema = arrow.NewSchema([]arrow.Field{{Name: "line", Type: arrow.BinaryTypes.String}}, nil)

// FilePosition is where a file source subtask is: the next row comes from
// byte Offset of file File (an index into the sorted list of all the
// source's files; the number of files once the subtask is done), after Line
// lines of that file.
type FilePosition struct {
	File   int
	Offset int64
	Line   int64
}

// FileSource is the "file" source: it reads a file, or the files of a
// directory, as lines, CSV or JSON Lines. File j of the sorted list goes to
// subtask j % parallelism. It is bounded.
//
// It implements [Checkpointed]: a subtask's position names each of its files
// with the byte offset where reading goes on (or done), so a restore at
// another parallelism, which splits the files differently, still reads each
// row once.
type FileSource struct {
	path   string
	access FileAccess
	format string // lines, csv, jsonl
	schema *arrow.Schema
	header bool

	c     Context
	locs  []*time.Location
	files []string // all files, sorted by name
	// todo holds the subtask's files not read to their end yet, in order,
	// each with the position to start from; todo[0] is the current file,
	// its position is pos.
	todo []FilePosition
	pos  FilePosition

	f             *os.File
	br            *bufio.Reader
	cr            *csv.Reader
	csvBase       FilePosition // position where cr started
	headerPending bool
	lineBuf       []byte
	obj           map[string]json.RawMessage
}

// NewFileSource makes a file source from plan parameters (see README.md).
// It checks that path can be read and that access allows it and every file
// it lists.
func NewFileSource(m map[string]string, access FileAccess) (*FileSource, error) {
	p := params{m}
	if err := p.checkKnown("path", "format", "schema", "header"); err != nil {
		return nil, err
	}
	s := &FileSource{access: access}
	var err error
	if s.path, err = p.required("path"); err != nil {
		return nil, err
	}
	if s.format, err = p.oneOf("format", "lines", "lines", "csv", "jsonl"); err != nil {
		return nil, err
	}
	switch s.format {
	case "lines":
		if p.has("schema") {
			return nil, p.bad("schema", m["schema"], "only the csv and jsonl formats take a schema (lines is line: utf8)")
		}
		s.schema = linesSchema
	default:
		if s.schema, err = p.schema("schema"); err != nil {
			return nil, err
		}
		if err := checkSupported(s.schema); err != nil {
			return nil, fmt.Errorf("%w: parameter schema=%q: %w", ErrParams, m["schema"], err)
		}
		if _, err := zones(s.schema); err != nil {
			return nil, fmt.Errorf("%w: parameter schema=%q: %w", ErrParams, m["schema"], err)
		}
	}
	if s.format != "csv" && p.has("header") {
		return nil, p.bad("header", m["header"], "only the csv format has a header")
	}
	if s.header, err = p.boolean("header", false); err != nil {
		return nil, err
	}
	if _, err := s.list(); err != nil {
		return nil, err
	}
	return s, nil
}

// list checks path against the access policy and lists its files, each
// checked too (a symbolic link in an allowed directory may lead out of it).
// Its errors wrap ErrParams.
func (s *FileSource) list() ([]string, error) {
	c := s.access.checker()
	if err := c.check("path", s.path); err != nil {
		return nil, err
	}
	files, err := listFiles(s.path)
	if err != nil {
		return nil, fmt.Errorf("%w: parameter path=%q: %w", ErrParams, s.path, err)
	}
	if s.access.On() {
		for _, f := range files {
			if err := c.checkListed("path", s.path, f); err != nil {
				return nil, err
			}
		}
	}
	return files, nil
}

// listFiles returns path if it is a file, or the regular files in directory
// path sorted by name, skipping names that start with '.' or '_'.
func listFiles(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		_ = f.Close()
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path) // sorted by name
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || strings.HasPrefix(e.Name(), "_") {
			continue
		}
		full := filepath.Join(path, e.Name())
		fi, err := os.Stat(full) // follows symlinks
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		files = append(files, full)
	}
	return files, nil
}

// Schema is line: utf8 for the lines format, else the schema parameter.
func (s *FileSource) Schema() *arrow.Schema { return s.schema }

// Open lists the files (checking them against the access policy again: they
// may have changed since the source was made) and positions the subtask at
// the start of its first.
func (s *FileSource) Open(_ context.Context, c Context) error {
	c, err := c.normalize()
	if err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	s.c = c
	if s.locs, err = zones(s.schema); err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	if s.files, err = s.list(); err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	s.setTodo(s.owned(0))
	slog.Debug("file source open", "path", s.path, "subtask", c.Subtask, "files", len(s.files), "mine", len(s.todo))
	return nil
}

// owned returns the positions of the start of the subtask's files from
// index from on.
func (s *FileSource) owned(from int) []FilePosition {
	var out []FilePosition
	for j := s.c.Subtask; j < len(s.files); j += s.c.Parallelism {
		if j >= from {
			out = append(out, FilePosition{File: j})
		}
	}
	return out
}

// setTodo makes todo the files left to read, closing the current one.
func (s *FileSource) setTodo(todo []FilePosition) {
	s.closeFile()
	s.todo = todo
	s.pos = FilePosition{File: len(s.files)}
	if len(todo) > 0 {
		s.pos = todo[0]
	}
}

// Position is where the next row comes from; call it between calls of Next.
// After a restore at another parallelism the subtask may have more than one
// file started; Position is the current one (see SnapshotPosition).
func (s *FileSource) Position() FilePosition { return s.pos }

// SetPosition makes the next row the one at pos (from Position, for restoring a
// checkpoint); call it after Open, between calls of Next. pos.File must be
// a file of this subtask (or past the last file).
func (s *FileSource) SetPosition(pos FilePosition) error {
	if pos.File < len(s.files) && pos.File%s.c.Parallelism != s.c.Subtask {
		return fmt.Errorf("file source: file %d belongs to subtask %d, not %d", pos.File, pos.File%s.c.Parallelism, s.c.Subtask)
	}
	if pos.File >= len(s.files) {
		s.setTodo(nil)
		return nil
	}
	s.setTodo(append([]FilePosition{pos}, s.owned(pos.File+1)...))
	return nil
}

// fileSourcePosition is the position of a file source subtask: the state
// of every file it owns, by name (its base name in the directory).
type fileSourcePosition struct {
	positionHeader
	Files []fileState `json:"files"`
}

// fileState is where reading a file goes on: at byte Offset after Line
// lines, or nowhere if Done.
type fileState struct {
	Name   string `json:"name"`
	Offset int64  `json:"offset,omitempty"`
	Line   int64  `json:"line,omitempty"`
	Done   bool   `json:"done,omitempty"`
}

// SnapshotPosition returns the state of every file the subtask owns: done,
// or the byte offset and line where the next row starts. Call it between
// calls of Next.
func (s *FileSource) SnapshotPosition() ([]byte, error) {
	p := fileSourcePosition{positionHeader: newPositionHeader("file", s.c), Files: []fileState{}}
	todo := map[int]FilePosition{}
	for i, t := range s.todo {
		if i == 0 {
			t = s.pos
		}
		todo[t.File] = t
	}
	for j := s.c.Subtask; j < len(s.files); j += s.c.Parallelism {
		st := fileState{Name: filepath.Base(s.files[j]), Done: true}
		if t, ok := todo[j]; ok {
			st = fileState{Name: st.Name, Offset: t.Offset, Line: t.Line}
		}
		p.Files = append(p.Files, st)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("file source: %w", err)
	}
	return b, nil
}

// RestorePositions gathers the state of every file from the old subtasks'
// positions and reads the files this subtask owns at its parallelism from
// where they stopped, skipping the done ones; a file the old run did not
// list (added since) is read from its start. A file that was not done and
// is gone is an error: its rows would be lost.
func (s *FileSource) RestorePositions(all [][]byte) error {
	old, err := decodePositions("file", all, func(p *fileSourcePosition) *positionHeader { return &p.positionHeader })
	if err != nil {
		return err
	}
	states := map[string]fileState{}
	owner := map[string]int{}
	for _, o := range old {
		for _, f := range o.Files {
			if prev, ok := owner[f.Name]; ok {
				return fmt.Errorf("%w: file source: file %q is in the positions of subtasks %d and %d", ErrPosition, f.Name, prev, o.Subtask)
			}
			if f.Offset < 0 || f.Line < 0 {
				return fmt.Errorf("%w: file source: file %q at negative offset or line", ErrPosition, f.Name)
			}
			owner[f.Name], states[f.Name] = o.Subtask, f
		}
	}
	listed := map[string]bool{}
	for _, f := range s.files {
		listed[filepath.Base(f)] = true
	}
	for name, st := range states {
		if !st.Done && !listed[name] {
			return fmt.Errorf("%w: file source: file %q of the checkpoint, not read to its end, is gone from %s", ErrPosition, name, s.path)
		}
	}
	var todo []FilePosition
	for j := s.c.Subtask; j < len(s.files); j += s.c.Parallelism {
		st, ok := states[filepath.Base(s.files[j])]
		switch {
		case !ok:
			todo = append(todo, FilePosition{File: j})
		case !st.Done:
			todo = append(todo, FilePosition{File: j, Offset: st.Offset, Line: st.Line})
		}
	}
	s.setTodo(todo)
	slog.Debug("file source restored", "subtask", s.c.Subtask, "old-parallelism", len(old), "files-left", len(todo))
	return nil
}

func (s *FileSource) openFile(pos FilePosition) error {
	name := s.files[pos.File]
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	if pos.Offset > 0 {
		if _, err := f.Seek(pos.Offset, io.SeekStart); err != nil {
			_ = f.Close()
			return fmt.Errorf("file source: seeking %s to %d: %w", name, pos.Offset, err)
		}
	}
	s.f = f
	s.pos = pos
	if s.br == nil {
		s.br = bufio.NewReaderSize(f, 64<<10)
	} else {
		s.br.Reset(f)
	}
	s.headerPending = s.header && pos.Offset == 0
	if s.format == "csv" {
		s.cr = csv.NewReader(s.br)
		s.cr.FieldsPerRecord = s.schema.NumFields()
		s.cr.ReuseRecord = true
		s.csvBase = pos
	}
	return nil
}

func (s *FileSource) closeFile() {
	if s.f != nil {
		_ = s.f.Close()
		s.f, s.cr = nil, nil
	}
}

// advance opens the subtask's current file; it returns io.EOF when there
// is none left.
func (s *FileSource) advance() error {
	if len(s.todo) == 0 {
		s.pos = FilePosition{File: len(s.files)}
		return io.EOF
	}
	return s.openFile(s.todo[0])
}

// fileDone closes the current file, read to its end, and moves to the next.
func (s *FileSource) fileDone() {
	s.closeFile()
	s.setTodo(s.todo[1:])
}

// Next returns the next batch of at most BatchRows rows (a batch may span
// files); the caller owns it and must Release it. It returns io.EOF after
// the subtask's last file. A malformed row is an error naming file:line.
func (s *FileSource) Next(ctx context.Context) (arrow.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b := array.NewRecordBuilder(s.c.Alloc, s.schema)
	defer b.Release()
	rows := 0
	for rows < s.c.BatchRows {
		if s.f == nil {
			if err := s.advance(); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, err
			}
		}
		ok, err := s.readRow(b)
		if err != nil {
			return nil, err
		}
		if !ok {
			s.fileDone()
			continue
		}
		rows++
	}
	if rows == 0 {
		return nil, io.EOF
	}
	return b.NewRecord(), nil
}

// readRow appends the current file's next row to b; false at the end of
// the file.
func (s *FileSource) readRow(b *array.RecordBuilder) (bool, error) {
	if s.format == "csv" {
		return s.readCSV(b)
	}
	for {
		line, err := s.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			return false, fmt.Errorf("file source: reading %s: %w", s.files[s.pos.File], err)
		}
		if s.format == "lines" {
			b.Field(0).(*array.StringBuilder).Append(string(line))
			return true, nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue // blank lines are not records
		}
		if err := s.parseJSONLine(b, line); err != nil {
			return false, fmt.Errorf("file source: %s:%d: %w", s.files[s.pos.File], s.pos.Line, err)
		}
		return true, nil
	}
}

// readLine returns the next line without its "\n" or "\r\n", advancing the
// position; the slice is valid until the next call.
func (s *FileSource) readLine() ([]byte, error) {
	s.lineBuf = s.lineBuf[:0]
	for {
		chunk, err := s.br.ReadSlice('\n')
		s.pos.Offset += int64(len(chunk))
		if errors.Is(err, bufio.ErrBufferFull) {
			s.lineBuf = append(s.lineBuf, chunk...)
			continue
		}
		line := chunk
		if len(s.lineBuf) > 0 {
			s.lineBuf = append(s.lineBuf, chunk...)
			line = s.lineBuf
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return nil, io.EOF
		}
		s.pos.Line++
		line = bytes.TrimSuffix(line, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		return line, nil
	}
}

func (s *FileSource) parseJSONLine(b *array.RecordBuilder, line []byte) error {
	if s.obj == nil {
		s.obj = map[string]json.RawMessage{}
	}
	clear(s.obj)
	if line[0] != '{' {
		return fmt.Errorf("not a JSON object: %.40s", line)
	}
	if err := json.Unmarshal(line, &s.obj); err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	for i, f := range s.schema.Fields() {
		raw, ok := s.obj[f.Name]
		if !ok {
			b.Field(i).AppendNull()
			continue
		}
		if err := appendJSON(b.Field(i), raw, s.locs[i]); err != nil {
			return fmt.Errorf("column %q: %w", f.Name, err)
		}
	}
	return nil
}

func (s *FileSource) readCSV(b *array.RecordBuilder) (bool, error) {
	name := s.files[s.pos.File]
	for {
		rec, err := s.cr.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return false, fmt.Errorf("file source: %s:%d: %w", name, s.csvBase.Line+int64(pe.Line), pe.Err)
			}
			return false, fmt.Errorf("file source: reading %s: %w", name, err)
		}
		last, _ := s.cr.FieldPos(len(rec) - 1)
		s.pos.Offset = s.csvBase.Offset + s.cr.InputOffset()
		s.pos.Line = s.csvBase.Line + int64(last)
		if s.headerPending {
			s.headerPending = false
			continue
		}
		for i, field := range rec {
			if field == "" {
				b.Field(i).AppendNull()
				continue
			}
			if err := appendText(b.Field(i), field, s.locs[i]); err != nil {
				line, _ := s.cr.FieldPos(i)
				return false, fmt.Errorf("file source: %s:%d: column %q: %w", name, s.csvBase.Line+int64(line), s.schema.Field(i).Name, err)
			}
		}
		return true, nil
	}
}

// Close closes the open file, if any.
func (s *FileSource) Close() error {
	s.closeFile()
	return nil
}
