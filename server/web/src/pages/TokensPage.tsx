import { useState, type FormEvent } from 'react';
import { del, enc, get, post } from '../api';
import { useAuth } from '../auth';
import { useLoad, useNow } from '../hooks';
import { dateTime, relativeTime } from '../format';
import { useForm } from '../useForm';
import { Table } from '../components/Table';
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
            <Table
              flush
              className="compact"
              rows={items}
              rowKey={(t) => t.id}
              rowProps={(t) => ({ className: t.revokedAt ? 'revoked' : undefined, 'data-token': t.name })}
              columns={[
                { key: 'name', header: 'Name', cell: (t) => <>{t.name}{t.id === me.tokenId && <span className="chip">you</span>}</> },
                { key: 'role', header: 'Role', cell: (t) => <span className={`role role-${t.role}`}>{t.role}</span> },
                { key: 'prefix', header: 'Prefix', className: 'mono', cell: (t) => `${t.prefix}…` },
                { key: 'created', header: 'Created', className: 'nowrap', cell: (t) => <span title={dateTime(t.createdAt)}>{relativeTime(t.createdAt, now)}</span> },
                { key: 'used', header: 'Last used', className: 'nowrap', cell: (t) => (t.lastUsedAt ? <span title={dateTime(t.lastUsedAt)}>{relativeTime(t.lastUsedAt, now)}</span> : <span className="muted">never</span>) },
                {
                  key: 'actions',
                  header: '',
                  className: 'right',
                  cell: (t) =>
                    t.revokedAt ? (
                      <span className="muted small">revoked {relativeTime(t.revokedAt, now)}</span>
                    ) : t.id === me.tokenId ? null : confirm === t.id ? (
                      <span className="row-actions">
                        <button className="btn btn-small btn-danger" onClick={() => revoke(t.id)}>
                          Revoke
                        </button>
                        <button className="btn btn-small btn-ghost" onClick={() => setConfirm(null)}>
                          Keep
                        </button>
                      </span>
                    ) : (
                      <button className="btn btn-small btn-danger-outline" onClick={() => setConfirm(t.id)}>
                        Revoke…
                      </button>
                    ),
                },
              ]}
            />
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
  const form = useForm({ name: '', role: 'editor' }, ['name', 'role']);
  const { values: f, set, errors, general, busy } = form;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void form.run(async () => {
      onCreated(await post<{ name: string; role: string; token: string }>('/tokens', { name: f.name.trim(), role: f.role }));
      form.setValues((v) => ({ ...v, name: '' }));
    });
  };
  return (
    <form className="form" onSubmit={submit} noValidate>
      <Field label="Name" name="name" error={errors.name} hint="who or what uses it, e.g. airflow-prod">
        <input name="name" value={f.name} onChange={set('name')} />
      </Field>
      <Field label="Role" name="role" error={errors.role} hint="viewer reads; editor also creates, runs and registers; admin also manages tokens">
        <select name="role" value={f.role} onChange={set('role')}>
          <option>viewer</option>
          <option>editor</option>
          <option>admin</option>
        </select>
      </Field>
      <ErrorBanner error={general} title="The token was not created" />
      <div className="form-actions">
        <button className="btn btn-primary" disabled={busy}>
          Create token
        </button>
      </div>
    </form>
  );
}
