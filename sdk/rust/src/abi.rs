//! The bodies of the guest exports (SPEC §2). [`crate::export!`] defines the
//! `#[no_mangle]` exports in the module crate and forwards to these; native
//! tests call them directly with real pointers.

use std::borrow::Cow;
use std::cell::RefCell;

use crate::batch::{load_struct, Batch, RawColumn};
use crate::builder::BatchBuilder;
use crate::error::{Error, Result};
use crate::ffi::{c_string, host_error, host_text, ArrowSchema, FLAG_NULLABLE, RELEASE_MARK};
use crate::flags::Args;
use crate::operator::{
    AggregateFunction, Factory, FilterFunction, Kind, MapFunction, Operator, ProcessFunction, Registry,
};
use crate::selection::Selection;
use crate::table::Table;
use crate::types::{DataType, Field, Schema};

enum Func {
    Map(Box<dyn MapFunction>),
    Filter(Box<dyn FilterFunction>),
    Process(Box<dyn ProcessFunction>),
    Aggregate(Box<dyn AggregateFunction>),
}

/// One opened operator.
struct Instance {
    name: String,
    kind: Kind,
    input: Schema,
    in_cols: Vec<RawColumn>,
    out: Option<BatchBuilder>,
    sel: Selection,
    state: Option<Table>,
    other: Option<Table>,
    func: Func,
    /// Keeps the exported output and state schemas alive.
    _schemas: Vec<ExportedSchema>,
}

/// The module's registry and open operators.
struct Module {
    registry: Registry,
    instances: Vec<Option<Box<Instance>>>,
    free: Vec<u32>,
    /// The last plan returned by weir_plan, kept alive (SPEC §3).
    plan_text: String,
}

thread_local! {
    static MODULE: RefCell<Option<Module>> = const { RefCell::new(None) };
    /// The function being run, for panic messages.
    static CURRENT: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_current(name: &str) {
    CURRENT.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            c.clear();
            c.push_str(name);
        }
    });
}

/// Builds the module state (registry and panic hook) once.
pub fn init(register: fn(&mut Registry)) {
    MODULE.with(|m| {
        let mut m = m.borrow_mut();
        if m.is_none() {
            install_panic_hook();
            let mut registry = Registry::new();
            set_current("registration");
            register(&mut registry);
            *m = Some(Module { registry, instances: Vec::new(), free: Vec::new(), plan_text: String::new() });
        }
    });
}

#[cfg(all(target_arch = "wasm32", not(test)))]
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = if let Some(s) = info.payload().downcast_ref::<&str>() {
            s.to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "(no message)".to_string()
        };
        let function = CURRENT.with(|c| c.try_borrow().map(|c| c.clone()).unwrap_or_default());
        let line = panic_line(&function, &payload, info.location().map(|l| (l.file(), l.line())));
        // Panics abort on wasm32 (no unwinding), which traps with a bare
        // "unreachable". Exiting instead makes the host report the call as
        // "guest exited with code 101: <the last stderr line>", naming the
        // function and the panic.
        eprintln!("{}", line);
        std::process::exit(101);
    }));
}

#[cfg(any(not(target_arch = "wasm32"), test))]
fn install_panic_hook() {}

/// The stderr line reporting a panic.
#[cfg_attr(any(not(target_arch = "wasm32"), test), allow(dead_code))]
pub(crate) fn panic_line(function: &str, payload: &str, loc: Option<(&str, u32)>) -> String {
    let mut s =
        if function.is_empty() { format!("panic: {}", payload) } else { format!("{}: panic: {}", function, payload) };
    if let Some((file, line)) = loc {
        s.push_str(&format!(" (at {}:{})", file, line));
    }
    // One line: the host keeps the last stderr line as the message.
    s.replace('\n', " ")
}

fn with_module<R>(register: fn(&mut Registry), f: impl FnOnce(&mut Module) -> R) -> R {
    init(register);
    MODULE.with(|m| {
        let mut m = m.borrow_mut();
        // init just made it Some.
        let m = m.as_mut().expect("weir: module state");
        f(m)
    })
}

/// Runs an export body: Ok is status 0; Err reports its message through
/// weir.error and is status 1.
fn status(r: Result<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            host_error(e.message());
            1
        }
    }
}

/// Writes `v` into slot `k` of the return area.
///
/// # Safety
///
/// `ret` must point to the host's return area (16 slots).
unsafe fn set_ret(ret: usize, k: usize, v: usize) {
    *(ret as *mut usize).add(k) = v;
}

fn check_ret(ret: usize) -> Result<()> {
    if ret == 0 || ret % std::mem::align_of::<usize>() != 0 {
        crate::bail!("bad return area pointer {:#x}", ret);
    }
    Ok(())
}

/// `weir_alloc`: `size` bytes aligned to `align` (a power of two up to 64),
/// or 0.
pub fn alloc(size: usize, align: usize) -> usize {
    if align == 0 || !align.is_power_of_two() || align > 64 || size > i32::MAX as usize {
        return 0;
    }
    if size == 0 {
        return align; // any non-zero aligned pointer
    }
    match std::alloc::Layout::from_size_align(size, align) {
        // SAFETY: the layout has a non-zero size.
        Ok(l) => unsafe { std::alloc::alloc(l) as usize },
        Err(_) => 0,
    }
}

/// `weir_free`: releases memory from [`alloc`] with the same size and
/// alignment.
pub fn free(ptr: usize, size: usize, align: usize) {
    if ptr == 0 || size == 0 || size > i32::MAX as usize {
        return;
    }
    if let Ok(l) = std::alloc::Layout::from_size_align(size, align) {
        // SAFETY: the host returns memory it got from alloc with this layout.
        unsafe { std::alloc::dealloc(ptr as *mut u8, l) }
    }
}

