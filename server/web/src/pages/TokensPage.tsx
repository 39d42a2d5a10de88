import { useState, type FormEvent } from 'react';
import { del, enc, get, post } from '../api';
import { useAuth } from '../auth';
import { useLoad, useNow } from '../hooks';
import { dateTime, relativeTime } from '../format';
import { placeError, type FieldErrors } from '../forms';
import { Card, Code, ErrorBanner, Field, Loading, Notice, PageHeader } from '../components/ui';
import type { ApiToken, Page } from '../types';

export function TokensPage() {
  const { can, me } = useAuth();
  const now = useNow(10_000);
  const tokens = useLoad(() => get<Page<ApiToken>>('/tokens'), []);
  const [created, setCreated] = useState<{ name: string; role: string; token: string } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [confirm, setConfirm] = useState<string | null>(null);

  if (!can('admin'))
    return (
      <div className="page">
        <PageHeader title="API tokens" />
        <Notice kind="warn">Only admins manage tokens; you are signed in as {me.role}.</Notice>
      </div>
    );

  const revoke = async (id: string) => {
    setError(null);
    try {
      await del(`/tokens/${enc(id)}`);
      setConfirm(null);
      await tokens.reload();
    } catch (e) {
      setError(e);
    }
  };

  const items = [...(tokens.data?.items ?? [])].sort((a, b) => Number(Boolean(a.revokedAt)) - Number(Boolean(b.revokedAt)) || b.createdAt.localeCompare(a.createdAt));
  return (
    <div className="page">
      <PageHeader title="API tokens" subtitle="Bearer tokens for people, the CLI, Airflow connections and scripts. Griffin stores only their hashes." />
      <div className="grid-2 tokens-grid">
        <Card title="Tokens">
          <ErrorBanner error={tokens.error ?? error} title="Token action failed" />
          {tokens.loading ? (
            <Loading />
          ) : (
            <table className="table compact">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Role</th>
                  <th>Prefix</th>
                  <th>Created</th>
                  <th>Last used</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {items.map((t) => (
                  <tr key={t.id} className={t.revokedAt ? 'revoked' : undefined} data-token={t.name}>
                    <td>
                      {t.name}
                      {t.id === me.tokenId && <span className="chip">you</span>}
                    </td>
                    <td>
                      <span className={`role role-${t.role}`}>{t.role}</span>
                    </td>
                    <td className="mono">{t.prefix}…</td>
                    <td title={dateTime(t.createdAt)} className="nowrap">{relativeTime(t.createdAt, now)}</td>
                    <td className="nowrap" title={t.lastUsedAt ? dateTime(t.lastUsedAt) : undefined}>{t.lastUsedAt ? relativeTime(t.lastUsedAt, now) : <span className="muted">never</span>}</td>
                    <td className="right nowrap">
                      {t.revokedAt ? (
                        <span className="muted small">revoked {relativeTime(t.revokedAt, now)}</span>
                      ) : t.id === me.tokenId ? null : confirm === t.id ? (
                        <>
                          <button className="btn btn-small btn-danger" onClick={() => revoke(t.id)}>
                            Revoke
                          </button>
                          <button className="btn btn-small btn-ghost" onClick={() => setConfirm(null)}>
                            Keep
                          </button>
                        </>
                      ) : (
                        <button className="btn btn-small btn-danger-outline" onClick={() => setConfirm(t.id)}>
                          Revoke…
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
        <Card title="Create a token">
          <TokenForm
            onCreated={(t) => {
              setCreated(t);
              void tokens.reload();
            }}
          />
          {created && (
            <div className="new-token" data-testid="new-token">
              <Notice kind="success">
                <strong>Token “{created.name}” ({created.role}) created.</strong> <span>Copy it now: it is shown only once.</span>
              </Notice>
              <Code text={created.token} />
            </div>
          )}
        </Card>
      </div>
    </div>
  );
}

function TokenForm({ onCreated }: { onCreated: (t: { name: string; role: string; token: string }) => void }) {
  const [name, setName] = useState('');
  const [role, setRole] = useState('editor');
  const [errors, setErrors] = useState<FieldErrors>({});
  const [general, setGeneral] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setErrors({});
    setGeneral(null);
    try {
      const t = await post<{ name: string; role: string; token: string }>('/tokens', { name: name.trim(), role });
      onCreated(t);
      setName('');
    } catch (err) {
      const placed = placeError(err, ['name', 'role']);
      setErrors(placed.fieldErrors);
      setGeneral(placed.unplaced);
    }
  };
  return (
    <form className="form" onSubmit={submit} noValidate>
      <Field label="Name" name="name" error={errors.name} hint="who or what uses it, e.g. airflow-prod">
        <input name="name" value={name} onChange={(e) => setName(e.target.value)} />
      </Field>
      <Field label="Role" name="role" error={errors.role} hint="viewer reads; editor also creates, runs and registers; admin also manages tokens">
        <select name="role" value={role} onChange={(e) => setRole(e.target.value)}>
          <option>viewer</option>
          <option>editor</option>
          <option>admin</option>
        </select>
      </Field>
      <ErrorBanner error={general} title="The token was not created" />
      <div className="form-actions">
        <button className="btn btn-primary">Create token</button>
      </div>
    </form>
  );
}
