//! The tokenizer of the Go examples/wordcount, rule for rule: a word is a
//! maximal run of letters as Go's `unicode.IsLetter` defines them (so "café"
//! is one word), lower-cased with Go's `unicode.ToLower`; everything else
//! separates words; invalid UTF-8 decodes, as in Go, to U+FFFD one byte at a
//! time (not a letter). The Unicode tables are generated from Go's unicode
//! package (gen/tables.go), so both examples split and fold text alike.

use crate::unicode_tables::{LETTERS, LOWER};

/// Whether `r` is a letter (Go's `unicode.IsLetter`).
pub fn is_letter(r: u32) -> bool {
    if r < 0x80 {
        return ((r as u8) | 0x20).wrapping_sub(b'a') < 26;
    }
    LETTERS
        .binary_search_by(|&(lo, hi)| {
            if hi < r {
                std::cmp::Ordering::Less
            } else if lo > r {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// `r` lower-cased (Go's `unicode.ToLower`).
pub fn to_lower(r: u32) -> u32 {
    let i = LOWER.partition_point(|&(lo, _, _, _)| lo <= r);
    if i == 0 {
        return r;
    }
    let (lo, hi, stride, delta) = LOWER[i - 1];
    if r <= hi && (r - lo) % stride == 0 {
        (r as i64 + delta as i64) as u32
    } else {
        r
    }
}

const RUNE_ERROR: u32 = 0xFFFD;

/// Decodes the first character of `b` (non-empty) like Go's
/// `utf8.DecodeRune`: `(U+FFFD, 1)` for an invalid or short sequence.
pub fn decode_rune(b: &[u8]) -> (u32, usize) {
    let c0 = b[0];
    if c0 < 0x80 {
        return (c0 as u32, 1);
    }
    let (n, lo, hi) = match c0 {
        0xC2..=0xDF => (2, 0x80, 0xBF),
        0xE0 => (3, 0xA0, 0xBF),
        0xE1..=0xEC | 0xEE..=0xEF => (3, 0x80, 0xBF),
        0xED => (3, 0x80, 0x9F),
        0xF0 => (4, 0x90, 0xBF),
        0xF1..=0xF3 => (4, 0x80, 0xBF),
        0xF4 => (4, 0x80, 0x8F),
        _ => return (RUNE_ERROR, 1),
    };
    if b.len() < n || b[1] < lo || b[1] > hi || b[2..n].iter().any(|&c| c & 0xC0 != 0x80) {
        return (RUNE_ERROR, 1);
    }
    let mut r = (c0 as u32) & (0x7F >> n);
    for &c in &b[1..n] {
        r = r << 6 | (c & 0x3F) as u32;
    }
    (r, n)
}

fn ascii_letter(c: u8) -> bool {
    (c | 0x20).wrapping_sub(b'a') < 26
}

/// Splits text into words. It reuses its buffer; `Tokenizer::default()` is
/// ready to use.
#[derive(Default)]
pub struct Tokenizer {
    buf: String,
}

impl Tokenizer {
    /// Calls `emit` for each word of `line`, in order. The word is only
    /// valid during the call.
    pub fn words<F: FnMut(&str)>(&mut self, line: &[u8], mut emit: F) {
        let mut i = 0;
        while i < line.len() {
            let c = line[i];
            if c < 0x80 {
                // ASCII: the common case, no decoding.
                if !ascii_letter(c) {
                    i += 1;
                    continue;
                }
                let mut j = i + 1;
                while j < line.len() && ascii_letter(line[j]) {
                    j += 1;
                }
                if j == line.len() || line[j] < 0x80 {
                    self.buf.clear();
                    self.buf.extend(line[i..j].iter().map(|&c| (c | 0x20) as char));
                    emit(&self.buf);
                    i = j;
                    continue;
                }
                // The word may go on with non-ASCII letters: slow path.
            }
            let (r, size) = decode_rune(&line[i..]);
            if !is_letter(r) {
                i += size;
                continue;
            }
            self.buf.clear();
            while i < line.len() {
                let (r, size) = decode_rune(&line[i..]);
                if !is_letter(r) {
                    break;
                }
                // Letters are valid scalar values, and so are their lower cases.
                self.buf.push(char::from_u32(to_lower(r)).unwrap_or('\u{FFFD}'));
                i += size;
            }
            emit(&self.buf);
        }
    }
}

/// The words of `line` (see [`Tokenizer`]).
pub fn words(line: &str) -> Vec<String> {
    let mut t = Tokenizer::default();
    let mut out = Vec::new();
    t.words(line.as_bytes(), |w| out.push(w.to_string()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_like_the_go_example() {
        // The cases of examples/wordcount/wordcount_test.go TestWords.
        let cases: Vec<(&[u8], Vec<&str>)> = vec![
            (b"", vec![]),
            (b"   ,;!", vec![]),
            (b"Hello, World!", vec!["hello", "world"]),
            (b"it's 42nd-street", vec!["it", "s", "nd", "street"]),
            ("Café CRÈME brûlée".as_bytes(), vec!["café", "crème", "brûlée"]),
            ("ÉCOLE über".as_bytes(), vec!["école", "über"]),
            ("naïve—résumé".as_bytes(), vec!["naïve", "résumé"]),
            ("日本語 text".as_bytes(), vec!["日本語", "text"]),
            (b"a\tb\nc", vec!["a", "b", "c"]),
            (b"\xff\xfeabc", vec!["abc"]),
        ];
        let mut t = Tokenizer::default();
        for (line, want) in cases {
            let mut got = Vec::new();
            t.words(line, |w| got.push(w.to_string()));
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn go_unicode_rules() {
        // IsLetter is the L category (not Rust's wider Alphabetic):
        // U+0345 (combining ypogegrammeni, Mn) and U+2160 (Roman numeral
        // one, Nl) are alphabetic but not letters.
        let letters = [
            ('a', true),
            ('Z', true),
            ('é', true),
            ('ß', true),
            ('日', true),
            ('\u{0345}', false),
            ('\u{2160}', false),
            ('1', false),
            ('_', false),
            ('\u{FFFD}', false),
        ];
        for (c, want) in letters {
            assert_eq!(is_letter(c as u32), want, "{:?}", c);
        }
        // ToLower is one code point to one code point: İ (U+0130) is i,
        // where Rust's to_lowercase gives "i\u{307}".
        let lower = [
            ('A', 'a'),
            ('a', 'a'),
            ('É', 'é'),
            ('\u{0130}', 'i'),
            ('Σ', 'σ'),
            ('Ā', 'ā'),
            ('ā', 'ā'),
            ('Ω', 'ω'),
            ('\u{1E9E}', 'ß'),
            ('𐐀', '𐐨'),
        ];
        for (c, want) in lower {
            assert_eq!(to_lower(c as u32), want as u32, "{:?}", c);
        }
    }

    #[test]
    fn decode_like_go() {
        let cases: Vec<(&[u8], (u32, usize))> = vec![
            (b"a", (0x61, 1)),
            ("é".as_bytes(), (0xE9, 2)),
            ("€".as_bytes(), (0x20AC, 3)),
            ("💥".as_bytes(), (0x1F4A5, 4)),
            (b"\xC0\x80", (RUNE_ERROR, 1)),         // overlong
            (b"\xED\xA0\x80", (RUNE_ERROR, 1)),     // surrogate
            (b"\xF4\x90\x80\x80", (RUNE_ERROR, 1)), // past U+10FFFF
            (b"\xE2\x82", (RUNE_ERROR, 1)),         // short
            (b"\xFF", (RUNE_ERROR, 1)),
        ];
        for (b, want) in cases {
            assert_eq!(decode_rune(b), want, "{:?}", b);
        }
    }
}
