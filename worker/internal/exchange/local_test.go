package exchange

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/weirflow/weir/arrow/ipcframe"
	"github.com/weirflow/weir/worker/internal/partition"
)

func partKey(p int) PartitionKey {
	return PartitionKey{Producer: fmt.Sprintf("job/src#%d@0", p), Downstream: "sink"}
}

// TestLocalFanOut runs producers × consumers in one process with a hash
// fan-out, barriers and watermarks broadcast every few batches, and checks
// that every row arrives exactly once, that each channel keeps its order
// (rows, barriers, watermarks, end-of-partition), that memory stays bounded
// on both sides, and that nothing leaks.
func TestLocalFanOut(t *testing.T) {
	cases := []struct {
		name                  string
		producers, consumers  int
		batches, rows         int
		opts                  Options
		hold                  int // batches a consumer keeps before releasing the oldest (< Exclusive, or it may starve itself)
		barrierEvery, wmEvery int
	}{
		{"3x4 coalescing", 3, 4, 200, 50, Options{Queue: 2, Exclusive: 1, Floating: 2, FlushRows: 64}, 0, 50, 20},
		{"2x3 no coalescing", 2, 3, 150, 40, Options{Queue: 1, Exclusive: 2, Floating: -1, FlushRows: -1}, 1, 30, 7},
		{"1x1 defaults", 1, 1, 300, 100, Options{}, 0, 100, 10},
		{"4x2 slow consumers", 4, 2, 100, 64, Options{Queue: 2, Exclusive: 4, Floating: 1, FlushRows: 32}, 3, 25, 5},
		{"2x2 one row batches", 2, 2, 500, 1, Options{Queue: 3, FlushRows: 16}, 1, 100, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alloc := newAlloc(t)
			ctx := timeout(t)
			opts := tc.opts
			opts.Alloc = alloc
			reg := NewRegistry()
			// Consumers connect first: the partitions do not exist yet.
			gates := make([]*InputGate, tc.consumers)
			for c := range gates {
				gates[c] = NewInputGate(testSchema, tc.producers, opts)
				for p := range tc.producers {
					gates[c].ConnectLocal(ctx, p, reg, partKey(p), c)
				}
			}
			var wg sync.WaitGroup
			parts := make([]*ResultPartition, tc.producers)
			for p := range tc.producers {
				parts[p] = NewResultPartition(partKey(p), testSchema, tc.consumers, opts)
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := produce(ctx, reg, parts[p], p, tc.batches, tc.rows, tc.barrierEvery, tc.wmEvery, opts.withDefaults().Queue); err != nil {
						t.Error(err)
					}
				}()
			}
			rowsSeen := make([][]int, tc.producers) // per producer and seq: times seen
			for p := range rowsSeen {
				rowsSeen[p] = make([]int, tc.batches*tc.rows)
			}
			var mu sync.Mutex
			for c := range gates {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := consume(ctx, gates[c], tc.producers, tc.rows, tc.barrierEvery, tc.hold, opts.withDefaults(), func(p int, seq int64) {
						mu.Lock()
						rowsSeen[p][seq]++
						mu.Unlock()
					})
					if err != nil {
						t.Errorf("consumer %d: %v", c, err)
					}
					gates[c].Close()
				}()
			}
			wg.Wait()
			for p, seen := range rowsSeen {
				for seq, n := range seen {
					if n != 1 {
						t.Fatalf("producer %d row %d seen %d times", p, seq, n)
					}
				}
				if st := parts[p].Stats(); st.Rows != int64(tc.batches*tc.rows) || st.Bytes < st.Rows*16 {
					t.Fatalf("producer %d stats %+v", p, st)
				}
			}
			checkNoLeaks(t)
		})
	}
}

