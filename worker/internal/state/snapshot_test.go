package state

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/arrow/batch"
	"github.com/weirflow/weir/internal/keygroup"
)

// all is every key group of a store of maxP key groups.
func all(maxP int) keygroup.Range { return keygroup.Range{Start: 0, End: maxP - 1} }

// rowString renders row i of a state array, "null" for a null row or field.
func rowString(st *array.Struct, i int) string {
	if st.IsNull(i) {
		return "null"
	}
	parts := make([]string, st.NumField())
	for f := range parts {
		a := st.Field(f)
		if a.IsNull(i) {
			parts[f] = "null"
		} else {
			parts[f] = a.ValueStr(i)
		}
	}
	return strings.Join(parts, "|")
}

// dump returns the state row of every key of s as text.
func dump(t *testing.T, s *Store) map[string]string {
	t.Helper()
	var keys []string
	s.KeysInGroups(all(s.maxP), func(k string) { keys = append(keys, k) })
	if len(keys) != s.Len() {
		t.Fatalf("KeysInGroups lists %d keys, Len is %d", len(keys), s.Len())
	}
	st, err := s.Gather(memory.DefaultAllocator, keys)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Release()
	out := make(map[string]string, len(keys))
	for i, k := range keys {
		if _, dup := out[k]; dup {
			t.Fatalf("key %q listed twice", k)
		}
		out[k] = rowString(st, i)
	}
	return out
}

// sameState fails unless got and want hold the same rows.
func sameState(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if maps.Equal(got, want) {
		return
	}
	n := 0
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			if n++; n <= 5 {
				t.Errorf("%s: key %x = %q, want %q (present %v)", what, k, g, w, ok)
			}
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			if n++; n <= 5 {
				t.Errorf("%s: extra key %x = %q", what, k, g)
			}
		}
	}
	t.Fatalf("%s: %d keys differ (%d rows, want %d)", what, n, len(got), len(want))
}

// slowWriter hands the scheduler over on every write, so a snapshot being
// written interleaves with the store's writes.
type slowWriter struct{ bytes.Buffer }

func (w *slowWriter) Write(p []byte) (int, error) {
	runtime.Gosched()
	return w.Buffer.Write(p)
}

// writeAsync writes sn on another goroutine in small batches and releases
// it; the channel yields the bytes once it is released.
func writeAsync(t *testing.T, sn *Snapshot) <-chan []byte {
	sn.maxRows = 37
	out := make(chan []byte, 1)
	go func() {
		var w slowWriter
		n, err := sn.WriteTo(&w)
		if err != nil || n != int64(w.Len()) {
			t.Errorf("WriteTo: %d bytes (%d written), %v", n, w.Len(), err)
		}
		sn.Release()
		out <- w.Bytes()
	}()
	return out
}

