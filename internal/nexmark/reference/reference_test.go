package reference

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/weirflow/weir/internal/nexmark"
)

func person(id int64, name, city, state string, ts int64) nexmark.Event {
	return nexmark.Event{Kind: nexmark.KindPerson, Person: nexmark.Person{
		ID: id, Name: name, EmailAddress: "e@x.com", CreditCard: "0000 0000 0000 0000", City: city, State: state, DateTime: ts, Extra: "p",
	}}
}

func auction(id, seller, category, ts, expires int64) nexmark.Event {
	return nexmark.Event{Kind: nexmark.KindAuction, Auction: nexmark.Auction{
		ID: id, ItemName: "item", Description: "desc", InitialBid: 100, Reserve: 200, DateTime: ts, Expires: expires,
		Seller: seller, Category: category, Extra: "a",
	}}
}

func bid(auction, bidder, price, ts int64) nexmark.Event {
	return nexmark.Event{Kind: nexmark.KindBid, Bid: nexmark.Bid{
		Auction: auction, Bidder: bidder, Price: price, Channel: "Google", URL: "https://u", DateTime: ts, Extra: "x",
	}}
}

func TestQueries(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		events []nexmark.Event
		want   []string
	}{
		{"q0 passes bids only", "q0", []nexmark.Event{
			person(1000, "a b", "boise", "ID", 5), bid(1001, 1000, 300, 7), bid(1000, 1002, 250, 6),
		}, []string{"1000,1002,250,Google,https://u,6,x", "1001,1000,300,Google,https://u,7,x"}},
		{"q0 empty", "q0", nil, nil},

		{"q1 converts", "q1", []nexmark.Event{bid(1000, 1001, 100, 3), bid(1000, 1001, 24083084, 4), auction(1000, 1000, 10, 0, 5)},
			[]string{"1000,1001,2.1867440272e+07,4,x", "1000,1001,90.8,3,x"}},

		{"q2 selects multiples of 123", "q2", []nexmark.Event{
			bid(1107, 1, 5, 0), bid(1230, 1, 6, 0), bid(1231, 1, 7, 0), bid(0, 1, 8, 0), bid(1107, 2, 9, 0),
		}, []string{"0,8", "1107,5", "1107,9", "1230,6"}},

		{"q3 joins", "q3", []nexmark.Event{
			person(1000, "p or", "portland", "OR", 0),
			person(1001, "p wa", "seattle", "WA", 0), // state filtered out
			person(1002, "p ca", "bend", "CA", 0),
			auction(2000, 1000, 10, 1, 9),
			auction(2001, 1000, 11, 1, 9), // category filtered out
			auction(2002, 1001, 10, 1, 9),
			auction(2003, 1002, 10, 1, 9),
			auction(2004, 1002, 10, 1, 9),
			auction(2005, 1003, 10, 1, 9),                                          // no such person
			person(1004, "p id", "boise", "ID", 99), auction(2006, 1004, 10, 0, 1), // order does not matter
		}, []string{"p ca,bend,CA,2003", "p ca,bend,CA,2004", "p id,boise,ID,2006", "p or,portland,OR,2000"}},

		{"q4 averages the highest bids", "q4", []nexmark.Event{
			auction(1, 9, 10, 100, 200),
			bid(1, 5, 50, 100), bid(1, 5, 70, 200), bid(1, 5, 999, 201), bid(1, 5, 998, 99), // 70: the others fall outside
			auction(2, 9, 10, 100, 200),
			bid(2, 5, 31, 150),
			auction(3, 9, 11, 0, 10), // no bid: left out
			auction(4, 9, 12, 0, 10),
			bid(4, 5, 7, 10),
			bid(5, 5, 1000, 5), // no such auction
		}, []string{"10,50.5", "12,7"}},

		{"q5 hot items", "q5", []nexmark.Event{
			bid(1, 0, 1, 1000), bid(1, 0, 1, 1500), bid(2, 0, 1, 2500), bid(2, 0, 1, 3000), bid(2, 0, 1, 11_999),
			bid(3, 0, 1, -1),
		}, []string{
			// t=-1 is in the windows starting -10000..-2000 (and not at 0).
			"-10000,0,3,1", "-2000,8000,1,2", "-4000,6000,1,2", "-6000,4000,1,2", "-8000,2000,1,2",
			"-2000,8000,2,2", "-4000,6000,2,2", "-6000,4000,2,2",
			"0,10000,1,2", "0,10000,2,2",
			"2000,12000,2,3",
			"4000,14000,2,1", "6000,16000,2,1", "8000,18000,2,1", "10000,20000,2,1",
		}},

		{"q7 highest bids", "q7", []nexmark.Event{
			bid(1, 10, 100, 0), bid(2, 11, 300, 5000), bid(3, 12, 300, 9999), bid(4, 13, 200, 9000),
			bid(5, 14, 50, 10_000), // alone in its window
			bid(6, 15, 40, -1),
		}, []string{"2,300,11,5000,x", "3,300,12,9999,x", "5,50,14,10000,x", "6,40,15,-1,x"}},

		{"q8 new sellers", "q8", []nexmark.Event{
			person(1000, "new seller", "kent", "WA", 1000),
			auction(1, 1000, 10, 9999, 20000),
			auction(2, 1000, 10, 5000, 20000), // once per window
			person(1001, "late seller", "kent", "WA", 2000),
			auction(3, 1001, 10, 10_000, 20000), // next window
			person(1002, "no seller", "kent", "WA", 3000),
			person(1003, "seller again", "kent", "WA", 10_001),
			auction(4, 1003, 10, 19_999, 30000),
			auction(5, 1003, 10, 1000, 30000), // other window
		}, []string{"1000,new seller,0", "1003,seller again,10000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Run(tt.query, tt.events)
			if err != nil {
				t.Fatal(err)
			}
			want := append([]string(nil), tt.want...)
			want = sorted(want)
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
	if _, err := Run("q6", nil); err == nil || !strings.Contains(err.Error(), "q0, q1") {
		t.Errorf("Run(q6): %v", err)
	}
}

func TestWindowStart(t *testing.T) {
	for _, tc := range []struct{ t, size, want int64 }{
		{0, 10, 0}, {9, 10, 0}, {10, 10, 10}, {-1, 10, -10}, {-10, 10, -10}, {-11, 10, -20},
		{1436918400123, 10_000, 1436918400000}, {math.MaxInt64, 10, math.MaxInt64 - 7},
	} {
		if got := windowStart(tc.t, tc.size); got != tc.want {
			t.Errorf("windowStart(%d, %d) = %d, want %d", tc.t, tc.size, got, tc.want)
		}
	}
}

// TestGeneratedEvents runs every query on 10 000 generated events and
// checks that the windowed ones find something: at Flink's default event
// rate (the events span 1 ms, one window of each) and at 100 events/s
// (100 s: windows after windows).
func TestGeneratedEvents(t *testing.T) {
	tests := []struct {
		tps                      int64
		q5Windows, q7, q8Windows int
	}{
		{nexmark.DefaultFirstEventRate, 5, 1, 1},
		{100, 54, 10, 5},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.tps), func(t *testing.T) {
			cfg := nexmark.DefaultConfig()
			cfg.FirstEventRate = tt.tps
			cfg.NumEvents = 10_000
			events, err := Events(cfg, cfg.NumEvents)
			if err != nil {
				t.Fatal(err)
			}
			results := map[string][]string{}
			for name, q := range Queries {
				results[name] = q(events)
				t.Logf("%s: %d rows", name, len(results[name]))
			}
			if len(results["q0"]) != 9200 || len(results["q1"]) != 9200 {
				t.Errorf("q0 %d rows, q1 %d, want 9200", len(results["q0"]), len(results["q1"]))
			}
			distinct := func(rows []string, field int) int {
				seen := map[string]bool{}
				for _, l := range rows {
					seen[strings.Split(l, ",")[field]] = true
				}
				return len(seen)
			}
			if n := distinct(results["q5"], 0); n != tt.q5Windows {
				t.Errorf("q5: %d windows, want %d", n, tt.q5Windows)
			}
			if n := len(results["q7"]); n < tt.q7 {
				t.Errorf("q7: %d rows, want at least %d", n, tt.q7)
			}
			if n := distinct(results["q8"], 2); n < tt.q8Windows {
				t.Errorf("q8: %d windows, want at least %d", n, tt.q8Windows)
			}
			for _, name := range []string{"q2", "q3", "q4"} {
				if len(results[name]) == 0 {
					t.Errorf("%s: no result", name)
				}
			}
		})
	}
	if _, err := Events(nexmark.Config{}, 1); err == nil {
		t.Error("Events accepted a zero Config")
	}
}
