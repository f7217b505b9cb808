package main

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	weir "github.com/weirflow/weir/sdk/go"
)

// Nexmark q4, in three steps (see README.md):
//
//	q4_events     the auctions and bids of a two-kind stream, as one narrow
//	              schema keyed by the auction id
//	q4_max_price  per auction, the highest price of the bids made while it
//	              was open, emitted when its event-time timer (at expires) fires
//	q4_average    per category, the running average of those closing prices

// Event kinds of the generator's event_type column.
const (
	kindAuction = 1
	kindBid     = 2
)

// Q4EventSchema is q4_events' output: one row per auction or bid.
var Q4EventSchema = weir.Schema{
	{Name: "id", Type: weir.Int64, NotNull: true}, // the auction id
	{Name: "kind", Type: weir.Int32, NotNull: true},
	{Name: "category", Type: weir.Int64, NotNull: true}, // auctions only
	{Name: "expires", Type: weir.TimestampMs, NotNull: true},
	{Name: "price", Type: weir.Int64, NotNull: true}, // bids only
	{Name: "dateTime", Type: weir.TimestampMs, NotNull: true},
}

// lookupAll looks the named columns up in s, each with its type.
func lookupAll(s weir.Schema, cols ...weir.Field) ([]int, error) {
	idx := make([]int, len(cols))
	for k, c := range cols {
		j, err := s.Lookup(c.Name, c.Type)
		if err != nil {
			return nil, err
		}
		idx[k] = j
	}
	return idx, nil
}

// q4_events: a stream of auctions and bids (the generator's union schema)
// → Q4EventSchema. Auction rows keep their id, category, expires and
// dateTime; bid rows their auction, price and dateTime. Other rows and rows
// with a null in a column they need are dropped.
func openQ4Events(op *weir.Operator) (weir.MapFunc, error) {
	c, err := lookupAll(op.Input,
		weir.Field{Name: "event_type", Type: weir.Int32},
		weir.Field{Name: "auction_id", Type: weir.Int64},
		weir.Field{Name: "auction_category", Type: weir.Int64},
		weir.Field{Name: "auction_expires", Type: weir.TimestampMs},
		weir.Field{Name: "bid_auction", Type: weir.Int64},
		weir.Field{Name: "bid_price", Type: weir.Int64},
		weir.Field{Name: "dateTime", Type: weir.TimestampMs})
	if err != nil {
		return nil, err
	}
	op.Output = Q4EventSchema
	return func(in *weir.Batch, out *weir.Builder) error {
		types := in.Int32(c[0])
		aID, aCat, aExp := in.Int64(c[1]), in.Int64(c[2]), in.Timestamp(c[3])
		bAuction, bPrice := in.Int64(c[4]), in.Int64(c[5])
		dt := in.Timestamp(c[6])
		id, kind, cat, exp := out.Int64(0), out.Int32(1), out.Int64(2), out.Timestamp(3)
		price, date := out.Int64(4), out.Timestamp(5)
		for i, t := range types.Values() {
			if types.IsNull(i) || dt.IsNull(i) {
				continue
			}
			switch t {
			case kindAuction:
				if aID.IsNull(i) || aCat.IsNull(i) || aExp.IsNull(i) {
					continue
				}
				id.Append(aID.Value(i))
				cat.Append(aCat.Value(i))
				exp.Append(aExp.Value(i))
				price.Append(0)
			case kindBid:
				if bAuction.IsNull(i) || bPrice.IsNull(i) {
					continue
				}
				id.Append(bAuction.Value(i))
				cat.Append(0)
				exp.Append(0)
				price.Append(bPrice.Value(i))
			default:
				continue
			}
			kind.Append(t)
			date.Append(dt.Value(i))
		}
		return nil
	}, nil
}

