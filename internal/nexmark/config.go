// Package nexmark generates the events of the Nexmark benchmark (persons,
// auctions and bids of an online auction site) the way Apache Beam's
// Nexmark generator does: the event number alone decides an event's kind,
// ids, timestamp and content, so any subset of the stream can be generated
// independently, in any order, and always the same.
//
// The generator follows Beam's distributions (proportions 1:3:46, ids from
// event numbers, hot auctions, sellers and bidders, in-flight auctions,
// active people, prices, auction lengths, padding to average byte sizes)
// but draws its random numbers from a splitmix64 generator seeded with the
// seed and the event id instead of java.util.Random, so its values are not
// byte-equal to Beam's.
//
// Events come as Go values ([Generator.Event]) or are appended straight into
// Arrow builders ([Appender]) with the column names of Flink's Nexmark
// ([PersonSchema], [AuctionSchema], [BidSchema], [UnionSchema]). The package
// is pure: no I/O, no clocks, no global state beyond immutable tables.
package nexmark

import (
	"errors"
	"fmt"
)

// ErrConfig is wrapped by every error of [Config.Validate].
var ErrConfig = errors.New("nexmark: bad config")

// Beam's constants of the event mix and of ids.
const (
	// PersonProportion, AuctionProportion and BidProportion are the shares
	// of each kind in every ProportionDenominator consecutive event ids: the
	// first is a person, the next three auctions, the other 46 bids.
	PersonProportion      = 1
	AuctionProportion     = 3
	BidProportion         = 46
	ProportionDenominator = PersonProportion + AuctionProportion + BidProportion

	// FirstPersonID and FirstAuctionID are the ids of the first person and
	// the first auction; FirstCategoryID the smallest category.
	FirstPersonID   = 1000
	FirstAuctionID  = 1000
	FirstCategoryID = 10
	// NumCategories is the number of auction categories.
	NumCategories = 5

	// BlockSize is the number of consecutive event numbers that go to one
	// parallel subtask together (one full proportion cycle); see
	// [BlockOwner].
	BlockSize = ProportionDenominator
)

// Defaults of [Config]: Beam's generator defaults, except FirstEventRate,
// which is the default of Flink's Nexmark (nexmark.tps).
const (
	DefaultFirstEventRate      = 10_000_000
	DefaultBaseTime            = 1436918400000 // 2015-07-15T00:00:00Z in ms
	DefaultNumInFlightAuctions = 100
	DefaultNumActivePeople     = 1000
	DefaultHotAuctionRatio     = 2
	DefaultHotSellersRatio     = 4
	DefaultHotBiddersRatio     = 4
	DefaultAvgPersonByteSize   = 200
	DefaultAvgAuctionByteSize  = 500
	DefaultAvgBidByteSize      = 100
	DefaultOutOfOrderGroupSize = 1
)

// Limits checked by [Config.Validate].
const (
	// MaxAvgByteSize bounds the average byte sizes (the padding of one
	// event is at most 1.2 times its average size).
	MaxAvgByteSize = 1 << 16
	// MaxBaseTime is 9999-12-31T23:59:59.999Z in ms.
	MaxBaseTime = 253402300799999
	// OutOfOrderMultiplier is Beam's multiplier of the event-number shuffle
	// inside out-of-order groups; a prime, so the shuffle is a permutation
	// of every group whose size it does not divide.
	OutOfOrderMultiplier = 953
	// MaxFirstEventRate, MaxNumInFlightAuctions, MaxNumActivePeople,
	// MaxHotRatio and MaxOutOfOrderGroupSize bound the other fields.
	MaxFirstEventRate      = 1 << 40
	MaxNumInFlightAuctions = 1 << 30
	MaxNumActivePeople     = 1 << 40
	MaxHotRatio            = 1 << 30
	MaxOutOfOrderGroupSize = 1 << 30
)