func restore(t *testing.T, alloc memory.Allocator, fields []arrow.Field, maxP int, rg keygroup.Range, streams ...[]byte) *Store {
	t.Helper()
	s, err := New(fields, maxP, WithAllocator(alloc))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range streams {
		if _, err := s.Restore(bytes.NewReader(b), rg); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

const modelSchema = "n:int64,s:utf8,b:binary,ok:bool,x:float32"

// model is a store and what it should hold.
type model struct {
	t     *testing.T
	alloc memory.Allocator
	s     *Store
	want  map[string]string
}

func newModel(t *testing.T, alloc memory.Allocator, maxP int) *model {
	fields, _ := batch.ParseSchema(modelSchema)
	s, err := New(fields.Fields(), maxP, WithAllocator(alloc))
	if err != nil {
		t.Fatal(err)
	}
	return &model{t: t, alloc: alloc, s: s, want: map[string]string{}}
}

// scatter sets keys: clear[i] clears key i, else its row gets values from
// v and a utf8 value of slen[i] bytes (every 7th field null).
func (m *model) scatter(keys []string, clear []bool, v int, slen func(i int) int) {
	m.t.Helper()
	valid := make([]bool, len(keys))
	for i := range keys {
		valid[i] = !clear[i]
	}
	st := structOf(m.t, m.alloc, modelSchema, valid, func(b *array.RecordBuilder) {
		for i := range keys {
			x := v + i
			null := func(f int) bool { return clear[i] || (x+f)%7 == 0 }
			if null(0) {
				b.Field(0).AppendNull()
			} else {
				b.Field(0).(*array.Int64Builder).Append(int64(x))
			}
			if null(1) {
				b.Field(1).AppendNull()
			} else {
				b.Field(1).(*array.StringBuilder).Append(strings.Repeat(string(rune('a'+x%26)), slen(i)))
			}
			if null(2) {
				b.Field(2).AppendNull()
			} else {
				b.Field(2).(*array.BinaryBuilder).Append([]byte(fmt.Sprint("bin", x)))
			}
			if null(3) {
				b.Field(3).AppendNull()
			} else {
				b.Field(3).(*array.BooleanBuilder).Append(x%2 == 0)
			}
			if null(4) {
				b.Field(4).AppendNull()
			} else {
				b.Field(4).(*array.Float32Builder).Append(float32(x) / 4)
			}
		}
	})
	defer st.Release()
	if err := m.s.Scatter(keys, st); err != nil {
		m.t.Fatal(err)
	}
	for i, k := range keys {
		if clear[i] {
			delete(m.want, k)
		} else {
			m.want[k] = rowString(st, i)
		}
	}
}

func keyRange(lo, hi int) []string {
	keys := make([]string, 0, hi-lo)
	for i := lo; i < hi; i++ {
		keys = append(keys, benchKey(i))
	}
	return keys
}

func none(n int) []bool { return make([]bool, n) }

// TestSnapshotIsolation mutates a store while another goroutine writes a
// snapshot of it: the written snapshot holds exactly the rows of the moment
// it was taken, and the store exactly the new ones.
func TestSnapshotIsolation(t *testing.T) {
	const n = 3000 // with 2 key groups: ~1500 rows per group, 2 pages each
	cases := []struct {
		name   string
		mutate func(m *model)
	}{
		{"update every key", func(m *model) {
			for lo := 0; lo < n; lo += 500 {
				m.scatter(keyRange(lo, lo+500), none(500), 1000, func(int) int { return 3 })
			}
		}},
		{"new keys", func(m *model) {
			m.scatter(keyRange(n, 2*n), none(n), 5, func(i int) int { return i % 50 })
		}},
		{"clear keys", func(m *model) {
			keys := keyRange(0, n)
			clear := make([]bool, n)
			for i := range clear {
				clear[i] = i%3 != 0
			}
			m.scatter(keys, clear, 0, func(int) int { return 0 })
		}},
		{"clear then reuse rows", func(m *model) {
			all := make([]bool, n)
			for i := range all {
				all[i] = true
			}
			m.scatter(keyRange(0, n), all, 0, func(int) int { return 0 })
			m.scatter(keyRange(2*n, 3*n), none(n), 9, func(i int) int { return i % 9 })
		}},
		{"grow and shrink values", func(m *model) {
			for round, l := range []int{200, 0, 5, 300, 1} {
				m.scatter(keyRange(0, n), none(n), round, func(i int) int { return (l + i) % 301 })
			}
		}},
		{"no writes", func(*model) {}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer alloc.AssertSize(t, 0)
			m := newModel(t, alloc, 2)
			m.scatter(keyRange(0, n), none(n), 0, func(i int) int { return i % 40 })
			before := maps.Clone(m.want)
			sameState(t, "store before", dump(t, m.s), before)

			written := writeAsync(t, m.s.Snapshot())
			c.mutate(m)
			data := <-written

			sameState(t, "store after", dump(t, m.s), m.want)
			got := restore(t, alloc, m.s.fields, 2, all(2), data)
			sameState(t, "snapshot", dump(t, got), before)

			// The pages are the store's alone again: no more copies.
			copies := m.s.copies
			c.mutate(m)
			if m.s.copies != copies {
				t.Fatalf("%d pages copied after the snapshot was released", m.s.copies-copies)
			}
			sameState(t, "store after release", dump(t, m.s), m.want)
		})
	}
}

// TestSnapshotModel runs random writes against a store and a map, taking
// overlapping snapshots written on other goroutines and released in any
// order; each must restore to the map of its moment.
func TestSnapshotModel(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	rnd := rand.New(rand.NewPCG(4, 2))
	m := newModel(t, alloc, 3)
	type taken struct {
		want map[string]string
		data <-chan []byte
	}
	var snaps []taken
	for round := range 300 {
		k := 1 + rnd.IntN(400)
		seen := map[int]bool{}
		var keys []string
		var clear []bool
		for range k {
			id := rnd.IntN(6000)
			if seen[id] {
				continue
			}
			seen[id] = true
			keys = append(keys, benchKey(id))
			clear = append(clear, rnd.IntN(5) == 0)
		}
		m.scatter(keys, clear, round*1000, func(int) int { return rnd.IntN(70) })
		if round%25 == 0 {
			snaps = append(snaps, taken{maps.Clone(m.want), writeAsync(t, m.s.Snapshot())})
		}
	}
	sameState(t, "store", dump(t, m.s), m.want)
	if m.s.copies == 0 {
		t.Fatal("no page was copied on write")
	}
	for i, sn := range snaps {
		got := restore(t, alloc, m.s.fields, 3, all(3), <-sn.data)
		sameState(t, fmt.Sprint("snapshot ", i), dump(t, got), sn.want)
	}
}

// TestCopyOnWrite checks which writes copy a page.
func TestCopyOnWrite(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	m := newModel(t, alloc, 1) // one key group: keys 0-1023 on page 0, the rest on page 1
	m.scatter(keyRange(0, 1500), none(1500), 0, func(int) int { return 4 })
	steps := []struct {
		name   string
		do     func()
		copies int
	}{
		{"no snapshot, no copy", func() { m.scatter(keyRange(0, 2), none(2), 1, func(int) int { return 4 }) }, 0},
		{"snapshot then write page 0", func() {
			sn := m.s.Snapshot()
			t.Cleanup(sn.Release)
			m.scatter(keyRange(0, 2), none(2), 2, func(int) int { return 4 })
		}, 1},
		{"page 0 again", func() { m.scatter(keyRange(5, 600), none(595), 3, func(int) int { return 4 }) }, 1},
		{"page 1 and a new key on it", func() { m.scatter(keyRange(1400, 1600), none(200), 4, func(int) int { return 4 }) }, 2},
		{"released snapshot: writes in place", func() {
			sn := m.s.Snapshot()
			sn.Release()
			m.scatter(keyRange(0, 1600), none(1600), 5, func(int) int { return 4 })
		}, 2},
		{"clearing a key copies its page", func() {
			sn := m.s.Snapshot()
			t.Cleanup(sn.Release)
			m.scatter(keyRange(1200, 1201), []bool{true}, 6, func(int) int { return 4 })
		}, 3},
	}
	for _, st := range steps {
		st.do()
		if m.s.copies != st.copies {
			t.Fatalf("%s: %d pages copied, want %d", st.name, m.s.copies, st.copies)
		}
	}
	sameState(t, "store", dump(t, m.s), m.want)
}

// TestRoundTrip writes and restores every supported state type, nulls
// included.
func TestRoundTrip(t *testing.T) {
	dec := func(p, s int32) arrow.DataType { return &arrow.Decimal128Type{Precision: p, Scale: s} }
	cases := []struct {
		name   string
		typ    arrow.DataType
		values string // JSON values of 4 rows
	}{
		{"int8", arrow.PrimitiveTypes.Int8, `-128, 0, 127, 5`},
		{"int16", arrow.PrimitiveTypes.Int16, `-32768, 0, 32767, 5`},
		{"int32", arrow.PrimitiveTypes.Int32, `-2147483648, 0, 2147483647, 5`},
		{"int64", arrow.PrimitiveTypes.Int64, `-9223372036854775808, 0, 9223372036854775807, 5`},
		{"uint8", arrow.PrimitiveTypes.Uint8, `0, 1, 255, 5`},
		{"uint16", arrow.PrimitiveTypes.Uint16, `0, 1, 65535, 5`},
		{"uint32", arrow.PrimitiveTypes.Uint32, `0, 1, 4294967295, 5`},
		{"uint64", arrow.PrimitiveTypes.Uint64, `0, 1, 18446744073709551615, 5`},
		{"float32", arrow.PrimitiveTypes.Float32, `-1.5, 0, 3.25, 1e30`},
		{"float64", arrow.PrimitiveTypes.Float64, `-1.5, 0, 3.25, 1e300`},
		{"date32", arrow.FixedWidthTypes.Date32, `"1970-01-01", "2000-02-29", "2026-11-21", "1969-12-31"`},
		{"date64", arrow.FixedWidthTypes.Date64, `"1970-01-01", "2000-02-29", "2026-11-21", "1969-12-31"`},
		{"timestamp[ms]", arrow.FixedWidthTypes.Timestamp_ms, `0, 1700000000000, -5, 42`},
		{"timestamp[ns, UTC]", &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}, `0, 1700000000000000000, -5, 42`},
		{"time32[ms]", arrow.FixedWidthTypes.Time32ms, `0, 1000, 86399999, 5`},
		{"time64[us]", arrow.FixedWidthTypes.Time64us, `0, 1000, 86399999999, 5`},
		{"duration[s]", arrow.FixedWidthTypes.Duration_s, `0, -1, 86400, 5`},
		{"decimal128(10,2)", dec(10, 2), `"0", "-12345678.90", "99999999.99", "0.01"`},
		{"fixed_size_binary[3]", &arrow.FixedSizeBinaryType{ByteWidth: 3}, `"AAAA", "////", "AQID", "YWJj"`},
		{"bool", arrow.FixedWidthTypes.Boolean, `true, false, true, false`},
		{"utf8", arrow.BinaryTypes.String, `"", "x", "héllo wörld", "` + strings.Repeat("z", 5000) + `"`},
		{"binary", arrow.BinaryTypes.Binary, `"", "AA==", "/////w==", "aGVsbG8="`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer alloc.AssertSize(t, 0)
			fields := []arrow.Field{
				{Name: "v", Type: c.typ, Nullable: true},
				{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: false},
			}
			vals := strings.Split(c.values, ", ")
			// Rows: the 4 values, a null v, and a null row (no state).
			var rows []string
			for i, v := range vals {
				rows = append(rows, fmt.Sprintf(`{"v": %s, "n": %d}`, v, i))
			}
			rows = append(rows, `{"v": null, "n": 4}`, `null`)
			arr, _, err := array.FromJSON(alloc, arrow.StructOf(fields...), strings.NewReader("["+strings.Join(rows, ",")+"]"))
			if err != nil {
				t.Fatal(err)
			}
			st := arr.(*array.Struct)
			defer st.Release()
			keys := keyRange(0, len(rows))
			s, err := New(fields, 128, WithAllocator(alloc))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Scatter(keys, st); err != nil {
				t.Fatal(err)
			}
			sn := s.Snapshot()
			var buf bytes.Buffer
			if _, err := sn.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			sn.Release()
			got := restore(t, alloc, fields, 128, all(128), buf.Bytes())
			if got.Len() != len(rows)-1 {
				t.Fatalf("restored %d keys, want %d", got.Len(), len(rows)-1)
			}
			before, _ := s.Gather(alloc, keys)
			defer before.Release()
			after, _ := got.Gather(alloc, keys)
			defer after.Release()
			if !array.Equal(st, after) || !array.Equal(before, after) {
				t.Fatalf("restored\n%v\nwant\n%v", after, st)
			}
		})
	}
}

