//! currency: a Weir job module running Nexmark queries 1 and 2 over a file
//! of bids, the Rust twin of the Go examples/currency (same plan, arguments
//! and output): prices converted from dollars to euros (`to_eur`), then only
//! the bids on a few auctions kept (`auction_filter`).

use weir::{
    Args, Batch, BatchBuilder, DataType, FilterFunction, Flags, MapFunction, Operator, Plan, Registry, Result, Schema,
    Selection, TimeUnit,
};

/// The USD→EUR rate of Nexmark query 1.
pub const DEFAULT_RATE: f64 = 0.908;

/// The auction ids selected by Nexmark query 2.
pub const DEFAULT_AUCTIONS: &str = "1007,1020,2001,2019,2087";

/// The schema of the bids file (JSON lines; date_time in milliseconds since
/// the epoch).
pub fn bid_schema() -> Schema {
    weir::schema![
        ("auction", DataType::Int64),
        ("bidder", DataType::Int64),
        ("price", DataType::Float64),
        ("date_time", DataType::timestamp(TimeUnit::Millisecond)),
    ]
}

/// Parses comma-separated auction ids (`"1007, 1020"`) into a sorted set
/// without duplicates.
pub fn parse_ids(s: &str) -> Result<Vec<i64>> {
    let mut ids = Vec::new();
    for f in s.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let id = f.parse::<i64>().map_err(|_| weir::err!("auction id {:?} is not an integer", f))?;
        ids.push(id);
    }
    if ids.is_empty() {
        weir::bail!("no auction ids in {:?}", s);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Parses a conversion rate, [`DEFAULT_RATE`] if `s` is empty.
pub fn parse_rate(s: &str) -> Result<f64> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(DEFAULT_RATE);
    }
    match s.parse::<f64>() {
        Ok(r) if r > 0.0 => Ok(r),
        _ => weir::bail!("rate {:?} is not a positive number", s),
    }
}

/// Registers the functions and the plan.
pub fn register(r: &mut Registry) {
    r.map::<ToEur>("to_eur").filter::<AuctionFilter>("auction_filter").plan(plan);
}

weir::export!(register);

/// The plan: `[--input FILE] [--output DIR] [--rate R] [--auctions IDS]`.
pub fn plan(args: &Args) -> Result<Plan> {
    let schema = bid_schema().to_string();
    let mut input = "bids.jsonl".to_string();
    let mut output = "currency-out".to_string();
    let mut rate = String::new();
    let mut auctions = DEFAULT_AUCTIONS.to_string();
    Flags::new("currency")
        .string("input", &mut input, &format!("bids file, JSON lines with {}", schema))
        .string("output", &mut output, "directory to write the converted bids to (jsonl)")
        .string("rate", &mut rate, "USD→EUR rate (default 0.908)")
        .string("auctions", &mut auctions, "comma-separated auction ids to keep")
        .parse(args)?;
    // Check the params here too, so a bad flag fails at plan time.
    parse_rate(&rate)?;
    parse_ids(&auctions)?;
    let p = Plan::new("currency");
    p.source("file", [("path", input.as_str()), ("format", "jsonl"), ("schema", schema.as_str())])
        .id("bids")
        .map("to_eur")
        .params(&rate)
        .id("eur")
        .name("Nexmark q1: dollars to euros")
        .filter("auction_filter")
        .params(&auctions)
        .id("auctions")
        .name("Nexmark q2: selected auctions")
        .sink("file", [("path", output.as_str()), ("format", "jsonl")])
        .id("out");
    Ok(p)
}

/// to_eur: price × rate (params: the rate, default 0.908); every other
/// column is copied unchanged, nulls stay null.
pub struct ToEur {
    price: usize,
    rate: f64,
}

impl MapFunction for ToEur {
    fn open(op: &mut Operator) -> Result<ToEur> {
        let price = op.input().lookup("price", &[DataType::Float64])?;
        let rate = parse_rate(op.params())?;
        op.set_output(op.input().clone());
        Ok(ToEur { price, rate })
    }

    fn map(&mut self, input: &Batch, out: &mut BatchBuilder) -> Result<()> {
        for j in (0..input.num_columns()).filter(|&j| j != self.price) {
            out.copy_column(j, input, j)?;
        }
        let ps = input.f64(self.price)?;
        let rate = self.rate;
        out.f64(self.price)?.extend_with_validity(ps.validity(), ps.values().iter().map(|p| p * rate))
    }
}

/// auction_filter: keeps the rows whose auction id is one of the params
/// (comma-separated ids); rows with a null auction are dropped.
pub struct AuctionFilter {
    auction: usize,
    ids: Vec<i64>,
}

impl FilterFunction for AuctionFilter {
    fn open(op: &mut Operator) -> Result<AuctionFilter> {
        let auction = op.input().lookup("auction", &[DataType::Int64])?;
        let ids = parse_ids(op.params())?;
        Ok(AuctionFilter { auction, ids })
    }

