// Number, size, duration and time formatting shared by every page.

const SI = ['', 'K', 'M', 'G', 'T', 'P'];

/** 1234 → "1.2 K", 1234567 → "1.2 M"; integers under 1000 as they are. */
export function fmtCount(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return '–';
  const neg = n < 0;
  let v = Math.abs(n);
  let i = 0;
  while (v >= 999.95 && i < SI.length - 1) {
    v /= 1000;
    i++;
  }
  let s: string;
  if (i === 0) s = Number.isInteger(v) ? String(v) : v < 10 ? v.toFixed(1) : v.toFixed(0);
  else s = (v < 10 ? v.toFixed(1) : v < 100 ? v.toFixed(1) : v.toFixed(0)) + ' ' + SI[i];
  return (neg ? '-' : '') + s;
}

/** Records per second: "1.2 M/s". */
export function fmtRate(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return '–';
  return fmtCount(n < 10 && n > 0 ? Math.round(n * 10) / 10 : Math.round(n)) + '/s';
}

const IEC = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Bytes: "3.4 MiB". */
export function fmtBytes(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n) || n < 0) return '–';
  let v = n;
  let i = 0;
  while (v >= 1023.95 && i < IEC.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${v} B`;
  const s = v < 100 ? v.toFixed(1) : v.toFixed(0);
  return `${s.endsWith('.0') ? s.slice(0, -2) : s} ${IEC[i]}`;
}

/** Milliseconds as "850 ms", "12.3s", "2m 13s", "1h 02m", "3d 4h". */
export function fmtDuration(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 && !Number.isInteger(s) ? s.toFixed(1) : Math.floor(s)}s`;
  const total = Math.floor(s);
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  return `${m}m ${String(sec).padStart(2, '0')}s`;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Epoch milliseconds as local "2026-12-06 01:45:20"; unset (≤ 0) as "–". */
export function fmtTime(ms: number | null | undefined): string {
  if (ms == null || ms <= 0) return '–';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Only the clock: "01:45:20.123" (for watermarks and history). */
export function fmtClock(ms: number | null | undefined, millis = false): string {
  if (ms == null || ms <= 0) return '–';
  const d = new Date(ms);
  const base = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return millis ? `${base}.${String(d.getMilliseconds()).padStart(3, '0')}` : base;
}

/** "3s ago" style age of a past epoch-ms timestamp, relative to now. */
export function fmtAgo(ms: number | null | undefined, now = Date.now()): string {
  if (ms == null || ms <= 0) return '–';
  return `${fmtDuration(Math.max(0, now - ms))} ago`;
}

/** Milliseconds per second as a percentage: 734 → "73%". */
export function fmtRatio(msPerSecond: number | null | undefined): string {
  if (msPerSecond == null || !Number.isFinite(msPerSecond)) return '–';
  return `${Math.round(msPerSecond / 10)}%`;
}

/** First characters of a long hexadecimal id. */
export function shortId(id: string, n = 8): string {
  return id.length > n ? id.slice(0, n) : id;
}

/** Splits a command line into arguments: whitespace separates, single and double quotes group, backslash escapes. */
export function splitArgs(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let q: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) {
      if (c === q) q = null;
      else if (c === '\\' && q === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      q = c;
      has = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has || cur) out.push(cur);
  return out;
}