// TestRestoreRescale snapshots a vertex at parallelism 2 and restores it at
// 3 and at 1: every key lands in exactly one subtask, with its value.
func TestRestoreRescale(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	const maxP = 128
	m := newModel(t, alloc, maxP)
	m.scatter(keyRange(0, 5000), none(5000), 0, func(i int) int { return i % 13 })
	fields := m.s.fields
	// The two subtasks at parallelism 2 each hold their key groups.
	var files [][]byte
	for i := range 2 {
		rg := keygroup.RangeOf(maxP, 2, i)
		sn := m.s.Snapshot()
		var buf bytes.Buffer
		if _, err := sn.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		sn.Release()
		sub := restore(t, alloc, fields, maxP, rg, buf.Bytes())
		sn = sub.Snapshot()
		buf.Reset()
		if _, err := sn.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		sn.Release()
		files = append(files, slices.Clone(buf.Bytes()))
	}
	for _, p := range []int{3, 1, 2, 128} {
		union := map[string]string{}
		for i := range p {
			rg := keygroup.RangeOf(maxP, p, i)
			sub := restore(t, alloc, fields, maxP, rg, files...)
			for k, v := range dump(t, sub) {
				if g := keygroup.Of(keygroup.Hash([]byte(k)), maxP); !rg.Contains(g) {
					t.Fatalf("p=%d subtask %d (%v) got key %x of key group %d", p, i, rg, k, g)
				}
				if _, dup := union[k]; dup {
					t.Fatalf("p=%d: key %x restored twice", p, k)
				}
				union[k] = v
			}
		}
		sameState(t, fmt.Sprint("restored at parallelism ", p), union, m.want)
	}
}

