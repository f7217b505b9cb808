//! The error type of the SDK and of user functions.

use std::fmt;

/// The error of every fallible SDK call and of user operator functions.
///
/// It is a message: when an operator function returns `Err(e)`, the SDK
/// reports `e`'s message to the host through the ABI's error mechanism
/// (`weir.error` and status 1) and the call fails with it. Any standard error
/// converts into an `Error` with `?`, so `s.parse::<f64>()?` works in a
/// function returning [`Result`].
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    msg: String,
}

/// `Result<T, weir::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with the given message.
    pub fn new(msg: impl Into<String>) -> Error {
        Error { msg: msg.into() }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.msg
    }

    /// Returns the error with `prefix: ` put before its message.
    pub fn context(self, prefix: impl fmt::Display) -> Error {
        Error { msg: format!("{}: {}", prefix, self.msg) }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "weir::Error({:?})", self.msg)
    }
}

// Error deliberately does not implement std::error::Error, so that this
// blanket conversion (which makes `?` work on any standard error) does not
// overlap with `From<T> for T`.
impl<E: std::error::Error> From<E> for Error {
    fn from(e: E) -> Error {
        Error::new(e.to_string())
    }
}

impl From<Error> for String {
    fn from(e: Error) -> String {
        e.msg
    }
}

/// Adds context to errors: `"7x".parse::<i64>().context("params")?` fails
/// with `params: invalid digit found in string`.
pub trait Context<T> {
    /// Prefixes the error, if any, with `prefix: `.
    fn context(self, prefix: impl fmt::Display) -> Result<T>;
    /// Like [`Context::context`], computing the prefix only on error.
    fn with_context<D: fmt::Display, F: FnOnce() -> D>(self, prefix: F) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, prefix: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().context(prefix))
    }
    fn with_context<D: fmt::Display, F: FnOnce() -> D>(self, prefix: F) -> Result<T> {
        self.map_err(|e| e.into().context(prefix()))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, msg: impl fmt::Display) -> Result<T> {
        self.ok_or_else(|| Error::new(msg.to_string()))
    }
    fn with_context<D: fmt::Display, F: FnOnce() -> D>(self, msg: F) -> Result<T> {
        self.ok_or_else(|| Error::new(msg().to_string()))
    }
}

/// Builds an [`Error`] from a format string: `weir::err!("bad rate {:?}", s)`.
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => { $crate::Error::new(::std::format!($($arg)*)) };
}

/// Returns early with an [`Error`] built from a format string:
/// `weir::bail!("rate {:?} is not a positive number", s)`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return ::std::result::Result::Err($crate::err!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_rate(s: &str) -> Result<f64> {
        let r: f64 = s.parse().context(format!("rate {:?}", s))?;
        if r <= 0.0 {
            crate::bail!("rate {} is not positive", r);
        }
        Ok(r)
    }

    #[test]
    fn conversions_and_context() {
        let cases: &[(&str, std::result::Result<f64, &str>)] = &[
            ("1.5", Ok(1.5)),
            ("x", Err("rate \"x\": invalid float literal")),
            ("-2", Err("rate -2 is not positive")),
        ];
        for (input, want) in cases {
            let got = parse_rate(input);
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, *w, "{}", input),
                (Err(g), Err(w)) => assert_eq!(g.message(), *w, "{}", input),
                (g, w) => panic!("parse_rate({:?}) = {:?}, want {:?}", input, g, w),
            }
        }
        let none: Option<u8> = None;
        assert_eq!(none.context("missing").unwrap_err().to_string(), "missing");
        assert_eq!(crate::err!("a {}", 1).context("b").message(), "b: a 1");
    }
}
