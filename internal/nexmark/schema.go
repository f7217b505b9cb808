package nexmark

import (
	"github.com/apache/arrow/go/v17/arrow"
)

// timestampMs is timestamp[ms] without a time zone (Flink's TIMESTAMP(3)).
var timestampMs = &arrow.TimestampType{Unit: arrow.Millisecond}

var (
	personFields = []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String},
		{Name: "emailAddress", Type: arrow.BinaryTypes.String},
		{Name: "creditCard", Type: arrow.BinaryTypes.String},
		{Name: "city", Type: arrow.BinaryTypes.String},
		{Name: "state", Type: arrow.BinaryTypes.String},
		{Name: "dateTime", Type: timestampMs},
		{Name: "extra", Type: arrow.BinaryTypes.String},
	}
	auctionFields = []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "itemName", Type: arrow.BinaryTypes.String},
		{Name: "description", Type: arrow.BinaryTypes.String},
		{Name: "initialBid", Type: arrow.PrimitiveTypes.Int64},
		{Name: "reserve", Type: arrow.PrimitiveTypes.Int64},
		{Name: "dateTime", Type: timestampMs},
		{Name: "expires", Type: timestampMs},
		{Name: "seller", Type: arrow.PrimitiveTypes.Int64},
		{Name: "category", Type: arrow.PrimitiveTypes.Int64},
		{Name: "extra", Type: arrow.BinaryTypes.String},
	}
	bidFields = []arrow.Field{
		{Name: "auction", Type: arrow.PrimitiveTypes.Int64},
		{Name: "bidder", Type: arrow.PrimitiveTypes.Int64},
		{Name: "price", Type: arrow.PrimitiveTypes.Int64},
		{Name: "channel", Type: arrow.BinaryTypes.String},
		{Name: "url", Type: arrow.BinaryTypes.String},
		{Name: "dateTime", Type: timestampMs},
		{Name: "extra", Type: arrow.BinaryTypes.String},
	}
)

// The schemas of single-kind streams, with Flink Nexmark's column names;
// no column is nullable. Timestamps are timestamp[ms] without a zone.
var (
	// PersonSchema: id int64, name, emailAddress, creditCard, city, state
	// utf8, dateTime timestamp[ms], extra utf8.
	PersonSchema = arrow.NewSchema(personFields, nil)
	// AuctionSchema: id int64, itemName, description utf8, initialBid,
	// reserve int64, dateTime, expires timestamp[ms], seller, category
	// int64, extra utf8.
	AuctionSchema = arrow.NewSchema(auctionFields, nil)
	// BidSchema: auction, bidder, price int64, channel, url utf8, dateTime
	// timestamp[ms], extra utf8.
	BidSchema = arrow.NewSchema(bidFields, nil)
)

// UnionSchema is the schema of a stream of several kinds: event_type int32
// (a [Kind]: 0 person, 1 auction, 2 bid), then the columns of
// PersonSchema prefixed "person_", those of AuctionSchema prefixed
// "auction_", those of BidSchema prefixed "bid_" (all nullable, null in
// the rows of the other kinds), and last dateTime timestamp[ms], the
// event's timestamp whatever its kind. event_type and dateTime are not
// nullable.
var UnionSchema = func() *arrow.Schema {
	fields := []arrow.Field{{Name: "event_type", Type: arrow.PrimitiveTypes.Int32}}
	for _, k := range []struct {
		prefix string
		fields []arrow.Field
	}{{"person_", personFields}, {"auction_", auctionFields}, {"bid_", bidFields}} {
		for _, f := range k.fields {
			fields = append(fields, arrow.Field{Name: k.prefix + f.Name, Type: f.Type, Nullable: true})
		}
	}
	fields = append(fields, arrow.Field{Name: "dateTime", Type: timestampMs})
	return arrow.NewSchema(fields, nil)
}()

// Schema returns the schema of a stream of kinds: the kind's schema for
// one kind, UnionSchema for several (or none).
func Schema(kinds ...Kind) *arrow.Schema {
	if len(kinds) == 1 {
		switch kinds[0] {
		case KindPerson:
			return PersonSchema
		case KindAuction:
			return AuctionSchema
		case KindBid:
			return BidSchema
		}
	}
	return UnionSchema
}