// TestRestoreMerges: restoring into a store with rows replaces the rows of
// the keys in the stream and keeps the others.
func TestRestoreMerges(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	a := newModel(t, alloc, 8)
	a.scatter(keyRange(0, 100), none(100), 0, func(int) int { return 2 })
	b := newModel(t, alloc, 8)
	b.scatter(keyRange(50, 150), none(100), 7000, func(int) int { return 9 })
	sn := b.s.Snapshot()
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	sn.Release()
	n, err := a.s.Restore(&buf, all(8))
	if err != nil || n != 100 {
		t.Fatalf("restored %d rows, %v", n, err)
	}
	maps.Copy(a.want, b.want)
	sameState(t, "merged", dump(t, a.s), a.want)
}

func TestSnapshotEmptyAndReleased(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	m := newModel(t, alloc, 128)
	sn := m.s.Snapshot()
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	sn.Release()
	sn.Release() // a second release does nothing
	if _, err := sn.WriteTo(io.Discard); !errors.Is(err, ErrReleased) {
		t.Fatalf("WriteTo after Release: %v", err)
	}
	got := restore(t, alloc, m.s.fields, 128, all(128), buf.Bytes())
	if got.Len() != 0 {
		t.Fatalf("%d rows from an empty snapshot", got.Len())
	}
}