/// `weir_plan`.
pub fn plan(register: fn(&mut Registry), args: usize, args_len: usize, ret: usize) -> i32 {
    set_current("weir_plan");
    with_module(register, |m| {
        status((|| {
            check_ret(ret)?;
            m.registry.check()?;
            let text = unsafe { host_text(args, args_len) };
            let f = m.registry.plan.as_ref().ok_or_else(|| {
                Error::new("this module defines no plan (call Registry::plan in the registration function)")
            })?;
            let p = f(&Args::from_nul_separated(&text))?;
            m.plan_text = p.to_json()?;
            unsafe {
                set_ret(ret, 0, m.plan_text.as_ptr() as usize);
                set_ret(ret, 1, m.plan_text.len());
            }
            Ok(())
        })())
    })
}

/// Reads the input schema (`+s`) the host passes to weir_open.
///
/// # Safety
///
/// `p` must be NULL or point to a readable ArrowSchema tree.
unsafe fn import_schema(p: usize) -> Result<Schema> {
    let s = p as *const ArrowSchema;
    if s.is_null() {
        crate::bail!("no input schema");
    }
    let s = &*s;
    let format = c_string(s.format);
    if format != "+s" {
        crate::bail!("input schema has format {:?}, want a struct (+s)", format);
    }
    if s.n_children < 0 || s.n_children > 1 << 16 {
        crate::bail!("input schema has {} children", s.n_children);
    }
    let n = s.n_children as usize;
    if n > 0 && s.children.is_null() {
        crate::bail!("input schema has NULL children");
    }
    let mut fields = Vec::with_capacity(n);
    for j in 0..n {
        let c = *s.children.add(j);
        if c.is_null() {
            crate::bail!("input schema child {} is NULL", j);
        }
        let c = &*c;
        let name = c_string(c.name);
        let format = c_string(c.format);
        let data_type = DataType::from_format(&format)
            .ok_or_else(|| crate::err!("input column {:?} has unsupported Arrow format {:?}", name, format))?;
        fields.push(Field { name, data_type, nullable: c.flags & FLAG_NULLABLE != 0 });
    }
    Ok(Schema::new(fields))
}

/// A schema written as ArrowSchema structures, kept alive while the host
/// may read it.
struct ExportedSchema {
    structs: Box<[ArrowSchema]>,
    _children: Box<[*const ArrowSchema]>,
    _strings: Vec<Box<[u8]>>,
}

fn c_str(s: &str, keep: &mut Vec<Box<[u8]>>) -> *const u8 {
    let mut b = Vec::with_capacity(s.len() + 1);
    b.extend_from_slice(s.as_bytes());
    b.push(0);
    let b = b.into_boxed_slice();
    let p = b.as_ptr();
    keep.push(b);
    p
}

fn export_schema(s: &Schema) -> ExportedSchema {
    let n = s.len();
    let mut strings = Vec::with_capacity(2 * n + 1);
    let blank = || ArrowSchema {
        format: std::ptr::null(),
        name: std::ptr::null(),
        metadata: std::ptr::null(),
        flags: 0,
        n_children: 0,
        children: std::ptr::null(),
        dictionary: std::ptr::null(),
        release: RELEASE_MARK,
        private_data: std::ptr::null_mut(),
    };
    let mut structs: Box<[ArrowSchema]> = (0..=n).map(|_| blank()).collect();
    let mut children: Box<[*const ArrowSchema]> = vec![std::ptr::null(); n].into_boxed_slice();
    for (j, f) in s.fields().iter().enumerate() {
        let k = &mut structs[j + 1];
        k.format = c_str(&f.data_type.format(), &mut strings);
        k.name = c_str(&f.name, &mut strings);
        k.flags = if f.nullable { FLAG_NULLABLE } else { 0 };
        children[j] = k as *const ArrowSchema;
    }
    structs[0].format = c_str("+s", &mut strings);
    structs[0].n_children = n as i64;
    structs[0].children = if n > 0 { children.as_ptr() } else { std::ptr::null() };
    ExportedSchema { structs, _children: children, _strings: strings }
}

impl ExportedSchema {
    fn addr(&self) -> usize {
        &self.structs[0] as *const ArrowSchema as usize
    }
}

/// `weir_open`.
#[allow(clippy::too_many_arguments)]
pub fn open(
    register: fn(&mut Registry),
    kind: u32,
    name: usize,
    name_len: usize,
    params: usize,
    params_len: usize,
    in_schema: usize,
    ret: usize,
) -> i32 {
    let fname = unsafe { host_text(name, name_len) };
    set_current(&fname);
    with_module(register, |m| status(open_in(m, kind, &fname, params, params_len, in_schema, ret)))
}

