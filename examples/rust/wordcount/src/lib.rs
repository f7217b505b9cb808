//! wordcount: a Weir job module counting the words of a text file, the Rust
//! twin of the Go examples/wordcount (same plan, arguments and output).
//!
//! Plan: source `file` (one utf8 column `line` per line) → flatmap
//! `tokenize` (column `word`) → keyBy `word` → process `count` (emits
//! `word, count` for every occurrence, the count so far) → sink `file`
//! (jsonl).

pub mod tokenizer;
mod unicode_tables;

use weir::{
    Args, Batch, BatchBuilder, DataType, Field, Flags, MapFunction, Operator, Plan, ProcessFunction, Registry, Result,
    Schema, Table,
};

use crate::tokenizer::Tokenizer;

/// Registers the functions and the plan.
pub fn register(r: &mut Registry) {
    r.flat_map::<Tokenize>("tokenize").process::<Count>("count").plan(plan);
}

weir::export!(register);

/// The plan: `--input FILE --output DIR [--parallelism N]`.
pub fn plan(args: &Args) -> Result<Plan> {
    let mut input = String::new();
    let mut output = "wordcount-out".to_string();
    let mut parallelism = 1u32;
    Flags::new("wordcount")
        .string("input", &mut input, "text file to count the words of (required)")
        .string("output", &mut output, "directory to write the counts to (jsonl)")
        .value("parallelism", &mut parallelism, "parallelism of the job")
        .parse(args)?;
    if input.is_empty() {
        weir::bail!("wordcount: --input FILE is required");
    }
    let p = Plan::new("wordcount").parallelism(parallelism);
    p.source("file", [("path", input.as_str()), ("format", "lines")])
        .id("lines")
        .parallelism(1)
        .flat_map("tokenize")
        .id("words")
        .key_by(&["word"])
        .process("count")
        .id("counts")
        .sink("file", [("path", output.as_str()), ("format", "jsonl")])
        .id("out");
    Ok(p)
}

/// tokenize: line (utf8) → word (utf8), one row per word; null lines emit
/// nothing.
pub struct Tokenize {
    line: usize,
    tok: Tokenizer,
}

impl MapFunction for Tokenize {
    fn open(op: &mut Operator) -> Result<Tokenize> {
        let line = op.input().lookup("line", &[DataType::Utf8])?;
        op.set_output(Schema::new(vec![Field::not_null("word", DataType::Utf8)]));
        Ok(Tokenize { line, tok: Tokenizer::default() })
    }

    fn map(&mut self, input: &Batch, out: &mut BatchBuilder) -> Result<()> {
        // Bytes, not &str: invalid UTF-8 decodes to U+FFFD as in Go.
        let lines = input.utf8_bytes(self.line)?;
        let words = out.utf8(0)?;
        for line in lines.iter().flatten() {
            self.tok.words(line, |w| words.push(w));
        }
        Ok(())
    }
}

/// count: keyed by word; for every input row emits the word and the number
/// of times it has been seen so far, so the largest count of a word is its
/// total. State: count int64 per word.
pub struct Count {
    word: usize,
}

impl ProcessFunction for Count {
    fn open(op: &mut Operator) -> Result<Count> {
        let word = op.input().lookup("word", &[DataType::Utf8])?;
        op.set_output(Schema::new(vec![Field::new("word", DataType::Utf8), Field::not_null("count", DataType::Int64)]));
        op.set_state(Schema::new(vec![Field::not_null("count", DataType::Int64)]));
        Ok(Count { word })
    }

    fn process(&mut self, input: &Batch, keys: &[u32], state: &mut Table, out: &mut BatchBuilder) -> Result<()> {
        out.utf8(0)?.append_column(&input.utf8(self.word)?);
        let counts = state.i64_mut(0)?;
        let cs = out.i64(1)?.extend_zeroed(keys.len());
        for (c, &k) in cs.iter_mut().zip(keys) {
            counts[k as usize] += 1;
            *c = counts[k as usize];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir::Kind;

    #[test]
    fn tokenize_and_count() {
        let mut lines = BatchBuilder::new(Schema::new(vec![Field::new("line", DataType::Utf8)])).unwrap();
        lines.utf8(0).unwrap().extend([Some("The cat"), Some("the CAT sat"), Some(""), Some("café"), None]);
        let batch = lines.as_batch().unwrap();

        let mut op = Operator::new("tokenize", Kind::FlatMap, "", batch.schema().clone());
        let mut tok = Tokenize::open(&mut op).unwrap();
        let mut words = BatchBuilder::new(op.output().unwrap().clone()).unwrap();
        tok.map(&batch, &mut words).unwrap();
        let wb = words.as_batch().unwrap();
        let got: Vec<&str> = wb.utf8(0).unwrap().iter().flatten().collect();
        assert_eq!(got.join(" "), "the cat the cat sat café");

        // Count, with the state table the host would pass: one row per
        // distinct key.
        let mut cop = Operator::new("count", Kind::Process, "", op.output().unwrap().clone());
        let mut count = Count::open(&mut cop).unwrap();
        let keys = [0u32, 1, 0, 1, 2, 3];
        let mut state = Table::new_state(cop.state().unwrap().clone(), &[false; 4]).unwrap();
        let mut out = BatchBuilder::new(cop.output().unwrap().clone()).unwrap();
        count.process(&wb, &keys, &mut state, &mut out).unwrap();
        let ob = out.as_batch().unwrap();
        assert_eq!(ob.i64(1).unwrap().values(), &[1, 1, 2, 2, 1, 1]);
        assert_eq!(state.i64(0).unwrap(), &[2, 2, 1, 1]);
    }

    #[test]
    fn open_errors() {
        let cases: Vec<(&str, Schema, &str)> = vec![
            ("tokenize", Schema::new(vec![Field::new("text", DataType::Utf8)]), "input has no column \"line\""),
            ("count", Schema::new(vec![Field::new("word", DataType::Int64)]), "column \"word\" is int64, want utf8"),
        ];
        for (name, input, want) in cases {
            let mut op = Operator::new(name, Kind::FlatMap, "", input);
            let e = if name == "tokenize" { Tokenize::open(&mut op).err() } else { Count::open(&mut op).err() };
            let e = e.unwrap_or_else(|| panic!("{} opened", name));
            assert!(e.message().contains(want), "{}: {}", name, e);
        }
    }

    #[test]
    fn plan_matches_the_go_example() {
        let mut r = Registry::new();
        register(&mut r);
        let js = r.build_plan(&["--input", "book.txt", "--output", "counts"]).unwrap();
        // examples/wordcount/wordcount_test.go TestPlan, byte for byte.
        let want = r#"{"weir_plan":1,"name":"wordcount","parallelism":1,"nodes":["#.to_string()
            + r#"{"id":"lines","kind":"source","connector":"file","params":{"format":"lines","path":"book.txt"},"parallelism":1},"#
            + r#"{"id":"words","kind":"flatmap","function":"tokenize","inputs":["lines"]},"#
            + r#"{"id":"counts","kind":"process","function":"count","inputs":["words"],"keyBy":["word"]},"#
            + r#"{"id":"out","kind":"sink","connector":"file","params":{"format":"jsonl","path":"counts"},"inputs":["counts"]}]}"#;
        assert_eq!(js, want);
        let e = r.build_plan::<&str>(&[]).unwrap_err();
        assert!(e.message().contains("--input"), "{}", e);
        let e = r.build_plan(&["--input", "x", "--parallelism", "two"]).unwrap_err();
        assert_eq!(e.message(), "invalid value \"two\" for flag --parallelism: invalid digit found in string");
    }
}
