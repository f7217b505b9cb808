//! # weir: the Rust guest SDK for Weir
//!
//! Write Weir job modules in Rust: WebAssembly reactors implementing the
//! guest ABI v1 (`abi/SPEC.md`) whose operators process Apache Arrow record
//! batches in place. Zero dependencies; builds with Rust 1.63 for
//! `wasm32-wasi`.
//!
//! A module registers its functions and its plan in one function named in
//! [`export!`], which also defines every export the host needs:
//!
//! ```
//! use weir::{Args, Batch, BatchBuilder, DataType, Flags, MapFunction, Operator, Plan, Registry, Result, schema};
//!
//! struct Scale { x: usize, factor: f64 }
//!
//! impl MapFunction for Scale {
//!     fn open(op: &mut Operator) -> Result<Scale> {
//!         let x = op.input().lookup("x", &[DataType::Float64])?; // `scale: input has no column "x" ...`
//!         let factor = op.parse_params::<f64>()?;
//!         op.set_output(schema![("y", DataType::Float64)]);
//!         Ok(Scale { x, factor })
//!     }
//!
//!     fn map(&mut self, input: &Batch, out: &mut BatchBuilder) -> Result<()> {
//!         let xs = input.f64(self.x)?;                         // zero-copy view
//!         let f = self.factor;
//!         // Nulls pass through; the loop is vectorised.
//!         out.f64(0)?.extend_with_validity(xs.validity(), xs.values().iter().map(|x| x * f))
//!     }
//! }
//!
//! fn plan(args: &Args) -> Result<Plan> {
//!     let mut input = "in.jsonl".to_string();
//!     Flags::new("scale").string("input", &mut input, "input file (jsonl)").parse(args)?;
//!     let p = Plan::new("scale");
//!     p.source("file", [("path", input.as_str()), ("format", "jsonl"), ("schema", "x:float64")])
//!         .map("scale").params("0.908")
//!         .sink("file", [("path", "out"), ("format", "jsonl")]);
//!     Ok(p)
//! }
//!
//! fn register(r: &mut Registry) {
//!     r.map::<Scale>("scale").plan(plan);
//! }
//!
//! weir::export!(register);
//! # fn main() {
//! #     let mut r = Registry::new();
//! #     register(&mut r);
//! #     assert!(r.build_plan(&["--input", "x.jsonl"]).unwrap().contains("x.jsonl"));
//! # }
//! ```
//!
//! See the crate's README for building (`rustc --target wasm32-wasi
//! --crate-type cdylib`), testing and the design notes in RATIONALE.md.

#![warn(missing_docs)]

mod abi;
mod batch;
mod bitmap;
mod builder;
mod error;
mod ffi;
mod flags;
mod log;
mod operator;
mod plan;
mod selection;
mod table;
mod types;

pub use batch::{
    Batch, BinaryColumn, BinaryIter, BoolColumn, Primitive, PrimitiveColumn, PrimitiveIter, Utf8Column, Utf8Iter,
};
pub use bitmap::{BitIter, Bitmap, ZeroIter};
pub use builder::{BatchBuilder, BinaryBuilder, BoolBuilder, PrimitiveBuilder, Utf8Builder};
pub use error::{Context, Error, Result};
pub use flags::{Args, Flags};
pub use log::{log, Level};
pub use operator::{
    split_params, AggregateFunction, FilterFunction, Kind, MapFunction, Operator, ProcessFunction, Registry,
};
pub use plan::{Plan, Stream};
pub use selection::{Cmp, Selection};
pub use table::{ColumnsMut, Table};
pub use types::{DataType, Field, Schema, TimeUnit};

/// Items the [`export!`] macro expands to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::abi::{
        agg_add, agg_create, agg_merge, agg_result, alloc, close, filter, free, init, map, open, plan, process,
    };
}

/// Defines the module's exports (SPEC §2) and names its registration
/// function, a `fn(&mut weir::Registry)` that registers the operator
/// functions and the plan. Use it once, in the crate built as the `cdylib`.
///
/// The module is a WASI reactor: `_initialize` runs the C runtime's
/// constructors and then the registration function, once, before the host
/// calls anything else. There is no `_start`.
#[macro_export]
macro_rules! export {
    ($register:path) => {
        const _: () = {
            const REGISTER: fn(&mut $crate::Registry) = $register;

            #[cfg(target_arch = "wasm32")]
            extern "C" {
                fn __wasm_call_ctors();
            }

            #[no_mangle]
            pub extern "C" fn _initialize() {
                // SAFETY: called once by the host before any other export.
                #[cfg(target_arch = "wasm32")]
                unsafe {
                    __wasm_call_ctors()
                };
                $crate::__private::init(REGISTER);
            }

            #[no_mangle]
            pub extern "C" fn weir_abi_v1() {}

            #[no_mangle]
            pub extern "C" fn weir_alloc(size: usize, align: usize) -> usize {
                $crate::__private::alloc(size, align)
            }

            #[no_mangle]
            pub extern "C" fn weir_free(ptr: usize, size: usize, align: usize) {
                $crate::__private::free(ptr, size, align)
            }

            #[no_mangle]
            pub extern "C" fn weir_plan(args: usize, args_len: usize, ret: usize) -> i32 {
                $crate::__private::plan(REGISTER, args, args_len, ret)
            }

            #[no_mangle]
            pub extern "C" fn weir_open(
                kind: u32,
                name: usize,
                name_len: usize,
                params: usize,
                params_len: usize,
                in_schema: usize,
                ret: usize,
            ) -> i32 {
                $crate::__private::open(REGISTER, kind, name, name_len, params, params_len, in_schema, ret)
            }

            #[no_mangle]
            pub extern "C" fn weir_close(handle: u32) -> i32 {
                $crate::__private::close(REGISTER, handle)
            }

            #[no_mangle]
            pub extern "C" fn weir_map(handle: u32, input: usize, ret: usize) -> i32 {
                $crate::__private::map(REGISTER, handle, input, ret)
            }

            #[no_mangle]
            pub extern "C" fn weir_filter(handle: u32, input: usize, ret: usize) -> i32 {
                $crate::__private::filter(REGISTER, handle, input, ret)
            }

            #[no_mangle]
            pub extern "C" fn weir_process(handle: u32, input: usize, keys: usize, state: usize, ret: usize) -> i32 {
                $crate::__private::process(REGISTER, handle, input, keys, state, ret)
            }

            #[no_mangle]
            pub extern "C" fn weir_agg_create(handle: u32, n: u32, ret: usize) -> i32 {
                $crate::__private::agg_create(REGISTER, handle, n, ret)
            }

            #[no_mangle]
            pub extern "C" fn weir_agg_add(handle: u32, acc: usize, input: usize, groups: usize, ret: usize) -> i32 {
                $crate::__private::agg_add(REGISTER, handle, acc, input, groups, ret)
            }

            #[no_mangle]
            pub extern "C" fn weir_agg_merge(handle: u32, acc: usize, other: usize, groups: usize, ret: usize) -> i32 {
                $crate::__private::agg_merge(REGISTER, handle, acc, other, groups, ret)
            }

            #[no_mangle]
            pub extern "C" fn weir_agg_result(handle: u32, acc: usize, ret: usize) -> i32 {
                $crate::__private::agg_result(REGISTER, handle, acc, ret)
            }
        };
    };
}
