package nexmark

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Appender generates events into columns of PersonSchema, AuctionSchema,
// BidSchema or UnionSchema and turns them into Arrow records. Its columns
// are plain Go slices reused from record to record, so appending does not
// allocate; each record costs one allocation per Arrow buffer, from the
// allocator given to NewRecord. It is not safe for concurrent use.
type Appender struct {
	g      *Generator
	schema *arrow.Schema
	union  bool
	kind   Kind // the kind of a single-kind schema

	rows     int
	kinds    []Kind  // union: each row's kind
	dateTime []int64 // union: each row's timestamp
	person   personCols
	auction  auctionCols
	bid      bidCols
}

// maxColumnBytes bounds the bytes of one string column of a record (Arrow's
// utf8 offsets are int32); [Appender.Full] reports when a column nears it.
const maxColumnBytes = 1 << 30

// NewAppender returns an Appender of g's events into records of schema,
// which must be one of PersonSchema, AuctionSchema, BidSchema and
// UnionSchema (or equal to one).
func NewAppender(g *Generator, schema *arrow.Schema) (*Appender, error) {
	a := &Appender{g: g, schema: schema}
	switch {
	case schema.Equal(PersonSchema):
		a.kind = KindPerson
	case schema.Equal(AuctionSchema):
		a.kind = KindAuction
	case schema.Equal(BidSchema):
		a.kind = KindBid
	case schema.Equal(UnionSchema):
		a.union = true
	default:
		return nil, fmt.Errorf("nexmark: appender: the schema is none of the Nexmark schemas: %v", schema)
	}
	a.reset()
	return a, nil
}

// Schema is the schema of the records.
func (a *Appender) Schema() *arrow.Schema { return a.schema }

// Holds tells whether the schema has rows of kind k.
func (a *Appender) Holds(k Kind) bool { return a.union || k == a.kind }

// Len is the number of rows appended since the last record.
func (a *Appender) Len() int { return a.rows }

// Full tells whether a string column holds so many bytes (1 GiB) that the
// caller should take the record now.
func (a *Appender) Full() bool {
	return len(a.person.extra.data) > maxColumnBytes || len(a.auction.description.data) > maxColumnBytes ||
		len(a.auction.extra.data) > maxColumnBytes || len(a.bid.extra.data) > maxColumnBytes
}

func (a *Appender) reset() {
	a.rows = 0
	a.kinds, a.dateTime = a.kinds[:0], a.dateTime[:0]
	a.person.reset()
	a.auction.reset()
	a.bid.reset()
}

// Append generates event number n and appends it as one row, if the
// schema holds its kind; it reports whether it did.
func (a *Appender) Append(n int64) bool {
	id := a.g.EventID(n)
	k := KindOf(id)
	if !a.Holds(k) {
		return false
	}
	var ts int64
	switch k {
	case KindPerson:
		ts = a.person.append(a.g, id)
		if a.union {
			a.auction.appendNull()
			a.bid.appendNull()
		}
	case KindAuction:
		auc := a.g.auction(id)
		a.auction.append(&auc)
		ts = auc.DateTime
		if a.union {
			a.person.appendNull()
			a.bid.appendNull()
		}
	default:
		ts = a.bid.append(a.g, id)
		if a.union {
			a.person.appendNull()
			a.auction.appendNull()
		}
	}
	if a.union {
		a.kinds = append(a.kinds, k)
		a.dateTime = append(a.dateTime, ts)
	}
	a.rows++
	return true
}

// NewRecord returns the rows appended since the last record as a record
// allocated from alloc (the caller owns it and must Release it) and starts
// the next one.
func (a *Appender) NewRecord(alloc memory.Allocator) arrow.Record {
	defer a.reset()
	var cols []arrow.Array
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	if !a.union {
		switch a.kind {
		case KindPerson:
			cols = a.person.arrays(alloc, nil, 0, cols)
		case KindAuction:
			cols = a.auction.arrays(alloc, nil, 0, cols)
		default:
			cols = a.bid.arrays(alloc, nil, 0, cols)
		}
		return array.NewRecord(a.schema, cols, int64(a.rows))
	}
	types := make([]int32, len(a.kinds))
	for i, k := range a.kinds {
		types[i] = int32(k)
	}
	cols = append(cols, fixedArray(alloc, arrow.PrimitiveTypes.Int32, nil, 0, types))
	for k, add := range []func(*memory.Buffer, int, []arrow.Array) []arrow.Array{
		func(v *memory.Buffer, nulls int, cols []arrow.Array) []arrow.Array {
			return a.person.arrays(alloc, v, nulls, cols)
		},
		func(v *memory.Buffer, nulls int, cols []arrow.Array) []arrow.Array {
			return a.auction.arrays(alloc, v, nulls, cols)
		},
		func(v *memory.Buffer, nulls int, cols []arrow.Array) []arrow.Array {
			return a.bid.arrays(alloc, v, nulls, cols)
		},
	} {
		valid, nulls := a.validity(alloc, Kind(k))
		cols = add(valid, nulls, cols)
		valid.Release()
	}
	cols = append(cols, fixedArray(alloc, timestampMs, nil, 0, a.dateTime))
	return array.NewRecord(a.schema, cols, int64(a.rows))
}