fn open_in(
    m: &mut Module,
    kind: u32,
    fname: &str,
    params: usize,
    params_len: usize,
    in_schema: usize,
    ret: usize,
) -> Result<()> {
    check_ret(ret)?;
    m.registry.check()?;
    let reg = match m.registry.functions.get(fname) {
        Some(r) => r,
        None => {
            let names = m.registry.names();
            let names = if names.is_empty() { "none".to_string() } else { names.join(", ") };
            crate::bail!("no function {:?} is registered in this module (registered: {})", fname, names);
        }
    };
    let want = Kind::from_abi(kind).ok_or_else(|| crate::err!("{}: unknown operator kind {}", fname, kind))?;
    if reg.kind != want {
        crate::bail!("{}: registered as a {} function, opened as {}", fname, reg.kind, want);
    }
    let input = unsafe { import_schema(in_schema) }.map_err(|e| e.context(fname))?;
    let mut op = Operator::new(fname, reg.kind, unsafe { host_text(params, params_len) }, input.clone());
    let func = match &reg.factory {
        Factory::Map(f) => Func::Map(f(&mut op).map_err(|e| e.context(fname))?),
        Factory::Filter(f) => Func::Filter(f(&mut op).map_err(|e| e.context(fname))?),
        Factory::Process(f) => Func::Process(f(&mut op).map_err(|e| e.context(fname))?),
        Factory::Aggregate(f) => Func::Aggregate(f(&mut op).map_err(|e| e.context(fname))?),
    };
    let mut schemas = Vec::new();
    let mut out = None;
    let (mut state, mut other) = (None, None);
    if reg.kind != Kind::Filter {
        let s = op.output.take().ok_or_else(|| crate::err!("{}: open did not set the output schema", fname))?;
        let b = BatchBuilder::new(s).map_err(|e| e.context(format!("{}: output schema", fname)))?;
        schemas.push(export_schema(b.schema()));
        out = Some(b);
    }
    if reg.kind == Kind::Process || reg.kind == Kind::Aggregate {
        let s = op.state.take().ok_or_else(|| crate::err!("{}: open did not set the state schema", fname))?;
        s.validate().map_err(|e| e.context(format!("{}: state schema", fname)))?;
        schemas.push(export_schema(&s));
        state = Some(Table::with_schema(s.clone(), reg.kind == Kind::Process));
        if reg.kind == Kind::Aggregate {
            other = Some(Table::with_schema(s, false));
        }
    }
    let in_cols = input.fields().iter().map(|f| RawColumn::empty(f.data_type.phys())).collect();
    // The schemas live in boxed slices inside the instance: their addresses
    // do not change when the instance moves.
    let addrs: Vec<usize> = schemas.iter().map(ExportedSchema::addr).collect();
    let inst = Box::new(Instance {
        name: fname.to_string(),
        kind: reg.kind,
        input,
        in_cols,
        out,
        sel: Selection::new(0),
        state,
        other,
        func,
        _schemas: schemas,
    });
    let h = match m.free.pop() {
        Some(h) => {
            m.instances[h as usize - 1] = Some(inst);
            h
        }
        None => {
            m.instances.push(Some(inst));
            m.instances.len() as u32
        }
    };
    unsafe {
        set_ret(ret, 0, h as usize);
        for (k, a) in addrs.iter().enumerate() {
            set_ret(ret, k + 1, *a);
        }
    }
    Ok(())
}

fn instance<'m>(m: &'m mut Module, h: u32, kinds: &[Kind]) -> Result<&'m mut Instance> {
    let inst = match m.instances.get_mut((h as usize).wrapping_sub(1)) {
        Some(Some(i)) if h != 0 => i,
        _ => crate::bail!("unknown operator handle {}", h),
    };
    if !kinds.contains(&inst.kind) {
        crate::bail!("{}: operator handle {} is a {} operator", inst.name, h, inst.kind);
    }
    set_current(&inst.name);
    Ok(inst)
}

/// `weir_close`.
pub fn close(register: fn(&mut Registry), h: u32) -> i32 {
    with_module(register, |m| {
        status((|| {
            instance(m, h, &[Kind::Map, Kind::FlatMap, Kind::Filter, Kind::Process, Kind::Aggregate])?;
            m.instances[h as usize - 1] = None;
            m.free.push(h);
            Ok(())
        })())
    })
}

/// Views the `n` i32 indexes at `p` as `u32`, checking each is below
/// `limit`.
///
/// # Safety
///
/// `p` must point to `n` readable i32 values (or `n` be 0).
unsafe fn indexes<'a>(p: usize, n: usize, limit: usize, what: &str) -> Result<&'a [u32]> {
    if n == 0 {
        return Ok(&[]);
    }
    if p == 0 || p % 4 != 0 {
        crate::bail!("bad {} array pointer {:#x}", what, p);
    }
    let idx = std::slice::from_raw_parts(p as *const u32, n);
    // Branch-free scan; locate the culprit only if there is one.
    let lim = limit as u32;
    if idx.iter().fold(false, |bad, &k| bad | (k >= lim)) {
        let i = idx.iter().position(|&k| k >= lim).unwrap_or(0);
        crate::bail!("{} {} of row {} is out of range ({} rows)", what, idx[i] as i32, i, limit);
    }
    Ok(idx)
}

/// `weir_map` (map and flatmap).
pub fn map(register: fn(&mut Registry), h: u32, input: usize, ret: usize) -> i32 {
    with_module(register, |m| {
        status((|| {
            check_ret(ret)?;
            let inst = instance(m, h, &[Kind::Map, Kind::FlatMap])?;
            let Instance { name, kind, input: schema, in_cols, out, func, .. } = inst;
            let (n, _, _) =
                unsafe { load_struct(input, schema, in_cols, "input batch") }.map_err(|e| e.context(&*name))?;
            let batch = Batch::from_raw(schema, n, Cow::Borrowed(&in_cols[..]));
            let out = out.as_mut().ok_or_else(|| crate::err!("{}: no output builder", name))?;
            out.clear();
            if let Func::Map(f) = func {
                f.map(&batch, out)?;
            }
            let (addr, rows) = out.export().map_err(|e| e.context(&*name))?;
            if *kind == Kind::Map && rows != n {
                crate::bail!("{}: map produced {} rows for {} input rows", name, rows, n);
            }
            unsafe { set_ret(ret, 0, addr as usize) };
            Ok(())
        })())
    })
}

/// `weir_filter`.
pub fn filter(register: fn(&mut Registry), h: u32, input: usize, ret: usize) -> i32 {
    with_module(register, |m| {
        status((|| {
            check_ret(ret)?;
            let inst = instance(m, h, &[Kind::Filter])?;
            let Instance { name, input: schema, in_cols, sel, func, .. } = inst;
            let (n, _, _) =
                unsafe { load_struct(input, schema, in_cols, "input batch") }.map_err(|e| e.context(&*name))?;
            let batch = Batch::from_raw(schema, n, Cow::Borrowed(&in_cols[..]));
            sel.reset(n);
            if let Func::Filter(f) = func {
                f.filter(&batch, sel)?;
            }
            let (k, p, c) = sel.result();
            unsafe {
                set_ret(ret, 0, k as usize);
                set_ret(ret, 1, p as usize);
                set_ret(ret, 2, c);
            }
            Ok(())
        })())
    })
}

