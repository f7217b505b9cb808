package cdata32

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/arrow/bufpool"
)

// allTypes builds one column of every ABI v1 type with nulls.
func allTypes(t *testing.T, alloc memory.Allocator, n int) arrow.Record {
	t.Helper()
	fields := []arrow.Field{
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
		{Name: "i16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
		{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "tsn", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}, Nullable: true},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	}
	b := array.NewRecordBuilder(alloc, arrow.NewSchema(fields, nil))
	defer b.Release()
	for i := 0; i < n; i++ {
		if i%5 == 3 {
			for _, fb := range b.Fields() {
				fb.AppendNull()
			}
			continue
		}
		b.Field(0).(*array.BooleanBuilder).Append(i%3 == 0)
		b.Field(1).(*array.Int8Builder).Append(int8(i))
		b.Field(2).(*array.Uint8Builder).Append(uint8(i))
		b.Field(3).(*array.Int16Builder).Append(int16(-i))
		b.Field(4).(*array.Uint16Builder).Append(uint16(i))
		b.Field(5).(*array.Int32Builder).Append(int32(i * 7))
		b.Field(6).(*array.Uint32Builder).Append(uint32(i))
		b.Field(7).(*array.Int64Builder).Append(int64(i) << 40)
		b.Field(8).(*array.Uint64Builder).Append(^uint64(i))
		b.Field(9).(*array.Float32Builder).Append(float32(i) / 3)
		b.Field(10).(*array.Float64Builder).Append(float64(i) * 0.908)
		b.Field(11).(*array.StringBuilder).Append(strings.Repeat("é", i%4) + "x")
		b.Field(12).(*array.BinaryBuilder).Append([]byte{byte(i), 0, 255})
		b.Field(13).(*array.TimestampBuilder).Append(arrow.Timestamp(i * 1000))
		b.Field(14).(*array.TimestampBuilder).Append(arrow.Timestamp(i))
		b.Field(15).(*array.Date32Builder).Append(arrow.Date32(i))
	}
	return b.NewRecord()
}

func newRegion(size int, base uint32) (*Region, []byte) {
	guest := make([]byte, int(base)+size)
	return &Region{Mem: guest[base:], Base: base}, guest
}

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name      string
		rows      int
		off, size int64 // slice; size < 0 = no slice
	}{
		{"empty", 0, 0, -1},
		{"one", 1, 0, -1},
		{"nulls", 37, 0, -1},
		{"slice_1", 40, 1, 20},
		{"slice_3", 40, 3, 30},
		{"slice_7", 40, 7, 9},
		{"slice_8", 40, 8, 16},
		{"slice_13", 64, 13, 40},
		{"slice_to_empty", 40, 13, 0},
		{"large", 70000, 0, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer alloc.AssertSize(t, 0)
			rec := allTypes(t, alloc, tc.rows)
			defer rec.Release()
			in := rec
			if tc.size >= 0 {
				in = rec.NewSlice(tc.off, tc.off+tc.size)
				defer in.Release()
			}
			region, guest := newRegion(BatchSizeBound(in)+SchemaSizeBound(in.Schema().Fields()), 4096)
			sp, err := WriteSchema(region, in.Schema().Fields())
			if err != nil {
				t.Fatal(err)
			}
			ap, err := WriteBatch(region, in)
			if err != nil {
				t.Fatal(err)
			}
			fields, err := ReadSchema(guest, sp)
			if err != nil {
				t.Fatal(err)
			}
			schema := arrow.NewSchema(fields, nil)
			if !schema.Equal(in.Schema()) {
				t.Fatalf("schema\n got %s\nwant %s", schema, in.Schema())
			}
			out, err := ReadBatch(guest, ap, schema, alloc)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Release()
			if !array.RecordEqual(in, out) {
				t.Fatalf("round trip differs\n in %v\nout %v", in, out)
			}
		})
	}
}

