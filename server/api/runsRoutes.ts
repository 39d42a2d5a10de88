import { z } from 'zod';
import type { RunService } from '../services/runService.ts';
import { defineRoute, type RouteDef } from './route.ts';
import { clientIdempotencyKey } from './idempotency.ts';
import { ArtifactView, DryRunView, itemsOf, LogChunkView, LogCursorView, Metric, MetricsAccepted, pageOf, RunLineageView, RunView } from '../domain/index.ts';
import { DEFAULT_FOLLOW, followLog, type FollowOptions } from './logFollow.ts';
import { LogCursorSet, MetricsBatch, RunCancel, RunConsume, RunCreate } from '../domain/index.ts';
import { DryRunQuery, LogQuery, MetricQuery, RunListQuery } from './params.ts';

const RunParams = z.object({ id: z.string().regex(/^[a-z0-9]{1,32}$/, 'is not a run id') });
const LogReaderParams = RunParams.extend({ reader: z.string().regex(/^[\x21-\x7e]{1,255}$/, 'is 1 to 255 printable ASCII characters without spaces') });
const ArtifactParams = RunParams.extend({ path: z.union([z.string(), z.array(z.string())]) });

const artifactPathOf = (raw: string | string[]): string => (Array.isArray(raw) ? raw.join('/') : raw);

