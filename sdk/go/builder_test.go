//go:build !wasip1

package weir

import (
	"math/rand"
	"testing"
)

func TestCopyBits(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	src := make([]byte, 40)
	r.Read(src)
	for dstOff := 0; dstOff < 20; dstOff++ {
		for srcOff := 0; srcOff < 20; srcOff++ {
			for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 65, 150} {
				dst := make([]byte, 40)
				r.Read(dst)
				want := append([]byte(nil), dst...)
				for i := range n {
					setBit(want, dstOff+i, getBit(src, srcOff+i))
				}
				copyBits(dst, dstOff, src, srcOff, n)
				for i := range dst {
					if dst[i] != want[i] {
						t.Fatalf("copyBits(dstOff=%d, srcOff=%d, n=%d): byte %d = %08b, want %08b", dstOff, srcOff, n, i, dst[i], want[i])
					}
				}
			}
		}
	}
}

func TestCountOnes(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	data := make([]byte, 50)
	r.Read(data)
	for off := 0; off < 17; off++ {
		for n := range 300 {
			want := 0
			for i := range n {
				if getBit(data, off+i) {
					want++
				}
			}
			if got := countOnes(data, off, n); got != want {
				t.Fatalf("countOnes(off=%d, n=%d) = %d, want %d", off, n, got, want)
			}
		}
	}
	b := make([]byte, 4)
	setBits(b, 3, 29)
	if countOnes(b, 0, 32) != 26 || getBit(b, 2) || !getBit(b, 3) || !getBit(b, 28) || getBit(b, 29) {
		t.Errorf("setBits: %08b", b)
	}
}

func TestBitmap(t *testing.T) {
	data := []byte{0b10110010, 0b00000001}
	b := newBitmap(data, 1, 8, -1)
	want := []bool{true, false, false, true, true, false, true, true}
	for i, w := range want {
		if b.Get(i) != w || (b.Bit(i) == 1) != w {
			t.Errorf("bit %d = %v, want %v", i, b.Get(i), w)
		}
	}
	if b.Zeros() != 3 || b.AllSet() || b.Len() != 8 {
		t.Errorf("Zeros %d AllSet %v Len %d", b.Zeros(), b.AllSet(), b.Len())
	}
	if got := b.AppendBools(nil); len(got) != 8 || got[0] != true || got[1] != false {
		t.Errorf("AppendBools %v", got)
	}
	all := Bitmap{n: 5}
	if !all.Get(4) || all.Bit(0) != 1 || !all.AllSet() || all.Zeros() != 0 {
		t.Error("bitmap without storage is not all set")
	}
	if d, _ := all.Bytes(); d != nil {
		t.Error("bitmap without storage has bytes")
	}
}

func TestPrimitiveBuilder(t *testing.T) {
	b := NewBuilder(Schema{{Name: "x", Type: Int64}})
	x := b.Int64(0)
	x.Append(1)
	x.AppendValues([]int64{2, 3})
	e := x.Extend(3)
	e[0], e[1], e[2] = 4, 5, 6
	if x.NullCount() != 0 || x.v.active {
		t.Fatal("validity materialised without nulls")
	}
	x.AppendNull()
	x.Append(8)
	x.SetNull(1)
	x.SetNull(1) // idempotent
	src := NewBuilder(Schema{{Name: "v", Type: Int64}})
	for i := range 20 {
		if i%3 == 0 {
			src.Int64(0).AppendNull()
		} else {
			src.Int64(0).Append(int64(100 + i))
		}
	}
	sb, _ := src.Batch()
	sb.cols[0].off = 0
	col := sb.Int64(0)
	ev := x.ExtendValidity(col.Validity())
	copy(ev, col.Values())
	got := b.mustBatch(t)
	wantVals := []any{1, nil, 3, 4, 5, 6, nil, 8}
	for i := range 20 {
		if i%3 == 0 {
			wantVals = append(wantVals, nil)
		} else {
			wantVals = append(wantVals, 100+i)
		}
	}
	if v := columnValues(got, 0); !equalValues(v, wantVals) {
		t.Errorf("values %s, want %s", fmtValues(v), fmtValues(wantVals))
	}
	if x.NullCount() != 9 || got.NullCount(0) != 9 || !x.IsNull(6) || x.IsNull(7) {
		t.Errorf("null count %d / %d", x.NullCount(), got.NullCount(0))
	}

	// Reset keeps the memory and forgets the nulls.
	capBefore := cap(x.vals)
	b.Reset()
	x.AppendValues([]int64{7, 7})
	if x.Len() != 2 || x.NullCount() != 0 || cap(x.vals) != capBefore {
		t.Errorf("after reset: len %d nulls %d cap %d/%d", x.Len(), x.NullCount(), cap(x.vals), capBefore)
	}
	got = b.mustBatch(t)
	if v := columnValues(got, 0); !equalValues(v, []any{7, 7}) {
		t.Errorf("after reset %s", fmtValues(v))
	}
	x.AppendNull()
	x.Append(9)
	if v := columnValues(b.mustBatch(t), 0); !equalValues(v, []any{7, 7, nil, 9}) {
		t.Errorf("nulls after reset %s", fmtValues(v))
	}
}