// validity returns the validity bitmap of the columns of kind k in a union
// record (set where the row is of kind k) and its number of nulls.
func (a *Appender) validity(alloc memory.Allocator, k Kind) (*memory.Buffer, int) {
	buf := memory.NewResizableBuffer(alloc)
	buf.Resize(int(bitutil.BytesForBits(int64(a.rows))))
	bits := buf.Bytes()
	clear(bits)
	nulls := 0
	for i, rk := range a.kinds {
		if rk == k {
			bitutil.SetBit(bits, i)
		} else {
			nulls++
		}
	}
	return buf, nulls
}

// fixedArray copies vals into an array of typ (int32, int64 or timestamp)
// allocated from alloc, with validity valid (nil: no nulls).
func fixedArray[T int32 | int64](alloc memory.Allocator, typ arrow.DataType, valid *memory.Buffer, nulls int, vals []T) arrow.Array {
	buf := copyBuffer(alloc, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(vals))), len(vals)*int(unsafe.Sizeof(T(0)))))
	defer buf.Release()
	if nulls == 0 {
		valid = nil
	}
	data := array.NewData(typ, len(vals), []*memory.Buffer{valid, buf}, nil, nulls, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// copyBuffer returns a buffer of alloc holding a copy of b.
func copyBuffer(alloc memory.Allocator, b []byte) *memory.Buffer {
	buf := memory.NewResizableBuffer(alloc)
	buf.Resize(len(b))
	copy(buf.Bytes(), b)
	return buf
}

// strCol is a utf8 column being built: offsets (starting with 0) and bytes.
type strCol struct {
	off  []int32
	data []byte
}

func (c *strCol) reset() {
	c.off = append(c.off[:0], 0)
	c.data = c.data[:0]
}

func (c *strCol) add(s string) {
	c.data = append(c.data, s...)
	c.off = append(c.off, int32(len(c.data)))
}

// end ends a value appended straight to data.
func (c *strCol) end() { c.off = append(c.off, int32(len(c.data))) }

// null appends a null (an empty value; the validity bitmap says null).
func (c *strCol) null() { c.end() }

func (c *strCol) array(alloc memory.Allocator, valid *memory.Buffer, nulls int) arrow.Array {
	if len(c.data) > math.MaxInt32 {
		panic("nexmark: a string column of a record exceeds 2 GiB")
	}
	off := copyBuffer(alloc, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(c.off))), len(c.off)*4))
	defer off.Release()
	data := copyBuffer(alloc, c.data)
	defer data.Release()
	if nulls == 0 {
		valid = nil
	}
	d := array.NewData(arrow.BinaryTypes.String, len(c.off)-1, []*memory.Buffer{valid, off, data}, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

type personCols struct {
	id                                    []int64
	name, email, card, city, state, extra strCol
	dateTime                              []int64
	buf                                   []byte // a person's email and credit card
}

func (c *personCols) reset() {
	c.id, c.dateTime = c.id[:0], c.dateTime[:0]
	for _, s := range []*strCol{&c.name, &c.email, &c.card, &c.city, &c.state, &c.extra} {
		s.reset()
	}
}

// append generates person id into the columns and returns its timestamp.
func (c *personCols) append(g *Generator, id int64) int64 {
	p, buf, email := g.person(id, c.buf[:0])
	c.buf = buf
	c.id = append(c.id, p.ID)
	c.name.add(p.Name)
	c.email.add(unsafe.String(unsafe.SliceData(buf), email))
	c.card.add(unsafe.String(unsafe.SliceData(buf[email:]), len(buf)-email))
	c.city.add(p.City)
	c.state.add(p.State)
	c.dateTime = append(c.dateTime, p.DateTime)
	c.extra.add(p.Extra)
	return p.DateTime
}

func (c *personCols) appendNull() {
	c.id = append(c.id, 0)
	for _, s := range []*strCol{&c.name, &c.email, &c.card, &c.city, &c.state, &c.extra} {
		s.null()
	}
	c.dateTime = append(c.dateTime, 0)
}

func (c *personCols) arrays(alloc memory.Allocator, valid *memory.Buffer, nulls int, cols []arrow.Array) []arrow.Array {
	return append(cols,
		fixedArray(alloc, arrow.PrimitiveTypes.Int64, valid, nulls, c.id),
		c.name.array(alloc, valid, nulls),
		c.email.array(alloc, valid, nulls),
		c.card.array(alloc, valid, nulls),
		c.city.array(alloc, valid, nulls),
		c.state.array(alloc, valid, nulls),
		fixedArray(alloc, timestampMs, valid, nulls, c.dateTime),
		c.extra.array(alloc, valid, nulls),
	)
}

type auctionCols struct {
	id                    []int64
	itemName, description strCol
	initialBid, reserve   []int64
	dateTime, expires     []int64
	seller, category      []int64
	extra                 strCol
}

func (c *auctionCols) ints() []*[]int64 {
	return []*[]int64{&c.id, &c.initialBid, &c.reserve, &c.dateTime, &c.expires, &c.seller, &c.category}
}

func (c *auctionCols) reset() {
	for _, v := range c.ints() {
		*v = (*v)[:0]
	}
	c.itemName.reset()
	c.description.reset()
	c.extra.reset()
}

func (c *auctionCols) append(a *Auction) {
	c.id = append(c.id, a.ID)
	c.itemName.add(a.ItemName)
	c.description.add(a.Description)
	c.initialBid = append(c.initialBid, a.InitialBid)
	c.reserve = append(c.reserve, a.Reserve)
	c.dateTime = append(c.dateTime, a.DateTime)
	c.expires = append(c.expires, a.Expires)
	c.seller = append(c.seller, a.Seller)
	c.category = append(c.category, a.Category)
	c.extra.add(a.Extra)
}

func (c *auctionCols) appendNull() {
	for _, v := range c.ints() {
		*v = append(*v, 0)
	}
	c.itemName.null()
	c.description.null()
	c.extra.null()
}

func (c *auctionCols) arrays(alloc memory.Allocator, valid *memory.Buffer, nulls int, cols []arrow.Array) []arrow.Array {
	i64 := arrow.PrimitiveTypes.Int64
	return append(cols,
		fixedArray(alloc, i64, valid, nulls, c.id),
		c.itemName.array(alloc, valid, nulls),
		c.description.array(alloc, valid, nulls),
		fixedArray(alloc, i64, valid, nulls, c.initialBid),
		fixedArray(alloc, i64, valid, nulls, c.reserve),
		fixedArray(alloc, timestampMs, valid, nulls, c.dateTime),
		fixedArray(alloc, timestampMs, valid, nulls, c.expires),
		fixedArray(alloc, i64, valid, nulls, c.seller),
		fixedArray(alloc, i64, valid, nulls, c.category),
		c.extra.array(alloc, valid, nulls),
	)
}

type bidCols struct {
	auction, bidder, price []int64
	channel, url           strCol
	dateTime               []int64
	extra                  strCol
}

func (c *bidCols) reset() {
	c.auction, c.bidder, c.price, c.dateTime = c.auction[:0], c.bidder[:0], c.price[:0], c.dateTime[:0]
	c.channel.reset()
	c.url.reset()
	c.extra.reset()
}

// append generates bid id into the columns and returns its timestamp.
func (c *bidCols) append(g *Generator, id int64) int64 {
	b, ch := g.bidNoChannel(id)
	c.auction = append(c.auction, b.Auction)
	c.bidder = append(c.bidder, b.Bidder)
	c.price = append(c.price, b.Price)
	c.channel.data = appendChannel(c.channel.data, ch)
	c.channel.end()
	c.url.data = g.t.appendURL(c.url.data, ch)
	c.url.end()
	c.dateTime = append(c.dateTime, b.DateTime)
	c.extra.add(b.Extra)
	return b.DateTime
}

func (c *bidCols) appendNull() {
	c.auction = append(c.auction, 0)
	c.bidder = append(c.bidder, 0)
	c.price = append(c.price, 0)
	c.channel.null()
	c.url.end()
	c.dateTime = append(c.dateTime, 0)
	c.extra.null()
}

func (c *bidCols) arrays(alloc memory.Allocator, valid *memory.Buffer, nulls int, cols []arrow.Array) []arrow.Array {
	i64 := arrow.PrimitiveTypes.Int64
	return append(cols,
		fixedArray(alloc, i64, valid, nulls, c.auction),
		fixedArray(alloc, i64, valid, nulls, c.bidder),
		fixedArray(alloc, i64, valid, nulls, c.price),
		c.channel.array(alloc, valid, nulls),
		c.url.array(alloc, valid, nulls),
		fixedArray(alloc, timestampMs, valid, nulls, c.dateTime),
		c.extra.array(alloc, valid, nulls),
	)
}