/// `weir_process`.
pub fn process(register: fn(&mut Registry), h: u32, input: usize, keys: usize, state: usize, ret: usize) -> i32 {
    with_module(register, |m| {
        status((|| {
            check_ret(ret)?;
            let inst = instance(m, h, &[Kind::Process])?;
            let Instance { name, input: schema, in_cols, out, state: table, func, .. } = inst;
            let (n, _, _) =
                unsafe { load_struct(input, schema, in_cols, "input batch") }.map_err(|e| e.context(&*name))?;
            let table = table.as_mut().ok_or_else(|| crate::err!("{}: no state table", name))?;
            unsafe { table.load(state, "state") }.map_err(|e| e.context(&*name))?;
            let keys = unsafe { indexes(keys, n, table.len(), "key index") }.map_err(|e| e.context(&*name))?;
            let batch = Batch::from_raw(schema, n, Cow::Borrowed(&in_cols[..]));
            let out = out.as_mut().ok_or_else(|| crate::err!("{}: no output builder", name))?;
            out.clear();
            if let Func::Process(f) = func {
                f.process(&batch, keys, table, out)?;
            }
            let (addr, _) = out.export().map_err(|e| e.context(&*name))?;
            let st = table.export();
            unsafe {
                set_ret(ret, 0, addr as usize);
                set_ret(ret, 1, st as usize);
            }
            Ok(())
        })())
    })
}

/// `weir_agg_create`.
pub fn agg_create(register: fn(&mut Registry), h: u32, n: u32, ret: usize) -> i32 {
    with_module(register, |m| {
        status((|| {
            check_ret(ret)?;
            let inst = instance(m, h, &[Kind::Aggregate])?;
            let Instance { name, state, func, .. } = inst;
            if n > 1 << 28 {
                crate::bail!("{}: cannot create {} accumulators", name, n);
            }
            let acc = state.as_mut().ok_or_else(|| crate::err!("{}: no accumulator table", name))?;
            acc.reset(n as usize, true);
            if let Func::Aggregate(f) = func {
                f.create(acc)?;
            }
            let a = acc.export();
            unsafe { set_ret(ret, 0, a as usize) };
            Ok(())
        })())
    })
}

/// `weir_agg_add`.
pub fn agg_add(register: fn(&mut Registry), h: u32, acc: usize, input: usize, groups: usize, ret: usize) -> i32 {
    with_module(register, |m| {
        status((|| {
            check_ret(ret)?;
            let inst = instance(m, h, &[Kind::Aggregate])?;
            let Instance { name, input: schema, in_cols, state, func, .. } = inst;
            let table = state.as_mut().ok_or_else(|| crate::err!("{}: no accumulator table", name))?;
            unsafe { table.load(acc, "accumulator") }.map_err(|e| e.context(&*name))?;
            let (n, _, _) =
                unsafe { load_struct(input, schema, in_cols, "input batch") }.map_err(|e| e.context(&*name))?;
            let groups = unsafe { indexes(groups, n, table.len(), "group") }.map_err(|e| e.context(&*name))?;
            let batch = Batch::from_raw(schema, n, Cow::Borrowed(&in_cols[..]));
            if let Func::Aggregate(f) = func {
                f.add(table, &batch, groups)?;
            }
            let a = table.export();
            unsafe { set_ret(ret, 0, a as usize) };
            Ok(())
        })())
    })
}

/// `weir_agg_merge`.
pub fn agg_merge(register: fn(&mut Registry), h: u32, acc: usize, other: usize, groups: usize, ret: usize) -> i32 {
    with_module(register, |m| {
        status((|| {
            check_ret(ret)?;
            let inst = instance(m, h, &[Kind::Aggregate])?;
            let Instance { name, state, other: other_t, func, .. } = inst;
            let table = state.as_mut().ok_or_else(|| crate::err!("{}: no accumulator table", name))?;
            let o = other_t.as_mut().ok_or_else(|| crate::err!("{}: no accumulator table", name))?;
            unsafe { table.load(acc, "accumulator") }.map_err(|e| e.context(&*name))?;
            unsafe { o.load(other, "accumulator") }.map_err(|e| e.context(&*name))?;
            let groups = unsafe { indexes(groups, o.len(), table.len(), "group") }.map_err(|e| e.context(&*name))?;
            if let Func::Aggregate(f) = func {
                f.merge(table, o, groups)?;
            }
            let a = table.export();
            unsafe { set_ret(ret, 0, a as usize) };
            Ok(())
        })())
    })
}

/// `weir_agg_result`.
pub fn agg_result(register: fn(&mut Registry), h: u32, acc: usize, ret: usize) -> i32 {
    with_module(register, |m| {
        status((|| {
            check_ret(ret)?;
            let inst = instance(m, h, &[Kind::Aggregate])?;
            let Instance { name, state, out, func, .. } = inst;
            let table = state.as_mut().ok_or_else(|| crate::err!("{}: no accumulator table", name))?;
            unsafe { table.load(acc, "accumulator") }.map_err(|e| e.context(&*name))?;
            let out = out.as_mut().ok_or_else(|| crate::err!("{}: no output builder", name))?;
            out.clear();
            if let Func::Aggregate(f) = func {
                f.result(table, out)?;
            }
            let (addr, rows) = out.export().map_err(|e| e.context(&*name))?;
            if rows != table.len() {
                crate::bail!("{}: result has {} rows for {} accumulators", name, rows, table.len());
            }
            unsafe { set_ret(ret, 0, addr as usize) };
            Ok(())
        })())
    })
}

#[cfg(test)]
mod tests {
    //! Drives the exports natively the way the host does: inputs written as
    //! C Data structures, outputs read back from what the exports return.

    use super::*;
    use crate::ffi::{imports, ArrowArray};
    use crate::schema;
    use crate::types::TimeUnit;
    use crate::Flags;

