// Command currency is a Weir job module running Nexmark queries 1 and 2 over
// a file of bids: prices converted from dollars to euros (to_eur), then only
// the bids on a few auctions kept (auction_filter).
//
// Build:
//
//	cd examples && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o ../bin/examples/currency.wasm ./currency
package main

import (
	weir "github.com/weirflow/weir/sdk/go"
)

func main() {}

func init() {
	weir.Map("to_eur", openToEUR)
	weir.Filter("auction_filter", openAuctionFilter)
	weir.DefinePlan(plan)
}

// BidSchema is the schema of the bids file (JSON lines; date_time in
// milliseconds since the epoch).
var BidSchema = weir.Schema{
	{Name: "auction", Type: weir.Int64},
	{Name: "bidder", Type: weir.Int64},
	{Name: "price", Type: weir.Float64},
	{Name: "date_time", Type: weir.TimestampMs},
}

// plan: [--input FILE] [--output DIR] [--rate R] [--auctions IDS]
func plan(args []string) (*weir.Plan, error) {
	fs := weir.NewFlagSet("currency")
	input := fs.String("input", "bids.jsonl", "bids file, JSON lines with "+BidSchema.String())
	output := fs.String("output", "currency-out", "directory to write the converted bids to (jsonl)")
	rate := fs.String("rate", "", "USD→EUR rate (default 0.908)")
	auctions := fs.String("auctions", DefaultAuctions, "comma-separated auction ids to keep")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	// Check the params here too, so a bad flag fails at plan time.
	if _, err := ParseRate(*rate); err != nil {
		return nil, err
	}
	if _, err := ParseIDs(*auctions); err != nil {
		return nil, err
	}
	p := weir.NewPlan("currency")
	p.Source("file", weir.Params{"path": *input, "format": "jsonl", "schema": BidSchema.String()}).ID("bids").
		Map("to_eur", *rate).ID("eur").Name("Nexmark q1: dollars to euros").
		Filter("auction_filter", *auctions).ID("auctions").Name("Nexmark q2: selected auctions").
		Sink("file", weir.Params{"path": *output, "format": "jsonl"}).ID("out")
	return p, nil
}

// to_eur: price × rate (params: the rate, default 0.908); every other column
// is copied unchanged, nulls stay null.
func openToEUR(op *weir.Operator) (weir.MapFunc, error) {
	price, err := op.Input.Lookup("price", weir.Float64)
	if err != nil {
		return nil, err
	}
	rate, err := ParseRate(op.Params)
	if err != nil {
		return nil, err
	}
	op.Output = op.Input
	return func(in *weir.Batch, out *weir.Builder) error {
		for j := range in.NumCols() {
			if j == price {
				continue
			}
			if err := out.CopyColumn(j, in, j); err != nil {
				return err
			}
		}
		ps := in.Float64(price)
		vals := ps.Values()
		eur := out.Float64(price).ExtendValidity(ps.Validity())
		eur = eur[:len(vals)]
		for i, v := range vals {
			eur[i] = v * rate
		}
		return nil
	}, nil
}

// auction_filter: keeps the rows whose auction id is one of the params
// (comma-separated ids); rows with a null auction are dropped.
func openAuctionFilter(op *weir.Operator) (weir.FilterFunc, error) {
	auction, err := op.Input.Lookup("auction", weir.Int64)
	if err != nil {
		return nil, err
	}
	ids, err := ParseIDs(op.Params)
	if err != nil {
		return nil, err
	}
	return func(in *weir.Batch, sel *weir.Selection) error {
		a := in.Int64(auction)
		bits := sel.Bits()
		for i, id := range a.Values() {
			if ids.Has(id) {
				bits[i>>3] |= 1 << (i & 7)
			}
		}
		sel.Mask(a.Validity())
		return nil
	}, nil
}
