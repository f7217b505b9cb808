package nexmark

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// newTestGenerator returns the generator of the default configuration
// changed by edit.
func newTestGenerator(t testing.TB, edit func(*Config)) *Generator {
	t.Helper()
	cfg := DefaultConfig()
	if edit != nil {
		edit(&cfg)
	}
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		msg  string // "" for valid
	}{
		{"default", func(*Config) {}, ""},
		{"bounded", func(c *Config) { c.NumEvents = 1000 }, ""},
		{"negative events", func(c *Config) { c.NumEvents = -1 }, "NumEvents is -1, must be at least 0"},
		{"zero rate", func(c *Config) { c.FirstEventRate = 0 }, "FirstEventRate is 0"},
		{"negative base time", func(c *Config) { c.BaseTime = -1 }, "BaseTime is -1"},
		{"base time past 9999", func(c *Config) { c.BaseTime = MaxBaseTime + 1 }, "BaseTime"},
		{"no in-flight auctions", func(c *Config) { c.NumInFlightAuctions = 0 }, "NumInFlightAuctions"},
		{"no active people", func(c *Config) { c.NumActivePeople = 0 }, "NumActivePeople"},
		{"hot auction ratio 0", func(c *Config) { c.HotAuctionRatio = 0 }, "HotAuctionRatio"},
		{"hot sellers ratio 0", func(c *Config) { c.HotSellersRatio = 0 }, "HotSellersRatio"},
		{"hot bidders ratio 0", func(c *Config) { c.HotBiddersRatio = 0 }, "HotBiddersRatio"},
		{"hot ratio 1", func(c *Config) { c.HotBiddersRatio = 1 }, ""},
		{"negative byte size", func(c *Config) { c.AvgBidByteSize = -1 }, "AvgBidByteSize"},
		{"huge byte size", func(c *Config) { c.AvgAuctionByteSize = MaxAvgByteSize + 1 }, "AvgAuctionByteSize"},
		{"largest byte size", func(c *Config) { c.AvgPersonByteSize = MaxAvgByteSize }, ""},
		{"group 0", func(c *Config) { c.OutOfOrderGroupSize = 0 }, "OutOfOrderGroupSize"},
		{"group 953", func(c *Config) { c.OutOfOrderGroupSize = 953 }, "multiple of 953"},
		{"group 954", func(c *Config) { c.OutOfOrderGroupSize = 954 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.edit(&cfg)
			err := cfg.Validate()
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := NewGenerator(cfg); err != nil {
					t.Fatalf("NewGenerator: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Validate: %v, want ErrConfig with %q", err, tt.msg)
			}
			if _, err := NewGenerator(cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("NewGenerator: %v, want ErrConfig", err)
			}
		})
	}
}

func TestKinds(t *testing.T) {
	for i, want := range []Kind{KindPerson, KindAuction, KindAuction, KindAuction, KindBid} {
		if got := KindOf(int64(i)); got != want {
			t.Errorf("KindOf(%d) = %v, want %v", i, got, want)
		}
		if got := KindOf(int64(i) + 7*ProportionDenominator); got != want {
			t.Errorf("KindOf(%d) = %v, want %v", i+7*ProportionDenominator, got, want)
		}
	}
	if KindOf(49) != KindBid || KindOf(50) != KindPerson {
		t.Error("the cycle is not 50 long")
	}
	for _, k := range []Kind{KindPerson, KindAuction, KindBid} {
		p, err := ParseKind(k.String())
		if err != nil || p != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), p, err)
		}
	}
	if _, err := ParseKind("bids"); err == nil {
		t.Error("ParseKind(bids) did not fail")
	}
}

// TestProportions counts the kinds of whole streams, also shuffled.
func TestProportions(t *testing.T) {
	for _, group := range []int64{1, 2, 7, 64, 1000} {
		t.Run(fmt.Sprintf("group=%d", group), func(t *testing.T) {
			const n = 50_000
			g := newTestGenerator(t, func(c *Config) { c.NumEvents, c.OutOfOrderGroupSize = n, group })
			var counts [NumKinds]int
			for i := range int64(n) {
				counts[g.Kind(i)]++
				if e := g.Event(i); e.Kind != g.Kind(i) {
					t.Fatalf("event %d: kind %v, Kind says %v", i, e.Kind, g.Kind(i))
				}
			}
			if want := [NumKinds]int{1000, 3000, 46000}; counts != want {
				t.Errorf("kinds %v, want %v", counts, want)
			}
		})
	}
}

