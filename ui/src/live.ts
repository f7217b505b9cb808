// Live data: every page reads the REST API through useLive(path). The paths
// watched by the mounted components are streamed by one EventSource on
// GET /events?watch=...; while that stream is unavailable (an older
// JobManager without /events, a failover, a proxy that buffers), the same
// paths are polled every second instead. Answers are cached per path, so
// moving between pages shows the last answer at once. Requests carry the
// session's token (auth.ts): the polls in the Authorization header, the
// stream as ?access_token= (EventSource cannot set headers); a new token
// (sign in, sign out) forgets the cached answers and reopens the stream.

import { useEffect, useState } from 'preact/hooks';
import { apiURL, errorMessages } from './api';
import { authHeaders, onTokenChange, token, unauthorized } from './auth';
import { useListeners } from './notify';

export interface Entry<T> {
  /** The last good answer (kept while later requests fail). */
  data?: T;
  /** The HTTP status of the last answer, 0 when the server did not answer. */
  status?: number;
  /** The messages of the last failed answer; cleared by a good one. */
  error?: string[];
  /** When the last answer arrived (Date.now()). */
  at?: number;
}

export type Mode = 'connecting' | 'stream' | 'polling' | 'offline';

type Listener = () => void;

const POLL_MS = 1000;
const SSE_RETRY_MS = 15000;
const CACHE_LIMIT = 40;

const cache = new Map<string, Entry<unknown>>();
const listeners = new Map<string, Set<Listener>>();
const refs = new Map<string, number>();
const inflight = new Set<string>();
const modeListeners = new Set<Listener>();

let mode: Mode = 'connecting';
let es: EventSource | null = null;
let esKey = '';
let sseDisabledUntil = 0;
let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
let downSince = 0;
let lastOk = 0;

// Set window.__WEIR_PERF__ = [] before the app starts to record, per
// streamed update, the time from its arrival to the end of its re-render
// (the e2e performance test does).
const perf = (globalThis as { __WEIR_PERF__?: { path: string; ms: number; at: number }[] }).__WEIR_PERF__;

function setMode(m: Mode) {
  if (m === mode) return;
  mode = m;
  modeListeners.forEach((l) => l());
}

export function currentMode(): Mode {
  return mode;
}

export function lastAnswer(): number {
  return lastOk;
}

function publish(path: string, e: Entry<unknown>) {
  cache.delete(path);
  cache.set(path, e);
  if (cache.size > CACHE_LIMIT) {
    for (const k of cache.keys()) {
      if (cache.size <= CACHE_LIMIT) break;
      if (!refs.get(k)) cache.delete(k);
    }
  }
  listeners.get(path)?.forEach((l) => l());
}

function accept(path: string, status: number, body: unknown, text?: string) {
  const prev = cache.get(path) ?? {};
  const now = Date.now();
  lastOk = now;
  if (status >= 200 && status < 300) publish(path, { data: body, status, at: now });
  else {
    const msgs =
      body && typeof body === 'object' && Array.isArray((body as { errors?: unknown }).errors)
        ? ((body as { errors: unknown[] }).errors.map(String) as string[])
        : errorMessages(status, text ?? JSON.stringify(body ?? ''));
    publish(path, { data: prev.data, status, error: msgs, at: now });
  }
}

/** Fetches a path once and publishes the answer. */
export async function refresh(path: string): Promise<void> {
  if (inflight.has(path)) return;
  inflight.add(path);
  const tok = token();
  try {
    const res = await fetch(apiURL(path), { headers: { Accept: 'application/json', ...authHeaders(tok) }, cache: 'no-store' });
    const text = await res.text();
    if (tok !== token()) return; // sent before a sign-in or sign-out: not this session's
    const t0 = perf ? performance.now() : 0;
    let body: unknown = undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    accept(path, res.status, body, text);
    if (res.status === 401) unauthorized(tok, cache.get(path)?.error ?? []);
    if (perf) queueMicrotask(() => perf!.push({ path, ms: performance.now() - t0, at: t0 }));
  } catch (e) {
    if (tok !== token()) return;
    const prev = cache.get(path) ?? {};
    publish(path, { data: prev.data, status: 0, error: [`The JobManager did not answer (${(e as Error).message}).`], at: prev.at });
  } finally {
    inflight.delete(path);
  }
}

// --- server-sent events -------------------------------------------------

function watched(): string[] {
  return [...refs.keys()].filter((k) => (refs.get(k) ?? 0) > 0).sort();
}

function closeStream() {
  if (es) {
    es.onopen = es.onerror = null;
    es.close();
  }
  es = null;
  esKey = '';
}

