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
use crate::operator::{AggregateFunction, Factory, FilterFunction, Kind, MapFunction, Operator, ProcessFunction, Registry};
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
    static MODULE: RefCell<Option<Module>> = RefCell::new(None);
    /// The function being run, for panic messages.
    static CURRENT: RefCell<String> = RefCell::new(String::new());
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

#[cfg(target_arch = "wasm32")]
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

#[cfg(not(target_arch = "wasm32"))]
fn install_panic_hook() {}

/// The stderr line reporting a panic.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn panic_line(function: &str, payload: &str, loc: Option<(&str, u32)>) -> String {
    let mut s = if function.is_empty() { format!("panic: {}", payload) } else { format!("{}: panic: {}", function, payload) };
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
            let f = m
                .registry
                .plan
                .as_ref()
                .ok_or_else(|| Error::new("this module defines no plan (call Registry::plan in the registration function)"))?;
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

fn open_in(m: &mut Module, kind: u32, fname: &str, params: usize, params_len: usize, in_schema: usize, ret: usize) -> Result<()> {
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
        _schemas: Vec::new(),
    });
    let addrs: Vec<usize> = schemas.iter().map(ExportedSchema::addr).collect();
    let mut inst = inst;
    inst._schemas = schemas;
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
            let (n, _, _) = unsafe { load_struct(input, schema, in_cols, "input batch") }.map_err(|e| e.context(&*name))?;
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
            let (n, _, _) = unsafe { load_struct(input, schema, in_cols, "input batch") }.map_err(|e| e.context(&*name))?;
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
            let (n, _, _) = unsafe { load_struct(input, schema, in_cols, "input batch") }.map_err(|e| e.context(&*name))?;
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
            let (n, _, _) = unsafe { load_struct(input, schema, in_cols, "input batch") }.map_err(|e| e.context(&*name))?;
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
