package main

import (
	"math"
	"reflect"
	"strings"
	"testing"

	weir "github.com/weirflow/weir/sdk/go"
)

func TestParseIDs(t *testing.T) {
	tests := []struct {
		in   string
		want IDSet
		err  string
	}{
		{DefaultAuctions, IDSet{1007, 1020, 2001, 2019, 2087}, ""},
		{" 3, 1,2,,1 ", IDSet{1, 2, 3}, ""},
		{"", nil, "no auction ids"},
		{"1,x", nil, `auction id "x"`},
	}
	for _, tt := range tests {
		got, err := ParseIDs(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseIDs(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseIDs(%q) = %v, %v", tt.in, got, err)
		}
	}
	s, _ := ParseIDs(DefaultAuctions)
	for id, want := range map[int64]bool{1007: true, 2087: true, 1008: false, 0: false, -1: false} {
		if s.Has(id) != want {
			t.Errorf("Has(%d) = %v", id, !want)
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"": 0.908, "1.5": 1.5, " 2 ": 2} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"x", "-1", "0"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) succeeded", in)
		}
	}
}

// bids builds a batch of bids; a negative price is null.
func bids(auctions []int64, prices []float64) *weir.Batch {
	b := weir.NewBuilder(BidSchema)
	for i, a := range auctions {
		b.Int64(0).Append(a)
		b.Int64(1).Append(int64(100 + i))
		if prices[i] < 0 {
			b.Float64(2).AppendNull()
		} else {
			b.Float64(2).Append(prices[i])
		}
		b.Timestamp(3).Append(1700000000000 + int64(i))
	}
	batch, err := b.Batch()
	if err != nil {
		panic(err)
	}
	return batch
}

func TestToEUR(t *testing.T) {
	in := bids([]int64{1, 2, 3}, []float64{100, -1, 2.5})
	op := &weir.Operator{Name: "to_eur", Input: BidSchema}
	fn, err := openToEUR(op)
	if err != nil {
		t.Fatal(err)
	}
	out := weir.NewBuilder(op.Output)
	if err := fn(in, out); err != nil {
		t.Fatal(err)
	}
	res, _ := out.Batch()
	p := res.Float64(2)
	if math.Abs(p.Value(0)-90.8) > 1e-9 || !p.IsNull(1) || math.Abs(p.Value(2)-2.27) > 1e-9 {
		t.Errorf("prices %v nulls %d", p.Values(), p.NullCount())
	}
	if got := res.Int64(0).Values(); !reflect.DeepEqual(got, []int64{1, 2, 3}) {
		t.Errorf("auctions %v", got)
	}
	if got := res.Timestamp(3).Values(); got[2] != 1700000000002 {
		t.Errorf("date_time %v", got)
	}
	if res.Schema().String() != BidSchema.String() {
		t.Errorf("schema %v", res.Schema())
	}

	if _, err := openToEUR(&weir.Operator{Name: "to_eur", Params: "abc", Input: BidSchema}); err == nil {
		t.Error("bad rate accepted")
	}
	_, err = openToEUR(&weir.Operator{Name: "to_eur", Input: weir.Schema{{Name: "price", Type: weir.Utf8}}})
	if err == nil || !strings.Contains(err.Error(), `column "price" is utf8, want float64`) {
		t.Errorf("utf8 price: %v", err)
	}
}

func TestAuctionFilter(t *testing.T) {
	in := bids([]int64{1007, 5, 2087, 2001, 9, 1020, 1007, 1, 2019}, make([]float64, 9))
	fn, err := openAuctionFilter(&weir.Operator{Name: "auction_filter", Params: DefaultAuctions, Input: BidSchema})
	if err != nil {
		t.Fatal(err)
	}
	sel := weir.NewSelection(in.Len())
	if err := fn(in, sel); err != nil {
		t.Fatal(err)
	}
	if got := sel.Kept(); !reflect.DeepEqual(got, []int{0, 2, 3, 5, 6, 8}) {
		t.Errorf("kept %v", got)
	}
	if _, err := openAuctionFilter(&weir.Operator{Name: "auction_filter", Input: BidSchema}); err == nil {
		t.Error("no ids accepted")
	}
}

func TestPlan(t *testing.T) {
	js, err := weir.BuildPlan(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"schema":"auction:int64,bidder:int64,price:float64,date_time:timestamp[ms]"`,
		`"function":"to_eur","inputs":["bids"]`,
		`"function":"auction_filter","params":"1007,1020,2001,2019,2087","inputs":["eur"]`,
		`{"id":"out","kind":"sink","connector":"file","params":{"format":"jsonl","path":"currency-out"},"inputs":["auctions"]}`,
	} {
		if !strings.Contains(string(js), want) {
			t.Errorf("plan lacks %s:\n%s", want, js)
		}
	}
	if _, err := weir.BuildPlan([]string{"--auctions", "x"}); err == nil {
		t.Error("bad --auctions accepted")
	}
}
