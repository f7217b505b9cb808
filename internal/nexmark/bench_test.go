package nexmark

import (
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// benchGenerator is the default configuration's generator.
func benchGenerator(b *testing.B) *Generator {
	b.Helper()
	g, err := NewGenerator(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	return g
}

// BenchmarkBid generates bids as Go values.
func BenchmarkBid(b *testing.B) {
	g := benchGenerator(b)
	var sink int64
	b.ReportAllocs()
	n := int64(0)
	for b.Loop() {
		if n%BlockSize < PersonProportion+AuctionProportion {
			n += PersonProportion + AuctionProportion
		}
		bid, _ := g.Bid(n)
		sink += bid.Price
		n++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "bids/s")
	_ = sink
}

// BenchmarkAppend appends events into Arrow builders in batches of 1024
// rows: bids into BidSchema, and every kind into UnionSchema.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name  string
		kinds []Kind
	}{
		{name: "bid", kinds: []Kind{KindBid}},
		{name: "person", kinds: []Kind{KindPerson}},
		{name: "auction", kinds: []Kind{KindAuction}},
		{name: "union", kinds: []Kind{KindPerson, KindAuction, KindBid}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := benchGenerator(b)
			alloc := memory.NewGoAllocator()
			a, err := NewAppender(g, Schema(bc.kinds...))
			if err != nil {
				b.Fatal(err)
			}
			const batch = 1024
			rows, n := 0, int64(0)
			b.ReportAllocs()
			for b.Loop() {
				for range batch {
					for !a.Append(n) {
						n++
					}
					n++
				}
				rec := a.NewRecord(alloc)
				rows += int(rec.NumRows())
				rec.Release()
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