    struct Scale {
        x: usize,
        f: f64,
    }
    impl MapFunction for Scale {
        fn open(op: &mut Operator) -> Result<Scale> {
            let x = op.input().lookup("x", &[DataType::Float64])?;
            let f = op.parse_params::<f64>()?;
            op.set_output(schema![("y", DataType::Float64)]);
            Ok(Scale { x, f })
        }
        fn map(&mut self, input: &Batch, out: &mut BatchBuilder) -> Result<()> {
            let xs = input.f64(self.x)?;
            let f = self.f;
            out.f64(0)?.extend_with_validity(xs.validity(), xs.values().iter().map(|x| x * f))
        }
    }

    struct Identity;
    impl MapFunction for Identity {
        fn open(op: &mut Operator) -> Result<Identity> {
            op.set_output(op.input().clone());
            Ok(Identity)
        }
        fn map(&mut self, input: &Batch, out: &mut BatchBuilder) -> Result<()> {
            out.append_batch(input)
        }
    }

    /// Emits one row too many: a map that breaks its contract.
    struct Extra;
    impl MapFunction for Extra {
        fn open(op: &mut Operator) -> Result<Extra> {
            op.set_output(schema![("n", DataType::Int64)]);
            Ok(Extra)
        }
        fn map(&mut self, input: &Batch, out: &mut BatchBuilder) -> Result<()> {
            out.i64(0)?.extend_zeroed(input.len() + 1);
            Ok(())
        }
    }

    /// Forgets its output schema.
    struct NoOutput;
    impl MapFunction for NoOutput {
        fn open(_: &mut Operator) -> Result<NoOutput> {
            Ok(NoOutput)
        }
        fn map(&mut self, _: &Batch, _: &mut BatchBuilder) -> Result<()> {
            Ok(())
        }
    }

    /// Keeps even rows: pushed indexes, or all/none by params.
    struct Even;
    impl FilterFunction for Even {
        fn open(op: &mut Operator) -> Result<Even> {
            if !op.params().is_empty() {
                crate::bail!("unexpected params {:?}", op.params());
            }
            Ok(Even)
        }
        fn filter(&mut self, input: &Batch, sel: &mut Selection) -> Result<()> {
            for i in (0..input.len()).step_by(2) {
                sel.push(i);
            }
            Ok(())
        }
    }

    /// Counts per key, appends the key's string state, clears keys whose
    /// count reaches 3.
    struct Count {
        key: usize,
    }
    impl ProcessFunction for Count {
        fn open(op: &mut Operator) -> Result<Count> {
            let key = op.input().lookup("key", &[DataType::Utf8])?;
            op.set_output(schema![("key", DataType::Utf8), ("n", DataType::Int64)]);
            op.set_state(schema![("n", DataType::Int64), ("seen", DataType::Utf8)]);
            Ok(Count { key })
        }
        fn process(&mut self, input: &Batch, keys: &[u32], state: &mut Table, out: &mut BatchBuilder) -> Result<()> {
            let ks = input.utf8(self.key)?;
            out.utf8(0)?.append_column(&ks);
            for (i, &k) in keys.iter().enumerate() {
                let k = k as usize;
                let mut cols = state.columns_mut();
                let n = cols.i64(0)?;
                let seen = cols.utf8(1)?;
                n[k] += 1;
                seen[k].push('+');
                out.i64(1)?.push(n[k]);
                if n[k] >= 3 {
                    state.clear(k);
                }
                let _ = i;
            }
            Ok(())
        }
    }

    /// sum of x per group; result null for empty groups.
    struct Sum {
        x: usize,
    }
    impl AggregateFunction for Sum {
        fn open(op: &mut Operator) -> Result<Sum> {
            let x = op.input().lookup("x", &[DataType::Int64])?;
            op.set_state(schema![("sum", DataType::Int64), ("n", DataType::Int64)]);
            op.set_output(schema![("sum", DataType::Int64)]);
            Ok(Sum { x })
        }
        fn create(&mut self, acc: &mut Table) -> Result<()> {
            // Start every sum at 100 to prove create runs.
            acc.i64_mut(0)?.iter_mut().for_each(|s| *s = 100);
            Ok(())
        }
        fn add(&mut self, acc: &mut Table, input: &Batch, groups: &[u32]) -> Result<()> {
            let xs = input.i64(self.x)?;
            let mut cols = acc.columns_mut();
            let (s, n) = (cols.i64(0)?, cols.i64(1)?);
            for (i, &g) in groups.iter().enumerate() {
                if let Some(v) = xs.get(i) {
                    s[g as usize] += v;
                    n[g as usize] += 1;
                }
            }
            Ok(())
        }
        fn merge(&mut self, acc: &mut Table, other: &Table, groups: &[u32]) -> Result<()> {
            let (os, on) = (other.i64(0)?, other.i64(1)?);
            let mut cols = acc.columns_mut();
            let (s, n) = (cols.i64(0)?, cols.i64(1)?);
            for (i, &g) in groups.iter().enumerate() {
                s[g as usize] += os[i] - 100;
                n[g as usize] += on[i];
            }
            Ok(())
        }
        fn result(&mut self, acc: &Table, out: &mut BatchBuilder) -> Result<()> {
            let (s, n) = (acc.i64(0)?, acc.i64(1)?);
            let b = out.i64(0)?;
            for k in 0..acc.len() {
                b.push_option(if n[k] == 0 { None } else { Some(s[k]) });
            }
            Ok(())
        }
    }

    fn register(r: &mut Registry) {
        r.map::<Scale>("scale")
            .map::<Identity>("identity")
            .map::<Extra>("extra")
            .flat_map::<Extra>("extra_flat")
            .map::<NoOutput>("no_output")
            .filter::<Even>("even")
            .process::<Count>("count")
            .aggregate::<Sum>("sum")
            .plan(|args| {
                let mut input = String::new();
                Flags::new("t").string("input", &mut input, "input").parse(args)?;
                let p = crate::Plan::new("t");
                p.source("file", [("path", input.as_str())]).map("identity").sink("file", [("path", "o")]);
                Ok(p)
            });
    }

    type Ret = [usize; 16];

    fn last_error() -> String {
        imports::LAST_ERROR.with(|e| e.borrow_mut().take()).unwrap_or_default()
    }

