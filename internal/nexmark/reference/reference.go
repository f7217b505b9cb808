// Package reference computes the results of Nexmark queries over a bounded
// list of events with plain loops and maps, independently of the engine, to
// check the engine's results against.
//
// Every query reads the whole list and returns its final result rows as
// lines, fields joined by ",", sorted (byte order). The run is bounded and
// its final watermark +infinity: every window fires and no event is late
// (the engine's out-of-orderness bound covers the generator's disorder).
// Timestamps are int64 ms since the Unix epoch; float64 values are
// formatted with strconv.FormatFloat(v, 'g', -1, 64). Windows are aligned
// at multiples of their slide (or size) since the epoch and hold [start,
// end).
package reference

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/weirflow/weir/internal/nexmark"
)

// Window sizes and slides of the windowed queries, in ms.
const (
	Q5Size  = 10_000
	Q5Slide = 2_000
	Q7Size  = 10_000
	Q8Size  = 10_000
)

// Q1Rate is the dollar to euro rate of Q1.
const Q1Rate = 0.908

// Queries are the queries by name ("q0", "q1", ...).
var Queries = map[string]func([]nexmark.Event) []string{
	"q0": Q0, "q1": Q1, "q2": Q2, "q3": Q3, "q4": Q4, "q5": Q5, "q7": Q7, "q8": Q8,
}

