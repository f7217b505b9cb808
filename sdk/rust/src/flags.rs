//! Program arguments and a small flag parser for plan functions.

use std::fmt::{self, Display};
use std::ops::Deref;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The program arguments passed to `weir_plan` (`weir run JOB.wasm -- ARGS`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    list: Vec<String>,
}

impl Args {
    /// Arguments from a list.
    pub fn new(list: Vec<String>) -> Args {
        Args { list }
    }

    /// Parses the ABI form: each argument followed by one NUL byte.
    pub(crate) fn from_nul_separated(text: &str) -> Args {
        if text.is_empty() {
            return Args::default();
        }
        let text = text.strip_suffix('\0').unwrap_or(text);
        Args { list: text.split('\0').map(str::to_string).collect() }
    }

    /// The arguments as a slice.
    pub fn as_slice(&self) -> &[String] {
        &self.list
    }
}

impl Deref for Args {
    type Target = [String];
    fn deref(&self) -> &[String] {
        &self.list
    }
}

/// Sets a flag's target from its text.
type Setter<'a> = Box<dyn FnMut(&str) -> Result<()> + 'a>;

struct FlagDef<'a> {
    name: String,
    usage: String,
    default: String,
    is_bool: bool,
    set: Setter<'a>,
}

/// Parses flags like Go's `flag` package (and the Go SDK's plans):
/// `--name value`, `--name=value`, `-name value`, `-name=value`; bool flags
/// take no value (`--verbose`, or `--verbose=false`). Parsing stops at the
/// first argument that is not a flag, or after `--`; the rest is returned.
///
/// ```
/// # use weir::Flags;
/// let mut input = String::new();
/// let mut parallelism = 1u32;
/// let rest = Flags::new("wordcount")
///     .string("input", &mut input, "text file to count (required)")
///     .value("parallelism", &mut parallelism, "parallelism of the job")
///     .parse(&["--input", "book.txt", "-parallelism=4", "extra"])?;
/// assert_eq!((input.as_str(), parallelism, rest), ("book.txt", 4, vec!["extra".to_string()]));
/// # Ok::<(), weir::Error>(())
/// ```
///
/// Targets keep their value unless the flag is given, so initialise them
/// with the defaults. Errors read `flag provided but not defined: --x` and
/// `invalid value "x" for flag --parallelism: invalid digit found in
/// string`; `-h`/`--help` fails with the usage text.
pub struct Flags<'a> {
    program: String,
    defs: Vec<FlagDef<'a>>,
}

impl fmt::Debug for Flags<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.usage())
    }
}