// TestEventIDPermutation checks that the shuffle permutes the event
// numbers of bounded streams and moves none out of its group.
func TestEventIDPermutation(t *testing.T) {
	for _, group := range []int64{1, 2, 3, 7, 50, 64, 100, 954} {
		for _, n := range []int64{1, 49, 1000, 1003, 2861} {
			g := newTestGenerator(t, func(c *Config) { c.NumEvents, c.OutOfOrderGroupSize = n, group })
			seen := make([]bool, n)
			shuffled := 0
			for i := range n {
				id := g.EventID(i)
				if id < 0 || id >= n || seen[id] {
					t.Fatalf("group %d, %d events: event %d has id %d, out of range or twice", group, n, i, id)
				}
				if id/group != i/group {
					t.Fatalf("group %d: event %d has id %d of another group", group, i, id)
				}
				if id != i {
					shuffled++
				}
				seen[id] = true
			}
			if group > 1 && n >= group && shuffled == 0 {
				t.Errorf("group %d, %d events: nothing shuffled", group, n)
			}
		}
	}
	// Unbounded: every group is shuffled, none incomplete.
	g := newTestGenerator(t, func(c *Config) { c.OutOfOrderGroupSize = 7 })
	for i, want := range []int64{1, 2, 3, 4, 5, 6, 0} { // 953 = 1 mod 7: a rotation
		if id := g.EventID(7000 + int64(i)); id != 7000+want {
			t.Errorf("EventID(%d) = %d, want %d", 7000+i, id, 7000+want)
		}
	}
	g = newTestGenerator(t, func(c *Config) { c.OutOfOrderGroupSize = 10 })
	for i, want := range []int64{1, 4, 7, 0, 3, 6, 9, 2, 5, 8} { // 953 = 3 mod 10
		if id := g.EventID(10 + int64(i)); id != 10+want {
			t.Errorf("EventID(%d) = %d, want %d", 10+i, id, 10+want)
		}
	}
}

func TestDeterminism(t *testing.T) {
	g1 := newTestGenerator(t, nil)
	g2 := newTestGenerator(t, nil)
	other := newTestGenerator(t, func(c *Config) { c.Seed = 42 })
	const n = 2000
	forward := make([]Event, n)
	for i := range int64(n) {
		forward[i] = g1.Event(i)
	}
	differ := 0
	for i := int64(n - 1); i >= 0; i-- {
		if e := g2.Event(i); e != forward[i] {
			t.Fatalf("event %d generated backwards by another generator: %+v, want %+v", i, e, forward[i])
		}
		if e := other.Event(i); e != forward[i] {
			differ++
		}
	}
	if differ < n*9/10 {
		t.Errorf("seed 42 changed only %d of %d events", differ, n)
	}
}

// TestIDsAndValues checks Beam's id scheme and the value domains.
func TestIDsAndValues(t *testing.T) {
	g := newTestGenerator(t, nil)
	const n = 200_000
	lastPerson, lastAuction := int64(FirstPersonID-1), int64(FirstAuctionID-1)
	cfg := g.Config()
	for i := range int64(n) {
		e := g.Event(i)
		switch e.Kind {
		case KindPerson:
			p := e.Person
			if p.ID != lastPerson+1 {
				t.Fatalf("event %d: person %d after %d", i, p.ID, lastPerson)
			}
			lastPerson = p.ID
			if !slices.Contains(usStates, p.State) || !slices.Contains(usCities, p.City) {
				t.Fatalf("person %d: state %q city %q", p.ID, p.State, p.City)
			}
			if first, last, ok := strings.Cut(p.Name, " "); !ok || !slices.Contains(firstNames, first) || !slices.Contains(lastNames, last) {
				t.Fatalf("person %d: name %q", p.ID, p.Name)
			}
			if !strings.HasSuffix(p.EmailAddress, ".com") || strings.Count(p.EmailAddress, "@") != 1 {
				t.Fatalf("person %d: email %q", p.ID, p.EmailAddress)
			}
			if len(p.CreditCard) != 19 || strings.Count(p.CreditCard, " ") != 3 {
				t.Fatalf("person %d: credit card %q", p.ID, p.CreditCard)
			}
		case KindAuction:
			a := e.Auction
			if a.ID != lastAuction+1 {
				t.Fatalf("event %d: auction %d after %d", i, a.ID, lastAuction)
			}
			lastAuction = a.ID
			if a.Category < FirstCategoryID || a.Category >= FirstCategoryID+NumCategories {
				t.Fatalf("auction %d: category %d", a.ID, a.Category)
			}
			if a.Seller < FirstPersonID || a.Seller > lastPerson+personIDLead {
				t.Fatalf("auction %d: seller %d, last person %d", a.ID, a.Seller, lastPerson)
			}
			if a.Expires <= a.DateTime || a.Reserve < a.InitialBid || a.InitialBid < 100 || a.InitialBid > 1e8 {
				t.Fatalf("auction %+v", a)
			}
			if a.ItemName == "" && a.Description == "" {
				t.Fatalf("auction %d: no name nor description", a.ID)
			}
		case KindBid:
			b := e.Bid
			if b.Auction < max(FirstAuctionID, lastAuction-cfg.NumInFlightAuctions) || b.Auction > lastAuction+auctionIDLead {
				t.Fatalf("event %d: bid for auction %d, last auction %d", i, b.Auction, lastAuction)
			}
			if b.Bidder < FirstPersonID || b.Bidder > lastPerson+personIDLead {
				t.Fatalf("event %d: bidder %d, last person %d", i, b.Bidder, lastPerson)
			}
			if b.Price < 100 || b.Price > 1e8 {
				t.Fatalf("event %d: price %d", i, b.Price)
			}
			if !strings.HasPrefix(b.URL, urlPrefix) || !strings.Contains(b.URL, urlSuffix) {
				t.Fatalf("event %d: url %q", i, b.URL)
			}
			if !slices.Contains(hotChannels, b.Channel) && !strings.HasPrefix(b.Channel, "channel-") {
				t.Fatalf("event %d: channel %q", i, b.Channel)
			}
		}
		if want := cfg.BaseTime + i*1000/cfg.FirstEventRate; e.DateTime() != want || g.DateTime(i) != want {
			t.Fatalf("event %d: dateTime %d, want %d", i, e.DateTime(), want)
		}
	}
}

