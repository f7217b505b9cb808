package batch

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// Grouper assigns rows to groups by the values of key columns. Rows with
// equal keys (nulls equal to nulls) share a group; groups are numbered in
// order of first appearance and remembered across batches.
type Grouper struct {
	index map[string]int32
	keys  []string // group -> encoded key
	key   []byte
}

// NewGrouper returns an empty grouper.
func NewGrouper() *Grouper { return &Grouper{index: map[string]int32{}} }

// Len is the number of groups seen.
func (g *Grouper) Len() int { return len(g.index) }

// Keys returns the encoded key of every group (see AppendKey), indexed by
// group. The slice is the grouper's: do not modify it.
func (g *Grouper) Keys() []string { return g.keys }

// Group returns the group of every row of rec by the named columns, appending
// to dst, and how many groups are new (numbered from the previous Len()).
func (g *Grouper) Group(dst []int32, rec arrow.Record, cols []string) ([]int32, int, error) {
	idx, err := ColumnIndexes(rec.Schema(), cols)
	if err != nil {
		return nil, 0, err
	}
	before := len(g.index)
	for r := 0; r < int(rec.NumRows()); r++ {
		g.key = g.key[:0]
		for _, i := range idx {
			var err error
			if g.key, err = AppendKey(g.key, rec.Column(i), r); err != nil {
				return nil, 0, err
			}
		}
		id, ok := g.index[string(g.key)]
		if !ok {
			id = int32(len(g.index))
			k := string(g.key)
			g.index[k] = id
			g.keys = append(g.keys, k)
		}
		dst = append(dst, id)
	}
	return dst, len(g.index) - before, nil
}

// ColumnIndexes returns the indexes of the named columns of a schema.
func ColumnIndexes(schema *arrow.Schema, cols []string) ([]int, error) {
	idx := make([]int, len(cols))
	for i, c := range cols {
		f := schema.FieldIndices(c)
		if len(f) != 1 {
			return nil, fmt.Errorf("batch: key column %q is not in %s", c, schema)
		}
		idx[i] = f[0]
	}
	return idx, nil
}

// AppendKey appends an unambiguous, process-independent encoding of a[i] to
// key: equal values give equal bytes, and the encoding of a row's key columns
// is what keys state and is hashed into key groups.
func AppendKey(key []byte, a arrow.Array, i int) ([]byte, error) {
	if a.IsNull(i) {
		return append(key, 0), nil
	}
	key = append(key, 1)
	switch v := a.(type) {
	case *array.Boolean:
		if v.Value(i) {
			return append(key, 1), nil
		}
		return append(key, 0), nil
	case *array.Int8:
		return append(key, byte(v.Value(i))), nil
	case *array.Uint8:
		return append(key, v.Value(i)), nil
	case *array.Int16:
		return binary.LittleEndian.AppendUint16(key, uint16(v.Value(i))), nil
	case *array.Uint16:
		return binary.LittleEndian.AppendUint16(key, v.Value(i)), nil
	case *array.Int32:
		return binary.LittleEndian.AppendUint32(key, uint32(v.Value(i))), nil
	case *array.Uint32:
		return binary.LittleEndian.AppendUint32(key, v.Value(i)), nil
	case *array.Date32:
		return binary.LittleEndian.AppendUint32(key, uint32(v.Value(i))), nil
	case *array.Int64:
		return binary.LittleEndian.AppendUint64(key, uint64(v.Value(i))), nil
	case *array.Uint64:
		return binary.LittleEndian.AppendUint64(key, v.Value(i)), nil
	case *array.Timestamp:
		return binary.LittleEndian.AppendUint64(key, uint64(v.Value(i))), nil
	case *array.Float32:
		return binary.LittleEndian.AppendUint32(key, math.Float32bits(v.Value(i))), nil
	case *array.Float64:
		return binary.LittleEndian.AppendUint64(key, math.Float64bits(v.Value(i))), nil
	case *array.String:
		s := v.Value(i)
		key = binary.AppendUvarint(key, uint64(len(s)))
		return append(key, s...), nil
	case *array.Binary:
		b := v.Value(i)
		key = binary.AppendUvarint(key, uint64(len(b)))
		return append(key, b...), nil
	}
	return nil, fmt.Errorf("batch: cannot key by %s", a.DataType())
}
