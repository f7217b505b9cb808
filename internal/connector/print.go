package connector

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
)

func init() {
	RegisterSink("print", func(p map[string]string, _ Options) (Sink, error) { return NewPrint(p) })
}

// PrintOutput is where print sinks write unless their Out is set; tests may
// swap it.
var PrintOutput io.Writer = os.Stdout

// printMu keeps the batches of print sinks sharing a writer from
// interleaving mid-line.
var printMu sync.Mutex

// PrintSink is the "print" sink: one line per row, a JSON object with keys
// in schema order, prefixed like Flink's print sink: "<prefix>:<subtask+1>> "
// with a prefix and parallelism > 1, "<prefix>> " with a prefix,
// "<subtask+1>> " with parallelism > 1 and nothing otherwise. Example:
//
//	2> {"word": "the", "count": 13}
type PrintSink struct {
	// Out receives the lines (PrintOutput if nil); set it before Open.
	Out io.Writer

	prefix string
	ident  string
	locs   []*time.Location
	buf    []byte
}

// NewPrint makes a print sink from plan parameters (see README.md).
func NewPrint(m map[string]string) (*PrintSink, error) {
	p := params{m}
	if err := p.checkKnown("prefix"); err != nil {
		return nil, err
	}
	return &PrintSink{prefix: p.str("prefix", "")}, nil
}

// Open computes the line prefix.
func (s *PrintSink) Open(_ context.Context, c Context, schema *arrow.Schema) error {
	c, err := c.normalize()
	if err != nil {
		return fmt.Errorf("print: %w", err)
	}
	if s.locs, err = zones(schema); err != nil {
		return fmt.Errorf("print: %w", err)
	}
	if s.Out == nil {
		s.Out = PrintOutput
	}
	switch {
	case s.prefix != "" && c.Parallelism > 1:
		s.ident = s.prefix + ":" + strconv.Itoa(c.Subtask+1) + "> "
	case s.prefix != "":
		s.ident = s.prefix + "> "
	case c.Parallelism > 1:
		s.ident = strconv.Itoa(c.Subtask+1) + "> "
	}
	return nil
}

// Write prints rec's rows with one Write call; it only reads rec.
func (s *PrintSink) Write(ctx context.Context, rec arrow.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.buf = s.buf[:0]
	for i := range int(rec.NumRows()) {
		s.buf = append(s.buf, s.ident...)
		s.buf = jsonRow(s.buf, rec, i, s.locs, " ")
		s.buf = append(s.buf, '\n')
	}
	printMu.Lock()
	defer printMu.Unlock()
	if _, err := s.Out.Write(s.buf); err != nil {
		return fmt.Errorf("print: %w", err)
	}
	return nil
}

// Finish does nothing: every row is printed when written.
func (s *PrintSink) Finish(context.Context) error { return nil }

// Close does nothing; it does not close Out.
func (s *PrintSink) Close() error { return nil }
