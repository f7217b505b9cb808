// Package keygroup maps keys to key groups and key groups to subtasks, as
// Flink's KeyGroupRangeAssignment does: a job's keyed state is split into
// maxParallelism key groups, and each of the p subtasks of a keyed operator
// owns one contiguous range of them, so state can be redistributed when the
// job is restored at another parallelism.
//
// The hash is part of the savepoint format: changing it re-homes every key.
package keygroup

import "fmt"

// Hash returns the stable 64-bit hash of an encoded key (FNV-1a over the
// bytes, then the murmur3 finaliser to spread the low bits). It is the same
// in every process and on every platform.
func Hash(key []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, b := range key {
		h ^= uint64(b)
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// Of returns the key group (0..maxParallelism-1) of a key hash.
func Of(hash uint64, maxParallelism int) int {
	return int(hash % uint64(maxParallelism))
}

// Range is an inclusive range of key groups.
type Range struct{ Start, End int }

// Len is the number of key groups in the range.
func (r Range) Len() int { return r.End - r.Start + 1 }

// Contains reports whether kg is in the range.
func (r Range) Contains(kg int) bool { return kg >= r.Start && kg <= r.End }

func (r Range) String() string { return fmt.Sprintf("[%d, %d]", r.Start, r.End) }

// RangeOf returns the key groups owned by subtask i of p, out of
// maxParallelism. Ranges of consecutive subtasks are adjacent and cover
// 0..maxParallelism-1; sizes differ by at most one.
func RangeOf(maxParallelism, p, i int) Range {
	start := (i*maxParallelism + p - 1) / p
	end := ((i+1)*maxParallelism+p-1)/p - 1
	return Range{start, end}
}

// Subtask returns the subtask (0..p-1) that owns key group kg.
func Subtask(maxParallelism, p, kg int) int {
	return kg * p / maxParallelism
}
