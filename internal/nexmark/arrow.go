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

	// The columns are written by index, row rows, and grow (doubling) all
	// together when full: no slice header is stored per row, so appending
	// costs no write barrier while the GC runs.
	rows, capacity int
	kinds          []Kind  // union: each row's kind
	dateTime       []int64 // union: each row's timestamp
	person         personCols
	auction        auctionCols
	bid            bidCols
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
	return a.person.extra.n > maxColumnBytes || a.auction.description.n > maxColumnBytes ||
		a.auction.extra.n > maxColumnBytes || a.bid.extra.n > maxColumnBytes
}

func (a *Appender) reset() {
	a.rows = 0
	if a.Holds(KindPerson) {
		a.person.reset()
	}
	if a.Holds(KindAuction) {
		a.auction.reset()
	}
	if a.Holds(KindBid) {
		a.bid.reset()
	}
}

// grow doubles the room of every column.
func (a *Appender) grow() {
	a.capacity = max(2*a.capacity, 256)
	if a.union {
		a.kinds = growTo(a.kinds, a.capacity)
		a.dateTime = growTo(a.dateTime, a.capacity)
	}
	if a.Holds(KindPerson) {
		a.person.grow(a.capacity)
	}
	if a.Holds(KindAuction) {
		a.auction.grow(a.capacity)
	}
	if a.Holds(KindBid) {
		a.bid.grow(a.capacity)
	}
}

// growTo returns s with length n (>= len(s)), its values kept.
func growTo[T any](s []T, n int) []T {
	out := make([]T, n)
	copy(out, s)
	return out
}

// Append generates event number n and appends it as one row, if the
// schema holds its kind; it reports whether it did.
func (a *Appender) Append(n int64) bool {
	id := a.g.EventID(n)
	k := KindOf(id)
	if !a.Holds(k) {
		return false
	}
	if a.rows == a.capacity {
		a.grow()
	}
	r := a.rows
	var ts int64
	switch k {
	case KindPerson:
		ts = a.person.append(a.g, id, r)
		if a.union {
			a.auction.appendNull(r)
			a.bid.appendNull(r)
		}
	case KindAuction:
		auc := a.g.auction(id)
		a.auction.append(&auc, r)
		ts = auc.DateTime
		if a.union {
			a.person.appendNull(r)
			a.bid.appendNull(r)
		}
	default:
		ts = a.bid.append(a.g, id, r)
		if a.union {
			a.person.appendNull(r)
			a.auction.appendNull(r)
		}
	}
	if a.union {
		a.kinds[r] = k
		a.dateTime[r] = ts
	}
	a.rows++
	return true
}

// NewRecord returns the rows appended since the last record as a record
// allocated from alloc (the caller owns it and must Release it) and starts
// the next one.
func (a *Appender) NewRecord(alloc memory.Allocator) arrow.Record {
	defer a.reset()
	rows := a.rows
	var cols []arrow.Array
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	if !a.union {
		switch a.kind {
		case KindPerson:
			cols = a.person.arrays(alloc, rows, nil, 0, cols)
		case KindAuction:
			cols = a.auction.arrays(alloc, rows, nil, 0, cols)
		default:
			cols = a.bid.arrays(alloc, rows, nil, 0, cols)
		}
		return array.NewRecord(a.schema, cols, int64(rows))
	}
	types := make([]int32, rows)
	for i, k := range a.kinds[:rows] {
		types[i] = int32(k)
	}
	cols = append(cols, fixedArray(alloc, arrow.PrimitiveTypes.Int32, nil, 0, types))
	for k := range Kind(NumKinds) {
		valid, nulls := a.validity(alloc, k)
		switch k {
		case KindPerson:
			cols = a.person.arrays(alloc, rows, valid, nulls, cols)
		case KindAuction:
			cols = a.auction.arrays(alloc, rows, valid, nulls, cols)
		default:
			cols = a.bid.arrays(alloc, rows, valid, nulls, cols)
		}
		valid.Release()
	}
	cols = append(cols, fixedArray(alloc, timestampMs, nil, 0, a.dateTime[:rows]))
	return array.NewRecord(a.schema, cols, int64(rows))
}