    /// Opens `name` as `kind` over `input`; Ok(ret) or Err(message).
    fn open_op(kind: Kind, name: &str, params: &str, input: &Schema) -> std::result::Result<Ret, String> {
        let s = export_schema(input);
        let mut ret: Ret = [0; 16];
        let st = open(
            register,
            kind as u32,
            name.as_ptr() as usize,
            name.len(),
            params.as_ptr() as usize,
            params.len(),
            s.addr(),
            ret.as_mut_ptr() as usize,
        );
        if st == 0 {
            Ok(ret)
        } else {
            Err(last_error())
        }
    }

    /// Exports b and slices every column to start at `off`, keeping `n` rows.
    fn sliced(b: &mut BatchBuilder, off: usize, n: usize) -> usize {
        let (addr, _) = b.export().unwrap();
        let arr = unsafe { &mut *(addr as *mut ArrowArray) };
        arr.length = n as i64;
        for j in 0..arr.n_children as usize {
            let kid = unsafe { &mut *(*arr.children.add(j) as *mut ArrowArray) };
            kid.offset = off as i64;
            kid.null_count = -1;
        }
        addr as usize
    }

    /// A view of the struct array at `a` with schema `s`.
    fn view<'a>(a: usize, s: &'a Schema, cols: &'a mut Vec<RawColumn>) -> Batch<'a> {
        *cols = s.fields().iter().map(|f| RawColumn::empty(f.data_type.phys())).collect();
        let (n, _, _) = unsafe { load_struct(a, s, cols, "output") }.unwrap();
        Batch::from_raw(s, n, Cow::Borrowed(&cols[..]))
    }

    #[test]
    fn open_errors() {
        let x = schema![("x", DataType::Float64)];
        let cases: Vec<(Kind, &str, &str, Schema, &str)> = vec![
            (Kind::Map, "nope", "", x.clone(), "no function \"nope\" is registered in this module (registered: count, even, extra, extra_flat, identity, no_output, scale, sum)"),
            (Kind::Filter, "scale", "1", x.clone(), "scale: registered as a map function, opened as filter"),
            (Kind::Map, "scale", "abc", x.clone(), "scale: params \"abc\" are not a valid f64: invalid float literal"),
            (Kind::Map, "scale", "2", schema![("y", DataType::Float64)], "scale: input has no column \"x\" (columns: y)"),
            (Kind::Map, "no_output", "", x.clone(), "no_output: open did not set the output schema"),
            (Kind::Filter, "even", "p", x.clone(), "even: unexpected params \"p\""),
        ];
        for (kind, name, params, input, want) in cases {
            assert_eq!(open_op(kind, name, params, &input).unwrap_err(), want, "{}", name);
        }
        let mut ret: Ret = [0; 16];
        let st =
            open(register, 9, "scale".as_ptr() as usize, 5, 0, 0, export_schema(&x).addr(), ret.as_mut_ptr() as usize);
        assert_eq!((st, last_error()), (1, "scale: unknown operator kind 9".to_string()));
    }

    #[test]
    fn map_with_slices_and_nulls() {
        let ret = open_op(Kind::Map, "scale", " 2 ", &schema![("x", DataType::Float64)]).unwrap();
        let h = ret[0] as u32;
        // The output schema the host reads: +s with one float64 child "y".
        let out_schema = unsafe { import_schema(ret[1]) }.unwrap();
        assert_eq!(out_schema, schema![("y", DataType::Float64)]);
        for off in [0usize, 1, 3, 7, 8, 13] {
            let mut b = BatchBuilder::new(schema![("x", DataType::Float64)]).unwrap();
            b.f64(0).unwrap().extend((0..40).map(|i| if i % 5 == 2 { None } else { Some(i as f64) }));
            let input = sliced(&mut b, off, 20);
            let mut r: Ret = [0; 16];
            assert_eq!(map(register, h, input, r.as_mut_ptr() as usize), 0, "{}", last_error());
            let mut cols = Vec::new();
            let out = view(r[0], &out_schema, &mut cols);
            let want: Vec<Option<f64>> =
                (off..off + 20).map(|i| if i % 5 == 2 { None } else { Some(2.0 * i as f64) }).collect();
            assert_eq!(out.f64(0).unwrap().iter().collect::<Vec<_>>(), want, "offset {}", off);
        }
        assert_eq!(close(register, h), 0);
        let mut r: Ret = [0; 16];
        assert_eq!(map(register, h, 0, r.as_mut_ptr() as usize), 1);
        assert_eq!(last_error(), format!("unknown operator handle {}", h));
    }

