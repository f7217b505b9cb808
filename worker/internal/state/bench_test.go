package state

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/arrow/batch"
	"github.com/weirflow/weir/arrow/bufpool"
)

// benchSchemas are the state shapes of the Gather/Scatter benchmarks: a
// counter, the mixed row of TestGatherScatter, and a counter with a 100-byte
// binary value (the shape of BenchmarkSnapshot).
var benchSchemas = []struct{ name, schema string }{
	{"count", "n:int64"},
	{"mixed", "n:int64,avg:float64,last:utf8,seen:bool,at:timestamp[ms]"},
	{"blob", "n:int64,b:binary"},
}

// benchKey is the encoded key of int64 key column value i (batch.AppendKey).
func benchKey(i int) string {
	k := [9]byte{1}
	binary.LittleEndian.PutUint64(k[1:], uint64(i))
	return string(k[:])
}

// benchState returns a state array of n rows of schema, every field valid
// except one row in 16 (a null field); utf8 values are ~13 bytes, binary ones
// 100 bytes. seed varies the values.
func benchState(tb testing.TB, alloc memory.Allocator, schema string, n, seed int) *array.Struct {
	tb.Helper()
	s, err := batch.ParseSchema(schema)
	if err != nil {
		tb.Fatal(err)
	}
	b := array.NewRecordBuilder(alloc, s)
	defer b.Release()
	blob := make([]byte, 100)
	for f, fb := range b.Fields() {
		for i := 0; i < n; i++ {
			v := seed + i
			if f > 0 && v%16 == 0 {
				fb.AppendNull()
				continue
			}
			switch fb := fb.(type) {
			case *array.Int64Builder:
				fb.Append(int64(v))
			case *array.Float64Builder:
				fb.Append(float64(v) / 2)
			case *array.StringBuilder:
				fb.Append(fmt.Sprintf("value-%07d", v%10000000))
			case *array.BooleanBuilder:
				fb.Append(v%3 == 0)
			case *array.TimestampBuilder:
				fb.Append(arrow.Timestamp(v))
			case *array.BinaryBuilder:
				binary.LittleEndian.PutUint64(blob, uint64(v))
				fb.Append(blob)
			default:
				tb.Fatalf("benchState: no values for %T", fb)
			}
		}
	}
	rec := b.NewRecord()
	defer rec.Release()
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	st, err := array.NewStructArray(rec.Columns(), names)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// fillStore scatters keys 0..n-1 into s in batches of batchRows.
func fillStore(tb testing.TB, s *Store, alloc memory.Allocator, schema string, n, batchRows int) {
	tb.Helper()
	st := benchState(tb, alloc, schema, batchRows, 0)
	defer st.Release()
	keys := make([]string, batchRows)
	for lo := 0; lo < n; lo += batchRows {
		m := min(batchRows, n-lo)
		for i := range m {
			keys[i] = benchKey(lo + i)
		}
		part := st
		if m < batchRows {
			part = array.NewSlice(st, 0, int64(m)).(*array.Struct)
		}
		if err := s.Scatter(keys[:m], part); err != nil {
			tb.Fatal(err)
		}
		if part != st {
			part.Release()
		}
	}
}

// BenchmarkGatherScatter measures one keyed-process batch's state traffic:
// Gather and Scatter of 64K distinct keys drawn at random from a store of 1M
// keys (all updates, so the store stays the same size).
func BenchmarkGatherScatter(b *testing.B) {
	const storeKeys, batchRows = 1 << 20, 1 << 16
	alloc := memory.NewGoAllocator()
	for _, sc := range benchSchemas {
		fields, _ := batch.ParseSchema(sc.schema)
		s, err := New(fields.Fields(), 128)
		if err != nil {
			b.Fatal(err)
		}
		fillStore(b, s, alloc, sc.schema, storeKeys, batchRows)
		rnd := rand.New(rand.NewPCG(1, 2))
		perm := rnd.Perm(storeKeys)
		keys := make([]string, batchRows)
		for i := range keys {
			keys[i] = benchKey(perm[i])
		}
		st := benchState(b, alloc, sc.schema, batchRows, 7)
		b.Run(sc.name+"/gather", func(b *testing.B) {
			for b.Loop() {
				g, err := s.Gather(alloc, keys)
				if err != nil {
					b.Fatal(err)
				}
				g.Release()
			}
			b.ReportMetric(float64(b.N)*batchRows/b.Elapsed().Seconds(), "rows/s")
		})
		b.Run(sc.name+"/scatter", func(b *testing.B) {
			for b.Loop() {
				if err := s.Scatter(keys, st); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*batchRows/b.Elapsed().Seconds(), "rows/s")
		})
		st.Release()
	}
}

var snapshotKeys = flag.Int("snapshot.keys", 8<<20, "keys in BenchmarkSnapshot's store (each an int64 and 100 bytes of binary)")

// BenchmarkSnapshot checkpoints ~1 GiB of keyed state: 8M keys, each with
// an int64 and a 100-byte binary value (-snapshot.keys to change). Per
// iteration, each part measured on its own:
//
//   - pause-µs: Store.Snapshot, the task's synchronous pause;
//   - cow-cold-*: the next 16 Scatters of 64K random existing keys with the
//     snapshot alive, which copy every page they write into fresh memory
//     (the first checkpoint); first-ms is the first Scatter, extra-ms the
//     time over the same 16 Scatters without a snapshot (base-*);
//   - write-*: WriteTo into a file in b.TempDir(), then fsync;
//   - cow-warm-*: the same after a second snapshot, copying into the pages
//     the first one released (every later checkpoint);
//   - encode-MB/s, during-write-*: WriteTo to io.Discard on another
//     goroutine while the task goes on scattering (2 cores): the first
//     Scatter (which copies) and the mean of the next ones;
//   - restore-*: Restore of the file into an empty store.
func BenchmarkSnapshot(b *testing.B) {
	const schema, batchRows, cowBatches = "n:int64,b:binary", 1 << 16, 16
	n := *snapshotKeys
	if n < cowBatches*batchRows {
		b.Fatalf("-snapshot.keys=%d: at least %d", n, cowBatches*batchRows)
	}
	alloc := memory.NewGoAllocator()
	fields, _ := batch.ParseSchema(schema)
	s, err := New(fields.Fields(), 128)
	if err != nil {
		b.Fatal(err)
	}
	fillStore(b, s, alloc, schema, n, batchRows)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	payload := float64(n) * (9 + 8 + 100) // encoded key, int64, binary
	rnd := rand.New(rand.NewPCG(5, 6))
	perm := rnd.Perm(n)
	updates := make([][]string, cowBatches)
	for i := range updates {
		for _, k := range perm[i*batchRows : (i+1)*batchRows] {
			updates[i] = append(updates[i], benchKey(k))
		}
	}
	st := benchState(b, alloc, schema, batchRows, 3)
	defer st.Release()
	// scatterAll runs the 16 update batches: first and total time.
	scatterAll := func() (first, total time.Duration) {
		for i, keys := range updates {
			t0 := time.Now()
			if err := s.Scatter(keys, st); err != nil {
				b.Fatal(err)
			}
			d := time.Since(t0)
			if i == 0 {
				first = d
			}
			total += d
		}
		return first, total
	}
	path := filepath.Join(b.TempDir(), "state.arrow")
	pool := bufpool.New() // the TaskManager's allocator
	var pause, coldFirst, coldAll, warmFirst, warmAll, baseFirst, baseAll time.Duration
	var write, writeSync, encode, restore time.Duration
	var coldCopies, warmCopies, size int64
	var duringFirst, duringBatch time.Duration
	for b.Loop() {
		// First checkpoint: pause, copy-on-write into fresh pages, write.
		t0 := time.Now()
		sn := s.Snapshot()
		pause += time.Since(t0)
		c0 := s.copies
		f1, all1 := scatterAll()
		coldFirst, coldAll, coldCopies = coldFirst+f1, coldAll+all1, coldCopies+int64(s.copies-c0)
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		if size, err = sn.WriteTo(f); err != nil {
			b.Fatal(err)
		}
		write += time.Since(t0)
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		writeSync += time.Since(t0)
		f.Close()
		sn.Release()

		// No snapshot: the baseline.
		f1, all1 = scatterAll()
		baseFirst, baseAll = baseFirst+f1, baseAll+all1

		// Second checkpoint: copies into the released pages.
		sn = s.Snapshot()
		c0 = s.copies
		f1, all1 = scatterAll()
		warmFirst, warmAll, warmCopies = warmFirst+f1, warmAll+all1, warmCopies+int64(s.copies-c0)
		sn.Release()

		// Third: written by another goroutine while the task scatters.
		sn = s.Snapshot()
		var duringRest time.Duration
		done := make(chan time.Duration)
		go func() {
			t0 := time.Now()
			if _, err := sn.WriteTo(discard{}); err != nil {
				b.Error(err)
			}
			done <- time.Since(t0)
		}()
		var batches int
	loop:
		for i := 0; ; i++ {
			select {
			case d := <-done:
				encode += d
				break loop
			default:
			}
			t0 := time.Now()
			if err := s.Scatter(updates[i%cowBatches], st); err != nil {
				b.Fatal(err)
			}
			if d := time.Since(t0); i == 0 {
				duringFirst += d
			} else {
				duringRest += d
				batches++
			}
		}
		if batches > 0 {
			duringBatch += duringRest / time.Duration(batches)
		}
		sn.Release()

		f, err = os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		r, _ := New(fields.Fields(), 128, WithAllocator(pool))
		t0 = time.Now()
		got, err := r.Restore(f, all(128))
		if err != nil || got != n {
			b.Fatalf("restored %d rows of %d: %v", got, n, err)
		}
		restore += time.Since(t0)
		f.Close()
		r = nil
		runtime.GC()
	}
	per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	ms1 := func(d time.Duration) float64 { return per(d) * 1e3 }
	mbps := func(d time.Duration) float64 { return float64(size) / 1e6 / per(d) }
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
	b.ReportMetric(payload/1e6, "payload-MB")
	b.ReportMetric(float64(size)/1e6, "file-MB")
	b.ReportMetric(float64(len(s.pages)), "pages")
	b.ReportMetric(per(pause)*1e6, "pause-µs")
	b.ReportMetric(ms1(baseAll)/cowBatches, "base-batch-ms")
	b.ReportMetric(float64(coldCopies)/float64(b.N), "cow-cold-pages")
	b.ReportMetric(ms1(coldFirst), "cow-cold-first-ms")
	b.ReportMetric(ms1(coldAll-baseAll), "cow-cold-extra-ms")
	b.ReportMetric(float64(warmCopies)/float64(b.N), "cow-warm-pages")
	b.ReportMetric(ms1(warmFirst), "cow-warm-first-ms")
	b.ReportMetric(ms1(warmAll-baseAll), "cow-warm-extra-ms")
	b.ReportMetric(per(write), "write-s")
	b.ReportMetric(mbps(write), "write-MB/s")
	b.ReportMetric(mbps(writeSync), "write+fsync-MB/s")
	b.ReportMetric(mbps(encode), "encode-MB/s")
	b.ReportMetric(ms1(duringFirst), "during-write-first-ms")
	b.ReportMetric(ms1(duringBatch), "during-write-batch-ms")
	b.ReportMetric(per(restore), "restore-s")
	b.ReportMetric(mbps(restore), "restore-MB/s")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
