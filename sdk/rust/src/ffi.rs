//! The Arrow C Data Interface structures (SPEC §4.1) and the host imports
//! (SPEC §6).
//!
//! The structures are declared with pointer fields and `#[repr(C)]`: compiled
//! for wasm32 they have exactly the layout of SPEC §4.1 (pointers are 4
//! bytes; checked below), and compiled natively they are the standard 64-bit
//! C Data Interface, so the whole ABI layer runs in native unit tests with
//! real pointers.

use std::ffi::c_void;

/// `ArrowSchema` (48 bytes on wasm32).
#[repr(C)]
pub(crate) struct ArrowSchema {
    pub format: *const u8,
    pub name: *const u8,
    pub metadata: *const u8,
    pub flags: i64,
    pub n_children: i64,
    pub children: *const *const ArrowSchema,
    pub dictionary: *const ArrowSchema,
    pub release: usize,
    pub private_data: *mut c_void,
}

/// `ArrowArray` (64 bytes on wasm32, 60 used).
#[repr(C)]
pub(crate) struct ArrowArray {
    pub length: i64,
    pub null_count: i64,
    pub offset: i64,
    pub n_buffers: i64,
    pub n_children: i64,
    pub buffers: *const *const u8,
    pub children: *const *const ArrowArray,
    pub dictionary: *const ArrowArray,
    pub release: usize,
    pub private_data: *mut c_void,
}

pub(crate) const FLAG_NULLABLE: i64 = 2;

/// Written into `release` of exported structures: the host ignores it
/// (SPEC §4.1), but non-zero marks a live structure in C Data terms.
pub(crate) const RELEASE_MARK: usize = 1;

#[cfg(target_arch = "wasm32")]
const _: () = {
    assert!(std::mem::size_of::<ArrowSchema>() == 48);
    assert!(std::mem::align_of::<ArrowSchema>() == 8);
    assert!(std::mem::size_of::<ArrowArray>() == 64);
    assert!(std::mem::align_of::<ArrowArray>() == 8);
    assert!(std::mem::size_of::<usize>() == 4);
};

impl ArrowArray {
    pub(crate) const EMPTY: ArrowArray = ArrowArray {
        length: 0,
        null_count: 0,
        offset: 0,
        n_buffers: 0,
        n_children: 0,
        buffers: std::ptr::null(),
        children: std::ptr::null(),
        dictionary: std::ptr::null(),
        release: RELEASE_MARK,
        private_data: std::ptr::null_mut(),
    };
}

/// Reads the NUL-terminated string at `p` (at most 64 KiB), lossily.
///
/// # Safety
///
/// `p` must be NULL or point to readable memory holding a NUL within 64 KiB.
pub(crate) unsafe fn c_string(p: *const u8) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut n = 0usize;
    while n < 1 << 16 && *p.add(n) != 0 {
        n += 1;
    }
    String::from_utf8_lossy(std::slice::from_raw_parts(p, n)).into_owned()
}

/// The `(ptr, len)` text passed by the host, lossily as UTF-8.
///
/// # Safety
///
/// `p` must point to `len` readable bytes (or `len` be 0).
pub(crate) unsafe fn host_text(p: usize, len: usize) -> String {
    if len == 0 || p == 0 {
        return String::new();
    }
    String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, len)).into_owned()
}

// Host imports. Outside wasm, and in the SDK's own test binaries (which run
// as WASI commands without a Weir host), they are emulated: errors are
// recorded per thread and log lines go to standard error and a per-thread
// buffer.

#[cfg(all(target_arch = "wasm32", not(test)))]
mod imports {
    #[link(wasm_import_module = "weir")]
    extern "C" {
        #[link_name = "error"]
        fn weir_error(msg: *const u8, len: usize);
        #[link_name = "log"]
        fn weir_log(level: i32, msg: *const u8, len: usize);
    }

    pub(crate) fn error(msg: &str) {
        // SAFETY: the host reads len bytes at msg during the call.
        unsafe { weir_error(msg.as_ptr(), msg.len()) }
    }

    pub(crate) fn log(level: i32, msg: &str) {
        // SAFETY: as above.
        unsafe { weir_log(level, msg.as_ptr(), msg.len()) }
    }
}

#[cfg(any(not(target_arch = "wasm32"), test))]
pub(crate) mod imports {
    use std::cell::RefCell;

    thread_local! {
        pub(crate) static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
        pub(crate) static LOGS: RefCell<Vec<(i32, String)>> = const { RefCell::new(Vec::new()) };
    }

    pub(crate) fn error(msg: &str) {
        LAST_ERROR.with(|e| *e.borrow_mut() = Some(msg.to_string()));
    }

    pub(crate) fn log(level: i32, msg: &str) {
        eprintln!("weir log {}: {}", level, msg);
        LOGS.with(|l| l.borrow_mut().push((level, msg.to_string())));
    }
}

pub(crate) use imports::{error as host_error, log as host_log};
