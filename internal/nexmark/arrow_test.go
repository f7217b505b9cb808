package nexmark

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/weirflow/weir/arrow/batch"
)

// rowOf renders event e as the row Appender makes of it in schema.
func rowOf(e Event, schema *arrow.Schema) []string {
	i := strconv.FormatInt
	ts := func(ms int64) string {
		return arrow.Timestamp(ms).ToTime(arrow.Millisecond).Format("2006-01-02 15:04:05.999999999") + "Z"
	}
	var person, auction, bid []string
	switch e.Kind {
	case KindPerson:
		p := e.Person
		person = []string{i(p.ID, 10), p.Name, p.EmailAddress, p.CreditCard, p.City, p.State, ts(p.DateTime), p.Extra}
	case KindAuction:
		a := e.Auction
		auction = []string{i(a.ID, 10), a.ItemName, a.Description, i(a.InitialBid, 10), i(a.Reserve, 10), ts(a.DateTime), ts(a.Expires), i(a.Seller, 10), i(a.Category, 10), a.Extra}
	case KindBid:
		b := e.Bid
		bid = []string{i(b.Auction, 10), i(b.Bidder, 10), i(b.Price, 10), b.Channel, b.URL, ts(b.DateTime), b.Extra}
	}
	if schema != UnionSchema {
		return append(append(person, auction...), bid...)
	}
	nulls := func(cols []string, n int) []string {
		if cols != nil {
			return cols
		}
		out := make([]string, n)
		for j := range out {
			out[j] = array.NullValueStr
		}
		return out
	}
	row := []string{strconv.Itoa(int(e.Kind))}
	row = append(row, nulls(person, 8)...)
	row = append(row, nulls(auction, 10)...)
	row = append(row, nulls(bid, 7)...)
	return append(row, ts(e.DateTime()))
}

func recordRows(rec arrow.Record) [][]string {
	rows := make([][]string, rec.NumRows())
	for r := range rows {
		for c := range int(rec.NumCols()) {
			rows[r] = append(rows[r], rec.Column(c).ValueStr(r))
		}
	}
	return rows
}

func TestAppender(t *testing.T) {
	tests := []struct {
		name   string
		schema *arrow.Schema
		group  int64
	}{
		{"person", PersonSchema, 1},
		{"auction", AuctionSchema, 1},
		{"bid", BidSchema, 1},
		{"union", UnionSchema, 1},
		{"union shuffled", UnionSchema, 7},
		{"bid shuffled", BidSchema, 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer alloc.AssertSize(t, 0)
			g := newTestGenerator(t, func(c *Config) { c.OutOfOrderGroupSize, c.NumEvents = tt.group, 3000 })
			a, err := NewAppender(g, tt.schema)
			if err != nil {
				t.Fatal(err)
			}
			n := int64(0)
			for bi, size := range []int{1, 100, 333, 0, 1024} {
				var want [][]string
				for a.Len() < size && n < 3000 {
					e := g.Event(n)
					if a.Append(n) {
						want = append(want, rowOf(e, tt.schema))
					} else if a.Holds(e.Kind) {
						t.Fatalf("event %d of kind %v not appended", n, e.Kind)
					}
					n++
				}
				rec := a.NewRecord(alloc)
				if !rec.Schema().Equal(tt.schema) {
					t.Fatalf("schema %v", rec.Schema())
				}
				if err := batch.Validate(rec); err != nil {
					t.Fatalf("batch %d: invalid record: %v", bi, err)
				}
				got := recordRows(rec)
				rec.Release()
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("batch %d: rows\n%v\nwant\n%v", bi, got, want)
				}
				if a.Len() != 0 {
					t.Fatalf("Len %d after NewRecord", a.Len())
				}
			}
		})
	}
}

func TestAppenderSchemas(t *testing.T) {
	g := newTestGenerator(t, nil)
	if _, err := NewAppender(g, arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)); err == nil {
		t.Error("NewAppender accepted a foreign schema")
	}
	for _, tc := range []struct {
		kinds []Kind
		want  *arrow.Schema
	}{
		{[]Kind{KindPerson}, PersonSchema},
		{[]Kind{KindAuction}, AuctionSchema},
		{[]Kind{KindBid}, BidSchema},
		{[]Kind{KindPerson, KindBid}, UnionSchema},
		{nil, UnionSchema},
	} {
		if got := Schema(tc.kinds...); got != tc.want {
			t.Errorf("Schema(%v) = %v", tc.kinds, got)
		}
	}
	if f := UnionSchema.Field(0); f.Name != "event_type" || f.Nullable || f.Type.ID() != arrow.INT32 {
		t.Errorf("union field 0: %v", f)
	}
	if f := UnionSchema.Field(UnionSchema.NumFields() - 1); f.Name != "dateTime" || f.Nullable {
		t.Errorf("union last field: %v", f)
	}
	for _, name := range []string{"person_emailAddress", "auction_expires", "bid_url"} {
		idx := UnionSchema.FieldIndices(name)
		if len(idx) != 1 || !UnionSchema.Field(idx[0]).Nullable {
			t.Errorf("union field %s: %v", name, idx)
		}
	}
	if n := UnionSchema.NumFields(); n != 1+8+10+7+1 {
		t.Errorf("union has %d fields", n)
	}
}

func TestAppenderDoesNotAllocate(t *testing.T) {
	g := newTestGenerator(t, nil)
	a, err := NewAppender(g, UnionSchema)
	if err != nil {
		t.Fatal(err)
	}
	for n := range int64(2000) { // grow the columns
		a.Append(n)
	}
	alloc := memory.NewGoAllocator()
	a.NewRecord(alloc).Release()
	n := int64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		a.Append(n)
		n++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per event", allocs)
	}
	a.NewRecord(alloc).Release()
}