impl<'a> Flags<'a> {
    /// A parser for the program called `program` (used in the usage text).
    pub fn new(program: &str) -> Flags<'a> {
        Flags { program: program.to_string(), defs: Vec::new() }
    }

    /// A string flag.
    pub fn string(self, name: &str, target: &'a mut String, usage: &str) -> Flags<'a> {
        let default = format!("{:?}", target);
        self.def(
            name,
            usage,
            default,
            false,
            Box::new(move |v: &str| {
                *target = v.to_string();
                Ok(())
            }),
        )
    }

    /// A flag parsed with `FromStr` (numbers and the like).
    pub fn value<T>(self, name: &str, target: &'a mut T, usage: &str) -> Flags<'a>
    where
        T: FromStr + Display + 'a,
        T::Err: Display,
    {
        let default = target.to_string();
        self.def(
            name,
            usage,
            default,
            false,
            Box::new(move |v: &str| {
                *target = v.parse::<T>().map_err(|e| Error::new(e.to_string()))?;
                Ok(())
            }),
        )
    }

    /// A bool flag: present means true; `--name=false` sets false.
    pub fn bool(self, name: &str, target: &'a mut bool, usage: &str) -> Flags<'a> {
        let default = target.to_string();
        self.def(
            name,
            usage,
            default,
            true,
            Box::new(move |v: &str| {
                *target = match v {
                    "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
                    "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
                    _ => crate::bail!("not a bool"),
                };
                Ok(())
            }),
        )
    }

    fn def(mut self, name: &str, usage: &str, default: String, is_bool: bool, set: Setter<'a>) -> Flags<'a> {
        self.defs.push(FlagDef { name: name.to_string(), usage: usage.to_string(), default, is_bool, set });
        self
    }

    /// The usage text: one line per flag with its default.
    pub fn usage(&self) -> String {
        let mut s = format!("usage of {}:", self.program);
        for d in &self.defs {
            s.push_str(&format!("\n  --{}  {} (default {})", d.name, d.usage, d.default));
        }
        s
    }

    /// Parses `args`, setting the targets of the flags given, and returns
    /// the arguments after the flags.
    pub fn parse<S: AsRef<str>>(mut self, args: &[S]) -> Result<Vec<String>> {
        let mut i = 0;
        while i < args.len() {
            let a = args[i].as_ref();
            if a.len() < 2 || !a.starts_with('-') {
                break;
            }
            i += 1;
            if a == "--" {
                break;
            }
            let body = a.strip_prefix("--").unwrap_or(&a[1..]);
            if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
                crate::bail!("bad flag syntax: {}", a);
            }
            let (name, inline) = match body.find('=') {
                Some(k) => (&body[..k], Some(&body[k + 1..])),
                None => (body, None),
            };
            let usage = self.usage();
            let def = match self.defs.iter_mut().find(|d| d.name == name) {
                Some(d) => d,
                None if name == "h" || name == "help" => return Err(Error::new(usage)),
                None => crate::bail!(
                    "flag provided but not defined: -{}{}",
                    if a.starts_with("--") { "-" } else { "" },
                    name
                ),
            };
            let value = match inline {
                Some(v) => v,
                None if def.is_bool => "true",
                None => {
                    if i >= args.len() {
                        crate::bail!("flag needs an argument: --{}", name);
                    }
                    i += 1;
                    args[i - 1].as_ref()
                }
            };
            (def.set)(value).map_err(|e| crate::err!("invalid value {:?} for flag --{}: {}", value, name, e))?;
        }
        Ok(args[i..].iter().map(|s| s.as_ref().to_string()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Opts {
        input: String,
        n: i64,
        rate: f64,
        verbose: bool,
    }

    fn parse(args: &[&str]) -> Result<(Opts, Vec<String>)> {
        let mut o = Opts { input: String::new(), n: 1, rate: 0.5, verbose: false };
        let rest = Flags::new("t")
            .string("input", &mut o.input, "file")
            .value("n", &mut o.n, "count")
            .value("rate", &mut o.rate, "rate")
            .bool("verbose", &mut o.verbose, "talk")
            .parse(args)?;
        Ok((o, rest))
    }

    #[test]
    fn parses_like_go_flag() {
        let opts = |input: &str, n: i64, rate: f64, verbose: bool| Opts { input: input.to_string(), n, rate, verbose };
        let cases: Vec<(Vec<&str>, Opts, Vec<&str>)> = vec![
            (vec![], opts("", 1, 0.5, false), vec![]),
            (vec!["--input", "a.txt", "--n", "3"], opts("a.txt", 3, 0.5, false), vec![]),
            (vec!["-input=b", "-n=-4", "--rate=2"], opts("b", -4, 2.0, false), vec![]),
            (vec!["--verbose", "x", "--n", "2"], opts("", 1, 0.5, true), vec!["x", "--n", "2"]),
            (vec!["--verbose=false", "--", "--n"], opts("", 1, 0.5, false), vec!["--n"]),
            (vec!["--input", "--n"], opts("--n", 1, 0.5, false), vec![]),
            (vec!["-", "--n", "2"], opts("", 1, 0.5, false), vec!["-", "--n", "2"]),
        ];
        for (args, want, rest) in cases {
            let (got, got_rest) = parse(&args).unwrap_or_else(|e| panic!("{:?}: {}", args, e));
            assert_eq!(got, want, "{:?}", args);
            assert_eq!(got_rest, rest, "{:?}", args);
        }
    }

    #[test]
    fn errors() {
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["--x"], "flag provided but not defined: --x"),
            (vec!["-x=1"], "flag provided but not defined: -x"),
            (vec!["--n", "x"], "invalid value \"x\" for flag --n: invalid digit found in string"),
            (vec!["--verbose=maybe"], "invalid value \"maybe\" for flag --verbose: not a bool"),
            (vec!["--n"], "flag needs an argument: --n"),
            (vec!["---n"], "bad flag syntax: ---n"),
            (vec!["--help"], "usage of t:\n  --input  file (default \"\")\n  --n  count (default 1)"),
        ];
        for (args, want) in cases {
            let e = parse(&args).unwrap_err();
            assert!(e.message().starts_with(want), "{:?}: {:?}", args, e.message());
        }
    }

    #[test]
    fn nul_separated() {
        assert!(Args::from_nul_separated("").is_empty());
        assert_eq!(&*Args::from_nul_separated("a\0b c\0\0"), &["a".to_string(), "b c".to_string(), String::new()]);
        assert_eq!(&*Args::from_nul_separated("--x\0"), &["--x".to_string()]);
    }
}
