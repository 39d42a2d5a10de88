import { useState, type FormEvent } from 'react';
import { api, ApiError, tokenStore } from '../api';
import type { Me } from '../auth';

export function SignInPage({ message, onSignedIn }: { message: string | null; onSignedIn: (me: Me) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const value = token.trim();
    if (!value) {
      setError('Paste an API token.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const me = await api<Me & { kind: string }>('GET', '/whoami', { token: value, noAuthRedirect: true });
      if (me.kind !== 'user') throw new Error('a run-scoped token cannot sign in to the UI');
      tokenStore.set(value);
      onSignedIn(me);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'That token was not accepted: it is unknown, revoked or mistyped.' : err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="signin">
      <form className="signin-card" onSubmit={submit} noValidate>
        <div className="brand brand-large">
          <span className="logo" aria-hidden>
            G
          </span>
          Griffin
        </div>
        <p className="muted">Define, launch, watch and register training runs.</p>
        {message && (
          <div className="banner banner-warn" role="status">
            {message}
          </div>
        )}
        <div className={`field${error ? ' has-error' : ''}`} data-field="token">
          <label>
            <span className="field-label">API token</span>
            <input type="password" name="token" autoComplete="current-password" autoFocus value={token} onChange={(e) => setToken(e.target.value)} placeholder="gft_…" />
          </label>
          {error ? <div className="field-error" role="alert">{error}</div> : <div className="field-hint">The first start of the service prints an admin token and saves it in <code>admin-token</code> in its data directory (<code>~/.local/share/griffin</code> by default). Admins create more under Tokens.</div>}
        </div>
        <button className="btn btn-primary btn-block" type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
