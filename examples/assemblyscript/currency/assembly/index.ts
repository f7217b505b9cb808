// currency: a Weir job running Nexmark queries 1 and 2 over a file of bids:
// prices converted from dollars to euros (to_eur), then only the bids on a
// few auctions kept (auction_filter). The same job as the Go example
// examples/currency: same plan, arguments and output.

import {
  Batch, Builder, DataType, FilterFunction, FlagSet, MapFunction, Operator, Plan, Schema, Selection,
  definePlan, fail, params, parseF64, parseI64, registerFilter, registerMap,
} from "@weirflow/sdk";

export * from "@weirflow/sdk/exports";

/** The USD→EUR rate of Nexmark query 1. */
export const DEFAULT_RATE: f64 = 0.908;

/** The auction ids selected by Nexmark query 2. */
export const DEFAULT_AUCTIONS = "1007,1020,2001,2019,2087";

/** The schema of the bids file (JSON lines; date_time in milliseconds since the epoch). */
export const BID_SCHEMA = new Schema()
  .add("auction", DataType.Int64)
  .add("bidder", DataType.Int64)
  .add("price", DataType.Float64)
  .add("date_time", DataType.TimestampMs);

/** Parses a conversion rate, DEFAULT_RATE if s is empty; calls fail() and returns 0 if bad. */
export function parseRate(s: string): f64 {
  s = s.trim();
  if (s.length == 0) return DEFAULT_RATE;
  const r = parseF64(s);
  if (!r.ok || !(r.value > 0)) {
    fail("rate \"" + s + "\" is not a positive number");
    return 0;
  }
  return r.value;
}

/**
 * Parses comma-separated integers ("1007, 1020") into a sorted set without
 * duplicates; calls fail() and returns null if bad.
 */
export function parseIDs(s: string): StaticArray<i64> | null {
  const parts = s.split(",");
  const ids: i64[] = [];
  for (let i = 0; i < parts.length; i++) {
    const f = parts[i].trim();
    if (f.length == 0) continue;
    const r = parseI64(f);
    if (!r.ok) {
      fail("auction id \"" + f + "\" is not an integer");
      return null;
    }
    ids.push(r.value);
  }
  if (ids.length == 0) {
    fail("no auction ids in \"" + s + "\"");
    return null;
  }
  ids.sort((a: i64, b: i64): i32 => (a > b ? 1 : 0) - (a < b ? 1 : 0));
  const out: i64[] = [];
  for (let i = 0; i < ids.length; i++) if (i == 0 || ids[i] != ids[i - 1]) out.push(ids[i]);
  return StaticArray.fromArray(out);
}

/** Whether id is in the sorted set. */
@inline function has(set: StaticArray<i64>, id: i64): bool {
  let lo = 0, hi = set.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = unchecked(set[mid]);
    if (v == id) return true;
    if (v < id) lo = mid + 1;
    else hi = mid;
  }
  return false;
}

// to_eur: price × rate (params: the rate, default 0.908); every other
// column is copied unchanged, nulls stay null.
class ToEUR extends MapFunction {
  price: i32 = -1;
  rate: f64 = 0;

  open(op: Operator): void {
    this.price = op.column("price", DataType.Float64);
    this.rate = parseRate(op.params);
    op.output = op.input.clone();
  }

  map(input: Batch, out: Builder): void {
    for (let j = 0; j < input.numColumns; j++) {
      if (j != this.price) out.copyColumn(j, input, j);
    }
    const ps = input.float64(this.price);
    const eur = out.float64(this.price).extendValidity(ps.validity, ps.nullCount);
    const src = ps.valuesPtr;
    const rate = this.rate;
    for (let i = 0; i < ps.length; i++) {
      store<f64>(eur + (<usize>i << 3), load<f64>(src + (<usize>i << 3)) * rate);
    }
  }
}

// auction_filter: keeps the rows whose auction id is one of the params
// (comma-separated ids); rows with a null auction are dropped.
class AuctionFilter extends FilterFunction {
  auction: i32 = -1;
  ids: StaticArray<i64> = new StaticArray<i64>(0);

  open(op: Operator): void {
    this.auction = op.column("auction", DataType.Int64);
    const ids = parseIDs(op.params);
    if (ids !== null) this.ids = ids;
  }

  filter(input: Batch, sel: Selection): void {
    const a = input.int64(this.auction);
    for (let i = 0; i < a.length; i++) {
      if (has(this.ids, a.getUnchecked(i))) sel.keep(i);
    }
    sel.mask(a.validity);
  }
}

registerMap("to_eur", (): MapFunction => new ToEUR());
registerFilter("auction_filter", (): FilterFunction => new AuctionFilter());

// plan: [--input FILE] [--output DIR] [--rate R] [--auctions IDS]
definePlan((args: string[]): Plan | null => {
  const flags = new FlagSet("currency")
    .string("input", "bids.jsonl", "bids file, JSON lines with " + BID_SCHEMA.toString())
    .string("output", "currency-out", "directory to write the converted bids to (jsonl)")
    .string("rate", "", "USD→EUR rate (default 0.908)")
    .string("auctions", DEFAULT_AUCTIONS, "comma-separated auction ids to keep");
  if (!flags.parse(args)) return null;
  const rate = flags.get("rate"), auctions = flags.get("auctions");
  // Check the params here too, so a bad flag fails at plan time.
  parseRate(rate);
  parseIDs(auctions);
  const p = new Plan("currency");
  p.source("file", params(["path", flags.get("input"), "format", "jsonl", "schema", BID_SCHEMA.toString()])).id("bids")
    .map("to_eur", rate).id("eur").name("Nexmark q1: dollars to euros")
    .filter("auction_filter", auctions).id("auctions").name("Nexmark q2: selected auctions")
    .sink("file", params(["path", flags.get("output"), "format", "jsonl"])).id("out");
  return p;
});