export function runRoutes(runs: RunService, follow: FollowOptions = DEFAULT_FOLLOW): RouteDef[] {
  return [
    defineRoute({
      method: 'post',
      path: '/runs',
      tag: 'runs',
      summary: 'Submit a training run (or render it with ?dryRun=true). Honours Idempotency-Key.',
      access: { role: 'editor' },
      body: RunCreate,
      query: DryRunQuery,
      response: z.union([RunView, DryRunView]),
      successStatus: 201,
      // 200: an Idempotency-Key replay, or a dry run.
      alsoStatuses: [200],
      handler: async ({ body, query, req }) => {
        if (query.dryRun) return { status: 200, body: await runs.dryRun(body) };
        const { run, created } = await runs.submit(body, clientIdempotencyKey(req.headers['idempotency-key']));
        return { status: created ? 201 : 200, body: await runs.view(run), headers: { Location: `/api/v1/runs/${run.id}` } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/runs',
      tag: 'runs',
      summary: 'List runs, newest first; filter by state, workflow, trigger, DAG or idempotency key; include=latestMetrics adds each run\'s last metric values.',
      access: { role: 'viewer' },
      query: RunListQuery,
      response: pageOf(RunView),
      handler: async ({ query }) => ({ body: await runs.viewPage(await runs.list(query), { latestMetrics: query.include === 'latestMetrics' }) }),
    }),
    defineRoute({
      method: 'get',
      path: '/runs/:id',
      tag: 'runs',
      summary: 'A run with its events and latest metrics.',
      access: { role: 'viewer', runToken: true },
      params: RunParams,
      response: RunView,
      handler: async ({ params }) => ({ prepared: await runs.detailBody(params.id) }),
      cached: (params) => runs.cachedDetailBody(params.id),
    }),
    defineRoute({
      method: 'post',
      path: '/runs/:id/cancel',
      tag: 'runs',
      summary: 'Request cancellation; 409 when the run already ended.',
      access: { role: 'editor' },
      params: RunParams,
      body: RunCancel,
      response: RunView,
      successStatus: 202,
      handler: async ({ params, body }) => ({ body: await runs.view(await runs.cancel(params.id, body.reason, body.tryNumber ?? null)) }),
    }),
    defineRoute({
      method: 'get',
      path: '/runs/:id/log-cursors/:reader',
      tag: 'runs',
      summary: "How far a reader (e.g. an Airflow trigger) has copied the run's log; 0 when it never said.",
      access: { role: 'viewer' },
      params: LogReaderParams,
      response: LogCursorView,
      handler: async ({ params }) => ({ body: await runs.logCursor(params.id, params.reader) }),
    }),
    defineRoute({
      method: 'put',
      path: '/runs/:id/log-cursors/:reader',
      tag: 'runs',
      summary: "Record how far a reader has copied the run's log; the cursor only moves forward.",
      access: { role: 'editor' },
      params: LogReaderParams,
      body: LogCursorSet,
      response: LogCursorView,
      handler: async ({ params, body }) => ({ body: await runs.advanceLogCursor(params.id, params.reader, body.cursor) }),
    }),
    defineRoute({
      method: 'post',
      path: '/runs/:id/consume',
      tag: 'runs',
      summary: 'An Airflow try has finished with the run: a later submission under its key (a cleared task) starts a new run.',
      access: { role: 'editor' },
      params: RunParams,
      body: RunConsume,
      response: RunView,
      handler: async ({ params, body }) => ({ body: await runs.view(await runs.consume(params.id, body.tryNumber ?? null)) }),
    }),
    defineRoute({
      method: 'get',
      path: '/runs/:id/logs',
      tag: 'runs',
      summary: 'Log text from a byte cursor; follow=true streams text/plain until the run ends.',
      access: { role: 'viewer' },
      params: RunParams,
      query: LogQuery,
      response: LogChunkView,
      responseTypes: ['application/json', 'text/plain'],
      handler: async ({ params, query, res, log }) => {
        if (!query.follow) return { body: await runs.logs(params.id, query.cursor, query.limit) };
        const read = await runs.logFollower(params.id);
        res.status(200).set({ 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
        res.flushHeaders();
        await followLog(read, query.cursor, res, log, follow);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/runs/:id/metrics',
      tag: 'runs',
      summary: 'Append a batch of metrics (key, value, step, timestamp); a repeated batchId is stored once. The run token may call this.',
      access: { role: 'editor', runToken: true },
      params: RunParams,
      body: MetricsBatch,
      response: MetricsAccepted,
      successStatus: 201,
      handler: async ({ params, body }) => ({ body: await runs.recordMetrics(params.id, body.metrics, body.batchId) }),
    }),
    defineRoute({
      method: 'get',
      path: '/runs/:id/metrics',
      tag: 'runs',
      summary: 'Every metric point of a run, by key and step.',
      access: { role: 'viewer' },
      params: RunParams,
      query: MetricQuery,
      response: itemsOf(Metric),
      handler: async ({ params, query }) => ({ body: { items: await runs.metrics(params.id, query.key) } }),
    }),
    defineRoute({
      method: 'get',
      path: '/runs/:id/lineage',
      tag: 'runs',
      summary: 'What the run read (the registered model version it scored with, its dataset) and what it wrote (artifacts, a registered version).',
      access: { role: 'viewer' },
      params: RunParams,
      response: RunLineageView,
      handler: async ({ params }) => ({ body: await runs.lineage(params.id) }),
    }),
    defineRoute({
      method: 'get',
      path: '/runs/:id/artifacts',
      tag: 'runs',
      summary: 'Artifacts a run uploaded; the run itself (its checkpoints, to resume from) and a run whose input model this run made may read them with their tokens.',
      access: { role: 'viewer', runToken: true, inputModelToken: true },
      params: RunParams,
      response: itemsOf(ArtifactView),
      handler: async ({ params }) => ({ body: { items: await runs.listArtifacts(params.id) } }),
    }),
    defineRoute({
      method: 'put',
      path: '/runs/:id/artifacts/*path',
      tag: 'runs',
      summary: 'Upload an artifact (raw body); the run token may call this.',
      access: { role: 'editor', runToken: true },
      params: ArtifactParams,
      rawBody: true,
      response: ArtifactView,
      successStatus: 201,
      handler: async ({ params, req }) => ({ body: await runs.putArtifact(params.id, artifactPathOf(params.path), req) }),
    }),
    defineRoute({
      method: 'get',
      path: '/runs/:id/artifacts/*path',
      tag: 'runs',
      summary: 'Download an artifact; the run itself and a run whose input model this run made may read it with their tokens.',
      access: { role: 'viewer', runToken: true, inputModelToken: true },
      responseTypes: ['*/*'],
      response: 'bytes',
      params: ArtifactParams,
      handler: async ({ params, res }) => {
        const file = await runs.artifactFile(params.id, artifactPathOf(params.path));
        await new Promise<void>((resolve, reject) => res.sendFile(file, { dotfiles: 'allow' }, (err) => (err ? reject(err) : resolve())));
      },
    }),
  ];
}
