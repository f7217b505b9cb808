// Host imports (abi/SPEC.md §6), the call's error, logging, and the
// handlers asc's --use points abort, trace and seed at.

// @ts-ignore: decorator
@external("weir", "error")
declare function importError(msg: usize, len: usize): void;

// @ts-ignore: decorator
@external("weir", "log")
declare function importLog(level: i32, msg: usize, len: usize): void;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
declare function wasiRandomGet(buf: usize, len: usize): u16;

/** Log levels of weir.log. */
export enum Level {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
}

/** Writes msg to the host log at the given level (the weir.log import). */
export function logAt(level: Level, msg: string): void {
  const len = String.UTF8.byteLength(msg);
  const buf = heap.alloc(max<usize>(<usize>len, 1));
  String.UTF8.encodeUnsafe(changetype<usize>(msg), msg.length, buf);
  importLog(<i32>level, buf, <usize>len);
  heap.free(buf);
}

/** Logging through the host's structured log (weir.log). */
export namespace log {
  export function debug(msg: string): void { logAt(Level.Debug, msg); }
  export function info(msg: string): void { logAt(Level.Info, msg); }
  export function warn(msg: string): void { logAt(Level.Warn, msg); }
  export function error(msg: string): void { logAt(Level.Error, msg); }
}

/** The error of the current export call, set by fail(). */
let pending: string | null = null;

/**
 * Fails the current call (open, a batch function or the plan function) with
 * msg as its message. The function should return right after; the SDK
 * checks for the failure when it returns and reports it through weir.error
 * with status 1. The first failure of a call wins.
 */
export function fail(msg: string): void {
  if (pending === null) pending = msg;
}

/** Whether fail() was called during the current call. */
export function failed(): bool {
  return pending !== null;
}

/** Takes the pending error (null if none) and clears it. */
export function takeError(): string | null {
  const e = pending;
  pending = null;
  return e;
}

/** Sends msg to the host as the current call's error message (weir.error). */
export function hostError(msg: string): void {
  const len = String.UTF8.byteLength(msg);
  const buf = heap.alloc(max<usize>(<usize>len, 1));
  String.UTF8.encodeUnsafe(changetype<usize>(msg), msg.length, buf);
  importError(buf, <usize>len);
  heap.free(buf);
}

/**
 * The abort handler (asc --use abort=...): assertion failures, out of range
 * indexes, `throw` and the SDK's own checks of programming errors end here.
 * AssemblyScript cannot unwind, so after reporting the message through
 * weir.log and weir.error it traps; the host then discards the instance.
 */
export function weirAbort(msg: string | null = null, file: string | null = null, line: u32 = 0, column: u32 = 0): void {
  let m = msg === null ? "abort" : msg;
  let where = "";
  if (file !== null) where = " (" + file + ":" + line.toString() + ":" + column.toString() + ")";
  logAt(Level.Error, "abort: " + m + where);
  hostError(m + where);
  unreachable();
}

/** The trace handler (asc --use trace=...): a debug log line. */
export function weirTrace(msg: string, n: i32 = 0, a0: f64 = 0, a1: f64 = 0, a2: f64 = 0, a3: f64 = 0, a4: f64 = 0): void {
  let s = "trace: " + msg;
  if (n > 0) s += " " + a0.toString();
  if (n > 1) s += ", " + a1.toString();
  if (n > 2) s += ", " + a2.toString();
  if (n > 3) s += ", " + a3.toString();
  if (n > 4) s += ", " + a4.toString();
  logAt(Level.Debug, s);
}

/**
 * The seed handler (asc --use seed=...) of Math.random: 8 bytes from WASI
 * random_get, which the host's sandbox serves (deterministically seeded unless
 * the job enables real randomness). Only imported if Math.random is used.
 */
export function weirSeed(): f64 {
  const buf = heap.alloc(8);
  wasiRandomGet(buf, 8);
  const bits = load<u64>(buf);
  heap.free(buf);
  return reinterpret<f64>((bits >> 12) | 0x3ff0000000000000);
}
