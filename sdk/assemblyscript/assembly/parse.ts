// Strict parsing of numeric parameters: plain decimal text only.

/** Whether s is plain decimal text: [+-]digits[.digits][(e|E)[+-]digits], or digits after/before the point. */
function isDecimal(s: string, allowFraction: bool): bool {
  const n = s.length;
  let i = 0;
  if (i < n && (s.charCodeAt(i) == 0x2b || s.charCodeAt(i) == 0x2d)) i++;
  let digits = 0;
  while (i < n && isDigit(s.charCodeAt(i))) { i++; digits++; }
  if (allowFraction && i < n && s.charCodeAt(i) == 0x2e) {
    i++;
    while (i < n && isDigit(s.charCodeAt(i))) { i++; digits++; }
  }
  if (digits == 0) return false;
  if (allowFraction && i < n && (s.charCodeAt(i) | 0x20) == 0x65) {
    i++;
    if (i < n && (s.charCodeAt(i) == 0x2b || s.charCodeAt(i) == 0x2d)) i++;
    let ed = 0;
    while (i < n && isDigit(s.charCodeAt(i))) { i++; ed++; }
    if (ed == 0) return false;
  }
  return i == n;
}

@inline function isDigit(c: i32): bool { return <u32>(c - 0x30) < 10; }

/** The result of a parse: ok, or not with the value unset. */
export class Parsed<T> {
  constructor(public ok: bool, public value: T) {}
}

/**
 * Parses decimal text ("-12", "0.908", "1e-3", surrounding spaces allowed)
 * as f64, correctly rounded. Infinities, NaN, hex and empty text are refused.
 */
export function parseF64(text: string): Parsed<f64> {
  const s = text.trim();
  if (!isDecimal(s, true)) return new Parsed<f64>(false, 0);
  return new Parsed<f64>(true, parseFloat(s));
}

/** Parses decimal integer text ("-12", spaces allowed) as i64, refusing overflow. */
export function parseI64(text: string): Parsed<i64> {
  const s = text.trim();
  if (!isDecimal(s, false)) return new Parsed<i64>(false, 0);
  let i = 0;
  let neg = false;
  if (s.charCodeAt(0) == 0x2d) { neg = true; i++; } else if (s.charCodeAt(0) == 0x2b) i++;
  // Accumulate the magnitude as u64; the limit is 2^63 for negatives.
  const limit: u64 = neg ? 0x8000000000000000 : 0x7fffffffffffffff;
  let v: u64 = 0;
  for (; i < s.length; i++) {
    const d = <u64>(s.charCodeAt(i) - 0x30);
    if (v > (limit - d) / 10) return new Parsed<i64>(false, 0);
    v = v * 10 + d;
  }
  return new Parsed<i64>(true, neg ? <i64>(0 - v) : <i64>v);
}