// TestDistributions checks the hot ratios, the categories, the channels,
// the prices and the average byte sizes on a long stream.
func TestDistributions(t *testing.T) {
	g := newTestGenerator(t, func(c *Config) { c.FirstEventRate = 10_000 }) // Beam's rate: auctions last ~170 ms
	const n = 500_000
	var bids, hotAuction, hotBidder, hotChannel, lowPrice, tagged int
	var persons, auctions, hotSeller int
	var bidBytes, personBytes, auctionBytes, auctionLen int64
	categories := map[int64]int{}
	for i := range int64(n) {
		e := g.Event(i)
		switch e.Kind {
		case KindPerson:
			p := e.Person
			persons++
			personBytes += 8 + int64(len(p.Name)+len(p.EmailAddress)+len(p.CreditCard)+len(p.City)+len(p.State)+len(p.Extra))
		case KindAuction:
			a := e.Auction
			auctions++
			categories[a.Category]++
			if a.Seller == (lastPersonID(i)/hotSellerRatio)*hotSellerRatio+FirstPersonID {
				hotSeller++
			}
			auctionBytes += 8 + int64(len(a.ItemName)+len(a.Description)+len(a.Extra)) + 40
			auctionLen += a.Expires - a.DateTime
		case KindBid:
			b := e.Bid
			bids++
			if b.Auction == lastAuctionID(i)/hotAuctionRatio*hotAuctionRatio+FirstAuctionID {
				hotAuction++
			}
			if b.Bidder == lastPersonID(i)/hotBidderRatio*hotBidderRatio+1+FirstPersonID {
				hotBidder++
			}
			if slices.Contains(hotChannels, b.Channel) {
				hotChannel++
			} else if strings.Contains(b.URL, urlTag) {
				tagged++
			}
			if b.Price < 10_000 { // 10^(6u)*100 < 10^4 iff u < 1/3
				lowPrice++
			}
			bidBytes += 32 + int64(len(b.Extra))
		}
	}
	near := func(name string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s: %.4f, want %.4f ± %.4f", name, got, want, tol)
		}
	}
	// A random pick hits the hot one now and then, hence the margins.
	near("hot auction share", float64(hotAuction)/float64(bids), 0.5, 0.02)
	near("hot bidder share", float64(hotBidder)/float64(bids), 0.75, 0.02)
	near("hot seller share", float64(hotSeller)/float64(auctions), 0.75, 0.02)
	near("hot channel share", float64(hotChannel)/float64(bids), 0.5, 0.01)
	near("tagged URL share", float64(tagged)/float64(bids-hotChannel), 0.9, 0.01)
	near("low price share", float64(lowPrice)/float64(bids), 1.0/3, 0.01)
	near("average bid bytes", float64(bidBytes)/float64(bids), DefaultAvgBidByteSize, 1)
	near("average person bytes", float64(personBytes)/float64(persons), DefaultAvgPersonByteSize, 2)
	near("average auction bytes", float64(auctionBytes)/float64(auctions), DefaultAvgAuctionByteSize, 3)
	for c := int64(FirstCategoryID); c < FirstCategoryID+NumCategories; c++ {
		near(fmt.Sprintf("category %d share", c), float64(categories[c])/float64(auctions), 0.2, 0.02)
	}
	if len(categories) != NumCategories {
		t.Errorf("categories %v", categories)
	}
	// 100 in-flight auctions at 10 000 events/s: a new auction every
	// 50/3 events, so 100 auctions take 1666 events, 166 ms; lengths are
	// uniform in [1, 2*166], averaging 166 ms.
	near("average auction length (ms)", float64(auctionLen)/float64(auctions), 166.5, 3)
}

