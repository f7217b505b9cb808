//go:build !wasip1

package weir

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

func init() {
	Map("t_identity", func(op *Operator) (MapFunc, error) {
		op.Output = op.Input
		return func(in *Batch, out *Builder) error { return out.AppendBatch(in) }, nil
	})
	Map("t_scale", func(op *Operator) (MapFunc, error) {
		x, err := op.Input.Lookup("x", Float64)
		if err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(op.Params, 64)
		if err != nil {
			return nil, err
		}
		op.Output = Schema{{Name: "y", Type: Float64}}
		return func(in *Batch, out *Builder) error {
			xs := in.Float64(x)
			ys := out.Float64(0).ExtendValidity(xs.Validity())
			for i, v := range xs.Values() {
				ys[i] = v * f
			}
			return nil
		}, nil
	})
	Map("t_upper", func(op *Operator) (MapFunc, error) {
		s, err := op.Input.Lookup("s", Utf8)
		if err != nil {
			return nil, err
		}
		op.Output = Schema{{Name: "s", Type: Utf8}, {Name: "n", Type: Int32}}
		return func(in *Batch, out *Builder) error {
			col := in.Utf8(s)
			data := out.Utf8(0).AppendColumn(col)
			for i, c := range data {
				if c >= 'a' && c <= 'z' {
					data[i] = c - 32
				}
			}
			n := out.Int32(1)
			for i := range col.Len() {
				if col.IsNull(i) {
					n.AppendNull()
				} else {
					n.Append(int32(len(col.Value(i))))
				}
			}
			return nil
		}, nil
	})
	Map("t_not", func(op *Operator) (MapFunc, error) {
		b, err := op.Input.Lookup("b", Bool)
		if err != nil {
			return nil, err
		}
		op.Output = Schema{{Name: "b", Type: Bool}, {Name: "copy", Type: Bool}}
		return func(in *Batch, out *Builder) error {
			c := in.Bool(b)
			o := out.Bool(0)
			for i := range c.Len() {
				if c.IsNull(i) {
					o.AppendNull()
				} else {
					o.Append(!c.Value(i))
				}
			}
			out.Bool(1).AppendColumn(c)
			return nil
		}, nil
	})
	FlatMap("t_split", func(op *Operator) (MapFunc, error) {
		op.Output = Schema{{Name: "w", Type: Utf8}}
		return func(in *Batch, out *Builder) error {
			c := in.Utf8(0)
			w := out.Utf8(0)
			for i := range c.Len() {
				if c.IsNull(i) {
					w.AppendNull()
					continue
				}
				for _, f := range strings.Fields(c.Value(i)) {
					copy(w.AppendSlot(len(f)), f)
				}
			}
			return nil
		}, nil
	})
	Filter("t_even", func(op *Operator) (FilterFunc, error) {
		x, err := op.Input.Lookup("x", Int64)
		if err != nil {
			return nil, err
		}
		mode := op.Params
		return func(in *Batch, sel *Selection) error {
			xs := in.Int64(x)
			v := xs.Values()
			switch mode {
			case "all":
				sel.KeepAll()
			case "none":
				sel.KeepNone()
			case "bits":
				bits := sel.Bits()
				for i, x := range v {
					if x%2 == 0 {
						bits[i>>3] |= 1 << (i & 7)
					}
				}
				sel.Mask(xs.Validity())
			case "keep":
				for i, x := range v {
					if xs.IsValid(i) && x%2 == 0 {
						sel.Keep(i)
					}
				}
			case "set":
				sel.KeepAll()
				for i, x := range v {
					sel.Set(i, xs.IsValid(i) && x%2 == 0)
				}
			case "bools":
				keep := make([]bool, len(v))
				for i, x := range v {
					keep[i] = x%2 == 0
				}
				sel.SetBools(keep)
				sel.Mask(xs.Validity())
			case "append":
				for i, x := range v {
					if x%2 == 0 {
						sel.Append(i)
					}
				}
				sel.Mask(xs.Validity())
			case "reverse":
				for i := len(v) - 1; i >= 0; i-- {
					if xs.IsValid(i) && v[i]%2 == 0 {
						sel.Append(i)
					}
				}
			case "allmask":
				sel.KeepAll()
				for i, x := range v {
					if x%2 != 0 {
						sel.Set(i, false)
					}
				}
				sel.Mask(xs.Validity())
			}
			return nil
		}, nil
	})
	Process("t_count", func(op *Operator) (ProcessFunc, error) {
		key, err := op.Input.Lookup("key", Int64)
		if err != nil {
			return nil, err
		}
		op.Output = Schema{{Name: "key", Type: Int64}, {Name: "count", Type: Int64}, {Name: "had", Type: Bool}}
		op.State = Schema{{Name: "count", Type: Int64}, {Name: "last", Type: Utf8}}
		return func(in *Batch, keys []int32, st *Table, out *Builder) error {
			counts, last := st.Int64(0), st.Strings(1)
			kc := in.Int64(key)
			out.Int64(0).AppendColumn(kc)
			cs := out.Int64(1)
			had := out.Bool(2)
			for i, k := range keys {
				had.Append(st.Exists(int(k)))
				counts[k]++
				cs.Append(counts[k])
				last[k] = "seen " + strconv.Itoa(int(counts[k]))
				if kc.Value(i) < 0 {
					st.Clear(int(k))
				}
			}
			return nil
		}, nil
	})
	Aggregate("t_minsum", func(op *Operator) (*Aggregator, error) {
		x, err := op.Input.Lookup("x", Int64)
		if err != nil {
			return nil, err
		}
		op.State = Schema{{Name: "sum", Type: Int64}, {Name: "min", Type: Int64}, {Name: "any", Type: Bool}}
		op.Output = Schema{{Name: "sum", Type: Int64}, {Name: "min", Type: Int64}}
		return &Aggregator{
			Init: func(acc *Table) error {
				for k := range acc.Int64(1) {
					acc.Int64(1)[k] = math.MaxInt64
				}
				return nil
			},
			Add: func(acc *Table, in *Batch, groups []int32) error {
				xs := in.Int64(x)
				sum, mn, any := acc.Int64(0), acc.Int64(1), acc.Bool(2)
				for i, g := range groups {
					if xs.IsValid(i) {
						v := xs.Value(i)
						sum[g] += v
						mn[g] = min(mn[g], v)
						any[g] = true
					}
				}
				return nil
			},
			Merge: func(acc, other *Table, groups []int32) error {
				sum, mn, any := acc.Int64(0), acc.Int64(1), acc.Bool(2)
				osum, omn, oany := other.Int64(0), other.Int64(1), other.Bool(2)
				for i, g := range groups {
					sum[g] += osum[i]
					mn[g] = min(mn[g], omn[i])
					any[g] = any[g] || oany[i]
				}
				return nil
			},
			Result: func(acc *Table, out *Builder) error {
				sum, mn, any := acc.Int64(0), acc.Int64(1), acc.Bool(2)
				out.Int64(0).AppendValues(sum)
				m := out.Int64(1)
				for k := range acc.Len() {
					if any[k] {
						m.Append(mn[k])
					} else {
						m.AppendNull()
					}
				}
				return nil
			},
		}, nil
	})
	Map("t_panic", func(op *Operator) (MapFunc, error) {
		op.Output = op.Input
		return func(in *Batch, out *Builder) error {
			var s []int
			_ = s[in.Len()+3]
			return nil
		}, nil
	})
	Map("t_error", func(op *Operator) (MapFunc, error) {
		op.Output = op.Input
		return func(in *Batch, out *Builder) error { return errors.New(op.Params) }, nil
	})
	Map("t_rows", func(op *Operator) (MapFunc, error) {
		op.Output = Schema{{Name: "a", Type: Int64}, {Name: "b", Type: Int64}}
		return func(in *Batch, out *Builder) error {
			out.Int64(0).Extend(in.Len())
			if op.Params == "ragged" {
				out.Int64(1).Extend(in.Len() + 1)
			} else {
				out.Int64(1).Extend(in.Len() - 1)
				out.Int64(0).Extend(0)
				out.Int64(0).Reset()
				out.Int64(0).Extend(in.Len() - 1)
			}
			return nil
		}, nil
	})
	Map("t_noschema", func(op *Operator) (MapFunc, error) {
		return func(in *Batch, out *Builder) error { return nil }, nil
	})
	Map("t_openpanic", func(op *Operator) (MapFunc, error) {
		panic("bad params " + op.Params)
	})
}