func (b *Builder) mustBatch(t *testing.T) *Batch {
	t.Helper()
	got, err := b.Batch()
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestBuilderGrowth(t *testing.T) {
	b := NewBuilder(Schema{{Name: "s", Type: Utf8}, {Name: "b", Type: Bool}, {Name: "f", Type: Float32}})
	var want0, want1, want2 []any
	for i := range 5000 {
		if i%11 == 0 {
			b.Utf8(0).AppendNull()
			b.Bool(1).AppendNull()
			b.Float32(2).AppendNull()
			want0, want1, want2 = append(want0, nil), append(want1, nil), append(want2, nil)
		} else {
			s := string(rune('a' + i%26))
			b.Utf8(0).Append(s)
			b.Bool(1).Append(i%2 == 0)
			b.Float32(2).Append(float32(i))
			want0, want1, want2 = append(want0, s), append(want1, i%2 == 0), append(want2, float64(i))
		}
	}
	got := b.mustBatch(t)
	for j, want := range [][]any{want0, want1, want2} {
		if v := columnValues(got, j); !equalValues(v, want) {
			t.Errorf("column %d differs", j)
		}
	}
	if b.Len() != 5000 {
		t.Errorf("Len %d", b.Len())
	}
}

func TestStringBuilder(t *testing.T) {
	b := NewBuilder(Schema{{Name: "s", Type: Utf8}})
	s := b.Utf8(0)
	s.Append("ab")
	s.AppendNull()
	copy(s.AppendSlot(3), "xyz")
	s.AppendBytes([]byte("é"))
	offs, data := s.ExtendRaw(2, 3)
	copy(data, "pqr")
	offs[1] = offs[0] + 1
	offs[2] = offs[0] + 3
	s.SetNull(0)
	if s.Value(2) != "xyz" || s.Len() != 6 || s.NullCount() != 2 {
		t.Errorf("Value %q Len %d nulls %d", s.Value(2), s.Len(), s.NullCount())
	}
	got := b.mustBatch(t)
	want := []any{nil, nil, "xyz", "é", "p", "qr"}
	if v := columnValues(got, 0); !equalValues(v, want) {
		t.Errorf("got %s, want %s", fmtValues(v), fmtValues(want))
	}

	// AppendColumn from a sliced column, then modify in place.
	src := NewBuilder(Schema{{Name: "s", Type: Utf8}})
	for _, v := range []any{"zz", "hello", nil, "", "wörld"} {
		appendValues(t, src, 0, []any{v})
	}
	sb := src.mustBatch(t)
	sb.cols[0].off = 1
	sb.n = 4
	b.Reset()
	s.Append("first")
	d := s.AppendColumn(sb.Utf8(0))
	if string(d) != "hellowörld" {
		t.Errorf("AppendColumn returned %q", d)
	}
	d[0] = 'H'
	want = []any{"first", "Hello", nil, "", "wörld"}
	if v := columnValues(b.mustBatch(t), 0); !equalValues(v, want) {
		t.Errorf("got %s, want %s", fmtValues(v), fmtValues(want))
	}
}

func TestBuilderTypeChecks(t *testing.T) {
	b := NewBuilder(Schema{{Name: "x", Type: Int64}, {Name: "t", Type: TimestampMs}})
	mustPanic(t, "output column 0 (\"x\") is int64, not float64", func() { b.Float64(0) })
	mustPanic(t, "output column 0 (\"x\") is int64, not timestamp", func() { b.Timestamp(0) })
	mustPanic(t, "output column 1 (\"t\") is timestamp[ms], not int64", func() { b.Int64(1) })
	b.Timestamp(1).Append(5)
	in := NewBuilder(Schema{{Name: "a", Type: Int32}})
	ib := in.mustBatch(t)
	if err := b.CopyColumn(0, ib, 0); err == nil {
		t.Error("CopyColumn int32 -> int64 succeeded")
	}
	if err := b.AppendBatch(ib); err == nil {
		t.Error("AppendBatch with different columns succeeded")
	}
	mustPanic(t, "column 0 (\"a\") is int32, not utf8", func() { ib.Utf8(0) })
	mustPanic(t, "invalid", func() { NewBuilder(Schema{{Name: "x", Type: "+s"}}) })
}

func mustPanic(t *testing.T, want string, fn func()) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Errorf("no panic, want %q", want)
			return
		}
		if s, _ := r.(string); !contains(s, want) {
			t.Errorf("panic %v, want %q", r, want)
		}
	}()
	fn()
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestSelectionModes(t *testing.T) {
	var s Selection
	s.reset(10)
	if k, _, _ := s.result(); k != 3 {
		t.Errorf("default kind %d, want none", k)
	}
	s.Append(1)
	s.Append(4)
	if k, _, n := s.result(); k != 1 || n != 2 {
		t.Errorf("vector kind %d n %d", k, n)
	}
	s.Append(2) // out of order: becomes a bitmap
	if k, _, _ := s.result(); k != 0 || s.Bits()[0] != 0b10110 {
		t.Errorf("after out-of-order append: kind %d bits %08b", k, s.Bits()[0])
	}
	s.reset(10)
	s.KeepAll()
	s.Set(9, false)
	if b := s.Bits(); b[0] != 0xff || b[1] != 0b01 {
		t.Errorf("all minus 9: %08b", b)
	}
	s.reset(10)
	s.KeepAll()
	s.Mask(newBitmap([]byte{0b10101010, 0b11}, 0, 10, -1))
	if b := s.Bits(); b[0] != 0b10101010 || b[1] != 0b11 {
		t.Errorf("all masked: %08b", b)
	}
	s.reset(3)
	s.Append(0)
	s.Append(2)
	s.Mask(newBitmap([]byte{0b110}, 0, 3, -1))
	if k, p, n := s.result(); k != 1 || n != 1 || i32s(p, 1)[0] != 2 {
		t.Errorf("masked vector: kind %d n %d", k, n)
	}
	s.reset(0)
	if b := s.Bits(); len(b) != 0 {
		t.Errorf("empty batch bitmap %v", b)
	}
}

func TestPublicTestHelpers(t *testing.T) {
	s := NewSelection(10)
	s.Keep(3)
	s.Keep(9)
	if got := s.Kept(); !equalInts(got, []int{3, 9}) {
		t.Errorf("Kept %v", got)
	}
	s.KeepAll()
	if got := s.Kept(); len(got) != 10 {
		t.Errorf("Kept after KeepAll %v", got)
	}
	tb := NewTable(Schema{{Name: "n", Type: Int64}, {Name: "s", Type: Utf8}, {Name: "b", Type: Bool}}, 3)
	tb.Int64(0)[2] = 5
	tb.Strings(1)[1] = "x"
	tb.Bool(2)[0] = true
	if tb.Len() != 3 || !tb.Exists(1) || tb.Int64(0)[2] != 5 || tb.Strings(1)[1] != "x" || !tb.Bool(2)[0] {
		t.Error("NewTable")
	}
	mustPanic(t, "table column 0 (\"n\") is int64, not float64", func() { tb.Float64(0) })
	mustPanic(t, "is int64, not utf8", func() { tb.Strings(0) })
}
