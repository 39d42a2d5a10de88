import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import express, { type Request, type Response, type NextFunction } from 'express';
import type { Knex } from 'knex';
import type { Logger } from './logger.ts';
import type { Config } from './config.ts';
import { PROJECT_ROOT } from './config.ts';
import { NotFound, UnsupportedMediaType } from './errors.ts';
import { checkDepth } from './api/inputChecks.ts';
import { methodNotAllowed, methodsByPath } from './api/methods.ts';
import { errorHandler } from './api/errorHandler.ts';
import { mountRoutes, routeTableOf, type BodyReader, type RouteDef } from './api/route.ts';
import { cachedReadLane } from './api/cachedReads.ts';
import { IdempotentReplay } from './api/idempotency.ts';
import type { IdempotencyStore } from './store/idempotencyStore.ts';
import { buildOpenApi } from './api/openapi.ts';
import { mountHealth } from './api/metaRoutes.ts';
import { runRoutes } from './api/runsRoutes.ts';
import { DEFAULT_FOLLOW } from './api/logFollow.ts';
import { catalogRoutes } from './api/catalogRoutes.ts';
import { registryRoutes } from './api/registryRoutes.ts';
import { tokenRoutes } from './api/tokenRoutes.ts';
import { operatorRoutes } from './api/operatorRoutes.ts';
import type { AuthService } from './services/authService.ts';
import type { CatalogService } from './services/catalogService.ts';
import type { RunService } from './services/runService.ts';
import type { RegistryService } from './services/registryService.ts';
import type { Metrics } from './metrics.ts';
import type { MlflowService } from './services/mlflowService.ts';
import { mlflowRouter } from './api/mlflow/mount.ts';
import { mlflowRoutes } from './api/mlflow/routes.ts';

export interface AppDeps {
  config: Config;
  db: Knex;
  logger: Logger;
  auth: AuthService;
  catalog: CatalogService;
  runs: RunService;
  registry: RegistryService;
  /** Prometheus metrics (GET /metrics, viewer token) and per-route API latency. */
  metrics: Metrics;
  /** Idempotency-Key on mutating POSTs other than run submission. */
  idempotency: IdempotencyStore;
  /** MLflow's tracking and registry REST API under /api/2.0/mlflow (the real mlflow client's). */
  mlflow: MlflowService;
  /** Route groups wired beside the core ones (schedules, run bundles). */
  extraRoutes: RouteDef[];
}

export const API_VERSION = '1.0.0';
const WEB_DIST = path.join(PROJECT_ROOT, 'server', 'web', 'dist');

export function allRoutes(deps: AppDeps): RouteDef[] {
  return [...runRoutes(deps.runs, { ...DEFAULT_FOLLOW, stallMs: deps.config.logFollowStallSeconds * 1000 }), ...catalogRoutes(deps.catalog), ...registryRoutes(deps.registry), ...tokenRoutes(deps.auth), ...operatorRoutes(), ...deps.extraRoutes];
}

