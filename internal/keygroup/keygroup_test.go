package keygroup

import (
	"fmt"
	"testing"
)

func TestRangesCoverAndAgreeWithSubtask(t *testing.T) {
	for _, maxP := range []int{1, 7, 128, 1000, 32768} {
		for _, p := range []int{1, 2, 3, 4, 7, 64, 128} {
			if p > maxP {
				continue
			}
			next := 0
			for i := 0; i < p; i++ {
				r := RangeOf(maxP, p, i)
				if r.Start != next || r.Len() < maxP/p || r.Len() > maxP/p+1 {
					t.Fatalf("max %d p %d subtask %d: range %v (next %d)", maxP, p, i, r, next)
				}
				for kg := r.Start; kg <= r.End; kg++ {
					if s := Subtask(maxP, p, kg); s != i {
						t.Fatalf("max %d p %d: key group %d in range of %d but Subtask says %d", maxP, p, kg, i, s)
					}
				}
				next = r.End + 1
			}
			if next != maxP {
				t.Fatalf("max %d p %d: ranges end at %d", maxP, p, next)
			}
		}
	}
}

func TestHashIsStableAndSpreads(t *testing.T) {
	// Fixed values: the hash is part of the savepoint format.
	golden := map[string]uint64{"": 0xefd01f60ba992926, "weir": 0x928ebc5f622cac17} // computed independently (FNV-1a 64 + murmur3 fmix64)
	for k, want := range golden {
		if got := Hash([]byte(k)); got != want {
			t.Errorf("Hash(%q) = %#x, want %#x", k, got, want)
		}
	}
	counts := make([]int, 128)
	for i := 0; i < 128000; i++ {
		counts[Of(Hash([]byte(fmt.Sprint("key-", i))), 128)]++
	}
	for kg, n := range counts {
		if n < 800 || n > 1200 {
			t.Fatalf("key group %d got %d of 128000 keys", kg, n)
		}
	}
}