// Q4MaxPriceState is q4_max_price's state per auction. Bids that arrive
// before their auction (the source is parallel: its subtasks run at their
// own pace) wait in pending until the auction comes or the watermark passes
// them: the highest price of each of their dateTimes (only its dateTime
// decides whether a bid counts), as 16-byte records (dateTime, price)
// sorted by dateTime.
var Q4MaxPriceState = weir.Schema{
	{Name: "id", Type: weir.Int64},
	{Name: "category", Type: weir.Int64},
	{Name: "start", Type: weir.Int64},
	{Name: "expires", Type: weir.Int64},
	{Name: "auction", Type: weir.Bool}, // the auction has come
	{Name: "bid", Type: weir.Bool},     // max holds a bid's price
	{Name: "max", Type: weir.Int64},
	{Name: "pending", Type: weir.Binary},
	{Name: weir.TimerColumn, Type: weir.TimestampMs},
}

// Q4MaxPriceOutput is q4_max_price's output: one row per auction with at
// least one bid while it was open.
var Q4MaxPriceOutput = weir.Schema{
	{Name: "id", Type: weir.Int64, NotNull: true},
	{Name: "category", Type: weir.Int64, NotNull: true},
	{Name: "final", Type: weir.Int64, NotNull: true},
}

// q4_max_price: keyed by auction id over Q4EventSchema. An auction sets the
// key's timer to its expiry; a bid with auction.dateTime <= dateTime <=
// auction.expires raises the auction's maximum. When the timer fires the
// auction's maximum is emitted (if it had a bid) and the key is cleared. A
// bid whose auction has not come yet waits with a timer at its own time:
// its auction, if it opened no later than the bid, comes before the
// watermark passes the bid (the watermark of the auction's source subtask
// stays behind the auction until it is sent), so a bid still waiting then
// cannot count and the key is cleared.
func openQ4MaxPrice(op *weir.Operator) (weir.ProcessFunc, error) {
	c, err := lookupAll(op.Input, Q4EventSchema...)
	if err != nil {
		return nil, err
	}
	op.State = Q4MaxPriceState
	op.Output = Q4MaxPriceOutput
	// waiting[k] collects the call's bids of key row k that wait for their
	// auction; they join pending once, at the end of the call.
	var waiting [][]pendingBid
	onRows := func(in *weir.Batch, keys []int32, st *weir.Table, out *weir.Builder) error {
		ids, kinds := in.Int64(c[0]).Values(), in.Int32(c[1]).Values()
		cats, exps := in.Int64(c[2]).Values(), in.Timestamp(c[3]).Values()
		prices, dts := in.Int64(c[4]).Values(), in.Timestamp(c[5]).Values()
		sID, sCat, sStart, sExp := st.Int64(0), st.Int64(1), st.Int64(2), st.Int64(3)
		sAuction, sBid, sMax, sPending := st.Bool(4), st.Bool(5), st.Int64(6), st.Strings(7)
		timers := st.Timestamp(8)
		waiting = slices.Grow(waiting[:0], st.Len())[:st.Len()]
		for k := range waiting {
			waiting[k] = waiting[k][:0]
		}
		for i, k := range keys {
			sID[k] = ids[i]
			switch kinds[i] {
			case kindAuction:
				sAuction[k], sCat[k], sStart[k], sExp[k] = true, cats[i], dts[i], exps[i]
				for p := sPending[k]; len(p) >= 16; p = p[16:] {
					raise(k, le64(p[:8]), le64(p[8:16]), sStart, sExp, sBid, sMax)
				}
				for _, b := range waiting[k] {
					raise(k, b.dateTime, b.price, sStart, sExp, sBid, sMax)
				}
				sPending[k], waiting[k] = "", waiting[k][:0]
				timers[k] = exps[i]
			case kindBid:
				if sAuction[k] {
					raise(k, dts[i], prices[i], sStart, sExp, sBid, sMax)
					continue
				}
				waiting[k] = append(waiting[k], pendingBid{dts[i], prices[i]})
				timers[k] = max(timers[k], dts[i])
			default:
				return fmt.Errorf("row %d: unknown event kind %d", i, kinds[i])
			}
		}
		for k, w := range waiting {
			if len(w) > 0 {
				sPending[k] = mergePending(sPending[k], w)
			}
		}
		return nil
	}
	onTimer := func(st *weir.Table, out *weir.Builder) error {
		sID, sCat, sAuction, sBid, sMax := st.Int64(0), st.Int64(1), st.Bool(4), st.Bool(5), st.Int64(6)
		for k := range st.Len() {
			if sAuction[k] && sBid[k] {
				out.Int64(0).Append(sID[k])
				out.Int64(1).Append(sCat[k])
				out.Int64(2).Append(sMax[k])
			}
			st.Clear(k)
		}
		return nil
	}
	return weir.WithTimers(onRows, onTimer), nil
}

