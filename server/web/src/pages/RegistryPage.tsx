import { useState, type FormEvent } from 'react';
import { ApiError, del, enc, get, put } from '../api';
import { useAuth } from '../auth';
import { useLoad, useNow } from '../hooks';
import { num, relativeTime } from '../format';
import { Link } from '../router';
import { Card, Empty, ErrorBanner, Loading, PageHeader } from '../components/ui';
import { bestValue, joinList, metricDirection } from '../comparison';
import { PromoteButton } from '../components/Promote';
import { Table } from '../components/Table';
import './compare.css';
import type { AliasMove, ModelVersion, Page, RegisteredModel } from '../types';

export function RegistryPage() {
  const now = useNow(10_000);
  const models = useLoad(() => get<Page<RegisteredModel>>('/registry/models?limit=500'), []);
  // The list has no aliases; each model's detail does, and there are few registered models.
  const details = useLoad(
    () => Promise.all((models.data?.items ?? []).map((m) => get<RegisteredModel>(`/registry/models/${enc(m.name)}`).catch(() => m))),
    [models.data],
  );
  const detailed = new Map((details.data ?? []).map((d) => [d.name, d]));
  const rows = (models.data?.items ?? []).map((m) => detailed.get(m.name) ?? m);
  return (
    <div className="page">
      <PageHeader title="Model registry" subtitle="Trained model versions with their metrics and lineage; aliases such as production say which version serves." />
      <ErrorBanner error={models.error} title="Could not load registered models" />
      {models.loading ? (
        <Loading />
      ) : rows.length === 0 ? (
        <Empty>No registered models yet. A workflow with "register" adds a version when its run succeeds.</Empty>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th>Model</th>
                <th>Latest version</th>
                <th>Aliases</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((m) => (
                <tr key={m.name}>
                  <td>
                    <Link to={`/registry/${m.name}`} className="strong">
                      {m.name}
                    </Link>
                    {m.description && <div className="muted small">{m.description}</div>}
                  </td>
                  <td>{m.latestVersion ? <Link to={`/registry/${m.name}/versions/${m.latestVersion}`}>v{m.latestVersion}</Link> : '—'}</td>
                  <td>
                    <AliasChips aliases={m.aliases ?? {}} name={m.name} />
                  </td>
                  <td>{relativeTime(m.updatedAt, now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function AliasChips({ aliases, name }: { aliases: Record<string, number>; name: string }) {
  const entries = Object.entries(aliases);
  if (!entries.length) return <span className="muted">none</span>;
  return (
    <span className="chips">
      {entries.map(([a, v]) => (
        <Link key={a} to={`/registry/${name}/versions/${v}`} className={`chip ${a === 'production' ? 'chip-production' : ''}`}>
          {a} → v{v}
        </Link>
      ))}
    </span>
  );
}

/** The comparison page holds one line per version; past that, the newest. */
const COMPARE_MAX = 12;

export function RegisteredModelPage({ name }: { name: string }) {
  const { can } = useAuth();
  const now = useNow(10_000);
  const model = useLoad(() => get<RegisteredModel>(`/registry/models/${enc(name)}`), [name]);
  const versions = useLoad(() => get<Page<ModelVersion>>(`/registry/models/${enc(name)}/versions?limit=500`), [name]);
  const items = versions.data?.items ?? [];
  const metricKeys = [...new Set(items.flatMap((v) => Object.keys(v.metrics)))].sort();
  const [picked, setPicked] = useState<number[]>([]);
  const reload = () => {
    void model.reload();
    void versions.reload();
  };

  if (model.error && !model.data)
    return (
      <div className="page">
        <PageHeader crumbs={<Link to="/registry">Registry</Link>} title={name} />
        <ErrorBanner error={model.error} title={model.error instanceof ApiError && model.error.status === 404 ? 'No such registered model' : 'Could not load the model'} />
      </div>
    );
  if (!model.data) return <Loading />;
  const aliases = model.data.aliases ?? {};
  const production = aliases.production;
  const best = (k: string) => bestValue(items.map((v) => v.metrics[k]), metricDirection(k));
  const compareHref = (versions: number[]) => `/compare?versions=${joinList(versions.map((v) => `${name}@${v}`))}`;
  const pick = (version: number, on: boolean) => setPicked((p) => (on ? [...p.filter((x) => x !== version), version] : p.filter((x) => x !== version)));
  const compareActions = (
    <>
      <span className="muted small">best value per metric in bold</span>
      {picked.length >= 2 ? (
        <Link className="btn btn-primary btn-small" to={compareHref([...picked].sort((a, b) => a - b))} data-testid="compare-versions">
          Compare {picked.length} versions
        </Link>
      ) : (
        items.length >= 2 && (
          <Link className="btn btn-small" to={compareHref(items.slice(0, COMPARE_MAX).map((v) => v.version).reverse())} data-testid="compare-versions" title="or tick the versions to compare">
            Compare {items.length > COMPARE_MAX ? `the latest ${COMPARE_MAX}` : 'all'} versions
          </Link>
        )
      )}
    </>
  );

  return (
    <div className="page">
      <PageHeader
        crumbs={<Link to="/registry">Registry</Link>}
        title={name}
        subtitle={model.data.description || `${items.length} version${items.length === 1 ? '' : 's'}`}
        actions={<AliasChips aliases={aliases} name={name} />}
      />
      <ErrorBanner error={versions.error} title="Could not load versions" />
      <Card title="Versions" actions={compareActions}>
        {items.length === 0 ? (
          <Empty>No versions yet.</Empty>
        ) : (
          <div className="table-wrap flush">
            <table className="table versions-table">
              <thead>
                <tr>
                  <th>Version</th>
                  <th>Aliases</th>
                  {metricKeys.map((k) => (
                    <th key={k} className="num" title={metricDirection(k) === 'min' ? 'lower is better' : 'higher is better'}>
                      {k} {metricDirection(k) === 'min' ? '↓' : '↑'}
                    </th>
                  ))}
                  <th className="right">Production</th>
                </tr>
              </thead>
              <tbody>
                {items.map((v) => (
                  <tr key={v.version} data-version={v.version}>
                    <td>
                      {items.length >= 2 && (
                        <input type="checkbox" className="version-pick" name="compare-version" value={v.version} aria-label={`compare v${v.version}`} checked={picked.includes(v.version)} onChange={(e) => pick(v.version, e.target.checked)} />
                      )}
                      <Link to={`/registry/${name}/versions/${v.version}`} className="strong">
                        v{v.version}
                      </Link>
                      <div className="muted small">
                        {v.runId ? <Link to={`/runs/${v.runId}`} className="mono">{v.runId}</Link> : 'external'} · {relativeTime(v.createdAt, now)}
                      </div>
                    </td>
                    <td>
                      {v.aliases.length ? (
                        <span className="chips">
                          {v.aliases.map((a) => (
                            <span key={a} className={`chip ${a === 'production' ? 'chip-production' : ''}`}>
                              {a}
                            </span>
                          ))}
                        </span>
                      ) : (
                        <span className="muted">—</span>
                      )}
                    </td>
                    {metricKeys.map((k) => (
                      <td key={k} className={`num${v.metrics[k] === best(k) ? ' best' : ''}`}>
                        {num(v.metrics[k])}
                      </td>
                    ))}
                    <td className="right">
                      <PromoteButton name={name} version={v.version} current={production} onDone={reload} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      <div className="grid-2">
        {can('editor') && items.length > 0 && <AliasForm name={name} aliases={aliases} versions={items.map((v) => v.version)} onDone={reload} />}
      </div>
      <AliasHistory name={name} aliases={Object.keys(aliases)} changed={model.data} />
    </div>
  );
}

/** Who moved which alias when, from which version to which and why: the moves of the current aliases, newest first. */
function AliasHistory({ name, aliases, changed }: { name: string; aliases: string[]; changed: unknown }) {
  const now = useNow(10_000);
  const moves = useLoad(
    () => Promise.all(aliases.map((a) => get<Page<AliasMove>>(`/registry/models/${enc(name)}/aliases/${enc(a)}/history?limit=20`).then((p) => p.items))),
    [name, aliases.join(','), changed],
  );
  const items = (moves.data ?? []).flat().sort((a, b) => b.id - a.id);
  const v = (n: number | null) => (n === null ? <span className="muted">unset</span> : <Link to={`/registry/${name}/versions/${n}`}>v{n}</Link>);
  return (
    <Card title="Alias history">
      <ErrorBanner error={moves.error} title="Could not load the alias history" />
      {items.length === 0 ? (
        <Empty>No alias moves yet.</Empty>
      ) : (
        <Table
          className="compact"
          flush
          testId="alias-history"
          rows={items}
          rowKey={(m) => m.id}
          columns={[
            { key: 'when', header: 'When', cell: (m) => <span title={m.at}>{relativeTime(m.at, now)}</span> },
            { key: 'alias', header: 'Alias', cell: (m) => <span className={`chip ${m.alias === 'production' ? 'chip-production' : ''}`}>{m.alias}</span> },
            { key: 'from', header: 'From', cell: (m) => v(m.fromVersion) },
            { key: 'to', header: 'To', cell: (m) => (m.kind === 'alias_removed' ? <span className="muted">removed</span> : v(m.toVersion)) },
            { key: 'who', header: 'Who', className: 'mono small', cell: (m) => m.actor },
            { key: 'reason', header: 'Reason', className: 'small', cell: (m) => m.reason || <span className="muted">—</span> },
          ]}
        />
      )}
    </Card>
  );
}

function AliasForm({ name, aliases, versions, onDone }: { name: string; aliases: Record<string, number>; versions: number[]; onDone: () => void }) {
  const [alias, setAlias] = useState('staging');
  const [version, setVersion] = useState(String(versions[0]));
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await put(`/registry/models/${enc(name)}/aliases/${enc(alias.trim())}`, { version: Number(version), reason: 'set in the web UI' });
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (a: string) => {
    setError(null);
    try {
      await del(`/registry/models/${enc(name)}/aliases/${enc(a)}`);
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Card title="Aliases">
      {Object.keys(aliases).length > 0 ? (
        <table className="table compact">
          <tbody>
            {Object.entries(aliases).map(([a, v]) => (
              <tr key={a}>
                <td>
                  <span className={`chip ${a === 'production' ? 'chip-production' : ''}`}>{a}</span>
                </td>
                <td>v{v}</td>
                <td className="right">
                  <button className="btn btn-small btn-ghost" onClick={() => remove(a)}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted">No aliases yet.</p>
      )}
      <form className="inline-form" onSubmit={submit} noValidate>
        <input aria-label="alias" value={alias} onChange={(e) => setAlias(e.target.value)} placeholder="alias" />
        <span>→</span>
        <select aria-label="version" value={version} onChange={(e) => setVersion(e.target.value)}>
          {versions.map((v) => (
            <option key={v} value={v}>
              v{v}
            </option>
          ))}
        </select>
        <button className="btn btn-small">Set alias</button>
      </form>
      <ErrorBanner error={error} title="The alias was not changed" />
    </Card>
  );
}
