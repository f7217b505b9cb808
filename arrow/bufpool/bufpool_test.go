package bufpool

import (
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

var _ memory.Allocator = (*Allocator)(nil)

func TestAllocator(t *testing.T) {
	a := New()
	cases := []struct{ size int }{{0}, {1}, {63}, {64}, {65}, {4096}, {1 << 20}, {1<<20 + 1}}
	for _, tc := range cases {
		b := a.Allocate(tc.size)
		if len(b) != tc.size {
			t.Fatalf("Allocate(%d) has len %d", tc.size, len(b))
		}
		for i := range b {
			b[i] = 0xAA
		}
		a.Free(b)
		again := a.Allocate(tc.size)
		for i, v := range again {
			if v != 0 {
				t.Fatalf("size %d: recycled byte %d is %#x, want 0", tc.size, i, v)
			}
		}
		grown := a.Reallocate(tc.size*2+10, again)
		for i, v := range grown {
			if v != 0 {
				t.Fatalf("size %d: grown byte %d is %#x", tc.size, i, v)
			}
		}
		a.Free(grown)
	}
	if a.Live() != 0 {
		t.Fatalf("%d bytes live", a.Live())
	}
}

func TestWithArrowBuilders(t *testing.T) {
	a := New()
	for round := 0; round < 3; round++ {
		b := array.NewBooleanBuilder(a)
		for i := 0; i < 1000; i++ {
			if i%3 == 0 {
				b.AppendNull()
			} else {
				b.Append(i%2 == 0)
			}
		}
		arr := b.NewBooleanArray()
		for i := 0; i < 1000; i++ {
			if arr.IsNull(i) != (i%3 == 0) || (!arr.IsNull(i) && arr.Value(i) != (i%2 == 0)) {
				t.Fatalf("round %d row %d wrong", round, i)
			}
		}
		arr.Release()
		b.Release()
	}
	if a.Live() != 0 {
		t.Fatalf("%d bytes live", a.Live())
	}
	_ = arrow.PrimitiveTypes.Int64
}

func BenchmarkAllocate512K(b *testing.B) {
	for _, alloc := range []struct {
		name string
		a    memory.Allocator
	}{{"go", memory.NewGoAllocator()}, {"pool", New()}} {
		b.Run(alloc.name, func(b *testing.B) {
			for b.Loop() {
				buf := alloc.a.Allocate(512 << 10)
				buf[0] = 1
				alloc.a.Free(buf)
			}
		})
	}
}
