import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z as zod, type z } from 'zod';
import { MlflowErrorBody } from './schemas.ts';
import type { Principal, Role } from '../../domain/index.ts';
import { GriffinError, InputError, NotFound, UnsupportedMediaType } from '../../errors.ts';
import { mlflowCodeOf } from '../../services/mlflowModel.ts';
import type { AuthService } from '../../services/authService.ts';
import type { Logger } from '../../logger.ts';
import { markRoute } from '../../metrics.ts';
import { storageFault } from '../../db/connect.ts';
import { parseOrThrow } from '../route.ts';
import { refuseNul } from '../inputChecks.ts';
import { refuseMalformedPath, RouteTable } from '../routeTable.ts';

export interface MlflowContext<Q, B> {
  query: Q;
  body: B;
  params: Record<string, unknown>;
  principal: Principal;
  req: Request;
  res: Response;
}

/**
 * One MLflow route. `runScope` names the run a request writes to or reads, so that a run-scoped
 * token (MLFLOW_TRACKING_TOKEN inside a run) passes only for its own run and the runs nested in it.
 */
export interface MlflowRouteDef<Q = any, B = any> {
  method: 'get' | 'post' | 'put' | 'delete' | 'patch';
  /** From the root, e.g. /api/2.0/mlflow/runs/get. */
  path: string;
  summary: string;
  role: Role;
  runScope?: (ctx: { query: Q; body: B; params: Record<string, unknown>; principal: Principal }) => string | undefined | Promise<string | undefined>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  rawBody?: boolean;
  response: z.ZodType;
  responseTypes?: string[];
  handler: (ctx: MlflowContext<Q, B>) => Promise<unknown>;
}

const schemaOf = (schema: z.ZodType, io: 'input' | 'output') => {
  const out = zod.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete out.$schema;
  return out;
};

/** The OpenAPI document of the MLflow routes: request and response schemas, role, run-token scope. */
export function mlflowOpenApi(routes: MlflowRouteDef[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const error = { description: "MLflow's error shape", content: { 'application/json': { schema: schemaOf(MlflowErrorBody, 'output') } } };
  for (const route of routes) {
    const p = route.path.replace(/[*:](\w+)/g, '{$1}');
    const query = route.query ? (schemaOf(route.query, 'input') as { properties?: Record<string, unknown>; required?: string[] }) : undefined;
    paths[p] = {
      ...(paths[p] ?? {}),
      [route.method]: {
        summary: route.summary,
        tags: ['mlflow'],
        'x-griffin-role': route.role,
        'x-griffin-run-token': route.runScope !== undefined,
        parameters: [
          ...[...p.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
          ...Object.entries(query?.properties ?? {}).map(([name, schema]) => ({ name, in: 'query', required: (query?.required ?? []).includes(name), schema })),
        ],
        ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(route.body, 'input') } } } } : {}),
        responses: {
          '200': { description: 'Success', content: Object.fromEntries((route.responseTypes ?? ['application/json']).map((t) => [t, { schema: t === 'application/json' ? schemaOf(route.response, 'output') : {} }])) },
          '400': error,
          '401': error,
          '403': error,
          '404': error,
          '503': error,
        },
      },
    };
  }
  return { openapi: '3.1.0', info: { title: "Griffin's MLflow REST API", version: '2.0' }, security: [{ bearer: [] }], components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } }, paths };
}

export const defineMlflowRoute = <Q, B>(def: MlflowRouteDef<Q, B>): MlflowRouteDef<Q, B> => def;