// snapshotBytes returns a snapshot of 200 keys of modelSchema at maxP in
// batches of 16 rows.
func snapshotBytes(t *testing.T, alloc memory.Allocator, maxP int) ([]byte, []arrow.Field) {
	t.Helper()
	m := newModel(t, alloc, maxP)
	m.scatter(keyRange(0, 200), none(200), 0, func(i int) int { return i % 11 })
	sn := m.s.Snapshot()
	defer sn.Release()
	sn.maxRows = 16
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), m.s.fields
}

// stream writes recs as an IPC stream of schema.
func stream(t *testing.T, schema *arrow.Schema, recs ...arrow.Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withMeta returns schema with metadata key k set to v ("" removes it).
func withMeta(schema *arrow.Schema, k, v string) *arrow.Schema {
	md := schema.Metadata()
	var keys, vals []string
	for i, key := range md.Keys() {
		if key != k {
			keys, vals = append(keys, key), append(vals, md.Values()[i])
		}
	}
	if v != "" {
		keys, vals = append(keys, k), append(vals, v)
	}
	m := arrow.NewMetadata(keys, vals)
	return arrow.NewSchema(schema.Fields(), &m)
}

func TestRestoreRefuses(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	good, fields := snapshotBytes(t, alloc, 128)
	schema := streamSchema(fields, 128, 0)
	replace := func(i int, f arrow.Field) []arrow.Field {
		fs := slices.Clone(fields)
		fs[i] = f
		return fs
	}
	cases := []struct {
		name   string
		maxP   int
		fields []arrow.Field
		data   []byte
		want   error
	}{
		{"other version", 128, fields, stream(t, withMeta(schema, metaVersion, "2")), ErrFormat},
		{"no version", 128, fields, stream(t, withMeta(schema, metaVersion, "")), ErrFormat},
		{"plain Arrow stream", 128, fields, stream(t, arrow.NewSchema(fields, nil)), ErrFormat},
		{"other max parallelism", 64, fields, good, ErrMaxParallelism},
		{"field renamed", 128, replace(0, arrow.Field{Name: "m", Type: arrow.PrimitiveTypes.Int64, Nullable: true}), good, ErrSchema},
		{"field of another type", 128, replace(4, arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true}), good, ErrSchema},
		{"field not nullable", 128, replace(1, arrow.Field{Name: "s", Type: arrow.BinaryTypes.String}), good, ErrSchema},
		{"one field less", 128, fields[:4], good, ErrSchema},
		{"one field more", 128, append(slices.Clone(fields), arrow.Field{Name: "y", Type: arrow.PrimitiveTypes.Int8}), good, ErrSchema},
		{"empty input", 128, fields, nil, ErrCorrupt},
		{"not Arrow", 128, fields, []byte("key,value\na,1\n"), ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := New(c.fields, c.maxP, WithAllocator(alloc))
			if err != nil {
				t.Fatal(err)
			}
			n, err := s.Restore(bytes.NewReader(c.data), all(c.maxP))
			if !errors.Is(err, c.want) || n != 0 || s.Len() != 0 {
				t.Fatalf("restored %d rows, error %v; want %v", n, err, c.want)
			}
			t.Log(err)
		})
	}
}