// Config holds the parameters of the generator. Make one with
// [DefaultConfig] and change what you need; [NewGenerator] validates it.
type Config struct {
	// NumEvents is the number of events of the stream, 0 for an unbounded
	// one. Only the out-of-order shuffle depends on it: the last group,
	// when incomplete, keeps its order.
	NumEvents int64
	// FirstEventRate is the event-time rate in events per second: event id
	// i has the timestamp BaseTime + floor(i*1000/FirstEventRate) ms.
	FirstEventRate int64
	// BaseTime is the timestamp of event 0, in ms since the Unix epoch.
	BaseTime int64
	// Seed picks one of the streams; 0 is the default stream.
	Seed int64
	// NumInFlightAuctions is the average number of auctions open at a time:
	// bids that are not for a hot auction pick one of the last
	// NumInFlightAuctions auctions (plus a few ahead), and auction lengths
	// are chosen so that about this many are open.
	NumInFlightAuctions int64
	// NumActivePeople is the number of recent persons that sell or bid
	// when not hot.
	NumActivePeople int64
	// HotAuctionRatio, HotSellersRatio and HotBiddersRatio: a bid is for a
	// hot auction with probability 1-1/HotAuctionRatio, an auction is of a
	// hot seller with probability 1-1/HotSellersRatio, and a bid is by a
	// hot bidder with probability 1-1/HotBiddersRatio.
	HotAuctionRatio, HotSellersRatio, HotBiddersRatio int64
	// AvgPersonByteSize, AvgAuctionByteSize and AvgBidByteSize are the
	// average sizes of events, reached by padding them with an extra
	// field.
	AvgPersonByteSize, AvgAuctionByteSize, AvgBidByteSize int64
	// OutOfOrderGroupSize shuffles the event ids inside each group of this
	// many consecutive event numbers (Beam's scheme, see
	// [Generator.EventID]), so timestamps go out of order by less than a
	// group; 1 keeps them in order. It must not be a multiple of 953.
	OutOfOrderGroupSize int64
}

// DefaultConfig returns Beam's defaults with Flink Nexmark's event rate and
// an unbounded stream.
func DefaultConfig() Config {
	return Config{
		FirstEventRate:      DefaultFirstEventRate,
		BaseTime:            DefaultBaseTime,
		NumInFlightAuctions: DefaultNumInFlightAuctions,
		NumActivePeople:     DefaultNumActivePeople,
		HotAuctionRatio:     DefaultHotAuctionRatio,
		HotSellersRatio:     DefaultHotSellersRatio,
		HotBiddersRatio:     DefaultHotBiddersRatio,
		AvgPersonByteSize:   DefaultAvgPersonByteSize,
		AvgAuctionByteSize:  DefaultAvgAuctionByteSize,
		AvgBidByteSize:      DefaultAvgBidByteSize,
		OutOfOrderGroupSize: DefaultOutOfOrderGroupSize,
	}
}

// Validate checks every field; its errors wrap [ErrConfig] and name the
// field.
func (c Config) Validate() error {
	type check struct {
		name   string
		v      int64
		lo, hi int64
	}
	checks := []check{
		{"NumEvents", c.NumEvents, 0, maxInt64},
		{"FirstEventRate", c.FirstEventRate, 1, MaxFirstEventRate},
		{"BaseTime", c.BaseTime, 0, MaxBaseTime},
		{"NumInFlightAuctions", c.NumInFlightAuctions, 1, MaxNumInFlightAuctions},
		{"NumActivePeople", c.NumActivePeople, 1, MaxNumActivePeople},
		{"HotAuctionRatio", c.HotAuctionRatio, 1, MaxHotRatio},
		{"HotSellersRatio", c.HotSellersRatio, 1, MaxHotRatio},
		{"HotBiddersRatio", c.HotBiddersRatio, 1, MaxHotRatio},
		{"AvgPersonByteSize", c.AvgPersonByteSize, 0, MaxAvgByteSize},
		{"AvgAuctionByteSize", c.AvgAuctionByteSize, 0, MaxAvgByteSize},
		{"AvgBidByteSize", c.AvgBidByteSize, 0, MaxAvgByteSize},
		{"OutOfOrderGroupSize", c.OutOfOrderGroupSize, 1, MaxOutOfOrderGroupSize},
	}
	for _, k := range checks {
		if k.v < k.lo || k.v > k.hi {
			if k.hi == maxInt64 {
				return fmt.Errorf("%w: %s is %d, must be at least %d", ErrConfig, k.name, k.v, k.lo)
			}
			return fmt.Errorf("%w: %s is %d, must be in [%d, %d]", ErrConfig, k.name, k.v, k.lo, k.hi)
		}
	}
	if c.OutOfOrderGroupSize%OutOfOrderMultiplier == 0 {
		return fmt.Errorf("%w: OutOfOrderGroupSize %d is a multiple of %d, which would not shuffle it", ErrConfig, c.OutOfOrderGroupSize, OutOfOrderMultiplier)
	}
	return nil
}

const maxInt64 = 1<<63 - 1
