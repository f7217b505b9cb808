//! Logging through the `weir.log` host import (SPEC §6).

use std::fmt;

/// The severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Debug (0).
    Debug = 0,
    /// Info (1).
    Info = 1,
    /// Warn (2).
    Warn = 2,
    /// Error (3).
    Error = 3,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        })
    }
}

/// Writes `msg` to the host's structured log at `level` (the `weir.log`
/// import), with the job, task and module as attributes. Log lines count
/// against the call's output budget (1 MiB by default). Outside wasm it
/// writes to standard error.
pub fn log(level: Level, msg: &str) {
    crate::ffi::host_log(level as i32, msg);
}

/// Logs at debug level, formatting like `format!`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log($crate::Level::Debug, &::std::format!($($arg)*)) };
}

/// Logs at info level, formatting like `format!`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log($crate::Level::Info, &::std::format!($($arg)*)) };
}

/// Logs at warn level, formatting like `format!`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log($crate::Level::Warn, &::std::format!($($arg)*)) };
}

/// Logs at error level, formatting like `format!` (to fail a call, return
/// an [`Error`](crate::Error) instead).
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log($crate::Level::Error, &::std::format!($($arg)*)) };
}
