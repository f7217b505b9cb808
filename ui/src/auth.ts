// The session: a JobManager started with --auth-file answers every API call
// without a bearer token with 401. The first 401 turns the app into its login
// form; the token that signs in is kept in localStorage ("weir.token", so it
// survives reloads) and sent with every request (Authorization: Bearer, and
// access_token on the event stream, which cannot send headers). A stored
// token that is refused later (the token file changed) is dropped and the
// login form says why. With auth off no call answers 401 and nothing here
// shows.

import { useEffect, useState } from 'preact/hooks';

const KEY = 'weir.token';

export interface Session {
  /** The token sent with every request, null when none is stored. */
  token: string | null;
  /** The JobManager refused a request for want of a (valid) token: show the login form. */
  required: boolean;
  /** Why the login form shows, when it is not the first visit. */
  notice?: { tone: 'info' | 'warn'; text: string };
}

function load(): string | null {
  try {
    return localStorage.getItem(KEY) || null;
  } catch {
    return null; // storage disabled: the token lives as long as the page
  }
}

let session: Session = { token: load(), required: false };
const listeners = new Set<() => void>();
const resetters = new Set<() => void>();

function set(s: Session) {
  session = s;
  listeners.forEach((l) => l());
}

/** The stored token, or null. */
export function token(): string | null {
  return session.token;
}

/** The Authorization header for a token (default: the stored one), or none. */
export function authHeaders(t: string | null = session.token): Record<string, string> {
  return t ? { Authorization: `Bearer ${t}` } : {};
}

/** Registers what to forget when the token changes (cached answers, the event stream). */
export function onTokenChange(fn: () => void) {
  resetters.add(fn);
}

function store(t: string | null) {
  try {
    if (t) localStorage.setItem(KEY, t);
    else localStorage.removeItem(KEY);
  } catch {
    /* storage disabled */
  }
  resetters.forEach((r) => r());
}

/** A request sent with token sent was answered 401 with these messages. */
export function unauthorized(sent: string | null, messages: string[]) {
  // An answer to a request sent before the last sign-in or sign-out says
  // nothing about the current token.
  if (sent !== session.token) return;
  if (session.required) return;
  if (sent) {
    store(null);
    set({
      token: null,
      required: true,
      notice: { tone: 'warn', text: `The JobManager no longer accepts the stored token (${messages.join('; ')}). Sign in again.` },
    });
  } else set({ token: null, required: true });
}

/** Stores a token the JobManager accepted and leaves the login form. */
export function signIn(t: string) {
  store(t);
  set({ token: t, required: false });
}

/** Leaves the login form without a token: the JobManager answers without one (auth off). */
export function authOff() {
  if (session.required && !session.token) set({ token: null, required: false });
}

/** Forgets the token and shows the login form. */
export function signOut() {
  store(null);
  set({ token: null, required: true, notice: { tone: 'info', text: 'Signed out.' } });
}

export function useSession(): Session {
  const [, force] = useState(0);
  useEffect(() => {
    const l = () => force((n) => n + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return session;
}
