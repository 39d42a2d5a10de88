import { Component, useContext, useState, type ReactNode } from 'react';
import { ApiError, errorText } from '../api';
import { AuthContext } from '../auth';
import { plain } from '../format';
import type { RunState } from '../../../domain/lifecycle.ts';

/** What each run state (and schedule state) means; the compiler holds the run states to lifecycle.ts. */
const STATE_HINT: Record<RunState | 'active' | 'paused', string> = {
  queued: 'waiting for the dispatcher',
  launching: 'being started on its backend',
  running: 'training',
  cancelling: 'cancel requested; waiting for the backend',
  succeeded: 'finished successfully',
  failed: 'ended with an error',
  cancelled: 'stopped on request',
  active: 'fires on its schedule',
  paused: 'does not fire until resumed',
};

/** A state shown with colour and its name, so it reads without colour too. */
export function StateBadge({ state }: { state: string }) {
  return (
    <span className={`badge state-${state}`} title={STATE_HINT[state as keyof typeof STATE_HINT] ?? state} data-state={state}>
      <span className="dot" aria-hidden />
      {state}
    </span>
  );
}

export function ErrorBanner({ error, title }: { error: unknown; title?: string }) {
  const auth = useContext(AuthContext);
  if (!error) return null;
  const status = error instanceof ApiError && error.status ? ` (HTTP ${error.status})` : '';
  // A 403 is about who is asking, not about the thing asked for: say so in the title.
  const heading = error instanceof ApiError && error.status === 403 && auth ? `Your role ${auth.me.role} cannot do this` : (title ?? 'Something went wrong');
  return (
    <div className="banner banner-error" role="alert">
      <strong>{heading}{status}</strong>
      <span>{errorText(error)}</span>
    </div>
  );
}

export function Notice({ children, kind = 'info' }: { children: ReactNode; kind?: 'info' | 'success' | 'warn' }) {
  return <div className={`banner banner-${kind}`} role="status">{children}</div>;
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return <div className="loading">{what}…</div>;
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}

export function PageHeader({ title, subtitle, actions, crumbs }: { title: ReactNode; subtitle?: ReactNode; actions?: ReactNode; crumbs?: ReactNode }) {
  return (
    <header className="page-header">
      <div>
        {crumbs && <div className="crumbs">{crumbs}</div>}
        <h1>{title}</h1>
        {subtitle && <div className="subtitle">{subtitle}</div>}
      </div>
      {actions && <div className="actions">{actions}</div>}
    </header>
  );
}

export function Card({ title, actions, children, className }: { title?: ReactNode; actions?: ReactNode; children: ReactNode; className?: string }) {
  return (
    <section className={`card ${className ?? ''}`}>
      {(title || actions) && (
        <div className="card-head">
          {title && <h2>{title}</h2>}
          {actions && <div className="actions">{actions}</div>}
        </div>
      )}
      <div className="card-body">{children}</div>
    </section>
  );
}

export function Tabs({ tabs, active, onChange }: { tabs: { id: string; label: ReactNode }[]; active: string; onChange: (id: string) => void }) {
  return (
    <nav className="tabs" role="tablist">
      {tabs.map((t) => (
        <button key={t.id} role="tab" aria-selected={t.id === active} className={t.id === active ? 'tab active' : 'tab'} onClick={() => onChange(t.id)} type="button">
          {t.label}
        </button>
      ))}
    </nav>
  );
}

/** A labelled input with its error next to it; `name` is the API field path the error names. */
export function Field({ label, name, error, hint, children, wide }: { label: string; name: string; error?: string; hint?: ReactNode; children: ReactNode; wide?: boolean }) {
  return (
    <div className={`field${error ? ' has-error' : ''}${wide ? ' wide' : ''}`} data-field={name}>
      <label>
        <span className="field-label">{label}</span>
        {children}
      </label>
      {error ? (
        <div className="field-error" role="alert">
          {error}
        </div>
      ) : (
        hint && <div className="field-hint">{hint}</div>
      )}
    </div>
  );
}

export function KeyValues({ items }: { items: [ReactNode, ReactNode][] }) {
  return (
    <dl className="kv">
      {items.map(([k, v], i) => (
        <div key={i}>
          <dt>{k}</dt>
          <dd>{v ?? '—'}</dd>
        </div>
      ))}
    </dl>
  );
}

export function Code({ text, maxHeight }: { text: string; maxHeight?: number }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      // clipboard blocked (plain http); the text stays selectable
    }
  };
  return (
    <div className="code">
      <button type="button" className="btn btn-small btn-ghost copy" onClick={copy}>
        {copied ? 'Copied' : 'Copy'}
      </button>
      <pre style={maxHeight ? { maxHeight } : undefined}>{text}</pre>
    </div>
  );
}

export function Chips({ items, kind }: { items: string[]; kind?: string }) {
  return (
    <span className="chips">
      {items.map((i) => (
        <span key={i} className={`chip ${kind ? `chip-${kind}` : ''}`}>
          {i}
        </span>
      ))}
    </span>
  );
}

/** Keeps one broken page from blanking the whole UI. */
export class ErrorBoundary extends Component<{ children: ReactNode; resetKey?: string }, { error: unknown; key?: string }> {
  state: { error: unknown; key?: string } = { error: null };
  static getDerivedStateFromError(error: unknown) {
    return { error };
  }
  static getDerivedStateFromProps(props: { resetKey?: string }, state: { error: unknown; key?: string }) {
    return props.resetKey !== state.key ? { error: null, key: props.resetKey } : null;
  }
  render() {
    if (this.state.error) return <ErrorBanner error={this.state.error} title="This page failed to render" />;
    return this.props.children;
  }
}

/** Hyperparameters (or any flat key/value map) as a compact two-column table. */
export function ParamsTable({ entries }: { entries: Array<[string, unknown]> }) {
  return (
    <table className="table compact params">
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k}>
            <th>{k}</th>
            <td className="mono">{plain(v)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
