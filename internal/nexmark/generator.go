package nexmark

import (
	"fmt"
	"math"
	"math/bits"
)

// Kind is the kind of an event; its values are those of the event_type
// column of [UnionSchema].
type Kind int32

// The kinds of events.
const (
	KindPerson  Kind = 0
	KindAuction Kind = 1
	KindBid     Kind = 2
)

// NumKinds is the number of kinds.
const NumKinds = 3

var kindNames = [NumKinds]string{"person", "auction", "bid"}

// String is "person", "auction" or "bid".
func (k Kind) String() string {
	if k >= 0 && int(k) < NumKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int32(k))
}

// ParseKind is the inverse of [Kind.String].
func ParseKind(s string) (Kind, error) {
	for i, n := range kindNames {
		if s == n {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("nexmark: unknown event kind %q (want person, auction or bid)", s)
}

// KindOf returns the kind of event id: by id modulo ProportionDenominator,
// a person first, then auctions, then bids (Beam's rule).
func KindOf(id int64) Kind {
	switch rem := id % ProportionDenominator; {
	case rem < PersonProportion:
		return KindPerson
	case rem < PersonProportion+AuctionProportion:
		return KindAuction
	default:
		return KindBid
	}
}

// Person is a person registering on the auction site.
type Person struct {
	ID           int64
	Name         string
	EmailAddress string
	CreditCard   string
	City         string
	State        string
	DateTime     int64 // ms since the Unix epoch
	Extra        string
}

// Auction is an item put up for auction.
type Auction struct {
	ID          int64
	ItemName    string
	Description string
	InitialBid  int64
	Reserve     int64
	DateTime    int64 // ms since the Unix epoch
	Expires     int64 // ms since the Unix epoch
	Seller      int64 // a person id
	Category    int64
	Extra       string
}

// Bid is a bid for an auction.
type Bid struct {
	Auction  int64 // an auction id
	Bidder   int64 // a person id
	Price    int64
	Channel  string
	URL      string
	DateTime int64 // ms since the Unix epoch
	Extra    string
}

// Event is one event of the stream: Kind says which of Person, Auction and
// Bid it is; the other two are zero.
type Event struct {
	Kind    Kind
	Person  Person
	Auction Auction
	Bid     Bid
}

// DateTime is the event's timestamp, ms since the Unix epoch.
func (e *Event) DateTime() int64 {
	switch e.Kind {
	case KindPerson:
		return e.Person.DateTime
	case KindAuction:
		return e.Auction.DateTime
	default:
		return e.Bid.DateTime
	}
}

// Generator generates the events of one configuration. Its methods are
// safe for concurrent use. The event number n (0, 1, ...) is an event's
// position in the stream; its id, which decides everything else, is n
// itself unless OutOfOrderGroupSize > 1 shuffles it (see [Generator.EventID]).
type Generator struct {
	cfg  Config
	base uint64
	t    *tables
	// letters and words are the prefixes of the tables' pools this
	// configuration uses.
	letters, words string
	// lastGroup is the first event number of an incomplete last
	// out-of-order group (which keeps its order); maxInt64 if none.
	lastGroup int64
	// auctionHorizon is the number of events after which
	// NumInFlightAuctions more auctions have started.
	auctionHorizon int64
}

// NewGenerator validates cfg and returns its generator.
func NewGenerator(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Generator{
		cfg:            cfg,
		base:           seedState(cfg.Seed),
		t:              theTables(),
		lastGroup:      maxInt64,
		auctionHorizon: cfg.NumInFlightAuctions * ProportionDenominator / AuctionProportion,
	}
	longest := max(cfg.AvgPersonByteSize, cfg.AvgAuctionByteSize, cfg.AvgBidByteSize) * 6 / 5
	g.letters = g.t.letters[:min(poolSize, max(minPool, 4*longest))]
	g.words = g.t.words[:minPool]
	if cfg.NumEvents > 0 {
		g.lastGroup = cfg.NumEvents - cfg.NumEvents%cfg.OutOfOrderGroupSize
	}
	return g, nil
}

// Config returns the generator's configuration.
func (g *Generator) Config() Config { return g.cfg }

// EventID returns the id of event number n. With OutOfOrderGroupSize 1 it
// is n; otherwise the ids of each group of OutOfOrderGroupSize consecutive
// numbers are shuffled within the group, except in an incomplete last
// group of a bounded stream, which keeps its order. It is a permutation of
// the event numbers. The shuffle is Beam's (offset i becomes i*953 mod the
// group size) followed by a rotation by one, (i*953+1) mod the group
// size, so that groups whose size divides 952 (2, 4, 7, 8, ...), which
// Beam leaves in order, are shuffled too.
func (g *Generator) EventID(n int64) int64 {
	size := g.cfg.OutOfOrderGroupSize
	if size == 1 || n < 0 || n >= g.lastGroup {
		return n
	}
	off := n % size
	return n - off + (off*(OutOfOrderMultiplier%size)+1)%size
}

// Kind returns the kind of event number n.
func (g *Generator) Kind(n int64) Kind { return KindOf(g.EventID(n)) }

// DateTime returns the timestamp of event number n.
func (g *Generator) DateTime(n int64) int64 { return g.timestamp(g.EventID(n)) }

// timestamp is the timestamp of event id: BaseTime +
// floor(id*1000/FirstEventRate), saturating at math.MaxInt64.
func (g *Generator) timestamp(id int64) int64 {
	if id < 0 {
		id = 0
	}
	var off int64
	if id <= math.MaxInt64/1000 {
		off = id * 1000 / g.cfg.FirstEventRate
	} else {
		hi, lo := bits.Mul64(uint64(id), 1000)
		if hi >= uint64(g.cfg.FirstEventRate) {
			return math.MaxInt64
		}
		q, _ := bits.Div64(hi, lo, uint64(g.cfg.FirstEventRate))
		if q > math.MaxInt64 {
			return math.MaxInt64
		}
		off = int64(q)
	}
	if off > math.MaxInt64-g.cfg.BaseTime {
		return math.MaxInt64
	}
	return g.cfg.BaseTime + off
}

// Event generates event number n.
func (g *Generator) Event(n int64) Event {
	id := g.EventID(n)
	e := Event{Kind: KindOf(id)}
	switch e.Kind {
	case KindPerson:
		var buf [64]byte
		p, b, email := g.person(id, buf[:0])
		p.EmailAddress, p.CreditCard = string(b[:email]), string(b[email:])
		e.Person = p
	case KindAuction:
		e.Auction = g.auction(id)
	default:
		e.Bid = g.bid(id)
	}
	return e
}

// Person generates event number n if it is a person (ok is false, and p
// zero, if it is not).
func (g *Generator) Person(n int64) (p Person, ok bool) {
	id := g.EventID(n)
	if KindOf(id) != KindPerson {
		return Person{}, false
	}
	var buf [64]byte
	p, b, email := g.person(id, buf[:0])
	p.EmailAddress, p.CreditCard = string(b[:email]), string(b[email:])
	return p, true
}

// Auction generates event number n if it is an auction (ok is false, and
// a zero, if it is not). It does not allocate.
func (g *Generator) Auction(n int64) (a Auction, ok bool) {
	id := g.EventID(n)
	if KindOf(id) != KindAuction {
		return Auction{}, false
	}
	return g.auction(id), true
}

// Bid generates event number n if it is a bid (ok is false, and b zero, if
// it is not). It does not allocate.
func (g *Generator) Bid(n int64) (b Bid, ok bool) {
	id := g.EventID(n)
	if KindOf(id) != KindBid {
		return Bid{}, false
	}
	return g.bid(id), true
}

// lastPersonID is the base-0 id of the last person generated at or before
// event id: the current one for a person event.
func lastPersonID(id int64) int64 {
	epoch, off := id/ProportionDenominator, id%ProportionDenominator
	if off >= PersonProportion {
		off = PersonProportion - 1
	}
	return epoch*PersonProportion + off
}

// lastAuctionID is the base-0 id of the last auction generated at or
// before event id: the current one for an auction event (-1 before the
// first auction).
func lastAuctionID(id int64) int64 {
	epoch, off := id/ProportionDenominator, id%ProportionDenominator
	switch {
	case off < PersonProportion:
		epoch--
		off = AuctionProportion - 1
	case off >= PersonProportion+AuctionProportion:
		off = AuctionProportion - 1
	default:
		off -= PersonProportion
	}
	return epoch*AuctionProportion + off
}

// randomPersonID picks a base-0 person id among the NumActivePeople most
// recent ones, or up to personIDLead ahead of the last.
func (g *Generator) randomPersonID(id int64, r *rng) int64 {
	people := lastPersonID(id) + 1
	active := min(people, g.cfg.NumActivePeople)
	return people - active + r.intn(active+personIDLead)
}

// randomAuctionID picks a base-0 auction id among the NumInFlightAuctions
// before the last one, the last, or up to auctionIDLead ahead of it.
func (g *Generator) randomAuctionID(id int64, r *rng) int64 {
	last := lastAuctionID(id)
	first := max(last-g.cfg.NumInFlightAuctions, 0)
	return first + r.intn(last-first+1+auctionIDLead)
}

// price is Beam's price: round(100 * 10^(6u)) for uniform u, so from 100
// to 100 000 000 cents, log-uniformly. 10^x is interpolated linearly
// between powers at steps of 1/priceSteps (relative error below 1e-6),
// several times faster than math.Exp.
func price(r *rng) int64 {
	x := r.float() * (6 * priceSteps)
	i := int(x)
	f := x - float64(i)
	lo, hi := priceTable[i&(priceSteps-1)], priceTable[i&(priceSteps-1)+1]
	return int64(pow10[i/priceSteps]*(lo+f*(hi-lo)) + 0.5)
}

const priceSteps = 1024

var (
	// priceTable[i] is 100 * 10^(i/priceSteps) for i in [0, priceSteps].
	priceTable = func() (t [priceSteps + 1]float64) {
		for i := range t {
			t[i] = 100 * math.Pow(10, float64(i)/priceSteps)
		}
		return t
	}()
	pow10 = [...]float64{1, 10, 100, 1e3, 1e4, 1e5, 1e6}
)

// person generates person event id except its email and credit card,
// which it appends to buf (email first, email bytes long).
func (g *Generator) person(id int64, buf []byte) (p Person, out []byte, email int) {
	r := eventRNG(g.base, id)
	t := g.t
	p.ID = lastPersonID(id) + FirstPersonID
	p.DateTime = g.timestamp(id)
	first := r.intn(int64(len(firstNames)))
	p.Name = t.names[first*int64(len(lastNames))+r.intn(int64(len(lastNames)))]
	buf = append(buf, randomWords(g.words, &r, 7)...)
	buf = append(buf, '@')
	buf = append(buf, randomWords(g.words, &r, 5)...)
	buf = append(buf, ".com"...)
	email = len(buf)
	for i := range 4 {
		if i > 0 {
			buf = append(buf, ' ')
		}
		v := r.intn(10000)
		buf = append(buf, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
	}
	p.City = usCities[r.intn(int64(len(usCities)))]
	p.State = usStates[r.intn(int64(len(usStates)))]
	size := 8 + int64(len(p.Name)+len(buf)+len(p.City)+len(p.State))
	p.Extra = extra(g.letters, &r, size, g.cfg.AvgPersonByteSize)
	return p, buf, email
}

// auction generates auction event id.
func (g *Generator) auction(id int64) (a Auction) {
	r := eventRNG(g.base, id)
	a.ID = lastAuctionID(id) + FirstAuctionID
	a.DateTime = g.timestamp(id)
	var seller int64
	if r.intn(g.cfg.HotSellersRatio) > 0 {
		seller = lastPersonID(id) / hotSellerRatio * hotSellerRatio
	} else {
		seller = g.randomPersonID(id, &r)
	}
	a.Seller = seller + FirstPersonID
	a.Category = FirstCategoryID + r.intn(NumCategories)
	a.InitialBid = price(&r)
	// The length averages the time until NumInFlightAuctions more
	// auctions have started, so about that many are open at a time.
	horizon := g.timestamp(min(id, maxInt64-g.auctionHorizon)+g.auctionHorizon) - a.DateTime
	a.Expires = a.DateTime + 1 + r.intn(max(2*horizon, 1))
	a.ItemName = randomWords(g.words, &r, 20)
	a.Description = randomWords(g.words, &r, 100)
	a.Reserve = a.InitialBid + price(&r)
	size := 8 + int64(len(a.ItemName)+len(a.Description)) + 5*8
	a.Extra = extra(g.letters, &r, size, g.cfg.AvgAuctionByteSize)
	return a
}

// bid generates bid event id.
func (g *Generator) bid(id int64) Bid {
	b, ch := g.bidNoChannel(id)
	if ch < 0 {
		b.Channel, b.URL = hotChannels[-1-ch], g.t.hotURLs[-1-ch]
	} else {
		names, urls := channelStrings()
		b.Channel, b.URL = names[ch], urls[ch]
	}
	return b
}

// bidNoChannel generates bid event id but its channel and URL, and
// returns its channel for appendChannel and appendURL.
func (g *Generator) bidNoChannel(id int64) (b Bid, ch int) {
	r := eventRNG(g.base, id)
	var auction, bidder int64
	if r.intn(g.cfg.HotAuctionRatio) > 0 {
		auction = lastAuctionID(id) / hotAuctionRatio * hotAuctionRatio
	} else {
		auction = g.randomAuctionID(id, &r)
	}
	b.Auction = auction + FirstAuctionID
	if r.intn(g.cfg.HotBiddersRatio) > 0 {
		// The second of a batch, so hot bidders are not hot sellers.
		bidder = lastPersonID(id)/hotBidderRatio*hotBidderRatio + 1
	} else {
		bidder = g.randomPersonID(id, &r)
	}
	b.Bidder = bidder + FirstPersonID
	b.Price = price(&r)
	if r.intn(hotChannelsRatio) > 0 {
		ch = -1 - int(r.intn(int64(len(hotChannels))))
	} else {
		ch = int(r.intn(numChannels))
	}
	b.DateTime = g.timestamp(id)
	b.Extra = extra(g.letters, &r, 4*8, g.cfg.AvgBidByteSize)
	return b, ch
}

// BlockOwner returns the subtask, of parallelism subtasks, that emits
// event number n: the events go in blocks of BlockSize consecutive
// numbers, block b to subtask b % parallelism, so every subtask gets the
// 1:3:46 mix and timestamps advance at the same pace in all of them.
func BlockOwner(n int64, parallelism int) int {
	return int(n / BlockSize % int64(parallelism))
}

// NextOwned returns the smallest event number >= n (n >= 0) that subtask
// emits (see [BlockOwner]), or math.MaxInt64 if there is none.
func NextOwned(n int64, subtask, parallelism int) int64 {
	b := n / BlockSize
	skip := (int64(subtask) - b%int64(parallelism) + int64(parallelism)) % int64(parallelism)
	if skip == 0 {
		return n
	}
	if b+skip > math.MaxInt64/BlockSize {
		return math.MaxInt64
	}
	return (b + skip) * BlockSize
}