    #[test]
    fn identity_every_type_sliced() {
        let s = schema![
            ("b", DataType::Bool),
            ("i8", DataType::Int8),
            ("u16", DataType::Uint16),
            ("i32", DataType::Int32),
            ("u64", DataType::Uint64),
            ("f32", DataType::Float32),
            ("s", DataType::Utf8),
            ("z", DataType::Binary),
            ("ts", DataType::timestamp_tz(TimeUnit::Nanosecond, "Europe/Paris")),
            ("d", DataType::Date32),
        ];
        let ret = open_op(Kind::Map, "identity", "", &s).unwrap();
        let out_schema = unsafe { import_schema(ret[1]) }.unwrap();
        assert_eq!(out_schema, s);
        let n = 30;
        let null = |i: usize| i % 7 == 3;
        let mut b = BatchBuilder::new(s.clone()).unwrap();
        for i in 0..n {
            let v = |x: bool| if null(i) { None } else { Some(x) };
            b.bool(0).unwrap().push_option(v(i % 3 == 0));
            b.i8(1).unwrap().push_option(v(true).map(|_| i as i8 - 10));
            b.u16(2).unwrap().push_option(v(true).map(|_| i as u16 * 1000));
            b.i32(3).unwrap().push_option(v(true).map(|_| -(i as i32)));
            b.u64(4).unwrap().push_option(v(true).map(|_| u64::MAX - i as u64));
            b.f32(5).unwrap().push_option(v(true).map(|_| i as f32 / 4.0));
            b.utf8(6).unwrap().push_option(v(true).map(|_| ["", "é", "日本", "x"][i % 4]));
            let bytes = [0xffu8, i as u8];
            b.binary(7).unwrap().push_option(v(true).map(|_| &bytes[..i % 3]));
            b.timestamp(8).unwrap().push_option(v(true).map(|_| i as i64 * 1_000_000_007));
            b.date32(9).unwrap().push_option(v(true).map(|_| i as i32 - 15));
        }
        // Column j of a batch, rows [from, from+len), as a debug string.
        fn rows(batch: &Batch, j: usize, from: usize, len: usize) -> String {
            macro_rules! window {
                ($c:expr) => {
                    format!("{:?}", $c.iter().skip(from).take(len).collect::<Vec<_>>())
                };
            }
            match j {
                0 => window!(batch.bool(0).unwrap()),
                1 => window!(batch.i8(1).unwrap()),
                2 => window!(batch.u16(2).unwrap()),
                3 => window!(batch.i32(3).unwrap()),
                4 => window!(batch.u64(4).unwrap()),
                5 => window!(batch.f32(5).unwrap()),
                6 => window!(batch.utf8(6).unwrap()),
                7 => window!(batch.binary(7).unwrap()),
                8 => window!(batch.timestamp(8).unwrap()),
                _ => window!(batch.date32(9).unwrap()),
            }
        }
        // The expected rows, from a copy of the whole batch.
        let mut full = BatchBuilder::new(s.clone()).unwrap();
        full.append_batch(&b.as_batch().unwrap()).unwrap();
        let full = full.as_batch().unwrap();
        assert_eq!(full.null_count(6), 4);
        for off in [0usize, 1, 5, 8, 13] {
            let len = 12;
            let input = sliced(&mut b, off, len);
            let mut r: Ret = [0; 16];
            assert_eq!(map(register, ret[0] as u32, input, r.as_mut_ptr() as usize), 0, "{}", last_error());
            let mut cols = Vec::new();
            let out = view(r[0], &out_schema, &mut cols);
            assert_eq!(out.len(), len);
            for j in 0..s.len() {
                assert_eq!(rows(&out, j, 0, len), rows(&full, j, off, len), "column {} offset {}", j, off);
            }
        }
    }

    #[test]
    fn map_contract_checks() {
        let s = schema![("x", DataType::Float64)];
        let mut b = BatchBuilder::new(s.clone()).unwrap();
        b.f64(0).unwrap().extend_from_slice(&[1.0, 2.0]);
        let input = sliced(&mut b, 0, 2);
        let h = open_op(Kind::Map, "extra", "", &s).unwrap()[0] as u32;
        let mut r: Ret = [0; 16];
        assert_eq!(map(register, h, input, r.as_mut_ptr() as usize), 1);
        assert_eq!(last_error(), "extra: map produced 3 rows for 2 input rows");
        // The same function as a flatmap may emit any number of rows.
        let h = open_op(Kind::FlatMap, "extra_flat", "", &s).unwrap()[0] as u32;
        assert_eq!(map(register, h, input, r.as_mut_ptr() as usize), 0, "{}", last_error());
        // A batch whose column count differs from the schema.
        let h = open_op(Kind::Map, "identity", "", &schema![("x", DataType::Float64), ("y", DataType::Int8)]).unwrap()
            [0] as u32;
        assert_eq!(map(register, h, input, r.as_mut_ptr() as usize), 1);
        assert_eq!(last_error(), "identity: input batch has 1 columns, its schema 2");
        // A handle of another kind.
        let f = open_op(Kind::Filter, "even", "", &s).unwrap()[0] as u32;
        assert_eq!(map(register, f, input, r.as_mut_ptr() as usize), 1);
        assert_eq!(last_error(), format!("even: operator handle {} is a filter operator", f));
    }

    #[test]
    fn filter_selection_vector() {
        let s = schema![("x", DataType::Float64)];
        let h = open_op(Kind::Filter, "even", "", &s).unwrap()[0] as u32;
        let mut b = BatchBuilder::new(s).unwrap();
        b.f64(0).unwrap().extend_zeroed(7);
        let mut r: Ret = [0; 16];
        assert_eq!(filter(register, h, sliced(&mut b, 0, 7), r.as_mut_ptr() as usize), 0);
        assert_eq!((r[0], r[2]), (1, 4));
        let idx = unsafe { std::slice::from_raw_parts(r[1] as *const i32, r[2]) };
        assert_eq!(idx, &[0, 2, 4, 6]);
        let mut r: Ret = [0; 16];
        assert_eq!(filter(register, h, sliced(&mut b, 0, 0), r.as_mut_ptr() as usize), 0);
        assert_eq!(r[0], 3, "no rows: kind none");
    }

