import { z } from 'zod';
import type { RunService } from '../services/runService.ts';
import { bundle, localDatasetFile, runBundleEntries } from '../files/codeBundle.ts';
import { isRemoteUri, refuseDataDir, resolveInside } from '../files/paths.ts';
import { isUploadedCodeUri, type CodeStore } from '../files/codeStore.ts';
import { defineRoute, type RouteDef } from './route.ts';

const RunParams = z.object({ id: z.string().regex(/^[a-z0-9]{1,32}$/, 'is not a run id') });

/**
 * What a pod of the kubernetes or kuberay backend downloads before its entrypoint starts
 * (server/runtime/python/griffin_stage.py): the run's code when it lives on this host,
 * griffin_run.py and a local dataset, as one zip. The run's own token may fetch it. Nothing of
 * Griffin's data directory is ever packed, even when a symbolic link now leads there.
 */
export function bundleRoutes(runs: RunService, codeRoot: string, dataDir: string, code?: CodeStore): RouteDef[] {
  return [
    defineRoute({
      method: 'get',
      path: '/runs/:id/bundle',
      tag: 'runs',
      summary: "The run's files for a cluster pod (zip: code, .griffin/griffin_run.py, .griffin/dataset/).",
      responseDescription: 'application/zip',
      responseTypes: ['application/zip'],
      response: 'bytes',
      access: { role: 'viewer', runToken: true },
      params: RunParams,
      handler: async ({ params, res }) => {
        const run = await runs.get(params.id);
        // Uploaded code sits in the data dir's code store by design; it holds only what readZip let through.
        if (!isRemoteUri(run.spec.model.codeUri) && !isUploadedCodeUri(run.spec.model.codeUri)) refuseDataDir(resolveInside(codeRoot, run.spec.model.codeUri, 'model.codeUri'), dataDir, 'model.codeUri');
        const dataset = localDatasetFile(run.spec, codeRoot);
        if (dataset) refuseDataDir(dataset, dataDir, 'dataset.uri');
        const zip = bundle(runBundleEntries(run.spec, codeRoot, code));
        res
          .status(200)
          .set({ 'Content-Type': 'application/zip', 'Content-Disposition': `attachment; filename="griffin-run-${run.id}.zip"`, ETag: `"${zip.sha256}"`, 'Cache-Control': 'no-store' })
          .end(zip.bytes);
      },
    }),
  ];
}