func TestStructRoundTripWithNulls(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	fields := []arrow.Field{{Name: "count", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}
	sb := array.NewStructBuilder(alloc, arrow.StructOf(fields...))
	defer sb.Release()
	cb := sb.FieldBuilder(0).(*array.Int64Builder)
	for i := 0; i < 11; i++ {
		if i%3 == 0 {
			sb.AppendNull()
			continue
		}
		sb.Append(true)
		cb.Append(int64(i))
	}
	st := sb.NewStructArray()
	defer st.Release()
	region, guest := newRegion(StructSizeBound(st), 64)
	p, err := WriteStruct(region, st)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadStruct(guest, p, fields, alloc)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if !array.Equal(st, got) {
		t.Fatalf("got %v want %v", got, st)
	}
}

// TestHostileOutputs corrupts a valid batch in guest memory and checks every
// corruption is refused with ErrInvalid instead of a panic or a bad read.
func TestHostileOutputs(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	fields := []arrow.Field{
		{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(alloc, schema)
	for i := 0; i < 20; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.StringBuilder).Append("abc")
	}
	rec := b.NewRecord()
	b.Release()
	defer rec.Release()

	type corrupt func(g []byte, top uint32)
	child := func(g []byte, top uint32, i int) uint32 {
		return le.Uint32(g[le.Uint32(g[top+arrChildren:])+uint32(4*i):])
	}
	buffer := func(g []byte, arr uint32, i int) uint32 { return le.Uint32(g[arr+arrBuffers:]) + uint32(4*i) }
	cases := []struct {
		name string
		f    corrupt
		want error
	}{
		{"length_past_buffer", func(g []byte, top uint32) {
			le.PutUint64(g[child(g, top, 0)+arrLength:], 1<<30)
			le.PutUint64(g[top+arrLength:], 1<<30)
		}, ErrInvalid},
		{"negative_length", func(g []byte, top uint32) { le.PutUint64(g[top+arrLength:], ^uint64(0)) }, ErrInvalid},
		{"child_pointer_oob", func(g []byte, top uint32) { le.PutUint32(g[le.Uint32(g[top+arrChildren:]):], 0xFFFFFF00) }, ErrInvalid},
		{"children_oob", func(g []byte, top uint32) { le.PutUint32(g[top+arrChildren:], 0xFFFFFFF0) }, ErrInvalid},
		{"wrong_column_count", func(g []byte, top uint32) { le.PutUint64(g[top+arrNChildren:], 3) }, ErrSchemaMismatch},
		{"values_oob", func(g []byte, top uint32) { le.PutUint32(g[buffer(g, child(g, top, 0), 1):], uint32(len(g)-8)) }, ErrInvalid},
		{"offsets_decrease", func(g []byte, top uint32) {
			offs := le.Uint32(g[buffer(g, child(g, top, 1), 1):])
			le.PutUint32(g[offs+8:], 1)
		}, ErrInvalid},
		{"offsets_past_memory", func(g []byte, top uint32) {
			offs := le.Uint32(g[buffer(g, child(g, top, 1), 1):])
			le.PutUint32(g[offs+80:], 1<<30)
		}, ErrInvalid},
		{"bad_utf8", func(g []byte, top uint32) {
			data := le.Uint32(g[buffer(g, child(g, top, 1), 2):])
			g[data] = 0xff
		}, ErrInvalid},
		{"wrong_null_count", func(g []byte, top uint32) { le.PutUint64(g[child(g, top, 0)+arrNullCount:], 5) }, ErrInvalid},
		{"wrong_buffer_count", func(g []byte, top uint32) { le.PutUint64(g[child(g, top, 1)+arrNBuffers:], 2) }, ErrInvalid},
		{"dictionary", func(g []byte, top uint32) { le.PutUint32(g[child(g, top, 0)+arrDictionary:], 8) }, ErrUnsupportedType},
		{"batch_offset", func(g []byte, top uint32) { le.PutUint64(g[top+arrOffset:], 2) }, ErrInvalid},
		{"null_struct_pointer", func(g []byte, top uint32) {}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			region, guest := newRegion(BatchSizeBound(rec), 1024)
			p, err := WriteBatch(region, rec)
			if err != nil {
				t.Fatal(err)
			}
			tc.f(guest, p)
			out, err := ReadBatch(guest, p, schema, alloc)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				out.Release()
				return
			}
			if !errors.Is(err, tc.want) {
				if out != nil {
					out.Release()
				}
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestFormats(t *testing.T) {
	for _, f := range []string{"b", "c", "C", "s", "S", "i", "I", "l", "L", "f", "g", "u", "z", "tdD", "tss:", "tsm:UTC", "tsu:Europe/Paris", "tsn:"} {
		dt, err := ParseFormat(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		back, err := Format(dt)
		if err != nil || back != f {
			t.Fatalf("%s -> %s -> %q (%v)", f, dt, back, err)
		}
	}
	for _, f := range []string{"", "+l", "U", "tsx:", "ts", "d:10,2", "w:4"} {
		if _, err := ParseFormat(f); !errors.Is(err, ErrUnsupportedType) {
			t.Fatalf("%q: got %v", f, err)
		}
	}
}

// FuzzReadBatch feeds arbitrary guest memory to the reader: it must never
// panic, and whatever it accepts must be a valid record.
func FuzzReadBatch(f *testing.F) {
	alloc := memory.NewGoAllocator()
	fields := []arrow.Field{
		{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(alloc, schema)
	for i := 0; i < 9; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.StringBuilder).Append("ab")
		b.Field(2).(*array.BooleanBuilder).AppendNull()
	}
	rec := b.NewRecord()
	region, guest := newRegion(BatchSizeBound(rec), 64)
	p, _ := WriteBatch(region, rec)
	f.Add(guest, p)
	f.Add(make([]byte, 256), uint32(8))
	f.Fuzz(func(t *testing.T, g []byte, p uint32) {
		out, err := ReadBatch(g, p, schema, alloc)
		if err == nil {
			s := out.Column(1).(*array.String)
			for i := 0; i < s.Len(); i++ {
				if !utf8.ValidString(s.Value(i)) {
					t.Fatalf("accepted invalid UTF-8 at row %d", i)
				}
			}
			out.Release()
		}
		_, _ = ReadSchema(g, p)
	})
}

// TestRoundTripDirtyPool reads outputs through a pool whose recycled buffers
// hold garbage: the reader must overwrite every byte it hands out.
func TestRoundTripDirtyPool(t *testing.T) {
	pool := bufpool.New()
	for size := 64; size <= 1<<20; size *= 2 {
		for range 4 {
			b := pool.Allocate(size)
			for i := range b {
				b[i] = 0xFF
			}
			pool.Free(b)
		}
	}
	src := memory.NewGoAllocator()
	for _, slice := range [][2]int64{{0, 37}, {3, 30}, {13, 33}, {5, 5}} { // [start, end)
		rec := allTypes(t, src, 40)
		in := rec.NewSlice(slice[0], slice[1])
		region, guest := newRegion(BatchSizeBound(in), 256)
		p, err := WriteBatch(region, in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := ReadBatch(guest, p, in.Schema(), pool)
		if err != nil {
			t.Fatal(err)
		}
		if !array.RecordEqual(in, out) {
			t.Fatalf("slice %v differs through a dirty pool\n in %v\nout %v", slice, in, out)
		}
		out.Release()
		in.Release()
		rec.Release()
	}
	if pool.Live() != 0 {
		t.Fatalf("%d bytes live in the pool", pool.Live())
	}
}
