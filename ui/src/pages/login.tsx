import { useEffect, useState } from 'preact/hooks';
import { ApiError, checkToken } from '../api';
import type { Session } from '../auth';
import { authOff, signIn } from '../auth';
import { BrandMark, ErrorBanner } from '../components/common';

/**
 * The login form of a JobManager with auth on: an access token (a line of
 * its --auth-file), checked with a read before it is stored.
 */
export function LoginPage({ notice }: { notice?: Session['notice'] }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string[] | undefined>();
  const [busy, setBusy] = useState(false);
  // After a sign-out from a JobManager that turns out not to need a token
  // (auth off, the token left from another), there is nothing to sign in to.
  useEffect(() => {
    checkToken(null).then(authOff, () => {});
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    const t = value.trim();
    if (!t) {
      setError(['Enter an access token.']);
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await checkToken(t);
      signIn(t);
    } catch (err) {
      setError(err instanceof ApiError ? err.messages : [String(err)]);
      setBusy(false);
    }
  };

  return (
    <div class="login-wrap">
      <form class="card login" onSubmit={submit} data-testid="login-form" aria-labelledby="login-title" noValidate>
        <div class="login-brand">
          <BrandMark size={32} />
          <span>Weir</span>
        </div>
        <h1 id="login-title">Sign in</h1>
        <p class="muted">
          This JobManager needs an access token: one of the tokens of its <code>--auth-file</code>. A viewer token reads; a submitter token also uploads,
          runs, cancels and takes savepoints.
        </p>
        {notice && (
          <div class={`banner banner-${notice.tone}`} role="status" data-testid="login-notice">
            {notice.text}
          </div>
        )}
        <label class="field">
          <span>Access token</span>
          <input
            type="password"
            name="token"
            class="mono"
            autocomplete="current-password"
            spellcheck={false}
            autoFocus
            required
            value={value}
            onInput={(e) => setValue(e.currentTarget.value)}
            aria-invalid={error ? 'true' : undefined}
            aria-describedby={error ? 'login-error' : undefined}
            data-testid="login-token"
          />
        </label>
        <div id="login-error" data-testid="login-error">
          <ErrorBanner messages={error} title="Not signed in" />
        </div>
        <button type="submit" class="btn btn-primary" disabled={busy} data-testid="login-submit">
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