var (
	fX   = Field{Name: "x", Type: Float64}
	fI   = Field{Name: "x", Type: Int64}
	fS   = Field{Name: "s", Type: Utf8}
	fKey = Field{Name: "key", Type: Int64}
)

func TestMapScale(t *testing.T) {
	o := mustOpen(t, KindMap, "t_scale", "2", Schema{fX})
	if o.out.String() != "y:float64" {
		t.Fatalf("output schema %v", o.out)
	}
	tests := []struct {
		name     string
		vals     []any
		off, n   int
		expected []any
	}{
		{"plain", []any{1.0, 2.0, 3.5}, 0, -1, []any{2.0, 4.0, 7.0}},
		{"nulls", []any{1.0, nil, 3.0}, 0, -1, []any{2.0, nil, 6.0}},
		{"offset 3", []any{9.0, 9.0, nil, 1.0, nil, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, nil, 8.0}, 3, -1,
			[]any{2.0, nil, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, nil, 16.0}},
		{"offset 5 short", []any{9.0, 9.0, 9.0, 9.0, 9.0, nil, 1.0, 9.0}, 5, 2, []any{nil, 2.0}},
		{"offset 11", []any{0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, nil, 1.0, nil}, 11, -1, []any{nil, 2.0, nil}},
		{"empty", []any{}, 0, -1, []any{}},
		{"NaN and inf", []any{math.NaN(), math.Inf(1)}, 0, -1, []any{math.NaN(), math.Inf(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := buildBatch(t, []col{{fX, tt.vals}}, tt.off, tt.n)
			if st, msg := call(func() int32 { return abiMap(o.h, in, o.ret) }); st != 0 {
				t.Fatalf("status %d: %s", st, msg)
			}
			got := columnValues(readBatch(t, slot(o.ret, 0), o.out), 0)
			if !equalValues(got, tt.expected) {
				t.Errorf("got %s, want %s", fmtValues(got), fmtValues(tt.expected))
			}
		})
	}
}

func TestMapStrings(t *testing.T) {
	o := mustOpen(t, KindMap, "t_upper", "", Schema{fS})
	vals := []any{"skip", "me", "hello", nil, "wörld", "", "a-z{}", nil, "x"}
	in := buildBatch(t, []col{{fS, vals}}, 2, -1)
	if st, msg := call(func() int32 { return abiMap(o.h, in, o.ret) }); st != 0 {
		t.Fatalf("status %d: %s", st, msg)
	}
	b := readBatch(t, slot(o.ret, 0), o.out)
	want := []any{"HELLO", nil, "WöRLD", "", "A-Z{}", nil, "X"}
	if got := columnValues(b, 0); !equalValues(got, want) {
		t.Errorf("s = %s, want %s", fmtValues(got), fmtValues(want))
	}
	wantN := []any{5, nil, 6, 0, 5, nil, 1}
	if got := columnValues(b, 1); !equalValues(got, wantN) {
		t.Errorf("n = %s, want %s", fmtValues(got), fmtValues(wantN))
	}
	// The data buffer of a null may be anything but the offsets stay monotonic.
	offs := b.Utf8(0).Offsets()
	for i := 1; i < len(offs); i++ {
		if offs[i] < offs[i-1] {
			t.Errorf("offsets not monotonic: %v", offs)
		}
	}
}

func TestMapBool(t *testing.T) {
	fb := Field{Name: "b", Type: Bool}
	o := mustOpen(t, KindMap, "t_not", "", Schema{fb})
	vals := []any{true, true, true, false, nil, true, false, false, true, nil, true, false}
	for _, off := range []int{0, 1, 3, 8, 9} {
		in := buildBatch(t, []col{{fb, vals}}, off, -1)
		if st, msg := call(func() int32 { return abiMap(o.h, in, o.ret) }); st != 0 {
			t.Fatalf("status %d: %s", st, msg)
		}
		b := readBatch(t, slot(o.ret, 0), o.out)
		var want []any
		for _, v := range vals[off:] {
			if v == nil {
				want = append(want, nil)
			} else {
				want = append(want, !v.(bool))
			}
		}
		if got := columnValues(b, 0); !equalValues(got, want) {
			t.Errorf("offset %d: not = %s, want %s", off, fmtValues(got), fmtValues(want))
		}
		if got := columnValues(b, 1); !equalValues(got, vals[off:]) {
			t.Errorf("offset %d: copy = %s, want %s", off, fmtValues(got), fmtValues(vals[off:]))
		}
	}
}

// allTypes returns one column of every type with nulls, n rows.
func allTypes(n int) []col {
	var cols []col
	add := func(name string, typ DataType, gen func(i int) any) {
		c := col{f: Field{Name: name, Type: typ}}
		for i := range n {
			if i%3 == 1 {
				c.vals = append(c.vals, nil)
			} else {
				c.vals = append(c.vals, gen(i))
			}
		}
		cols = append(cols, c)
	}
	add("bool", Bool, func(i int) any { return i%2 == 0 })
	add("i8", Int8, func(i int) any { return i*37%256 - 128 })
	add("i16", Int16, func(i int) any { return i*1000 - 5000 })
	add("i32", Int32, func(i int) any { return i*100000 - 7 })
	add("i64", Int64, func(i int) any { return i*1e12 - 3 })
	add("u8", Uint8, func(i int) any { return i * 13 % 256 })
	add("u16", Uint16, func(i int) any { return i * 3000 })
	add("u32", Uint32, func(i int) any { return i * 200000000 })
	add("u64", Uint64, func(i int) any { return uint64(i) * 1e18 })
	add("f32", Float32, func(i int) any { return float64(float32(i) / 4) })
	add("f64", Float64, func(i int) any { return float64(i) / 3 })
	add("utf8", Utf8, func(i int) any { return strings.Repeat("é", i%4) })
	add("bin", Binary, func(i int) any { return []byte{byte(i), 0, 255}[:i%4%3] })
	add("ts", Timestamp(Millisecond, "UTC"), func(i int) any { return i * 1e9 })
	add("tsn", TimestampNs, func(i int) any { return -i })
	add("date", Date32, func(i int) any { return 19000 + i })
	return cols
}

func TestIdentityAllTypes(t *testing.T) {
	cols := allTypes(21)
	s := make(Schema, len(cols))
	for j, c := range cols {
		s[j] = c.f
	}
	o := mustOpen(t, KindMap, "t_identity", "", s)
	if o.out.String() != s.String() {
		t.Fatalf("output schema %v, want %v", o.out, s)
	}
	for _, off := range []int{0, 1, 3, 7, 8, 13} {
		for _, n := range []int{-1, 0, 1, 5} {
			in := buildBatch(t, cols, off, n)
			if st, msg := call(func() int32 { return abiMap(o.h, in, o.ret) }); st != 0 {
				t.Fatalf("status %d: %s", st, msg)
			}
			b := readBatch(t, slot(o.ret, 0), o.out)
			end := len(cols[0].vals)
			if n >= 0 {
				end = off + n
			}
			for j, c := range cols {
				if got := columnValues(b, j); !equalValues(got, c.vals[off:end]) {
					t.Errorf("offset %d n %d column %s: got %s, want %s", off, n, c.f.Name, fmtValues(got), fmtValues(c.vals[off:end]))
				}
			}
		}
	}
	// A batch without columns keeps its row count.
	o = mustOpen(t, KindMap, "t_identity", "", Schema{})
	b := NewBuilder(Schema{})
	in, _, _ := b.export()
	arrayAt(in).length = 3
	if st, msg := call(func() int32 { return abiMap(o.h, in, o.ret) }); st != 0 {
		t.Fatalf("status %d: %s", st, msg)
	}
	if n := arrayAt(slot(o.ret, 0)).length; n != 3 {
		t.Errorf("no-column batch has %d rows, want 3", n)
	}
}

func TestFlatMap(t *testing.T) {
	o := mustOpen(t, KindFlatMap, "t_split", "", Schema{fS})
	in := buildBatch(t, []col{{fS, []any{"a bc", "", nil, " d  e f "}}}, 0, -1)
	if st, msg := call(func() int32 { return abiMap(o.h, in, o.ret) }); st != 0 {
		t.Fatalf("status %d: %s", st, msg)
	}
	want := []any{"a", "bc", nil, "d", "e", "f"}
	if got := columnValues(readBatch(t, slot(o.ret, 0), o.out), 0); !equalValues(got, want) {
		t.Errorf("got %s, want %s", fmtValues(got), fmtValues(want))
	}
}

func TestFilter(t *testing.T) {
	vals := []any{100, 100, 100, 4, 3, nil, 2, 8, 7, nil, 10, 12, 14, 16, 18, 20, 22, 1, 0}
	modes := []string{"bits", "keep", "set", "bools", "append", "reverse", "allmask"}
	for _, off := range []int{0, 3, 7} {
		for _, mode := range modes {
			o := mustOpen(t, KindFilter, "t_even", mode, Schema{fI})
			if o.out != nil {
				t.Fatalf("filter has an output schema")
			}
			in := buildBatch(t, []col{{fI, vals}}, off, -1)
			clearRet(o.ret)
			if st, msg := call(func() int32 { return abiFilter(o.h, in, o.ret) }); st != 0 {
				t.Fatalf("status %d: %s", st, msg)
			}
			var want []int
			for i, v := range vals[off:] {
				if v != nil && v.(int)%2 == 0 {
					want = append(want, i)
				}
			}
			got := selected(t, o.ret, len(vals)-off)
			if !equalInts(got, want) {
				t.Errorf("offset %d mode %s: kept %v, want %v", off, mode, got, want)
			}
		}
	}
	for mode, kind := range map[string]uint32{"all": 2, "none": 3} {
		o := mustOpen(t, KindFilter, "t_even", mode, Schema{fI})
		in := buildBatch(t, []col{{fI, vals}}, 0, -1)
		if st := abiFilter(o.h, in, o.ret); st != 0 || slot(o.ret, 0) != kind {
			t.Errorf("mode %s: status %d kind %d", mode, st, slot(o.ret, 0))
		}
	}
}

func selected(t *testing.T, ret uint32, rows int) []int {
	var kept []int
	switch kind, p, n := slot(ret, 0), slot(ret, 1), slot(ret, 2); kind {
	case 0:
		bits := bytesAt(p, (rows+7)/8)
		for i := range rows {
			if getBit(bits, i) {
				kept = append(kept, i)
			}
		}
	case 1:
		idx := i32s(p, int(n))
		for k, i := range idx {
			if k > 0 && i <= idx[k-1] {
				t.Errorf("selection vector not increasing: %v", idx)
			}
			kept = append(kept, int(i))
		}
	case 2:
		for i := range rows {
			kept = append(kept, i)
		}
	case 3:
	default:
		t.Fatalf("selection kind %d", kind)
	}
	return kept
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// keyIndexes writes the key index array as the host does.
func keyIndexes(idx []int32) uint32 {
	p := abiAlloc(uint32(4*max(len(idx), 1)), 8)
	copy(i32s(p, len(idx)), idx)
	return p
}

// stateBatch builds a struct array with struct-level validity.
func stateBatch(t *testing.T, cols []col, valid []bool) uint32 {
	a := buildBatch(t, cols, 0, -1)
	if valid != nil {
		bits := rawAlloc((len(valid) + 7) / 8)
		nulls := 0
		for i, v := range valid {
			setBit(bits, i, v)
			if !v {
				nulls++
			}
		}
		arr := arrayAt(a)
		u32s(arr.buffers, 1)[0] = addrOf(unsafePointer(bits))
		arr.nullCount = int64(nulls)
	}
	return a
}

func TestProcess(t *testing.T) {
	o := mustOpen(t, KindProcess, "t_count", "", Schema{fKey})
	if o.state.String() != "count:int64,last:utf8" {
		t.Fatalf("state schema %v", o.state)
	}
	fc := Field{Name: "count", Type: Int64}
	fl := Field{Name: "last", Type: Utf8}
	// Keys 7 (state 10), 8 (no state), 9 (null row with leftover values),
	// -1 (cleared after the call).
	in := buildBatch(t, []col{{fKey, []any{7, 8, 7, 9, -1, 7}}}, 0, -1)
	keys := keyIndexes([]int32{0, 1, 0, 2, 3, 0})
	state := stateBatch(t, []col{{fc, []any{10, nil, 99, 5}}, {fl, []any{"old", nil, "x", "y"}}}, []bool{true, false, false, true})
	if st, msg := call(func() int32 { return abiProcess(o.h, in, keys, state, o.ret) }); st != 0 {
		t.Fatalf("status %d: %s", st, msg)
	}
	out := readBatch(t, slot(o.ret, 0), o.out)
	if got, want := columnValues(out, 1), []any{11, 1, 12, 1, 6, 13}; !equalValues(got, want) {
		t.Errorf("counts %s, want %s", fmtValues(got), fmtValues(want))
	}
	if got, want := columnValues(out, 2), []any{true, false, true, false, true, true}; !equalValues(got, want) {
		t.Errorf("had %s, want %s", fmtValues(got), fmtValues(want))
	}
	ns := slot(o.ret, 1)
	arr := arrayAt(ns)
	if arr.length != 4 || arr.nullCount != 1 {
		t.Fatalf("new state: %d rows, %d nulls", arr.length, arr.nullCount)
	}
	valid := bytesAt(u32s(arr.buffers, 1)[0], 1)
	if valid[0]&0xf != 0x7 {
		t.Errorf("state validity %08b, want key 3 cleared", valid[0])
	}
	sb := newBatch(o.state)
	if err := sb.load(ns); err != nil {
		t.Fatal(err)
	}
	if got, want := columnValues(&sb, 0)[:3], []any{13, 1, 1}; !equalValues(got, want) {
		t.Errorf("state counts %s, want %s", fmtValues(got), fmtValues(want))
	}
	if got, want := columnValues(&sb, 1)[:3], []any{"seen 13", "seen 1", "seen 1"}; !equalValues(got, want) {
		t.Errorf("state last %s, want %s", fmtValues(got), fmtValues(want))
	}
	// Bad key indexes are reported, not trusted.
	bad := keyIndexes([]int32{0, 1, 0, 2, 4, 0})
	if st, msg := call(func() int32 { return abiProcess(o.h, in, bad, state, o.ret) }); st != 1 || !strings.Contains(msg, "key index 4 of row 4 is out of range") {
		t.Errorf("bad keys: status %d %q", st, msg)
	}
}

func TestAggregate(t *testing.T) {
	o := mustOpen(t, KindAggregate, "t_minsum", "", Schema{fI})
	copyOut := func(a uint32) uint32 {
		// The host copies returned accumulators into its own memory.
		b := newBatch(o.state)
		if err := b.load(a); err != nil {
			t.Fatal(err)
		}
		var cols []col
		for j, f := range o.state {
			cols = append(cols, col{f, columnValues(&b, j)})
		}
		return buildBatch(t, cols, 0, -1)
	}
	create := func(n int) uint32 {
		if st, msg := call(func() int32 { return abiAggCreate(o.h, uint32(n), o.ret) }); st != 0 {
			t.Fatalf("create: %s", msg)
		}
		return copyOut(slot(o.ret, 0))
	}
	add := func(acc uint32, vals []any, groups []int32) uint32 {
		in := buildBatch(t, []col{{fI, vals}}, 0, -1)
		if st, msg := call(func() int32 { return abiAggAdd(o.h, acc, in, keyIndexes(groups), o.ret) }); st != 0 {
			t.Fatalf("add: %s", msg)
		}
		return copyOut(slot(o.ret, 0))
	}
	a := create(3)
	a = add(a, []any{5, 2, nil, 4}, []int32{0, 1, 0, 0})
	a = add(a, []any{10, nil}, []int32{1, 0})
	b := create(2)
	b = add(b, []any{-100, 200, nil}, []int32{0, 1, 1})
	if st, msg := call(func() int32 { return abiAggMerge(o.h, a, b, keyIndexes([]int32{2, 0}), o.ret) }); st != 0 {
		t.Fatalf("merge: %s", msg)
	}
	a = copyOut(slot(o.ret, 0))
	if st, msg := call(func() int32 { return abiAggResult(o.h, a, o.ret) }); st != 0 {
		t.Fatalf("result: %s", msg)
	}
	r := readBatch(t, slot(o.ret, 0), o.out)
	if got, want := columnValues(r, 0), []any{209, 12, -100}; !equalValues(got, want) {
		t.Errorf("sums %s, want %s", fmtValues(got), fmtValues(want))
	}
	if got, want := columnValues(r, 1), []any{4, 2, -100}; !equalValues(got, want) {
		t.Errorf("mins %s, want %s", fmtValues(got), fmtValues(want))
	}
	e := create(2)
	if st, msg := call(func() int32 { return abiAggResult(o.h, e, o.ret) }); st != 0 {
		t.Fatalf("result: %s", msg)
	}
	if got, want := columnValues(readBatch(t, slot(o.ret, 0), o.out), 1), []any{nil, nil}; !equalValues(got, want) {
		t.Errorf("empty mins %s, want %s", fmtValues(got), fmtValues(want))
	}
	if st, msg := call(func() int32 {
		return abiAggAdd(o.h, e, buildBatch(t, []col{{fI, []any{1}}}, 0, -1), keyIndexes([]int32{2}), o.ret)
	}); st != 1 || !strings.Contains(msg, "group 2") {
		t.Errorf("bad group: %d %q", st, msg)
	}
}

func TestFailures(t *testing.T) {
	in := buildBatch(t, []col{{fX, []any{1.0, 2.0}}}, 0, -1)
	tests := []struct {
		name, fn, params string
		want             string
	}{
		{"error text verbatim", "t_error", "exactly this: text", "exactly this: text"},
		{"panic recovered", "t_panic", "", "t_panic: panic: runtime error: index out of range [5] with length 0"},
		{"short map", "t_rows", "", "t_rows: map produced 1 rows for 2 input rows"},
		{"ragged columns", "t_rows", "ragged", `t_rows: output column "b" has 3 rows but column "a" has 2`},
	}
	var logged []string
	logSink = func(l Level, m string) { logged = append(logged, m) }
	defer func() { logSink = nil }()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := mustOpen(t, KindMap, tt.fn, tt.params, Schema{fX})
			st, msg := call(func() int32 { return abiMap(o.h, in, o.ret) })
			if st != 1 || msg != tt.want {
				t.Errorf("status %d, message %q, want %q", st, msg, tt.want)
			}
			// The instance stays usable after a failure.
			if st2, msg2 := call(func() int32 { return abiMap(o.h, in, o.ret) }); st2 != st || msg2 != msg {
				t.Errorf("second call: %d %q", st2, msg2)
			}
		})
	}
	if len(logged) == 0 || !strings.Contains(logged[0], "goroutine") && !strings.Contains(logged[0], "panic") {
		t.Errorf("panic not logged with a stack: %q", logged)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name   string
		kind   Kind
		fn     string
		params string
		in     Schema
		want   string
	}{
		{"unknown", KindMap, "nope", "", Schema{fX}, `no function "nope" is registered`},
		{"kind mismatch", KindFilter, "t_scale", "", Schema{fX}, "t_scale: registered as a map function, opened as filter"},
		{"missing column", KindMap, "t_scale", "2", Schema{fS}, `t_scale: input has no column "x"`},
		{"wrong type", KindMap, "t_scale", "2", Schema{fI}, `t_scale: column "x" is int64, want float64`},
		{"bad params", KindMap, "t_scale", "two", Schema{fX}, `t_scale: strconv.ParseFloat: parsing "two"`},
		{"no output schema", KindMap, "t_noschema", "", Schema{fX}, "t_noschema: open did not set the output schema"},
		{"panic in open", KindMap, "t_openpanic", "p", Schema{fX}, "t_openpanic: panic: bad params p"},
	}
	logSink = func(Level, string) {}
	defer func() { logSink = nil }()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := openOp(t, tt.kind, tt.fn, tt.params, tt.in)
			if o.status != 1 || !strings.Contains(o.err, tt.want) {
				t.Errorf("status %d, message %q, want %q", o.status, o.err, tt.want)
			}
		})
	}
}