/** Builds the HTTP app from already-wired services; it starts nothing and owns no state. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // The client address (rate limits, logs) is the socket's unless a proxy is configured: trusting
  // X-Forwarded-For from anyone would let a client pick a fresh address for every request.
  app.set('trust proxy', deps.config.trustProxy);
  app.set('json spaces', 0);
  app.use(deps.metrics.requestObserver(deps.logger));

  const routes = allRoutes(deps);
  const openApi = buildOpenApi(routes, API_VERSION);

  // The API first: its requests, the hot ones, then pass no other layer on their way in.
  const api = express.Router();
  const jsonBody = express.json({ limit: deps.config.maxBodyBytes, strict: true, type: ['application/json', 'application/*+json'] });
  const readBody: BodyReader = (route, req, res, next) => {
    // Artifact uploads stream their raw body; everything else is JSON.
    if (req.method === 'PUT' && /\/artifacts\//.test(req.path)) return refuseEncodedUpload(req, next);
    if (route.rawBody || req.method === 'GET' || req.method === 'HEAD') return next();
    jsonBody(req, res, (error?: unknown) => {
      if (error) return next(error);
      try {
        // Before anything hashes or walks the body (idempotency, canonicalJson, zod).
        checkDepth(req.body);
      } catch (tooDeep) {
        return next(tooDeep);
      }
      next();
    });
  };
  const replay = new IdempotentReplay(deps.idempotency, { instanceId: deps.config.instanceId, leaseMs: deps.config.idempotencyLeaseSeconds * 1000 }, deps.logger);
  const table = routeTableOf(routes);
  mountRoutes(api, table, deps.auth, deps.logger, replay, readBody);
  api.get('/openapi.json', (_req, res) => {
    res.json(openApi);
  });
  api.use(methodNotAllowed(methodsByPath([...routes, { method: 'get', path: '/openapi.json' }])));
  api.use((req: Request) => {
    throw new NotFound(`no API route ${req.method} ${req.baseUrl}${req.path}`);
  });
  app.use('/api/v1', api);

  mountHealth(app, deps.db);
  mountMetrics(app, deps.metrics, deps.auth);
  if (deps.mlflow) app.use(mlflowRouter(mlflowRoutes(deps.mlflow), deps.auth, deps.logger, deps.config.maxBodyBytes, (runId, ownRunId) => deps.mlflow!.isNestedIn(runId, ownRunId)));
  app.use('/api', (req: Request) => {
    throw new NotFound(`no API route ${req.method} ${req.originalUrl.split('?')[0]}; the API lives under /api/v1`);
  });

  mountWeb(app);
  // Outside the API everything (UI, probes, /metrics) is read-only.
  app.use(methodNotAllowed(() => ['GET', 'HEAD']));
  app.use(errorHandler(deps.logger));
  answerCachedReadsFirst(app, cachedReadLane(table, deps.auth, deps.metrics.requestRecorder(deps.logger)));
  return app;
}

/**
 * An Express app is a function that hands every request to `app.handle`: wrapping that one method
 * puts the cached-read lane in front of everything Express does, wherever the app is served from
 * (app.listen, http.createServer(app), supertest).
 */
function answerCachedReadsFirst(app: express.Express, lane: (req: IncomingMessage, res: ServerResponse) => boolean): void {
  const handle = (app as unknown as { handle: (req: IncomingMessage, res: ServerResponse, next?: NextFunction) => void }).handle.bind(app);
  Object.assign(app, {
    handle(req: IncomingMessage, res: ServerResponse, next?: NextFunction) {
      if (!lane(req, res)) handle(req, res, next);
    },
  });
}

/** Artifacts are stored byte for byte: a compressed upload would be stored compressed, under the name of the plain file. */
function refuseEncodedUpload(req: Request, next: NextFunction): void {
  const encoding = String(req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity') throw new UnsupportedMediaType(`artifact uploads are stored as sent; send them without Content-Encoding (got "${encoding}")`, 'Content-Encoding');
  next();
}

/**
 * Outside /api/v1 like the health probes, but not open: run counts and route latencies describe
 * the deployment, so a scrape needs a viewer token (Prometheus: `authorization: {credentials_file: ...}`).
 */
function mountMetrics(app: express.Express, metrics: Metrics, auth: AuthService): void {
  app.get('/metrics', async (req: Request, res: Response) => {
    auth.authorize(await auth.authenticate(req.headers.authorization, req.ip ?? 'unknown'), 'viewer');
    const { contentType, body } = await metrics.scrape();
    res.set('Content-Type', contentType).send(body);
  });
}

/** The web UI: built assets when present, and index.html for client-side routes such as /runs/{id}. */
function mountWeb(app: express.Express): void {
  const dist = fs.existsSync(path.join(WEB_DIST, 'index.html')) ? WEB_DIST : path.join(PROJECT_ROOT, 'server', 'web', 'fallback');
  // index.html is revalidated so a rebuilt UI (new hashed asset names) is picked up at once.
  const noCacheHtml = (res: Response, file: string) => file.endsWith('.html') && res.setHeader('Cache-Control', 'no-cache');
  app.use(express.static(dist, { index: 'index.html', maxAge: '1h', setHeaders: noCacheHtml }));
  app.get(/^\/(?!api\/).*/, (_req, res) => {
    res.sendFile(path.join(dist, 'index.html'));
  });
}
