//! Operator kinds, the open context, the function traits and the registry.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::batch::Batch;
use crate::builder::BatchBuilder;
use crate::error::{Error, Result};
use crate::flags::Args;
use crate::plan::Plan;
use crate::selection::Selection;
use crate::table::Table;
use crate::types::Schema;

/// The kind of an operator (SPEC §8), numbered as in the ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// One output row per input row (1).
    Map = 1,
    /// Any number of output rows per batch (2).
    FlatMap = 2,
    /// Selects input rows (3).
    Filter = 3,
    /// Keyed processing with host-managed state (4).
    Process = 4,
    /// Accumulators: create, add, merge, result (5).
    Aggregate = 5,
}

impl Kind {
    /// The kind with ABI number `n`.
    pub fn from_abi(n: u32) -> Option<Kind> {
        Some(match n {
            1 => Kind::Map,
            2 => Kind::FlatMap,
            3 => Kind::Filter,
            4 => Kind::Process,
            5 => Kind::Aggregate,
            _ => return None,
        })
    }

    /// The kind's plan name: `map`, `flatmap`, `filter`, `process` or
    /// `aggregate`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Map => "map",
            Kind::FlatMap => "flatmap",
            Kind::Filter => "filter",
            Kind::Process => "process",
            Kind::Aggregate => "aggregate",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An operator being opened: one instance of a registered function in one
/// subtask. A function's `open` reads the name, params and input schema,
/// checks them, declares the output (and state) schema, and returns the
/// value whose methods process the batches.
#[derive(Clone, Debug)]
pub struct Operator {
    name: String,
    kind: Kind,
    params: String,
    input: Schema,
    pub(crate) output: Option<Schema>,
    pub(crate) state: Option<Schema>,
}

impl Operator {
    /// An operator description, as the SDK builds it at `weir_open`: for
    /// calling a function's `open` in tests.
    pub fn new(name: impl Into<String>, kind: Kind, params: impl Into<String>, input: Schema) -> Operator {
        Operator { name: name.into(), kind, params: params.into(), input, output: None, state: None }
    }

    /// The registered function name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How the function was registered.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The node's params string from the plan, verbatim.
    pub fn params(&self) -> &str {
        &self.params
    }

    /// The params split at commas, each trimmed, empty items dropped (the
    /// plan builder's [`crate::Stream::params`] joins a list with commas).
    pub fn param_list(&self) -> Vec<&str> {
        split_params(&self.params)
    }

    /// The params (trimmed) parsed as a `T`; the error quotes the text:
    /// `params "abc" are not a valid f64: invalid float literal`.
    pub fn parse_params<T: FromStr>(&self) -> Result<T>
    where
        T::Err: fmt::Display,
    {
        let p = self.params.trim();
        p.parse::<T>()
            .map_err(|e| crate::err!("params {:?} are not a valid {}: {}", self.params, short_type_name::<T>(), e))
    }

    /// The schema of the input batches.
    pub fn input(&self) -> &Schema {
        &self.input
    }

    /// Declares the schema of the output batches (map, flatmap, process) or
    /// of the result batch (aggregate). Filters have none.
    pub fn set_output(&mut self, s: Schema) {
        self.output = Some(s);
    }

    /// Declares the schema of the keyed state (process) or of the
    /// accumulators (aggregate).
    pub fn set_state(&mut self, s: Schema) {
        self.state = Some(s);
    }

    /// The output schema set so far.
    pub fn output(&self) -> Option<&Schema> {
        self.output.as_ref()
    }

    /// The state schema set so far.
    pub fn state(&self) -> Option<&Schema> {
        self.state.as_ref()
    }
}

fn short_type_name<T>() -> &'static str {
    let n = std::any::type_name::<T>();
    n.rsplit("::").next().unwrap_or(n)
}

/// Splits `s` at commas, trimming each item and dropping empty ones.
pub fn split_params(s: &str) -> Vec<&str> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty()).collect()
}

/// A map or flatmap function (register with [`Registry::map`] or
/// [`Registry::flat_map`]).
///
/// ```
/// use weir::{Batch, BatchBuilder, DataType, MapFunction, Operator, Result, schema};
///
/// struct Scale { x: usize, factor: f64 }
///
/// impl MapFunction for Scale {
///     fn open(op: &mut Operator) -> Result<Scale> {
///         let x = op.input().lookup("x", &[DataType::Float64])?;
///         let factor = op.parse_params::<f64>()?;
///         op.set_output(schema![("y", DataType::Float64)]);
///         Ok(Scale { x, factor })
///     }
///
///     fn map(&mut self, input: &Batch, out: &mut BatchBuilder) -> Result<()> {
///         let xs = input.f64(self.x)?;
///         let f = self.factor;
///         out.f64(0)?.extend_with_validity(xs.validity(), xs.values().iter().map(|x| x * f))
///     }
/// }
/// ```
pub trait MapFunction: 'static {
    /// Opens an operator: validates `op.input()` and `op.params()`, calls
    /// `op.set_output`, and returns the function's state. An error fails
    /// `weir_open` with `<name>: <message>`.
    fn open(op: &mut Operator) -> Result<Self>
    where
        Self: Sized;

    /// Processes one batch, appending rows to `out` (cleared before each
    /// call). A map must append exactly one row per input row, in order; a
    /// flatmap any number. An error fails the call with its message.
    fn map(&mut self, input: &Batch<'_>, out: &mut BatchBuilder) -> Result<()>;
}

