//! A test guest for the Rust SDK's failure paths, built by build.sh to
//! OUTDIR/sdk/rust-testdata/testguest.wasm and run by cmd/weir's
//! TestSDKRustFailures: panics (reported through WASI proc_exit with the
//! panic message as the last stderr line) and errors after logging.

use weir::{Batch, BatchBuilder, MapFunction, Operator, Registry, Result};

/// index_panic: indexes past the end of an empty vector.
pub struct IndexPanic;

impl MapFunction for IndexPanic {
    fn open(op: &mut Operator) -> Result<IndexPanic> {
        op.set_output(op.input().clone());
        Ok(IndexPanic)
    }

    fn map(&mut self, input: &Batch, out: &mut BatchBuilder) -> Result<()> {
        let empty: Vec<u8> = Vec::new();
        let _ = empty[input.len() + 3];
        out.append_batch(input)
    }
}

/// explicit_panic: panics with its params in a two-line message.
pub struct ExplicitPanic {
    msg: String,
}

impl MapFunction for ExplicitPanic {
    fn open(op: &mut Operator) -> Result<ExplicitPanic> {
        op.set_output(op.input().clone());
        Ok(ExplicitPanic { msg: op.params().to_string() })
    }

    fn map(&mut self, _: &Batch, _: &mut BatchBuilder) -> Result<()> {
        panic!("bad state:\n{}", self.msg)
    }
}

/// log_and_fail: logs one line per level, then fails with an error.
pub struct LogAndFail;

impl MapFunction for LogAndFail {
    fn open(op: &mut Operator) -> Result<LogAndFail> {
        op.set_output(op.input().clone());
        Ok(LogAndFail)
    }

    fn map(&mut self, input: &Batch, _: &mut BatchBuilder) -> Result<()> {
        weir::debug!("debug line {}", input.len());
        weir::info!("info line {}", input.len());
        weir::warn!("warn line {}", input.len());
        weir::error!("error line {}", input.len());
        Err(weir::err!("failed after logging {} rows", input.len()))
    }
}

fn register(r: &mut Registry) {
    r.map::<IndexPanic>("index_panic").map::<ExplicitPanic>("explicit_panic").map::<LogAndFail>("log_and_fail");
}

weir::export!(register);