// TestRestoreCorrupt feeds Restore truncated, bit-flipped and hand-made bad
// streams: errors, never a panic.
func TestRestoreCorrupt(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	good, fields := snapshotBytes(t, alloc, 16)
	try := func(data []byte) (int, error) {
		s, err := New(fields, 16, WithAllocator(alloc))
		if err != nil {
			t.Fatal(err)
		}
		s.readLimit = 1 << 20 // flipped lengths must not allocate much
		return s.Restore(bytes.NewReader(data), all(16))
	}
	if n, err := try(good); err != nil || n != 200 {
		t.Fatalf("good stream: %d rows, %v", n, err)
	}
	t.Run("truncated", func(t *testing.T) {
		// The last 8 bytes are the end-of-stream marker; any shorter cut
		// loses rows.
		for cut := 0; cut < len(good)-8; cut += 1 + cut/1024*12 {
			if _, err := try(good[:cut]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("cut at %d of %d: %v", cut, len(good), err)
			}
		}
		for cut := len(good) - 8; cut < len(good); cut++ {
			try(good[:cut])
		}
	})
	t.Run("bit flips", func(t *testing.T) {
		rnd := rand.New(rand.NewPCG(7, 7))
		bad := make([]byte, len(good))
		for range 1000 {
			copy(bad, good)
			for range 1 + rnd.IntN(3) {
				bad[rnd.IntN(len(bad))] ^= byte(1 << rnd.IntN(8))
			}
			try(bad) // must not panic; may succeed with other values
		}
	})

	// Hand-made batches with a valid schema and bad contents.
	schema := streamSchema(fields, 16, 1)
	key, key4 := benchKey(3), benchKey(4)
	group := int32(keygroup.Of(keygroup.Hash([]byte(key)), 16))
	group4 := int32(keygroup.Of(keygroup.Hash([]byte(key4)), 16))
	record := func(keys []string, groups []int32, s *string, mutate func(d []arrow.ArrayData)) arrow.Record {
		b := array.NewRecordBuilder(alloc, schema)
		defer b.Release()
		for i, k := range keys {
			if k == "\x00null" {
				b.Field(0).AppendNull()
			} else {
				b.Field(0).(*array.BinaryBuilder).Append([]byte(k))
			}
			b.Field(1).(*array.Int32Builder).Append(groups[i])
			b.Field(2).(*array.Int64Builder).Append(1)
			if s != nil {
				b.Field(3).(*array.StringBuilder).BinaryBuilder.Append([]byte(*s))
			} else {
				b.Field(3).AppendNull()
			}
			b.Field(4).AppendNull()
			b.Field(5).AppendNull()
			b.Field(6).AppendNull()
		}
		rec := b.NewRecord()
		if mutate == nil {
			return rec
		}
		defer rec.Release()
		datas := make([]arrow.ArrayData, rec.NumCols())
		for i, c := range rec.Columns() {
			datas[i] = c.Data()
		}
		mutate(datas)
		cols := make([]arrow.Array, len(datas))
		for i, d := range datas {
			cols[i] = array.MakeFromData(d)
			defer cols[i].Release()
		}
		return array.NewRecord(schema, cols, rec.NumRows())
	}
	bad := "\xff\xfe"
	ok := "fine"
	cases := []struct {
		name string
		rec  arrow.Record
		rows int
	}{
		{"key in another key group", record([]string{key}, []int32{(group + 1) % 16}, &ok, nil), 1},
		{"key group out of range", record([]string{key}, []int32{16}, &ok, nil), 1},
		{"negative key group", record([]string{key}, []int32{-1}, &ok, nil), 1},
		{"null key", record([]string{"\x00null"}, []int32{group}, &ok, nil), 1},
		{"invalid UTF-8", record([]string{key}, []int32{group}, &bad, nil), 1},
		{"more rows than announced", record([]string{key, key4}, []int32{group, group4}, &ok, nil), 1},
		{"fewer rows than announced", record([]string{key}, []int32{group}, &ok, nil), 2},
		{"offsets decrease", record([]string{key, key4}, []int32{group, group4}, &ok, func(d []arrow.ArrayData) {
			offs := arrow.Int32Traits.CastFromBytes(d[3].Buffers()[1].Bytes())
			offs[1] = offs[2] + 1
		}), 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := stream(t, withMeta(schema, metaRows, fmt.Sprint(c.rows)), c.rec)
			c.rec.Release()
			if _, err := try(data); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v, want %v", err, ErrCorrupt)
			}
		})
	}
}

