//! The Rust SDK's conformance module: it registers the functions of
//! abi/SPEC.md §11.1 with the SDK's public API, so that the host's harness
//! can run the ABI test vectors (abi/testdata/vectors) against it:
//!
//! ```text
//! bash sdk/rust/build.sh bin
//! bin/weir abi check bin/sdk/conformance-rust.wasm
//! ```

use weir::{
    schema, AggregateFunction, Args, Batch, BatchBuilder, BinaryColumn, Cmp, DataType, Error, FilterFunction, Flags,
    MapFunction, Operator, Plan, ProcessFunction, Registry, Result, Selection, Table, Utf8Builder,
};

/// Registers the conformance functions and the plan.
pub fn register(r: &mut Registry) {
    r.map::<Identity>("identity")
        .map::<Scale>("scale_f64")
        .map::<Upper>("upper_utf8")
        .filter::<Greater>("gt_i64")
        .flat_map::<Tokenize>("tokenize")
        .process::<Count>("count")
        .aggregate::<SumI64>("sum_i64")
        .map::<Fail>("fail")
        .plan(plan);
}

weir::export!(register);

/// identity: the input unchanged (every type, nulls, offsets).
pub struct Identity;

impl MapFunction for Identity {
    fn open(op: &mut Operator) -> Result<Identity> {
        op.set_output(op.input().clone());
        Ok(Identity)
    }

    fn map(&mut self, input: &Batch, out: &mut BatchBuilder) -> Result<()> {
        out.append_batch(input)
    }
}

/// scale_f64: y = x × factor; null stays null.
pub struct Scale {
    x: usize,
    factor: f64,
}

impl MapFunction for Scale {
    fn open(op: &mut Operator) -> Result<Scale> {
        let x = op.input().lookup("x", &[DataType::Float64])?;
        let factor = op
            .params()
            .trim()
            .parse::<f64>()
            .map_err(|_| weir::err!("params: factor {:?} is not a number", op.params()))?;
        op.set_output(schema![("y", DataType::Float64)]);
        Ok(Scale { x, factor })
    }

    fn map(&mut self, input: &Batch, out: &mut BatchBuilder) -> Result<()> {
        let xs = input.f64(self.x)?;
        let f = self.factor;
        out.f64(0)?.extend_with_validity(xs.validity(), xs.values().iter().map(|&x| x * f))
    }
}

/// upper_utf8: ASCII a-z upper-cased; null stays null.
pub struct Upper {
    s: usize,
}

impl MapFunction for Upper {
    fn open(op: &mut Operator) -> Result<Upper> {
        let s = op.input().lookup("s", &[DataType::Utf8])?;
        op.set_output(schema![("s", DataType::Utf8)]);
        Ok(Upper { s })
    }

    fn map(&mut self, input: &Batch, out: &mut BatchBuilder) -> Result<()> {
        // Copy the column (offsets, validity and bytes), then upper-case the
        // bytes in place: the transformation preserves lengths and UTF-8.
        upper_ascii(out.utf8(0)?.append_column(&input.utf8(self.s)?));
        Ok(())
    }
}

/// Upper-cases the ASCII letters of `b`, leaving every other byte (parts of
/// multi-byte characters included) alone. Branch-free, so it vectorises.
pub fn upper_ascii(b: &mut [u8]) {
    for c in b.iter_mut() {
        let lower = c.wrapping_sub(b'a') < 26;
        *c -= (lower as u8) << 5;
    }
}

/// gt_i64: keeps rows with non-null x > threshold.
pub struct Greater {
    x: usize,
    threshold: i64,
}

impl FilterFunction for Greater {
    fn open(op: &mut Operator) -> Result<Greater> {
        let x = op.input().lookup("x", &[DataType::Int64])?;
        let threshold = op
            .params()
            .trim()
            .parse::<i64>()
            .map_err(|_| weir::err!("params: threshold {:?} is not an integer", op.params()))?;
        Ok(Greater { x, threshold })
    }

    fn filter(&mut self, input: &Batch, sel: &mut Selection) -> Result<()> {
        let xs = input.i64(self.x)?;
        let t = self.threshold;
        sel.select_cmp(xs.values(), Cmp::Gt, t);
        sel.mask(xs.validity());
        Ok(())
    }
}

/// tokenize: per row, maximal runs of ASCII letters, lower-cased, in order;
/// null lines emit nothing.
pub struct Tokenize {
    line: usize,
}

impl MapFunction for Tokenize {
    fn open(op: &mut Operator) -> Result<Tokenize> {
        let line = op.input().lookup("line", &[DataType::Utf8])?;
        op.set_output(schema![("word", DataType::Utf8)]);
        Ok(Tokenize { line })
    }

