// Package conformance runs the language-neutral ABI test vectors of
// abi/testdata against a guest module through the real host, and reports
// each case with pass/fail and the first difference.
package conformance

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/arrow/batch"
)

// ErrVector is wrapped by errors about malformed vector files.
var ErrVector = errors.New("conformance: bad vector")

// Case is one test vector (abi/testdata/README.md).
type Case struct {
	File        string     `json:"-"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Kind        string     `json:"kind"`
	Function    string     `json:"function"`
	Params      string     `json:"params"`
	Input       *Batch     `json:"input"`
	Expect      *Batch     `json:"expect"`
	ExpectError string     `json:"expectError"`
	OpenError   string     `json:"openError"`
	Keys        []int32    `json:"keys"`
	State       *Batch     `json:"state"`
	ExpectState *Batch     `json:"expectState"`
	Aggregate   *Aggregate `json:"aggregate"`
}

// Batch is a batch written as JSON.
type Batch struct {
	Rows    *int     `json:"rows"`
	Valid   []bool   `json:"valid"`
	Columns []Column `json:"columns"`
}

// Column is one column of a Batch.
type Column struct {
	Name   string            `json:"name"`
	Type   string            `json:"type"`
	Values []json.RawMessage `json:"values"`
	Slice  []int             `json:"slice"`
}

// Aggregate describes the calls of an aggregate case.
type Aggregate struct {
	Accumulators int        `json:"accumulators"`
	Add          []AggInput `json:"add"`
	Merge        *AggMerge  `json:"merge"`
}

// AggInput is one weir_agg_add call.
type AggInput struct {
	Input  Batch   `json:"input"`
	Groups []int32 `json:"groups"`
}

// AggMerge builds a second accumulator array and merges it into the first.
type AggMerge struct {
	Accumulators int        `json:"accumulators"`
	Add          []AggInput `json:"add"`
	Groups       []int32    `json:"groups"`
}

// Load reads every vectors/*.json file under dir, sorted by file and order.
func Load(dir string) ([]Case, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: no *.json files in %s", ErrVector, dir)
	}
	slices.Sort(files)
	var all []Case
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var doc struct {
			Cases []Case `json:"cases"`
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrVector, f, err)
		}
		for _, c := range doc.Cases {
			c.File = filepath.Base(f)
			if c.Name == "" || seen[c.Name] {
				return nil, fmt.Errorf("%w: %s: empty or duplicate case name %q", ErrVector, f, c.Name)
			}
			seen[c.Name] = true
			all = append(all, c)
		}
	}
	return all, nil
}

// ParseType returns the Arrow type of a vector type name (see batch.ParseType).
func ParseType(s string) (arrow.DataType, error) {
	dt, err := batch.ParseType(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVector, err)
	}
	return dt, nil
}

// Fields returns the schema fields of the batch (all nullable).
func (b *Batch) Fields() ([]arrow.Field, error) {
	fields := make([]arrow.Field, len(b.Columns))
	for i, c := range b.Columns {
		dt, err := ParseType(c.Type)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		fields[i] = arrow.Field{Name: c.Name, Type: dt, Nullable: true}
	}
	return fields, nil
}

// Record builds the batch as a record (columns sliced as the vector says).
// The caller releases it.
func (b *Batch) Record(alloc memory.Allocator) (arrow.Record, error) {
	fields, err := b.Fields()
	if err != nil {
		return nil, err
	}
	cols, rows, err := b.arrays(alloc, fields)
	if err != nil {
		return nil, err
	}
	defer release(cols)
	return array.NewRecord(arrow.NewSchema(fields, nil), cols, int64(rows)), nil
}

// Struct builds the batch as a struct array with the batch's row validity.
// The caller releases it.
func (b *Batch) Struct(alloc memory.Allocator) (*array.Struct, error) {
	fields, err := b.Fields()
	if err != nil {
		return nil, err
	}
	cols, rows, err := b.arrays(alloc, fields)
	if err != nil {
		return nil, err
	}
	defer release(cols)
	if b.Valid != nil && len(b.Valid) != rows {
		return nil, fmt.Errorf("%w: %d valid flags for %d rows", ErrVector, len(b.Valid), rows)
	}
	var bitmap *memory.Buffer
	nulls := 0
	if slices.Contains(b.Valid, false) {
		vb := array.NewBooleanBuilder(alloc)
		vb.AppendValues(b.Valid, nil)
		va := vb.NewBooleanArray()
		vb.Release()
		defer va.Release()
		bitmap = va.Data().Buffers()[1]
		for _, v := range b.Valid {
			if !v {
				nulls++
			}
		}
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	if len(cols) == 0 {
		data := array.NewData(arrow.StructOf(), rows, []*memory.Buffer{bitmap}, nil, nulls, 0)
		defer data.Release()
		return array.NewStructData(data), nil
	}
	return array.NewStructArrayWithNulls(cols, names, bitmap, nulls, 0)
}

func release(cols []arrow.Array) {
	for _, c := range cols {
		if c != nil {
			c.Release()
		}
	}
}

func (b *Batch) arrays(alloc memory.Allocator, fields []arrow.Field) ([]arrow.Array, int, error) {
	cols := make([]arrow.Array, len(fields))
	rows := -1
	if b.Rows != nil {
		rows = *b.Rows
	}
	for i, c := range b.Columns {
		a, err := buildArray(alloc, fields[i].Type, c.Values)
		if err != nil {
			release(cols)
			return nil, 0, fmt.Errorf("%w: column %q: %w", ErrVector, c.Name, err)
		}
		if c.Slice != nil {
			if len(c.Slice) != 2 || c.Slice[0] < 0 || c.Slice[1] < 0 || c.Slice[0]+c.Slice[1] > a.Len() {
				a.Release()
				release(cols)
				return nil, 0, fmt.Errorf("%w: column %q: slice %v outside %d values", ErrVector, c.Name, c.Slice, a.Len())
			}
			s := array.NewSlice(a, int64(c.Slice[0]), int64(c.Slice[0]+c.Slice[1]))
			a.Release()
			a = s
		}
		cols[i] = a
		if rows >= 0 && a.Len() != rows {
			release(cols)
			return nil, 0, fmt.Errorf("%w: column %q has %d rows, batch %d", ErrVector, c.Name, a.Len(), rows)
		}
		rows = a.Len()
	}
	if rows < 0 {
		rows = 0
		if b.Valid != nil {
			rows = len(b.Valid)
		}
	}
	return cols, rows, nil
}

func buildArray(alloc memory.Allocator, dt arrow.DataType, vals []json.RawMessage) (arrow.Array, error) {
	bld := array.NewBuilder(alloc, dt)
	defer bld.Release()
	for i, raw := range vals {
		if string(raw) == "null" {
			bld.AppendNull()
			continue
		}
		if err := appendValue(bld, raw); err != nil {
			return nil, fmt.Errorf("value %d (%s): %w", i, raw, err)
		}
	}
	return bld.NewArray(), nil
}

func appendValue(bld array.Builder, raw json.RawMessage) error {
	intOf := func() (int64, error) { return strconv.ParseInt(string(raw), 10, 64) }
	switch b := bld.(type) {
	case *array.BooleanBuilder:
		var v bool
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		b.Append(v)
	case *array.Int8Builder:
		v, err := strconv.ParseInt(string(raw), 10, 8)
		b.Append(int8(v))
		return err
	case *array.Int16Builder:
		v, err := strconv.ParseInt(string(raw), 10, 16)
		b.Append(int16(v))
		return err
	case *array.Int32Builder:
		v, err := strconv.ParseInt(string(raw), 10, 32)
		b.Append(int32(v))
		return err
	case *array.Int64Builder:
		v, err := intOf()
		b.Append(v)
		return err
	case *array.Uint8Builder:
		v, err := strconv.ParseUint(string(raw), 10, 8)
		b.Append(uint8(v))
		return err
	case *array.Uint16Builder:
		v, err := strconv.ParseUint(string(raw), 10, 16)
		b.Append(uint16(v))
		return err
	case *array.Uint32Builder:
		v, err := strconv.ParseUint(string(raw), 10, 32)
		b.Append(uint32(v))
		return err
	case *array.Uint64Builder:
		v, err := strconv.ParseUint(string(raw), 10, 64)
		b.Append(v)
		return err
	case *array.Float32Builder:
		v, err := parseFloat(raw, 32)
		b.Append(float32(v))
		return err
	case *array.Float64Builder:
		v, err := parseFloat(raw, 64)
		b.Append(v)
		return err
	case *array.StringBuilder:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		b.Append(s)
	case *array.BinaryBuilder:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		v, err := hex.DecodeString(s)
		if err != nil {
			return err
		}
		b.Append(v)
	case *array.TimestampBuilder:
		v, err := intOf()
		b.Append(arrow.Timestamp(v))
		return err
	case *array.Date32Builder:
		v, err := strconv.ParseInt(string(raw), 10, 32)
		b.Append(arrow.Date32(v))
		return err
	default:
		return fmt.Errorf("unsupported builder %T", bld)
	}
	return nil
}

func parseFloat(raw json.RawMessage, bits int) (float64, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		case "-0":
			return math.Copysign(0, -1), nil
		}
		return 0, fmt.Errorf("unknown float string %q", s)
	}
	return strconv.ParseFloat(string(raw), bits)
}
