import { Code, KeyValues } from './ui';

const isUrl = (v: unknown): v is string => typeof v === 'string' && /^https?:\/\//.test(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : typeof v === 'number' ? String(v) : undefined);

/**
 * What the run is on its backend: the Kubernetes object (kind, namespace, name), a link into
 * the Ray dashboard, or the local process; every other field of the reference is listed too.
 */
export function BackendRef({ backend, refValue }: { backend: string; refValue: Record<string, unknown> | null }) {
  if (!refValue) return <p className="muted">Not launched yet: the backend reference appears once the run starts on {backend}.</p>;
  const r = refValue;
  const name = str(r.name) ?? str(r.jobName) ?? str(r.rayJobName);
  const namespace = str(r.namespace) ?? 'default';
  const kind = str(r.kind) ?? (backend === 'kubernetes' ? 'Job' : backend === 'kuberay' ? 'RayJob' : undefined);
  const submissionId = str(r.submissionId) ?? str(r.jobId) ?? str(r.submission_id);
  const dashboard = str(r.dashboardUrl) ?? str(r.rayDashboardUrl) ?? (isUrl(r.address) ? (r.address as string) : undefined);
  const dashboardLink = dashboard && submissionId && !dashboard.includes('#/jobs/') ? `${dashboard.replace(/\/$/, '')}/#/jobs/${encodeURIComponent(submissionId)}` : dashboard;
  const k8s = (backend === 'kubernetes' || backend === 'kuberay') && name;
  return (
    <div className="backend-ref">
      {k8s && (
        <>
          <p>
            Kubernetes <strong>{kind}</strong> <span className="mono">{`${namespace}/${name}`}</span>
          </p>
          <Code text={`kubectl -n ${namespace} describe ${(kind ?? 'job').toLowerCase()} ${name}`} />
        </>
      )}
      {dashboardLink && (
        <p>
          <a href={dashboardLink} target="_blank" rel="noreferrer" className="btn btn-small">
            Open in the Ray dashboard ↗
          </a>
        </p>
      )}
      <KeyValues
        items={Object.entries(r).map(([k, v]) => [
          k,
          isUrl(v) ? (
            <a href={v} target="_blank" rel="noreferrer">
              {v}
            </a>
          ) : (
            <span className="mono break">{typeof v === 'object' ? JSON.stringify(v) : String(v)}</span>
          ),
        ])}
      />
    </div>
  );
}
