// The session: a JobManager started with --auth-file answers every API call
// without a bearer token with 401. The first 401 turns the app into its login
// form; the token that signs in is kept in localStorage ("weir.token", so it
// survives reloads) and sent with every request (Authorization: Bearer, and
// access_token on the event stream, which cannot send headers). A stored
// token that is refused later (the token file changed) is dropped and the
// login form says why. With auth off no call answers 401 and nothing here
// shows.
//
// The token's role comes from GET /whoami, asked once per token when the app
// (not the login form) shows: a viewer's write controls are disabled with
// why (writeBlock). Unknown role (the answer has not come, or an older
// JobManager answers 404): everything is enabled and a refused write shows
// the JobManager's 403 where it was tried.

import { useListeners } from './notify';

const KEY = 'weir.token';

export interface Session {
  /** The token sent with every request, null when none is stored. */
  token: string | null;
  /** The JobManager refused a request for want of a (valid) token: show the login form. */
  required: boolean;
  /** Why the login form shows, when it is not the first visit. */
  notice?: { tone: 'info' | 'warn'; text: string };
  /** GET /whoami's answer for this token; undefined while unknown (not asked yet, or it failed). */
  who?: Who;
}

export type Role = 'viewer' | 'submitter';

/** GET /whoami: whether the JobManager checks tokens, and this token's role (submitter with auth off). */
export interface Who {
  auth: boolean;
  role: Role | string;
}

function load(): string | null {
  try {
    return localStorage.getItem(KEY) || null;
  } catch {
    return null; // storage disabled: the token lives as long as the page
  }
}

let session: Session = { token: load(), required: false };
/** The GET /whoami request for the current token (in flight or answered), null when none was sent. */
let whoFor: { token: string | null; tries: number } | null = null;
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
  whoFor = null; // a new token: its role is asked anew
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

// --- the token's role (GET /whoami) ----------------------------------------

const WHO_TRIES = 3;
const WHO_RETRY_MS = 3000;

/**
 * Asks GET /whoami for the session's token, once per token (again only after
 * a network error or a 5xx, a few times). A 401 ends the session like any
 * other; any other failure (404 from an older JobManager) leaves the role
 * unknown and every control enabled.
 */
export function loadWho(): void {
  if (session.required) return;
  if (whoFor && whoFor.token === session.token) return;
  void askWho((whoFor = { token: session.token, tries: 1 }));
}

async function askWho(req: { token: string | null; tries: number }) {
  let status = 0;
  let text = '';
  try {
    // Relative to the page, like api.ts's apiURL: the dashboard may live behind a path prefix.
    const res = await fetch('whoami', { headers: { Accept: 'application/json', ...authHeaders(req.token) }, cache: 'no-store' });
    status = res.status;
    text = await res.text();
  } catch {
    /* status 0: no answer */
  }
  if (whoFor !== req || req.token !== session.token) return; // the token changed meanwhile
  if (status === 200) {
    try {
      const w = JSON.parse(text) as Partial<Who>;
      if (typeof w.auth === 'boolean' && typeof w.role === 'string') set({ ...session, who: { auth: w.auth, role: w.role } });
    } catch {
      /* not JSON: role unknown */
    }
    return;
  }
  if (status === 401) {
    whoFor = null;
    let msgs: string[] = [];
    try {
      const b = JSON.parse(text);
      if (Array.isArray(b?.errors)) msgs = b.errors.map(String);
    } catch {
      /* not JSON */
    }
    unauthorized(req.token, msgs.length ? msgs : ['HTTP 401']);
    return;
  }
  if ((status === 0 || status >= 500) && req.tries < WHO_TRIES) {
    // No answer or a failover in progress: ask again a little later.
    setTimeout(() => {
      if (whoFor !== req || session.required || session.token !== req.token) return;
      void askWho((whoFor = { token: req.token, tries: req.tries + 1 }));
    }, WHO_RETRY_MS);
  }
  // Otherwise (404 from a JobManager without /whoami, 5xx again): the role stays unknown.
}

/** Why write controls are disabled (a viewer token on a JobManager with auth on), or undefined. */
export const VIEWER_BLOCK = 'Needs a submitter token: signed in as viewer';

export function writeBlock(s: Session = session): string | undefined {
  return s.who?.auth && s.who.role === 'viewer' ? VIEWER_BLOCK : undefined;
}

/** writeBlock() for a component, re-rendered when the session changes. */
export function useWriteBlock(): string | undefined {
  return writeBlock(useSession());
}

export function useSession(): Session {
  useListeners(listeners);
  return session;
}