/// A filter function (register with [`Registry::filter`]).
pub trait FilterFunction: 'static {
    /// Opens an operator (see [`MapFunction::open`]); filters declare no
    /// output schema: they output their input rows.
    fn open(op: &mut Operator) -> Result<Self>
    where
        Self: Sized;

    /// Selects the rows of `input` to keep; no data is copied.
    fn filter(&mut self, input: &Batch<'_>, selection: &mut Selection) -> Result<()>;
}

/// A keyed process function with host-managed state (register with
/// [`Registry::process`]). The plan node must be keyed
/// ([`crate::Stream::key_by`]).
pub trait ProcessFunction: 'static {
    /// Opens an operator: declares the output schema (`op.set_output`) and
    /// the per-key state schema (`op.set_state`).
    fn open(op: &mut Operator) -> Result<Self>
    where
        Self: Sized;

    /// Processes one batch. Row `i` of `input` belongs to key row
    /// `keys[i]` of `state` (checked to be in range), which has one row per
    /// distinct key of the batch holding the key's current state; the
    /// function updates `state` in place and appends any number of rows to
    /// `out`. It is called once per batch, never once per key.
    fn process(&mut self, input: &Batch<'_>, keys: &[u32], state: &mut Table, out: &mut BatchBuilder) -> Result<()>;
}

/// An aggregate function over accumulators (register with
/// [`Registry::aggregate`]), used by keyed rolling aggregates and windows.
pub trait AggregateFunction: 'static {
    /// Opens an operator: declares the accumulator schema (`op.set_state`)
    /// and the result schema (`op.set_output`).
    fn open(op: &mut Operator) -> Result<Self>
    where
        Self: Sized;

    /// Initialises fresh accumulators (all zero values before the call).
    /// The default leaves them zero.
    fn create(&mut self, acc: &mut Table) -> Result<()> {
        let _ = acc;
        Ok(())
    }

    /// Adds input row `i` into accumulator `groups[i]`, for every row.
    fn add(&mut self, acc: &mut Table, input: &Batch<'_>, groups: &[u32]) -> Result<()>;

    /// Merges accumulator `other[i]` into `acc[groups[i]]`, for every row of
    /// `other`.
    fn merge(&mut self, acc: &mut Table, other: &Table, groups: &[u32]) -> Result<()>;

    /// Appends one result row per accumulator to `out`.
    fn result(&mut self, acc: &Table, out: &mut BatchBuilder) -> Result<()>;
}

type Opener<T> = Box<dyn Fn(&mut Operator) -> Result<Box<T>>>;

pub(crate) enum Factory {
    Map(Opener<dyn MapFunction>),
    Filter(Opener<dyn FilterFunction>),
    Process(Opener<dyn ProcessFunction>),
    Aggregate(Opener<dyn AggregateFunction>),
}

pub(crate) struct Registration {
    pub kind: Kind,
    pub factory: Factory,
}

type PlanFn = Box<dyn Fn(&Args) -> Result<Plan>>;

/// The functions and the plan a module offers. The module's registration
/// function (passed to [`crate::export!`]) fills it once, when the host
/// initialises the instance.
#[derive(Default)]
pub struct Registry {
    pub(crate) functions: BTreeMap<String, Registration>,
    pub(crate) plan: Option<PlanFn>,
    pub(crate) errors: Vec<String>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry").field("functions", &self.names()).field("plan", &self.plan.is_some()).finish()
    }
}

impl Registry {
    /// An empty registry (for tests: pass it to the module's registration
    /// function, then call [`Registry::build_plan`]).
    pub fn new() -> Registry {
        Registry::default()
    }

    fn add(&mut self, name: &str, kind: Kind, factory: Factory) -> &mut Registry {
        if name.is_empty() {
            self.errors.push("a function was registered with an empty name".to_string());
        } else if let Some(old) = self.functions.get(name) {
            self.errors.push(format!("function {:?} registered twice (as {} and {})", name, old.kind, kind));
        } else {
            self.functions.insert(name.to_string(), Registration { kind, factory });
        }
        self
    }