func TestHandles(t *testing.T) {
	a := mustOpen(t, KindMap, "t_identity", "", Schema{fX})
	b := mustOpen(t, KindFilter, "t_even", "all", Schema{fI})
	if a.h == b.h || a.h == 0 {
		t.Fatalf("handles %d %d", a.h, b.h)
	}
	in := buildBatch(t, []col{{fX, []any{1.0}}}, 0, -1)
	if st, msg := call(func() int32 { return abiFilter(a.h, in, a.ret) }); st != 1 || !strings.Contains(msg, "is a map operator") {
		t.Errorf("filter on a map handle: %d %q", st, msg)
	}
	if st := abiClose(a.h); st != 0 {
		t.Errorf("close failed: %s", lastError)
	}
	if st, msg := call(func() int32 { return abiMap(a.h, in, a.ret) }); st != 1 || !strings.Contains(msg, "unknown operator handle") {
		t.Errorf("map on a closed handle: %d %q", st, msg)
	}
	if st := abiClose(a.h); st != 1 {
		t.Error("double close succeeded")
	}
	c := mustOpen(t, KindMap, "t_identity", "", Schema{fX})
	if c.h != a.h {
		t.Errorf("closed handle %d not reused (got %d)", a.h, c.h)
	}
	if st := abiClose(0); st != 1 {
		t.Error("close(0) succeeded")
	}
}