function openStream() {
  clearTimeout(reconnectTimer);
  reconnectTimer = undefined;
  const paths = watched();
  const tok = token();
  const key = paths.join('\n') + (tok ? '\n#' + tok : '');
  if (typeof EventSource === 'undefined' || Date.now() < sseDisabledUntil) {
    closeStream();
    if (mode !== 'offline') setMode('polling');
    return;
  }
  if (key === esKey && es && es.readyState !== EventSource.CLOSED) return;
  closeStream();
  if (!paths.length) return;
  const q = paths.map((p) => 'watch=' + encodeURIComponent(p)).join('&') + (tok ? '&access_token=' + encodeURIComponent(tok) : '');
  const s = new EventSource(apiURL('/events') + '?' + q);
  es = s;
  esKey = key;
  s.addEventListener('update', (ev) => {
    if (s !== es) return;
    const t0 = perf ? performance.now() : 0;
    let msg: { path: string; status: number; body: unknown };
    try {
      msg = JSON.parse((ev as MessageEvent).data);
    } catch {
      return;
    }
    downSince = 0;
    if (mode !== 'stream') setMode('stream');
    accept(msg.path, msg.status, msg.body);
    // Preact renders in a microtask queued by accept(); this one runs after it.
    if (perf) queueMicrotask(() => perf!.push({ path: msg.path, ms: performance.now() - t0, at: t0 }));
  });
  s.onopen = () => {
    if (s !== es) return;
    downSince = 0;
    setMode('stream');
  };
  s.onerror = () => {
    if (s !== es) return;
    if (!downSince) downSince = Date.now();
    if (s.readyState === EventSource.CLOSED) {
      // Not an event stream (404 from an older JobManager, a 400 for a
      // path it refuses): poll, and try the stream again later.
      closeStream();
      sseDisabledUntil = Date.now() + SSE_RETRY_MS;
      setMode('polling');
      reconnectTimer = setTimeout(openStream, SSE_RETRY_MS);
    } else if (mode === 'stream') {
      // EventSource reconnects by itself (e.g. after a leader failover);
      // meanwhile the poller keeps the pages fresh.
      setMode('polling');
    }
  };
}

// A new token: the cached answers belong to the old one (and must not show
// after a sign-out), the stream carries the old one, and a stream refused
// for want of a token may be tried again at once.
onTokenChange(() => {
  cache.clear();
  closeStream();
  clearTimeout(reconnectTimer);
  reconnectTimer = undefined;
  sseDisabledUntil = 0;
  failures = 0;
  setMode('connecting');
  // The pages mounted next (the login form's or the app's) open the stream they need.
});

let scheduled = false;
function scheduleStream() {
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(() => {
    scheduled = false;
    openStream();
  });
}

// --- polling fallback ----------------------------------------------------

let failures = 0;
setInterval(() => {
  const streaming = es && es.readyState === EventSource.OPEN && mode === 'stream';
  if (streaming) return;
  if (es && es.readyState === EventSource.CONNECTING && downSince && Date.now() - downSince < 1500) return;
  const paths = watched();
  Promise.all(paths.map(refresh)).then(() => {
    const anyOk = paths.some((p) => {
      const e = cache.get(p);
      return e && e.status !== 0;
    });
    if (paths.length) {
      failures = anyOk ? 0 : failures + 1;
      if (failures >= 2) setMode('offline');
      else if (es && es.readyState === EventSource.OPEN) setMode('stream');
      else if (!es || downSince) setMode('polling');
      // (a stream being opened for new paths keeps its mode)
    }
  });
  if (!es && Date.now() >= sseDisabledUntil && !reconnectTimer) scheduleStream();
}, POLL_MS);

// --- hooks ------------------------------------------------------------

function subscribe(path: string, l: Listener): () => void {
  let set = listeners.get(path);
  if (!set) listeners.set(path, (set = new Set()));
  set.add(l);
  refs.set(path, (refs.get(path) ?? 0) + 1);
  const e = cache.get(path);
  if (!e || !e.at || Date.now() - e.at > 1500) void refresh(path);
  scheduleStream();
  return () => {
    set!.delete(l);
    const n = (refs.get(path) ?? 1) - 1;
    if (n <= 0) refs.delete(path);
    else refs.set(path, n);
    scheduleStream();
  };
}

/** The live answer of a GET path; null path: nothing. */
export function useLive<T>(path: string | null): Entry<T> {
  const [, force] = useState(0);
  useEffect(() => {
    if (!path) return;
    return subscribe(path, () => force((n) => n + 1));
  }, [path]);
  return (path ? (cache.get(path) as Entry<T>) : undefined) ?? {};
}

/** The connection mode, for the status indicator. */
export function useMode(): Mode {
  useListeners(modeListeners);
  return mode;
}

/** Re-renders every interval ms (for ages and durations that tick). */
export function useTick(ms = 1000): number {
  const [t, setT] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setT(Date.now()), ms);
    return () => clearInterval(id);
  }, [ms]);
  return t;
}