// TestSnapshotConcurrentWithRestoreAndRelease: a snapshot is written while
// the store restores into itself and other snapshots are taken and
// released, under -race.
func TestSnapshotConcurrentWithRestoreAndRelease(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	m := newModel(t, alloc, 4)
	m.scatter(keyRange(0, 4000), none(4000), 0, func(i int) int { return i % 30 })
	other := newModel(t, alloc, 4)
	other.scatter(keyRange(2000, 6000), none(4000), 100, func(i int) int { return i % 5 })
	osn := other.s.Snapshot()
	var obuf bytes.Buffer
	if _, err := osn.WriteTo(&obuf); err != nil {
		t.Fatal(err)
	}
	osn.Release()

	before := maps.Clone(m.want)
	results := make([]<-chan []byte, 0, 3)
	results = append(results, writeAsync(t, m.s.Snapshot()))
	if _, err := m.s.Restore(bytes.NewReader(obuf.Bytes()), all(4)); err != nil {
		t.Fatal(err)
	}
	maps.Copy(m.want, other.want)
	afterRestore := maps.Clone(m.want)
	results = append(results, writeAsync(t, m.s.Snapshot()))
	m.scatter(keyRange(0, 6000), none(6000), 9, func(i int) int { return i % 3 })
	sameState(t, "first snapshot", dump(t, restore(t, alloc, m.s.fields, 4, all(4), <-results[0])), before)
	sameState(t, "second snapshot", dump(t, restore(t, alloc, m.s.fields, 4, all(4), <-results[1])), afterRestore)
	sameState(t, "store", dump(t, m.s), m.want)
}