// Run runs the query named name ("q0", ...) over events.
func Run(name string, events []nexmark.Event) ([]string, error) {
	q, ok := Queries[name]
	if !ok {
		names := make([]string, 0, len(Queries))
		for n := range Queries {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("reference: unknown query %q (have %s)", name, strings.Join(names, ", "))
	}
	return q(events), nil
}

// Events generates event numbers 0..n-1 of cfg.
func Events(cfg nexmark.Config, n int64) ([]nexmark.Event, error) {
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	events := make([]nexmark.Event, n)
	for i := range events {
		events[i] = g.Event(int64(i))
	}
	return events, nil
}

// line joins fields with ",".
func line(fields ...string) string { return strings.Join(fields, ",") }

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func sorted(lines []string) []string {
	slices.Sort(lines)
	return lines
}

// windowStart is the start of the window of size ms containing t (windows
// aligned at multiples of size since the epoch, also before it).
func windowStart(t, size int64) int64 {
	s := t - t%size
	if t%size < 0 {
		s -= size
	}
	return s
}

// Q0 (pass-through) is every bid: auction,bidder,price,channel,url,
// dateTime,extra.
func Q0(events []nexmark.Event) []string {
	var out []string
	for i := range events {
		if e := &events[i]; e.Kind == nexmark.KindBid {
			b := &e.Bid
			out = append(out, line(itoa(b.Auction), itoa(b.Bidder), itoa(b.Price), b.Channel, b.URL, itoa(b.DateTime), b.Extra))
		}
	}
	return sorted(out)
}

// Q1 (currency conversion) is every bid with its price in euros:
// auction,bidder,price*0.908 (float64),dateTime,extra.
func Q1(events []nexmark.Event) []string {
	var out []string
	for i := range events {
		if e := &events[i]; e.Kind == nexmark.KindBid {
			b := &e.Bid
			out = append(out, line(itoa(b.Auction), itoa(b.Bidder), ftoa(float64(b.Price)*Q1Rate), itoa(b.DateTime), b.Extra))
		}
	}
	return sorted(out)
}

// Q2 (selection) is the bids of auctions whose id is a multiple of 123:
// auction,price.
func Q2(events []nexmark.Event) []string {
	var out []string
	for i := range events {
		if e := &events[i]; e.Kind == nexmark.KindBid && e.Bid.Auction%123 == 0 {
			out = append(out, line(itoa(e.Bid.Auction), itoa(e.Bid.Price)))
		}
	}
	return sorted(out)
}

// Q3 (local item suggestion) is the inner join of the auctions of category
// 10 with the persons of state OR, ID or CA on auction.seller = person.id:
// name,city,state,auctionId (one line per matching pair).
func Q3(events []nexmark.Event) []string {
	persons := map[int64][]*nexmark.Person{}
	for i := range events {
		if e := &events[i]; e.Kind == nexmark.KindPerson {
			switch e.Person.State {
			case "OR", "ID", "CA":
				persons[e.Person.ID] = append(persons[e.Person.ID], &e.Person)
			}
		}
	}
	var out []string
	for i := range events {
		if e := &events[i]; e.Kind == nexmark.KindAuction && e.Auction.Category == 10 {
			for _, p := range persons[e.Auction.Seller] {
				out = append(out, line(p.Name, p.City, p.State, itoa(e.Auction.ID)))
			}
		}
	}
	return sorted(out)
}

// Q4 (average price per category) takes, for each auction, the highest
// price of its bids with auction.dateTime <= bid.dateTime <=
// auction.expires (auctions without such a bid are left out), then per
// category the average of those highest prices, float64(sum) /
// float64(count): category,avg.
func Q4(events []nexmark.Event) []string {
	var auctions []*nexmark.Auction
	bids := map[int64][]*nexmark.Bid{}
	for i := range events {
		switch e := &events[i]; e.Kind {
		case nexmark.KindAuction:
			auctions = append(auctions, &e.Auction)
		case nexmark.KindBid:
			bids[e.Bid.Auction] = append(bids[e.Bid.Auction], &e.Bid)
		}
	}
	type acc struct{ sum, count int64 }
	categories := map[int64]*acc{}
	for _, a := range auctions {
		best, found := int64(0), false
		for _, b := range bids[a.ID] {
			if b.DateTime >= a.DateTime && b.DateTime <= a.Expires && (!found || b.Price > best) {
				best, found = b.Price, true
			}
		}
		if !found {
			continue
		}
		c := categories[a.Category]
		if c == nil {
			c = &acc{}
			categories[a.Category] = c
		}
		c.sum += best
		c.count++
	}
	var out []string
	for cat, c := range categories {
		out = append(out, line(itoa(cat), ftoa(float64(c.sum)/float64(c.count))))
	}
	return sorted(out)
}

// Q5 (hot items) counts the bids per auction in hopping windows of 10 s
// sliding every 2 s over bid.dateTime, and gives for each window the
// auctions whose count is the window's highest:
// windowStart,windowEnd,auction,count.
func Q5(events []nexmark.Event) []string {
	type key struct{ start, auction int64 }
	counts := map[key]int64{}
	for i := range events {
		e := &events[i]
		if e.Kind != nexmark.KindBid {
			continue
		}
		t := e.Bid.DateTime
		// The windows holding t start at the multiples of the slide in
		// (t - size, t].
		for s := windowStart(t, Q5Slide); s > t-Q5Size; s -= Q5Slide {
			counts[key{s, e.Bid.Auction}]++
		}
	}
	best := map[int64]int64{}
	for k, n := range counts {
		best[k.start] = max(best[k.start], n)
	}
	var out []string
	for k, n := range counts {
		if n == best[k.start] {
			out = append(out, line(itoa(k.start), itoa(k.start+Q5Size), itoa(k.auction), itoa(n)))
		}
	}
	return sorted(out)
}

// Q7 (highest bid) takes the highest price of each tumbling window of 10 s
// over bid.dateTime and gives every bid of the window at that price:
// auction,price,bidder,dateTime,extra.
func Q7(events []nexmark.Event) []string {
	best := map[int64]int64{}
	for i := range events {
		if e := &events[i]; e.Kind == nexmark.KindBid {
			w := windowStart(e.Bid.DateTime, Q7Size)
			if p, ok := best[w]; !ok || e.Bid.Price > p {
				best[w] = e.Bid.Price
			}
		}
	}
	var out []string
	for i := range events {
		if e := &events[i]; e.Kind == nexmark.KindBid {
			b := &e.Bid
			if b.Price == best[windowStart(b.DateTime, Q7Size)] {
				out = append(out, line(itoa(b.Auction), itoa(b.Price), itoa(b.Bidder), itoa(b.DateTime), b.Extra))
			}
		}
	}
	return sorted(out)
}

// Q8 (monitor new users) gives, for each tumbling window of 10 s, the
// persons (windowed by person.dateTime) who are the seller of at least one
// auction of the same window (by auction.dateTime), once per distinct (id,
// name, window), as Flink's GROUP BY: id,name,windowStart.
func Q8(events []nexmark.Event) []string {
	type key struct{ window, person int64 }
	sellers := map[key]bool{}
	for i := range events {
		if e := &events[i]; e.Kind == nexmark.KindAuction {
			sellers[key{windowStart(e.Auction.DateTime, Q8Size), e.Auction.Seller}] = true
		}
	}
	type row struct {
		key
		name string
	}
	seen := map[row]bool{}
	var out []string
	for i := range events {
		if e := &events[i]; e.Kind == nexmark.KindPerson {
			p := &e.Person
			r := row{key{windowStart(p.DateTime, Q8Size), p.ID}, p.Name}
			if sellers[r.key] && !seen[r] {
				seen[r] = true
				out = append(out, line(itoa(p.ID), p.Name, itoa(r.window)))
			}
		}
	}
	return sorted(out)
}
