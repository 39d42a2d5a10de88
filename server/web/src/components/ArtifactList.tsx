import { useState } from 'react';
import { download, enc } from '../api';
import { bytes } from '../format';
import { Empty, ErrorBanner, Loading } from './ui';
import { Table } from './Table';
import type { Artifact } from '../types';

/**
 * A run's files with download buttons. The download is fetched with the signed-in token and saved
 * from a blob: a plain link to the API would be answered 401, since a browser sends no bearer token.
 */
export function ArtifactList({ runId, items, error, empty }: { runId: string; items?: Artifact[]; error: unknown; empty: string }) {
  const [failure, setFailure] = useState<unknown>(null);
  if (error && !items) return <ErrorBanner error={error} title="Could not list artifacts" />;
  if (!items) return <Loading />;
  if (!items.length) return <Empty>{empty}</Empty>;
  const save = (a: Artifact) => {
    setFailure(null);
    download(`/runs/${enc(runId)}/artifacts/${a.path.split('/').map(enc).join('/')}`, a.path.split('/').pop() ?? a.path).catch(setFailure);
  };
  return (
    <>
      <ErrorBanner error={failure} title="Download failed" />
      <Table
        flush
        headless
        className="compact artifacts"
        rows={items}
        rowKey={(a) => a.path}
        rowProps={(a) => ({ 'data-artifact': a.path })}
        columns={[
          { key: 'path', header: 'File', className: 'mono break', cell: (a) => a.path },
          { key: 'size', header: 'Size', className: 'num', cell: (a) => bytes(a.size) },
          {
            key: 'download',
            header: '',
            cell: (a) => (
              <button className="btn btn-small btn-ghost" title={`sha256 ${a.sha256}`} onClick={() => save(a)}>
                Download
              </button>
            ),
          },
        ]}
      />
    </>
  );
}