    fn map(&mut self, input: &Batch, out: &mut BatchBuilder) -> Result<()> {
        // Only ASCII letters are read, so the bytes need no UTF-8 check.
        tokenize(&input.utf8_bytes(self.line)?, out.utf8(0)?);
        Ok(())
    }
}

#[inline]
fn is_letter(c: u8) -> bool {
    (c | 0x20).wrapping_sub(b'a') < 26
}

/// Appends the words of `lines` to `words` in two passes over the bytes:
/// one counts the words and their letters, the other writes them straight
/// into the output buffers.
pub fn tokenize(lines: &BinaryColumn, words: &mut Utf8Builder) {
    let (mut nw, mut nb) = (0usize, 0usize);
    for line in lines.iter().flatten() {
        let mut prev = false;
        for &c in line {
            let l = is_letter(c);
            nw += (l && !prev) as usize;
            nb += l as usize;
            prev = l;
        }
    }
    if nw == 0 {
        return;
    }
    let (offs, data) = words.extend_raw(nw, nb);
    let base = offs[0];
    let (mut k, mut pos) = (0usize, 0usize);
    for line in lines.iter().flatten() {
        let mut prev = false;
        for &c in line {
            let l = is_letter(c);
            if l {
                data[pos] = c | 0x20;
                pos += 1;
            } else if prev {
                k += 1;
                offs[k] = base + pos as i32;
            }
            prev = l;
        }
        if prev {
            k += 1;
            offs[k] = base + pos as i32;
        }
    }
}

/// count: per input row, the key and the key's count including that row;
/// state count: int64.
pub struct Count {
    key: usize,
}

impl ProcessFunction for Count {
    fn open(op: &mut Operator) -> Result<Count> {
        let key = op.input().lookup("key", &[DataType::Int64])?;
        op.set_output(schema![("key", DataType::Int64), ("count", DataType::Int64)]);
        op.set_state(schema![("count", DataType::Int64)]);
        Ok(Count { key })
    }

    fn process(&mut self, input: &Batch, keys: &[u32], state: &mut Table, out: &mut BatchBuilder) -> Result<()> {
        out.i64(0)?.append_column(&input.i64(self.key)?);
        let counts = state.i64_mut(0)?;
        let cs = out.i64(1)?.extend_zeroed(keys.len());
        for (c, &k) in cs.iter_mut().zip(keys) {
            let n = &mut counts[k as usize];
            *n += 1;
            *c = *n;
        }
        Ok(())
    }
}

/// sum_i64: accumulator (sum, n) over non-null x; result sum, null when
/// n = 0. Sums wrap.
pub struct SumI64 {
    x: usize,
}

impl AggregateFunction for SumI64 {
    fn open(op: &mut Operator) -> Result<SumI64> {
        let x = op.input().lookup("x", &[DataType::Int64])?;
        op.set_state(schema![("sum", DataType::Int64), ("n", DataType::Int64)]);
        op.set_output(schema![("sum", DataType::Int64)]);
        Ok(SumI64 { x })
    }

    fn add(&mut self, acc: &mut Table, input: &Batch, groups: &[u32]) -> Result<()> {
        let xs = input.i64(self.x)?;
        let mut cols = acc.columns_mut();
        let (sums, ns) = (cols.i64(0)?, cols.i64(1)?);
        let vals = &xs.values()[..groups.len()];
        // Add every row, then take back the null ones: with few nulls this
        // beats testing validity per row (sums wrap, so it is exact).
        for (&g, &v) in groups.iter().zip(vals) {
            let g = g as usize;
            sums[g] = sums[g].wrapping_add(v);
            ns[g] += 1;
        }
        for i in xs.validity().iter_zeros() {
            let g = groups[i] as usize;
            sums[g] = sums[g].wrapping_sub(vals[i]);
            ns[g] -= 1;
        }
        Ok(())
    }

    fn merge(&mut self, acc: &mut Table, other: &Table, groups: &[u32]) -> Result<()> {
        let (osums, ons) = (other.i64(0)?, other.i64(1)?);
        let mut cols = acc.columns_mut();
        let (sums, ns) = (cols.i64(0)?, cols.i64(1)?);
        for (i, &g) in groups.iter().enumerate() {
            let g = g as usize;
            sums[g] = sums[g].wrapping_add(osums[i]);
            ns[g] += ons[i];
        }
        Ok(())
    }

