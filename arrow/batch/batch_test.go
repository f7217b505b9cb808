package batch

import (
	"errors"
	"slices"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

func TestIndicesFromBitmap(t *testing.T) {
	cases := []struct {
		name string
		bm   []byte
		n    int
		want []int32
	}{
		{"empty", nil, 0, nil},
		{"partial byte", []byte{0b1111_0101}, 5, []int32{0, 2, 4}},
		{"two words", append(make([]byte, 8), 0x80, 0, 0, 0, 0, 0, 0, 0x01), 128, []int32{71, 120}},
		{"word and tail", append([]byte{1, 0, 0, 0, 0, 0, 0, 0x80}, 0xff), 70, []int32{0, 63, 64, 65, 66, 67, 68, 69}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := IndicesFromBitmap(nil, tc.bm, tc.n); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTake(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	schema, err := ParseSchema("b:bool, i:int32, x:int64, s:utf8, bin:binary, ts:timestamp[ms, UTC], d:date32, f:float32, u8:uint8, i16:int16")
	if err != nil {
		t.Fatal(err)
	}
	rb := array.NewRecordBuilder(alloc, schema)
	for i := 0; i < 30; i++ {
		if i%4 == 1 {
			for _, f := range rb.Fields() {
				f.AppendNull()
			}
			continue
		}
		rb.Field(0).(*array.BooleanBuilder).Append(i%3 == 0)
		rb.Field(1).(*array.Int32Builder).Append(int32(i))
		rb.Field(2).(*array.Int64Builder).Append(int64(i) * 1000)
		rb.Field(3).(*array.StringBuilder).Append(string(rune('a' + i%26)))
		rb.Field(4).(*array.BinaryBuilder).Append([]byte{byte(i)})
		rb.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(i))
		rb.Field(6).(*array.Date32Builder).Append(arrow.Date32(i))
		rb.Field(7).(*array.Float32Builder).Append(float32(i))
		rb.Field(8).(*array.Uint8Builder).Append(uint8(i))
		rb.Field(9).(*array.Int16Builder).Append(int16(i))
	}
	full := rb.NewRecord()
	rb.Release()
	defer full.Release()
	rec := full.NewSlice(3, 27) // sliced input: offsets must be honoured
	defer rec.Release()
	idx := []int32{0, 1, 2, 5, 5, 23, 10}
	out, err := Take(alloc, rec, idx)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	for c := 0; c < int(rec.NumCols()); c++ {
		for i, j := range idx {
			got, want := out.Column(c), rec.Column(c)
			if got.IsNull(i) != want.IsNull(int(j)) || got.ValueStr(i) != want.ValueStr(int(j)) {
				t.Fatalf("column %s row %d: got %s, want %s", rec.ColumnName(c), i, got.ValueStr(i), want.ValueStr(int(j)))
			}
		}
	}
}

func TestGrouper(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	schema, _ := ParseSchema("k:utf8,n:int64")
	rb := array.NewRecordBuilder(alloc, schema)
	rb.Field(0).(*array.StringBuilder).AppendValues([]string{"a", "b", "a", "", "b", ""}, []bool{true, true, true, true, true, false})
	rb.Field(1).(*array.Int64Builder).AppendValues([]int64{1, 1, 1, 2, 1, 2}, nil)
	rec := rb.NewRecord()
	rb.Release()
	defer rec.Release()
	g := NewGrouper()
	got, fresh, err := g.Group(nil, rec, []string{"k"})
	if err != nil || fresh != 4 || !slices.Equal(got, []int32{0, 1, 0, 2, 1, 3}) {
		t.Fatalf("by k: %v %d %v (empty string and null are different keys)", got, fresh, err)
	}
	got, fresh, _ = g.Group(nil, rec, []string{"k"})
	if fresh != 0 || got[0] != 0 {
		t.Fatalf("groups are remembered across batches: %v %d", got, fresh)
	}
	if keys := g.Keys(); len(keys) != 4 {
		t.Fatalf("%d keys for 4 groups", len(keys))
	} else {
		want, _ := AppendKey(nil, rec.Column(0), 1) // "b", group 1
		if keys[1] != string(want) {
			t.Fatalf("key of group 1 is %q, want %q", keys[1], want)
		}
	}
	got, _, _ = NewGrouper().Group(nil, rec, []string{"k", "n"})
	if !slices.Equal(got, []int32{0, 1, 0, 2, 1, 3}) {
		t.Fatalf("by k,n: %v", got)
	}
	if _, _, err := g.Group(nil, rec, []string{"missing"}); err == nil {
		t.Fatal("a missing key column was accepted")
	}
}

func TestParseSchema(t *testing.T) {
	cases := []struct {
		in   string
		want string
		err  bool
	}{
		{"a:int64", "a: type=int64, nullable", false},
		{"t:timestamp[us, Europe/Paris], d:date32", "t: type=timestamp[us, tz=Europe/Paris], nullable", false},
		{"a", "", true},
		{"a:decimal", "", true},
		{"", "", true},
	}
	for _, tc := range cases {
		s, err := ParseSchema(tc.in)
		if tc.err {
			if !errors.Is(err, ErrType) {
				t.Fatalf("%q: got %v", tc.in, err)
			}
			continue
		}
		if err != nil || s.Field(0).String() != tc.want {
			t.Fatalf("%q: got %v %v, want %s", tc.in, s, err, tc.want)
		}
	}
}

func TestTakeStruct(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	sb := array.NewStructBuilder(alloc, arrow.StructOf(arrow.Field{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true}))
	for i := 0; i < 6; i++ {
		if i%3 == 1 {
			sb.AppendNull() // appends a null child too
			continue
		}
		sb.Append(true)
		sb.FieldBuilder(0).(*array.Int64Builder).Append(int64(i * 10))
	}
	st := sb.NewStructArray()
	sb.Release()
	defer st.Release()
	got, err := TakeArray(alloc, st, []int32{5, 1, 0})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if got.String() != "{[50 (null) 0]}" || !got.IsNull(1) || got.NullN() != 1 {
		t.Fatalf("got %v (nulls %d)", got, got.NullN())
	}
}