    #[test]
    fn process_state_round_trip() {
        let s = schema![("key", DataType::Utf8)];
        let ret = open_op(Kind::Process, "count", "", &s).unwrap();
        let state_schema = unsafe { import_schema(ret[2]) }.unwrap();
        assert_eq!(state_schema, schema![("n", DataType::Int64), ("seen", DataType::Utf8)]);
        let h = ret[0] as u32;
        // Rows a b a c; keys 0 1 0 2; key 0 has state (n=1, seen "x"),
        // key 1 has none (junk under the null row), key 2 has n=5.
        let mut input = BatchBuilder::new(s).unwrap();
        input.utf8(0).unwrap().extend(["a", "b", "a", "c"]);
        let in_addr = sliced(&mut input, 0, 4);
        let mut st = BatchBuilder::new(state_schema.clone()).unwrap();
        st.i64(0).unwrap().extend_from_slice(&[1, 77, 5]);
        st.utf8(1).unwrap().extend(["x", "junk", ""]);
        let (st_addr, _) = st.export().unwrap();
        let valid = [0b101u8];
        unsafe {
            let arr = &mut *(st_addr as *mut ArrowArray);
            *(arr.buffers as *mut *const u8) = valid.as_ptr();
            arr.null_count = 1;
        }
        let keys: [i32; 4] = [0, 1, 0, 2];
        let mut r: Ret = [0; 16];
        let status = process(register, h, in_addr, keys.as_ptr() as usize, st_addr as usize, r.as_mut_ptr() as usize);
        assert_eq!(status, 0, "{}", last_error());
        let out_schema = schema![("key", DataType::Utf8), ("n", DataType::Int64)];
        let mut cols = Vec::new();
        let out = view(r[0], &out_schema, &mut cols);
        assert_eq!(out.i64(1).unwrap().values(), &[2, 1, 3, 6]);
        assert_eq!(out.utf8(0).unwrap().iter().flatten().collect::<String>(), "abac");
        // New state: keys 0 (3) and 2 (6) reached 3 and were cleared (null
        // rows); key 1 got its first state.
        let mut scols = Vec::new();
        let ns = view(r[1], &state_schema, &mut scols);
        let arr = unsafe { &*(r[1] as *const ArrowArray) };
        let sv = unsafe { *(*arr.buffers) };
        assert_eq!((arr.null_count, sv & 0b111), (2, 0b010));
        assert_eq!(ns.i64(0).unwrap().values(), &[3, 1, 6]);
        assert_eq!(ns.utf8(1).unwrap().iter().flatten().collect::<Vec<_>>(), ["x++", "+", "+"]);

        // Out-of-range key index.
        let bad: [i32; 4] = [0, 3, 0, 0];
        let status = process(register, h, in_addr, bad.as_ptr() as usize, st_addr as usize, r.as_mut_ptr() as usize);
        assert_eq!((status, last_error()), (1, "count: key index 3 of row 1 is out of range (3 rows)".to_string()));
    }

    #[test]
    fn aggregate_lifecycle() {
        let s = schema![("x", DataType::Int64)];
        let ret = open_op(Kind::Aggregate, "sum", "", &s).unwrap();
        let h = ret[0] as u32;
        let acc_schema = unsafe { import_schema(ret[2]) }.unwrap();
        let res_schema = unsafe { import_schema(ret[1]) }.unwrap();
        assert_eq!((acc_schema.len(), res_schema.len()), (2, 1));
        let mut r: Ret = [0; 16];
        assert_eq!(agg_create(register, h, 3, r.as_mut_ptr() as usize), 0);
        // Copy the accumulators out, as the host does, before the next call.
        let copy = |a: usize| {
            let mut cols = Vec::new();
            let v = view(a, &acc_schema, &mut cols);
            let mut b = BatchBuilder::new(acc_schema.clone()).unwrap();
            b.append_batch(&v).unwrap();
            b
        };
        let mut acc = copy(r[0]);
        let mut input = BatchBuilder::new(s).unwrap();
        input.i64(0).unwrap().extend([Some(1), None, Some(10), Some(100)]);
        let groups: [i32; 4] = [0, 0, 2, 0];
        let (acc_addr, _) = acc.export().unwrap();
        let st = agg_add(
            register,
            h,
            acc_addr as usize,
            sliced(&mut input, 0, 4),
            groups.as_ptr() as usize,
            r.as_mut_ptr() as usize,
        );
        assert_eq!(st, 0, "{}", last_error());
        let mut acc = copy(r[0]);
        // Merge a second array (one accumulator with sum 107 = 100 + 7, n 1) into group 1.
        let mut other = BatchBuilder::new(acc_schema.clone()).unwrap();
        other.i64(0).unwrap().push(107);
        other.i64(1).unwrap().push(1);
        let (oa, _) = other.export().unwrap();
        let g: [i32; 1] = [1];
        let (acc_addr, _) = acc.export().unwrap();
        assert_eq!(
            agg_merge(register, h, acc_addr as usize, oa as usize, g.as_ptr() as usize, r.as_mut_ptr() as usize),
            0,
            "{}",
            last_error()
        );
        let mut acc = copy(r[0]);
        let (acc_addr, _) = acc.export().unwrap();
        assert_eq!(agg_result(register, h, acc_addr as usize, r.as_mut_ptr() as usize), 0, "{}", last_error());
        let mut cols = Vec::new();
        let res = view(r[0], &res_schema, &mut cols);
        assert_eq!(res.i64(0).unwrap().iter().collect::<Vec<_>>(), [Some(201), Some(107), Some(110)]);
        assert_eq!(agg_create(register, h, 1 << 29, r.as_mut_ptr() as usize), 1);
        assert_eq!(last_error(), "sum: cannot create 536870912 accumulators");
    }

    #[test]
    fn plan_and_alloc() {
        let args = "--input\0in.txt\0";
        let mut r: Ret = [0; 16];
        assert_eq!(plan(register, args.as_ptr() as usize, args.len(), r.as_mut_ptr() as usize), 0, "{}", last_error());
        let js = unsafe { std::str::from_utf8(std::slice::from_raw_parts(r[0] as *const u8, r[1])) }.unwrap();
        assert!(js.contains(r#""params":{"path":"in.txt"}"#), "{}", js);
        let bad = "--nope\0";
        assert_eq!(plan(register, bad.as_ptr() as usize, bad.len(), r.as_mut_ptr() as usize), 1);
        assert_eq!(last_error(), "flag provided but not defined: --nope");

        let cases = [(0usize, 8usize, true), (100, 64, true), (1, 3, false), (8, 128, false), (5, 0, false)];
        for (size, align, ok) in cases {
            let p = alloc(size, align);
            assert_eq!(p != 0, ok, "alloc({}, {})", size, align);
            if ok {
                assert_eq!(p % align, 0);
                free(p, size, align);
            }
        }
    }

    #[test]
    fn panic_lines() {
        assert_eq!(
            panic_line("count", "index out of bounds", Some(("src/lib.rs", 7))),
            "count: panic: index out of bounds (at src/lib.rs:7)"
        );
        assert_eq!(panic_line("", "a\nb", None), "panic: a b");
    }
}