// TestOutOfOrder checks that shuffled timestamps are out of order by
// less than a group.
func TestOutOfOrder(t *testing.T) {
	const group = 100
	g := newTestGenerator(t, func(c *Config) { c.OutOfOrderGroupSize, c.FirstEventRate = group, 1000 })
	bound := int64(group * 1000 / 1000)
	maxSeen, disorder := int64(math.MinInt64), int64(0)
	for i := range int64(10_000) {
		ts := g.DateTime(i)
		if ts < maxSeen {
			disorder = max(disorder, maxSeen-ts)
		}
		maxSeen = max(maxSeen, ts)
	}
	if disorder == 0 || disorder >= bound {
		t.Errorf("disorder %d ms, want in (0, %d)", disorder, bound)
	}
}

func TestTimestampSaturates(t *testing.T) {
	g := newTestGenerator(t, func(c *Config) { c.FirstEventRate = 1 })
	last := int64(math.MaxInt64-DefaultBaseTime) / 1000
	if ts := g.DateTime(last); ts != DefaultBaseTime+last*1000 {
		t.Errorf("DateTime(%d) = %d", last, ts)
	}
	for _, n := range []int64{last + 1, math.MaxInt64 / 1000, math.MaxInt64} {
		if ts := g.DateTime(n); ts != math.MaxInt64 {
			t.Errorf("DateTime(%d) = %d, want saturated", n, ts)
		}
	}
	// id*1000 overflows int64 but the quotient fits.
	g = newTestGenerator(t, func(c *Config) { c.FirstEventRate = 1 << 40 })
	if ts, want := g.DateTime(math.MaxInt64), DefaultBaseTime+int64(8388607999); ts != want {
		t.Errorf("DateTime(MaxInt64) at 2^40/s = %d, want %d", ts, want)
	}
}

func TestSingleKindAccessors(t *testing.T) {
	g := newTestGenerator(t, nil)
	for i := range int64(100) {
		e := g.Event(i)
		p, okP := g.Person(i)
		a, okA := g.Auction(i)
		b, okB := g.Bid(i)
		if okP != (e.Kind == KindPerson) || okA != (e.Kind == KindAuction) || okB != (e.Kind == KindBid) {
			t.Fatalf("event %d of kind %v: ok %v %v %v", i, e.Kind, okP, okA, okB)
		}
		if p != e.Person || a != e.Auction || b != e.Bid {
			t.Fatalf("event %d: accessors differ from Event", i)
		}
	}
}

func TestBlockOwner(t *testing.T) {
	for p := 1; p <= 5; p++ {
		for n := int64(0); n < 1000; n++ {
			owner := BlockOwner(n, p)
			if int(n/BlockSize)%p != owner {
				t.Fatalf("BlockOwner(%d, %d) = %d", n, p, owner)
			}
			for s := range p {
				next := NextOwned(n, s, p)
				if next < n || BlockOwner(next, p) != s {
					t.Fatalf("NextOwned(%d, %d, %d) = %d", n, s, p, next)
				}
				for m := n; m < next; m++ {
					if BlockOwner(m, p) == s {
						t.Fatalf("NextOwned(%d, %d, %d) = %d skips %d", n, s, p, next, m)
					}
				}
			}
		}
	}
	if got := NextOwned(math.MaxInt64-10, 1, 2); got != math.MaxInt64 && BlockOwner(got, 2) != 1 {
		t.Errorf("NextOwned near the end = %d", got)
	}
}

func TestGoValuesDoNotAllocate(t *testing.T) {
	g := newTestGenerator(t, nil)
	g.Bid(4) // builds the channel strings
	n := int64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		g.Bid(n*BlockSize + 10)
		g.Auction(n*BlockSize + 2)
		n++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per bid and auction", allocs)
	}
}
