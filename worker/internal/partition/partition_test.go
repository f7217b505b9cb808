package partition

import (
	"fmt"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/arrow/batch"
	"github.com/weirflow/weir/internal/keygroup"
)

func words(alloc memory.Allocator, ws ...string) arrow.Record {
	schema, _ := batch.ParseSchema("word:utf8,n:int64")
	b := array.NewRecordBuilder(alloc, schema)
	defer b.Release()
	for i, w := range ws {
		b.Field(0).(*array.StringBuilder).Append(w)
		b.Field(1).(*array.Int64Builder).Append(int64(i))
	}
	return b.NewRecord()
}

func release(recs []arrow.Record) {
	for _, r := range recs {
		if r != nil {
			r.Release()
		}
	}
}

func TestHash(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	var ws []string
	for i := 0; i < 500; i++ {
		ws = append(ws, fmt.Sprintf("w%d", i%97))
	}
	for _, n := range []int{1, 2, 3, 4, 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			p, err := New("hash", n, 0, []string{"word"}, 128, alloc)
			if err != nil {
				t.Fatal(err)
			}
			owner := map[string]int{}
			for round := 0; round < 2; round++ { // keys keep their channel across batches
				rec := words(alloc, ws...)
				parts, err := p.Split(rec)
				if err != nil {
					t.Fatal(err)
				}
				total := 0
				for ch, part := range parts {
					if part == nil {
						continue
					}
					total += int(part.NumRows())
					col := part.Column(0).(*array.String)
					kgs, _ := KeyGroupOf(nil, part, []int{0}, 128)
					for r := 0; r < col.Len(); r++ {
						w := col.Value(r)
						if o, ok := owner[w]; ok && o != ch {
							t.Fatalf("key %q went to channel %d and %d", w, o, ch)
						}
						owner[w] = ch
						if keygroup.Subtask(128, n, kgs[r]) != ch {
							t.Fatalf("key %q (group %d) on channel %d", w, kgs[r], ch)
						}
					}
				}
				if total != len(ws) {
					t.Fatalf("%d rows out of %d", total, len(ws))
				}
				release(parts)
				rec.Release()
			}
			if n > 1 && len(distinct(owner)) < 2 {
				t.Fatalf("97 keys all went to one of %d channels", n)
			}
		})
	}
}

func distinct(m map[string]int) map[int]bool {
	out := map[int]bool{}
	for _, v := range m {
		out[v] = true
	}
	return out
}

func TestForwardAndRebalance(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	rec := words(alloc, "a", "b")
	defer rec.Release()
	f, _ := New("forward", 1, 3, nil, 128, alloc)
	parts, _ := f.Split(rec)
	if len(parts) != 1 || parts[0] != rec {
		t.Fatal("forward must pass the batch on")
	}
	release(parts)
	r, _ := New("rebalance", 3, 4, nil, 128, alloc) // starts at 4 % 3 = 1
	var got []int
	for range 4 {
		parts, _ := r.Split(rec)
		for ch, p := range parts {
			if p != nil {
				got = append(got, ch)
			}
		}
		release(parts)
	}
	if fmt.Sprint(got) != "[1 2 0 1]" {
		t.Fatalf("rebalance order %v", got)
	}
}

func TestNewRefuses(t *testing.T) {
	cases := []struct {
		kind  string
		n     int
		keyBy []string
	}{
		{"broadcast", 2, nil},
		{"forward", 2, nil},
		{"hash", 2, nil},
		{"hash", 200, []string{"k"}},
		{"rebalance", 0, nil},
	}
	for _, tc := range cases {
		if _, err := New(tc.kind, tc.n, 0, tc.keyBy, 128, memory.DefaultAllocator); err == nil {
			t.Errorf("%s to %d channels by %v was accepted", tc.kind, tc.n, tc.keyBy)
		}
	}
	p, _ := New("hash", 2, 0, []string{"missing"}, 128, memory.DefaultAllocator)
	rec := words(memory.DefaultAllocator, "a")
	defer rec.Release()
	if _, err := p.Split(rec); err == nil {
		t.Fatal("a missing key column was accepted")
	}
}