    fn filter(&mut self, input: &Batch, sel: &mut Selection) -> Result<()> {
        let a = input.i64(self.auction)?;
        let ids = &self.ids;
        sel.select(a.values(), |id| ids.binary_search(&id).is_ok());
        sel.mask(a.validity());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir::Kind;

    #[test]
    fn ids() {
        let cases: Vec<(&str, std::result::Result<Vec<i64>, &str>)> = vec![
            (DEFAULT_AUCTIONS, Ok(vec![1007, 1020, 2001, 2019, 2087])),
            (" 3, 1,2,,1 ", Ok(vec![1, 2, 3])),
            ("", Err("no auction ids in \"\"")),
            ("1,x", Err("auction id \"x\" is not an integer")),
        ];
        for (input, want) in cases {
            match (parse_ids(input), want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w),
                (Err(g), Err(w)) => assert_eq!(g.message(), w),
                (g, w) => panic!("parse_ids({:?}) = {:?}, want {:?}", input, g, w),
            }
        }
    }

    #[test]
    fn rates() {
        for (input, want) in [("", 0.908), ("1.5", 1.5), (" 2 ", 2.0)] {
            assert_eq!(parse_rate(input).unwrap(), want, "{:?}", input);
        }
        for input in ["x", "-1", "0", "NaN"] {
            assert!(parse_rate(input).is_err(), "{:?} accepted", input);
        }
    }

    /// Bids with auctions `auctions`; a negative price is null.
    fn bids(auctions: &[i64], prices: &[f64]) -> BatchBuilder {
        let mut b = BatchBuilder::new(bid_schema()).unwrap();
        for (i, (&a, &p)) in auctions.iter().zip(prices).enumerate() {
            b.i64(0).unwrap().push(a);
            b.i64(1).unwrap().push(100 + i as i64);
            b.f64(2).unwrap().push_option(if p < 0.0 { None } else { Some(p) });
            b.timestamp(3).unwrap().push(1_700_000_000_000 + i as i64);
        }
        b
    }

    #[test]
    fn to_eur() {
        let input = bids(&[1, 2, 3], &[100.0, -1.0, 2.5]);
        let batch = input.as_batch().unwrap();
        let mut op = Operator::new("to_eur", Kind::Map, "", bid_schema());
        let mut f = ToEur::open(&mut op).unwrap();
        let mut out = BatchBuilder::new(op.output().unwrap().clone()).unwrap();
        f.map(&batch, &mut out).unwrap();
        let res = out.as_batch().unwrap();
        let p = res.f64(2).unwrap();
        assert_eq!(p.iter().collect::<Vec<_>>(), [Some(100.0 * 0.908), None, Some(2.5 * 0.908)]);
        assert_eq!(res.i64(0).unwrap().values(), &[1, 2, 3]);
        assert_eq!(res.timestamp(3).unwrap().value(2), 1_700_000_000_002);
        assert_eq!(res.schema().to_string(), bid_schema().to_string());

        let errs = [
            (bid_schema(), "abc", "rate \"abc\" is not a positive number"),
            (weir::schema![("price", DataType::Utf8)], "", "column \"price\" is utf8, want float64"),
        ];
        for (schema, params, want) in errs {
            let e = ToEur::open(&mut Operator::new("to_eur", Kind::Map, params, schema)).err().unwrap();
            assert_eq!(e.message(), want);
        }
    }

    #[test]
    fn auction_filter() {
        let input = bids(&[1007, 5, 2087, 2001, 9, 1020, 1007, 1, 2019], &[0.0; 9]);
        let batch = input.as_batch().unwrap();
        let mut f =
            AuctionFilter::open(&mut Operator::new("auction_filter", Kind::Filter, DEFAULT_AUCTIONS, bid_schema()))
                .unwrap();
        let mut sel = Selection::new(batch.len());
        f.filter(&batch, &mut sel).unwrap();
        assert_eq!(sel.kept(), [0, 2, 3, 5, 6, 8]);
        assert!(AuctionFilter::open(&mut Operator::new("auction_filter", Kind::Filter, "", bid_schema())).is_err());
    }

    #[test]
    fn plan_matches_the_go_example() {
        let mut r = Registry::new();
        register(&mut r);
        let js = r.build_plan::<&str>(&[]).unwrap();
        // The fragments examples/currency/currency_test.go TestPlan checks.
        for want in [
            r#""schema":"auction:int64,bidder:int64,price:float64,date_time:timestamp[ms]""#,
            r#""function":"to_eur","inputs":["bids"]"#,
            r#""function":"auction_filter","params":"1007,1020,2001,2019,2087","inputs":["eur"]"#,
            r#"{"id":"out","kind":"sink","connector":"file","params":{"format":"jsonl","path":"currency-out"},"inputs":["auctions"]}"#,
        ] {
            assert!(js.contains(want), "plan lacks {}:\n{}", want, js);
        }
        assert!(r.build_plan(&["--auctions", "x"]).is_err());
        assert!(r.build_plan(&["--rate", "-2"]).is_err());
    }
}