func TestAlloc(t *testing.T) {
	for _, align := range []uint32{1, 2, 4, 8, 16, 32, 64} {
		for _, size := range []uint32{0, 1, 7, 100, 4096} {
			p := abiAlloc(size, align)
			if p == 0 || p%align != 0 {
				t.Errorf("alloc(%d, %d) = %d", size, align, p)
			}
			if _, ok := hostMem[p]; !ok {
				t.Errorf("alloc(%d, %d) not kept", size, align)
			}
			clear(bytesAt(p, int(size)))
			abiFree(p, size, align)
			if _, ok := hostMem[p]; ok {
				t.Errorf("free(%d) kept the memory", p)
			}
		}
	}
	for _, align := range []uint32{0, 3, 128} {
		if p := abiAlloc(8, align); p != 0 {
			t.Errorf("alloc(8, %d) = %d, want 0", align, p)
		}
	}
}

// TestSteadyStateAllocations checks that the per-batch path allocates nothing
// once the builders have reached their working size.
func TestSteadyStateAllocations(t *testing.T) {
	vals := make([]any, 1000)
	ivals := make([]any, 1000)
	svals := make([]any, 1000)
	for i := range vals {
		vals[i] = float64(i)
		ivals[i] = i % 17
		svals[i] = "word " + strconv.Itoa(i)
		if i%7 == 0 {
			vals[i], svals[i] = nil, nil
		}
	}
	scale := mustOpen(t, KindMap, "t_scale", "1.5", Schema{fX})
	fin := buildBatch(t, []col{{fX, vals}}, 3, -1)
	upper := mustOpen(t, KindMap, "t_upper", "", Schema{fS})
	sin := buildBatch(t, []col{{fS, svals}}, 0, -1)
	even := mustOpen(t, KindFilter, "t_even", "bits", Schema{fI})
	iin := buildBatch(t, []col{{fI, ivals}}, 0, -1)
	count := mustOpen(t, KindProcess, "t_count", "", Schema{fKey})
	kin := buildBatch(t, []col{{fKey, ivals}}, 0, -1)
	keys := make([]int32, len(ivals))
	for i, v := range ivals {
		keys[i] = int32(v.(int))
	}
	kidx := keyIndexes(keys)
	stateVals := make([]any, 17)
	state := stateBatch(t, []col{{Field{Name: "count", Type: Int64}, stateVals}, {Field{Name: "last", Type: Utf8}, stateVals}}, nil)
	runs := []struct {
		name string
		fn   func() int32
		max  float64
	}{
		{"map float64", func() int32 { return abiMap(scale.h, fin, scale.ret) }, 0},
		{"map utf8", func() int32 { return abiMap(upper.h, sin, upper.ret) }, 0},
		{"filter", func() int32 { return abiFilter(even.h, iin, even.ret) }, 0},
		// The test function builds strings for its state: 1000 allocations.
		{"process", func() int32 { return abiProcess(count.h, kin, kidx, state, count.ret) }, 1000},
	}
	for _, r := range runs {
		if st := r.fn(); st != 0 {
			t.Fatalf("%s: %s", r.name, lastError)
		}
		if n := testing.AllocsPerRun(20, func() { r.fn() }); n > r.max {
			t.Errorf("%s: %.0f allocations per call, want <= %.0f", r.name, n, r.max)
		}
	}
}