    /// Registers the map function `F` as `name`.
    pub fn map<F: MapFunction>(&mut self, name: &str) -> &mut Registry {
        self.add(name, Kind::Map, Factory::Map(Box::new(|op| Ok(Box::new(F::open(op)?)))))
    }

    /// Registers the flatmap function `F` (a [`MapFunction`] that may emit
    /// any number of rows) as `name`.
    pub fn flat_map<F: MapFunction>(&mut self, name: &str) -> &mut Registry {
        self.add(name, Kind::FlatMap, Factory::Map(Box::new(|op| Ok(Box::new(F::open(op)?)))))
    }

    /// Registers the filter function `F` as `name`.
    pub fn filter<F: FilterFunction>(&mut self, name: &str) -> &mut Registry {
        self.add(name, Kind::Filter, Factory::Filter(Box::new(|op| Ok(Box::new(F::open(op)?)))))
    }

    /// Registers the keyed process function `F` as `name`.
    pub fn process<F: ProcessFunction>(&mut self, name: &str) -> &mut Registry {
        self.add(name, Kind::Process, Factory::Process(Box::new(|op| Ok(Box::new(F::open(op)?)))))
    }

    /// Registers the aggregate function `F` as `name`.
    pub fn aggregate<F: AggregateFunction>(&mut self, name: &str) -> &mut Registry {
        self.add(name, Kind::Aggregate, Factory::Aggregate(Box::new(|op| Ok(Box::new(F::open(op)?)))))
    }

    /// Registers the function building the job's plan from the program
    /// arguments (`weir_plan`). It runs in the JobManager's sandbox and must
    /// depend on nothing but its arguments.
    pub fn plan<F: Fn(&Args) -> Result<Plan> + 'static>(&mut self, f: F) -> &mut Registry {
        if self.plan.is_some() {
            self.errors.push("the plan function was registered twice".to_string());
        } else {
            self.plan = Some(Box::new(f));
        }
        self
    }

    /// The registered function names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.functions.keys().map(String::as_str).collect()
    }

    /// The kind `name` was registered as.
    pub fn kind_of(&self, name: &str) -> Option<Kind> {
        self.functions.get(name).map(|r| r.kind)
    }

    /// Mistakes made while registering (duplicates, empty names), as one
    /// error.
    pub fn check(&self) -> Result<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::new(self.errors.join("; ")))
        }
    }

    /// Runs the plan function on `args` and returns the plan JSON, as
    /// `weir_plan` does.
    pub fn build_plan<S: AsRef<str>>(&self, args: &[S]) -> Result<String> {
        self.check()?;
        let f = self.plan.as_ref().ok_or_else(|| {
            Error::new("this module defines no plan (call Registry::plan in the registration function)")
        })?;
        let args = Args::new(args.iter().map(|s| s.as_ref().to_string()).collect());
        f(&args)?.to_json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::DataType;

    struct Nop;
    impl MapFunction for Nop {
        fn open(op: &mut Operator) -> Result<Nop> {
            op.set_output(op.input().clone());
            Ok(Nop)
        }
        fn map(&mut self, input: &Batch<'_>, out: &mut BatchBuilder) -> Result<()> {
            out.append_batch(input)
        }
    }

    #[test]
    fn params() {
        let op = Operator::new("f", Kind::Map, " 1.5 ", Schema::default());
        assert_eq!(op.parse_params::<f64>().unwrap(), 1.5);
        let cases = [
            ("abc", "params \"abc\" are not a valid f64: invalid float literal"),
            ("", "params \"\" are not a valid i64: cannot parse integer from empty string"),
        ];
        for (p, want) in cases {
            let op = Operator::new("f", Kind::Map, p, Schema::default());
            let e = if want.contains("f64") {
                op.parse_params::<f64>().unwrap_err()
            } else {
                op.parse_params::<i64>().unwrap_err()
            };
            assert_eq!(e.message(), want);
        }
        let op = Operator::new("f", Kind::Map, " a, b ,,c", Schema::default());
        assert_eq!(op.param_list(), ["a", "b", "c"]);
        assert!(split_params("  ").is_empty());
    }

    #[test]
    fn registry_mistakes() {
        let mut r = Registry::new();
        r.map::<Nop>("a").flat_map::<Nop>("a").map::<Nop>("");
        assert_eq!(r.kind_of("a"), Some(Kind::Map));
        assert_eq!(
            r.check().unwrap_err().message(),
            "function \"a\" registered twice (as map and flatmap); a function was registered with an empty name"
        );
        let r = Registry::new();
        assert!(r.build_plan::<&str>(&[]).unwrap_err().message().contains("defines no plan"));
        assert_eq!(Kind::from_abi(4), Some(Kind::Process));
        assert_eq!(Kind::from_abi(6), None);
        let _ = DataType::Int64;
    }
}