/** MLflow's error shape, `{"error_code": ..., "message": ...}`, with the status MLflow's server uses. */
function mlflowErrors(logger: Logger) {
  return (error: unknown, req: Request, res: Response, _next: NextFunction): void => {
    let status = 500;
    let body = { error_code: 'INTERNAL_ERROR', message: 'internal error; the server log has details' };
    const parser = error as { type?: string; status?: number; expose?: boolean; message?: string };
    if (error instanceof GriffinError) {
      const code = mlflowCodeOf(error);
      status = code === 'RESOURCE_ALREADY_EXISTS' || code === 'INVALID_STATE' ? 400 : error.status;
      body = { error_code: code, message: error.message };
    } else if (typeof parser?.status === 'number' && parser.status >= 400 && parser.status < 500 && parser.expose) {
      status = parser.status;
      body = { error_code: 'INVALID_PARAMETER_VALUE', message: parser.type === 'entity.parse.failed' ? 'the request body is not valid JSON' : `the request body could not be read (${parser.message})` };
    } else if (storageFault(error)) {
      status = 503;
      body = { error_code: 'TEMPORARILY_UNAVAILABLE', message: 'the metadata database cannot serve this request right now; retry shortly' };
      res.set('Retry-After', '1');
    } else {
      logger.error({ err: error, method: req.method, path: req.path }, 'unhandled error on the MLflow API');
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(status).json(body);
  };
}

/** Whether `runId` is nested in the run `ownRunId` (the run a run token belongs to). */
export type NestedIn = (runId: string, ownRunId: string) => Promise<boolean>;

/** The MLflow routes on one router: JSON bodies (raw for artifact uploads), bearer auth, role checks, MLflow errors. */
export function mlflowRouter(routes: MlflowRouteDef[], auth: AuthService, logger: Logger, maxBodyBytes: number, nestedIn: NestedIn): Router {
  const router = express.Router();
  const jsonBody = express.json({ limit: maxBodyBytes, strict: true, type: ['application/json', 'application/*+json'] });
  // One tree walk finds the route (see RouteTable); a path no route has falls through.
  const table = new RouteTable<MlflowRouteDef>();
  for (const route of routes) table.add(route.method, route.path, route);
  router.use((req: Request, res: Response, next: NextFunction) => {
    const found = table.match(req.method, req.path);
    if (!found) return next();
    req.params = found.params;
    const route = found.value;
    const serve = () => void serveMlflow(route, req, res, auth, nestedIn).catch(next);
    if (route.rawBody) serve();
    else jsonBody(req, res, (error?: unknown) => (error ? next(error) : serve()));
  });
  const openApi = mlflowOpenApi(routes);
  router.get('/api/2.0/mlflow/openapi.json', (_req: Request, res: Response) => {
    res.json(openApi);
  });
  router.use(['/api/2.0', '/api/3.0', '/ajax-api'], (req: Request) => {
    refuseMalformedPath(req.originalUrl.split('?')[0]);
    throw new NotFound(`no MLflow API route ${req.method} ${req.originalUrl.split('?')[0]}`);
  });
  router.use(mlflowErrors(logger));
  return router;
}

async function serveMlflow(route: MlflowRouteDef, req: Request, res: Response, auth: AuthService, nestedIn: NestedIn): Promise<void> {
  markRoute(res, route.path);
  const principal = await auth.authenticate(req.headers.authorization, req.ip ?? 'unknown');
  refuseNul(req.params, 'path');
  refuseNul(req.query, 'query');
  const query = route.query ? parseOrThrow(route.query, req.query, 'query') : req.query;
  let body: unknown;
  if (route.rawBody) {
    const encoding = String(req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (encoding !== 'identity') throw new UnsupportedMediaType(`artifact uploads are stored as sent; send them without Content-Encoding (got "${encoding}")`, 'Content-Encoding');
  } else if (route.body) {
    if (req.body === undefined) throw new InputError('the request body must be JSON (Content-Type: application/json)', 'body');
    refuseNul(req.body, 'body');
    body = parseOrThrow(route.body, req.body ?? {}, 'body');
  }
  const params = req.params as Record<string, unknown>;
  let runId = await route.runScope?.({ query, body, params, principal });
  // A run nested in the token's own run (its process created it) is the token's to write to.
  if (principal.kind === 'run' && runId !== undefined && runId !== principal.runId && (await nestedIn(runId, principal.runId))) runId = principal.runId;
  auth.authorize(principal, route.role, { runId, allowRunToken: route.runScope !== undefined });
  const reply = await route.handler({ query, body, params, principal, req, res });
  if (!res.headersSent) res.status(200).json(reply);
}