// validity returns the validity bitmap of the columns of kind k in a union
// record (set where the row is of kind k) and its number of nulls.
func (a *Appender) validity(alloc memory.Allocator, k Kind) (*memory.Buffer, int) {
	buf := memory.NewResizableBuffer(alloc)
	buf.Resize(int(bitutil.BytesForBits(int64(a.rows))))
	bits := buf.Bytes()
	clear(bits)
	nulls := 0
	for i, rk := range a.kinds[:a.rows] {
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

// strCol is a utf8 column being built: k values, whose offsets are off[:k+1]
// (off[0] is 0), and their n bytes in data[:n].
type strCol struct {
	off  []int32
	data []byte
	k, n int
}

func (c *strCol) reset() { c.k, c.n = 0, 0 }

func (c *strCol) grow(rows int) {
	c.off = growTo(c.off, rows+1)
	if len(c.data) == 0 {
		c.data = make([]byte, 16*rows)
	}
}

// room makes room for n more bytes.
func (c *strCol) room(n int) {
	if c.n+n > len(c.data) {
		c.data = growTo(c.data, max(2*len(c.data), c.n+n))
	}
}

// tail is the free room of data, to append n bytes at most to in place.
func (c *strCol) tail(n int) []byte {
	c.room(n)
	return c.data[c.n:c.n]
}

// add appends value s.
func (c *strCol) add(s string) {
	c.room(len(s))
	c.n += copy(c.data[c.n:], s)
	c.end()
}

// end ends a value written to tail by adding n.
func (c *strCol) end() {
	c.k++
	c.off[c.k] = int32(c.n)
}

// null appends a null (an empty value; the validity bitmap says null).
func (c *strCol) null() { c.end() }

func (c *strCol) array(alloc memory.Allocator, valid *memory.Buffer, nulls int) arrow.Array {
	if c.n > math.MaxInt32 {
		panic("nexmark: a string column of a record exceeds 2 GiB")
	}
	off := copyBuffer(alloc, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(c.off))), (c.k+1)*4))
	defer off.Release()
	data := copyBuffer(alloc, c.data[:c.n])
	defer data.Release()
	if nulls == 0 {
		valid = nil
	}
	d := array.NewData(arrow.BinaryTypes.String, c.k, []*memory.Buffer{valid, off, data}, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

type personCols struct {
	id, dateTime                          []int64
	name, email, card, city, state, extra strCol
	buf                                   []byte // a person's email and credit card
}

func (c *personCols) strs() []*strCol {
	return []*strCol{&c.name, &c.email, &c.card, &c.city, &c.state, &c.extra}
}

func (c *personCols) reset() {
	for _, s := range c.strs() {
		s.reset()
	}
}

func (c *personCols) grow(rows int) {
	c.id, c.dateTime = growTo(c.id, rows), growTo(c.dateTime, rows)
	for _, s := range c.strs() {
		s.grow(rows)
	}
}

// append generates person id into row r and returns its timestamp.
func (c *personCols) append(g *Generator, id int64, r int) int64 {
	p, buf, email := g.person(id, c.buf[:0])
	if cap(buf) > cap(c.buf) {
		c.buf = buf
	}
	c.id[r], c.dateTime[r] = p.ID, p.DateTime
	c.name.add(p.Name)
	c.email.add(unsafe.String(unsafe.SliceData(buf), email))
	c.card.add(unsafe.String(unsafe.SliceData(buf[email:]), len(buf)-email))
	c.city.add(p.City)
	c.state.add(p.State)
	c.extra.add(p.Extra)
	return p.DateTime
}

func (c *personCols) appendNull(r int) {
	c.id[r], c.dateTime[r] = 0, 0
	c.name.null()
	c.email.null()
	c.card.null()
	c.city.null()
	c.state.null()
	c.extra.null()
}

func (c *personCols) arrays(alloc memory.Allocator, rows int, valid *memory.Buffer, nulls int, cols []arrow.Array) []arrow.Array {
	return append(cols,
		fixedArray(alloc, arrow.PrimitiveTypes.Int64, valid, nulls, c.id[:rows]),
		c.name.array(alloc, valid, nulls),
		c.email.array(alloc, valid, nulls),
		c.card.array(alloc, valid, nulls),
		c.city.array(alloc, valid, nulls),
		c.state.array(alloc, valid, nulls),
		fixedArray(alloc, timestampMs, valid, nulls, c.dateTime[:rows]),
		c.extra.array(alloc, valid, nulls),
	)
}

type auctionCols struct {
	id, initialBid, reserve, dateTime, expires, seller, category []int64
	itemName, description, extra                                 strCol
}

func (c *auctionCols) reset() {
	c.itemName.reset()
	c.description.reset()
	c.extra.reset()
}

func (c *auctionCols) grow(rows int) {
	for _, v := range []*[]int64{&c.id, &c.initialBid, &c.reserve, &c.dateTime, &c.expires, &c.seller, &c.category} {
		*v = growTo(*v, rows)
	}
	c.itemName.grow(rows)
	c.description.grow(rows)
	c.extra.grow(rows)
}

func (c *auctionCols) append(a *Auction, r int) {
	c.id[r], c.initialBid[r], c.reserve[r] = a.ID, a.InitialBid, a.Reserve
	c.dateTime[r], c.expires[r], c.seller[r], c.category[r] = a.DateTime, a.Expires, a.Seller, a.Category
	c.itemName.add(a.ItemName)
	c.description.add(a.Description)
	c.extra.add(a.Extra)
}

func (c *auctionCols) appendNull(r int) {
	c.id[r], c.initialBid[r], c.reserve[r] = 0, 0, 0
	c.dateTime[r], c.expires[r], c.seller[r], c.category[r] = 0, 0, 0, 0
	c.itemName.null()
	c.description.null()
	c.extra.null()
}

func (c *auctionCols) arrays(alloc memory.Allocator, rows int, valid *memory.Buffer, nulls int, cols []arrow.Array) []arrow.Array {
	i64 := arrow.PrimitiveTypes.Int64
	return append(cols,
		fixedArray(alloc, i64, valid, nulls, c.id[:rows]),
		c.itemName.array(alloc, valid, nulls),
		c.description.array(alloc, valid, nulls),
		fixedArray(alloc, i64, valid, nulls, c.initialBid[:rows]),
		fixedArray(alloc, i64, valid, nulls, c.reserve[:rows]),
		fixedArray(alloc, timestampMs, valid, nulls, c.dateTime[:rows]),
		fixedArray(alloc, timestampMs, valid, nulls, c.expires[:rows]),
		fixedArray(alloc, i64, valid, nulls, c.seller[:rows]),
		fixedArray(alloc, i64, valid, nulls, c.category[:rows]),
		c.extra.array(alloc, valid, nulls),
	)
}

type bidCols struct {
	auction, bidder, price, dateTime []int64
	channel, url, extra              strCol
}

func (c *bidCols) reset() {
	c.channel.reset()
	c.url.reset()
	c.extra.reset()
}

func (c *bidCols) grow(rows int) {
	for _, v := range []*[]int64{&c.auction, &c.bidder, &c.price, &c.dateTime} {
		*v = growTo(*v, rows)
	}
	c.channel.grow(rows)
	c.url.grow(rows)
	c.extra.grow(rows)
}

// maxChannelBytes and maxURLBytes bound a channel's name and URL.
const (
	maxChannelBytes = 32
	maxURLBytes     = len(urlPrefix) + 14 + len(urlSuffix) + len(urlTag) + 11
)

// append generates bid id into row r and returns its timestamp.
func (c *bidCols) append(g *Generator, id int64, r int) int64 {
	b, ch := g.bidNoChannel(id)
	c.auction[r], c.bidder[r], c.price[r], c.dateTime[r] = b.Auction, b.Bidder, b.Price, b.DateTime
	c.channel.n += len(appendChannel(c.channel.tail(maxChannelBytes), ch))
	c.channel.end()
	c.url.n += len(g.t.appendURL(c.url.tail(maxURLBytes), ch))
	c.url.end()
	c.extra.add(b.Extra)
	return b.DateTime
}

func (c *bidCols) appendNull(r int) {
	c.auction[r], c.bidder[r], c.price[r], c.dateTime[r] = 0, 0, 0, 0
	c.channel.null()
	c.url.null()
	c.extra.null()
}

func (c *bidCols) arrays(alloc memory.Allocator, rows int, valid *memory.Buffer, nulls int, cols []arrow.Array) []arrow.Array {
	i64 := arrow.PrimitiveTypes.Int64
	return append(cols,
		fixedArray(alloc, i64, valid, nulls, c.auction[:rows]),
		fixedArray(alloc, i64, valid, nulls, c.bidder[:rows]),
		fixedArray(alloc, i64, valid, nulls, c.price[:rows]),
		c.channel.array(alloc, valid, nulls),
		c.url.array(alloc, valid, nulls),
		fixedArray(alloc, timestampMs, valid, nulls, c.dateTime[:rows]),
		c.extra.array(alloc, valid, nulls),
	)
}
