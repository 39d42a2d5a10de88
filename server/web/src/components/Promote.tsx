import { useState } from 'react';
import { enc, put } from '../api';
import { useAuth } from '../auth';
import { ErrorBanner } from './ui';

/** Points an alias (by default `production`) at a version, after a confirming second click. */
export function PromoteButton({ name, version, alias = 'production', current, onDone }: { name: string; version: number; alias?: string; current?: number; onDone: () => void }) {
  const { can } = useAuth();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  if (!can('editor')) return null;
  if (current === version) return <span className="current-alias" title={`v${version} is ${alias}`}>✓ {alias}</span>;
  const promote = async () => {
    setBusy(true);
    setError(null);
    try {
      // Compare-and-set against what this page showed: if someone moved the alias meanwhile, the
      // service answers 409 and the user sees it rather than overwriting a move they never saw.
      await put(`/registry/models/${enc(name)}/aliases/${enc(alias)}`, { version, expectedVersion: current ?? null, reason: 'promoted in the web UI' });
      setConfirming(false);
      onDone();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span className="promote">
      {confirming ? (
        <span className="confirm">
          <span className="small">{current ? `Move ${alias} from v${current} to v${version}?` : `Make v${version} ${alias}?`}</span>
          <button className="btn btn-small btn-primary" onClick={promote} disabled={busy} data-testid="confirm-promote">
            {busy ? 'Promoting…' : 'Confirm'}
          </button>
          <button className="btn btn-small btn-ghost" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </span>
      ) : (
        <button className="btn btn-small" onClick={() => setConfirming(true)} data-testid={`promote-v${version}`}>
          Promote to {alias}
        </button>
      )}
      {error ? <ErrorBanner error={error} title="Promotion failed" /> : null}
    </span>
  );
}