// produce runs one producer: batches of rows hash-partitioned by seq, a
// barrier after every barrierEvery batches, a watermark (the batch index)
// after every wmEvery, then Finish; it unregisters once consumed.
func produce(ctx context.Context, reg *Registry, part *ResultPartition, p, batches, rows, barrierEvery, wmEvery, queue int) error {
	if err := reg.Register(part); err != nil {
		return err
	}
	alloc := part.opts.Alloc
	split, err := partition.New("hash", part.Consumers(), p, []string{"seq"}, 128, alloc)
	if err != nil {
		return err
	}
	for b := range batches {
		rec := seqBatch(alloc, int64(p), int64(b*rows), rows)
		outs, err := split.Split(rec)
		rec.Release()
		if err != nil {
			return err
		}
		for c, o := range outs {
			if o == nil {
				continue
			}
			outs[c] = nil
			if err := part.Add(ctx, c, batchEv(o)); err != nil {
				for _, o := range outs {
					if o != nil {
						o.Release()
					}
				}
				return err
			}
			if q := part.Queued(c); q > queue {
				return fmt.Errorf("subpartition %d queues %d batches, bound %d", c, q, queue)
			}
		}
		if (b+1)%barrierEvery == 0 {
			if err := part.Broadcast(ctx, barrierEv(uint64((b+1)/barrierEvery))); err != nil {
				return err
			}
		}
		if (b+1)%wmEvery == 0 {
			if err := part.Broadcast(ctx, watermarkEv(int64(b))); err != nil {
				return err
			}
		}
	}
	if err := part.Finish(ctx); err != nil {
		return err
	}
	select {
	case <-part.Consumed():
	case <-ctx.Done():
		return ctx.Err()
	}
	reg.Unregister(part.Key())
	return nil
}

// consume reads a gate to the end of every channel and checks each
// channel's order: rows of the channel's producer in increasing seq, each
// barrier n after exactly the rows of the first n*barrierEvery batches, each
// watermark w after the rows of batches 0..w, nothing after end-of-partition.
func consume(ctx context.Context, g *InputGate, producers, rows, barrierEvery, hold int, opts Options, row func(p int, seq int64)) error {
	type chanState struct {
		last     int64
		barriers int
		wm       int64
		ended    bool
	}
	st := make([]chanState, producers)
	for i := range st {
		st[i].last, st[i].wm = -1, -1
	}
	type held struct {
		ev Event
		ch int
	}
	var kept []held
	defer func() {
		for _, h := range kept {
			h.ev.Record.Release()
		}
	}()
	bound := producers*opts.Exclusive + opts.Floating
	for ended := 0; ended < producers; {
		ev, ch, err := g.Next(ctx)
		if err != nil {
			return err
		}
		s := &st[ch]
		if s.ended {
			return fmt.Errorf("channel %d: %s after end-of-partition", ch, ev.Kind)
		}
		switch ev.Kind {
		case ipcframe.KindBatch:
			if p := ev.Record.Column(0).(interface{ Value(int) int64 }).Value(0); int(p) != ch {
				return fmt.Errorf("channel %d got rows of producer %d", ch, p)
			}
			lo, hi := int64(s.barriers*barrierEvery*rows), int64((s.barriers+1)*barrierEvery*rows)
			for _, seq := range seqs(ev.Record) {
				if seq <= s.last || seq < lo || seq >= hi || seq <= s.wm*int64(rows)+int64(rows)-1 {
					return fmt.Errorf("channel %d: row %d after row %d, %d barriers, watermark %d", ch, seq, s.last, s.barriers, s.wm)
				}
				s.last = seq
				row(ch, seq)
			}
			kept = append(kept, held{ev, ch})
			if h := g.Held(); h > bound {
				return fmt.Errorf("gate holds %d batches, bound %d", h, bound)
			}
			for len(kept) > hold {
				kept[0].ev.Record.Release()
				if err := g.Release(kept[0].ch); err != nil {
					return err
				}
				kept = kept[1:]
			}
		case ipcframe.KindBarrier:
			s.barriers++
			if ev.Barrier.ID != uint64(s.barriers) {
				return fmt.Errorf("channel %d: barrier %d, want %d", ch, ev.Barrier.ID, s.barriers)
			}
			if s.last != int64(s.barriers*barrierEvery*rows)-1 && s.last >= int64(s.barriers*barrierEvery*rows) {
				return fmt.Errorf("channel %d: barrier %d after row %d", ch, ev.Barrier.ID, s.last)
			}
		case ipcframe.KindWatermark:
			if ev.Watermark <= s.wm {
				return fmt.Errorf("channel %d: watermark %d after %d", ch, ev.Watermark, s.wm)
			}
			s.wm = ev.Watermark
		case ipcframe.KindEndOfPartition:
			s.ended = true
			ended++
		}
	}
	return nil
}