    fn result(&mut self, acc: &Table, out: &mut BatchBuilder) -> Result<()> {
        let (sums, ns) = (acc.i64(0)?, acc.i64(1)?);
        let b = out.i64(0)?;
        for (&s, &n) in sums.iter().zip(ns) {
            if n == 0 {
                b.push_null();
            } else {
                b.push(s);
            }
        }
        Ok(())
    }
}

/// fail: fails every call with exactly the params text as its message.
pub struct Fail {
    msg: String,
}

impl MapFunction for Fail {
    fn open(op: &mut Operator) -> Result<Fail> {
        op.set_output(op.input().clone());
        Ok(Fail { msg: op.params().to_string() })
    }

    fn map(&mut self, _input: &Batch, _out: &mut BatchBuilder) -> Result<()> {
        Err(Error::new(self.msg.clone()))
    }
}

/// The plan: identity over a file, to give the module a valid plan.
pub fn plan(args: &Args) -> Result<Plan> {
    let mut input = "in.jsonl".to_string();
    let mut output = "out".to_string();
    Flags::new("conformance")
        .string("input", &mut input, "input file (jsonl)")
        .string("output", &mut output, "output directory")
        .parse(args)?;
    let p = Plan::new("conformance");
    p.source("file", [("path", input.as_str()), ("format", "jsonl"), ("schema", "x:int64")])
        .map("identity")
        .sink("file", [("path", output.as_str()), ("format", "jsonl")]);
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir::{Kind, Schema};

    fn utf8_batch(values: &[Option<&str>]) -> BatchBuilder {
        let mut b = BatchBuilder::new(schema![("line", DataType::Utf8)]).unwrap();
        b.utf8(0).unwrap().extend(values.iter().copied());
        b
    }

    #[test]
    fn tokenize_words() {
        let cases: Vec<(Vec<Option<&str>>, Vec<&str>)> = vec![
            (vec![Some("Hello, World!")], vec!["hello", "world"]),
            (vec![Some("it's 42nd_street"), None, Some("")], vec!["it", "s", "nd", "street"]),
            (vec![Some("@AZ[`az{")], vec!["az", "az"]),
            (vec![Some("café au lait"), Some("x")], vec!["caf", "au", "lait", "x"]),
            (vec![Some("123 ... ")], vec![]),
        ];
        for (lines, want) in cases {
            let input = utf8_batch(&lines);
            let batch = input.as_batch().unwrap();
            let mut op = Operator::new("tokenize", Kind::FlatMap, "", batch.schema().clone());
            let mut f = Tokenize::open(&mut op).unwrap();
            let mut out = BatchBuilder::new(op.output().unwrap().clone()).unwrap();
            f.map(&batch, &mut out).unwrap();
            let got = out.as_batch().unwrap();
            let words: Vec<&str> = got.utf8(0).unwrap().iter().map(|w| w.unwrap()).collect();
            assert_eq!(words, want, "{:?}", lines);
        }
    }

    #[test]
    fn upper() {
        let mut b = b"abc xyz `{ AZ \xc3\xa9".to_vec();
        upper_ascii(&mut b);
        assert_eq!(b, b"ABC XYZ `{ AZ \xc3\xa9");
    }

    #[test]
    fn open_errors() {
        let cases: Vec<(&str, Schema, &str, &str)> = vec![
            ("scale_f64", schema![("x", DataType::Float64)], "abc", "params: factor \"abc\" is not a number"),
            ("scale_f64", schema![("x", DataType::Int64)], "1", "column \"x\" is int64, want float64"),
            ("gt_i64", schema![("y", DataType::Int64)], "1", "input has no column \"x\" (columns: y)"),
            ("gt_i64", schema![("x", DataType::Int64)], "1.5", "params: threshold \"1.5\" is not an integer"),
        ];
        for (name, input, params, want) in cases {
            let kind = if name == "gt_i64" { Kind::Filter } else { Kind::Map };
            let mut op = Operator::new(name, kind, params, input);
            let e = if name == "gt_i64" { Greater::open(&mut op).err() } else { Scale::open(&mut op).err() };
            assert_eq!(e.map(|e| e.to_string()).as_deref(), Some(want), "{}", name);
        }
    }

    #[test]
    fn conformance_plan() {
        let mut r = Registry::new();
        register(&mut r);
        assert_eq!(
            r.names(),
            ["count", "fail", "gt_i64", "identity", "scale_f64", "sum_i64", "tokenize", "upper_utf8"]
        );
        let js = r.build_plan(&["--input", "a.jsonl"]).unwrap();
        assert!(js.contains(r#""params":{"format":"jsonl","path":"a.jsonl","schema":"x:int64"}"#), "{}", js);
        assert!(r.build_plan(&["--bogus"]).is_err());
    }
}