// raise counts a bid of key row k at dt for price if it falls into the
// auction's open interval.
func raise(k int32, dt, price int64, start, expires []int64, has []bool, maxes []int64) {
	if dt < start[k] || dt > expires[k] {
		return
	}
	if !has[k] || price > maxes[k] {
		has[k], maxes[k] = true, price
	}
}

// pendingBid is a bid waiting for its auction.
type pendingBid struct{ dateTime, price int64 }

// mergePending adds bids to the pending records of a key (see
// Q4MaxPriceState) and returns them: sorted by dateTime, one per dateTime
// with its highest price.
func mergePending(pending string, bids []pendingBid) string {
	all := make([]pendingBid, 0, len(pending)/16+len(bids))
	for p := pending; len(p) >= 16; p = p[16:] {
		all = append(all, pendingBid{le64(p[:8]), le64(p[8:16])})
	}
	all = append(all, bids...)
	slices.SortFunc(all, func(a, b pendingBid) int {
		return cmp.Or(cmp.Compare(a.dateTime, b.dateTime), cmp.Compare(b.price, a.price))
	})
	all = slices.CompactFunc(all, func(a, b pendingBid) bool { return a.dateTime == b.dateTime })
	buf := make([]byte, 16*len(all))
	for i, b := range all {
		binary.LittleEndian.PutUint64(buf[16*i:], uint64(b.dateTime))
		binary.LittleEndian.PutUint64(buf[16*i+8:], uint64(b.price))
	}
	return string(buf)
}

// le64 reads a little-endian int64 from the first 8 bytes of s.
func le64(s string) int64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(s[i])
	}
	return int64(v)
}

// Q4AverageOutput is q4_average's output: after every closed auction of a
// category, the average closing price of the category so far and the
// number of auctions averaged. The row with the most auctions is the final
// answer.
var Q4AverageOutput = weir.Schema{
	{Name: "category", Type: weir.Int64, NotNull: true},
	{Name: "avg", Type: weir.Float64, NotNull: true},
	{Name: "auctions", Type: weir.Int64, NotNull: true},
}

// q4_average: keyed by category over q4_max_price's output; emits the
// running average of final per category (Q4AverageOutput).
func openQ4Average(op *weir.Operator) (weir.ProcessFunc, error) {
	c, err := lookupAll(op.Input, weir.Field{Name: "category", Type: weir.Int64}, weir.Field{Name: "final", Type: weir.Int64})
	if err != nil {
		return nil, err
	}
	op.State = weir.Schema{{Name: "sum", Type: weir.Int64}, {Name: "n", Type: weir.Int64}}
	op.Output = Q4AverageOutput
	return func(in *weir.Batch, keys []int32, st *weir.Table, out *weir.Builder) error {
		if weir.IsTimerCall(in, st) {
			return errors.New("q4_average has no timers")
		}
		cats, finals := in.Int64(c[0]), in.Int64(c[1])
		sum, n := st.Int64(0), st.Int64(1)
		oc, oa, on := out.Int64(0), out.Float64(1), out.Int64(2)
		for i, k := range keys {
			if cats.IsNull(i) || finals.IsNull(i) {
				continue
			}
			sum[k] += finals.Value(i)
			n[k]++
			oc.Append(cats.Value(i))
			oa.Append(float64(sum[k]) / float64(n[k]))
			on.Append(n[k])
		}
		return nil
	}, nil
}
