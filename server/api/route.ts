import type { NextFunction, Request, Response, Router } from 'express';
import { z } from 'zod';
import { pageOf, type Page, type Principal, type Role } from '../domain/index.ts';
import { InputError } from '../errors.ts';
import type { AuthService } from '../services/authService.ts';
import type { Logger } from '../logger.ts';
import { markRoute } from '../metrics.ts';
import type { IdempotentReplay } from './idempotency.ts';
import { refuseNul } from './inputChecks.ts';
import { plainIssue } from './plainIssue.ts';
import type { PreparedBody } from '../services/readCache.ts';
import { refuseMalformedPath, RouteTable } from './routeTable.ts';

export type Access =
  | { role: Role }
  /** A user role, or the run-scoped token of the run named by the `:id` path parameter. */
  | { role: Role; runToken: true }
  /** A user role, or the run-scoped token of a run whose input model version the `:id` run produced. */
  | { role: Role; inputModelToken: true }
  /** Either of the two above: a run reads its own artifacts (a checkpoint to resume from) and its input model's. */
  | { role: Role; runToken: true; inputModelToken: true };

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  req: Request;
  res: Response;
  /** The service logger; carries `runId` on routes under /runs/{id}. */
  log: Logger;
}

export interface Reply<R = unknown> {
  status?: number;
  body?: R;
  /** A body already serialised, with its ETag: sent as is, and a matching If-None-Match gets 304. */
  prepared?: PreparedBody;
  headers?: Record<string, string>;
}

/**
 * What a route answers with on success: the zod schema of its JSON body (a view from
 * domain/views.ts), 'empty' for a 204, or 'bytes' for a file or an archive (its media types in
 * `responseTypes`). The OpenAPI document carries it, and the handler's return type is checked
 * against it.
 */
export type ResponseSpec = z.ZodType | 'empty' | 'bytes';
type BodyOf<S extends ResponseSpec> = S extends z.ZodType ? z.output<S> : never;

/**
 * One route: its schemas, who may call it, and a handler that only parses, calls a service and
 * returns. The same declarations drive validation, authorization and the OpenAPI document.
 */
export interface RouteDef<P = any, Q = any, B = any, S extends ResponseSpec = ResponseSpec> {
  method: 'get' | 'post' | 'put' | 'delete' | 'patch';
  path: string;
  summary: string;
  tag: string;
  access: Access;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** The request body is a raw byte stream (artifact upload), not JSON. */
  rawBody?: boolean;
  /** The raw body's media types when it must be one of them (a zip), for the OpenAPI document; any type otherwise. */
  rawBodyTypes?: string[];
  successStatus?: number;
  /** Other 2xx statuses the handler answers with, e.g. 200 when a create finds what it would create. */
  alsoStatuses?: number[];
  response: S;
  responseDescription?: string;
  /** Media types of the success response, when not JSON (e.g. application/zip, or any type for an artifact). */
  responseTypes?: string[];
  handler: (ctx: RouteContext<P, Q, B>) => Promise<Reply<BodyOf<S>> | void>;
  /**
   * A GET whose handler answers a prepared body from a read cache: that body when the cache holds
   * it, without a query. The request is then answered before Express (cachedReads.ts); the handler
   * serves every other case.
   */
  cached?: (params: P) => PreparedBody | undefined;
}

export const defineRoute = <P, Q, B, S extends ResponseSpec>(def: RouteDef<P, Q, B, S>): RouteDef => def as unknown as RouteDef;

/** Turns the first zod issue into a 400 naming the field, e.g. "overrides.timeoutSeconds: must be greater than 0". */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'query' | 'path'): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  // An unknown key is reported on the object that holds it; name the key itself.
  const at = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]] : issue.path;
  const field = at.map(String).join('.') || where;
  throw new InputError(`${field}: ${plainIssue(issue, value)}`, field);
}

/** Express paths use ":id"; OpenAPI uses "{id}". */
export const openApiPath = (p: string): string => p.replace(/:(\w+)(\(\*\))?\*?/g, '{$1}').replace(/\*(\w+)/g, '{$1}');

/**
 * Mounts the routes on `router` as one handler: the route is found in a RouteTable (one tree walk,
 * not a regular expression per route), and a path no route has falls through to what comes after.
 * `replay` handles Idempotency-Key on POSTs, after authentication, authorization and validation.
 */
export function mountRoutes(router: Router, table: RouteTable<MountedRoute>, auth: AuthService, logger: Logger, replay: IdempotentReplay, readBody: BodyReader): void {
  router.use((req: Request, res: Response, next: NextFunction) => {
    const found = table.match(req.method, req.path);
    if (!found) {
      // Before the 405 and 404 that follow, which would misname a path that could not be decoded.
      refuseMalformedPath(req.path);
      return next();
    }
    req.params = found.params;
    readBody(found.value.route, req, res, (error?: unknown) => (error ? next(error) : void serve(found.value, req, res, auth, logger, replay).catch(next)));
  });
}

/** Reads (or refuses) the body a matched route takes, then calls `next`, with the error when it fails. */
export type BodyReader = (route: RouteDef, req: Request, res: Response, next: (error?: unknown) => void) => void;

/** A route with what is worked out once from its path: its OpenAPI path (the metrics' label), and whether it is under /runs/{id}. */
export interface MountedRoute {
  route: RouteDef;
  pattern: string;
  runScoped: boolean;
}

/** What AuthService.authorize needs of a route's access rule, for the run its path names. */
export const accessOptions = (access: Access, runId: string | undefined) => ({ runId, allowRunToken: 'runToken' in access, allowInputModelToken: 'inputModelToken' in access });

/** The routes by method and path, as mountRoutes and the cached-read lane find them. */
export function routeTableOf(routes: RouteDef[]): RouteTable<MountedRoute> {
  const table = new RouteTable<MountedRoute>();
  for (const route of routes) table.add(route.method, route.path, { route, pattern: openApiPath(route.path), runScoped: route.path.startsWith('/runs/:id') });
  return table;
}

async function serve({ route, pattern, runScoped }: MountedRoute, req: Request, res: Response, auth: AuthService, logger: Logger, replay: IdempotentReplay): Promise<void> {
  markRoute(res, `${req.baseUrl}${pattern}`);
  const principal = await auth.authenticate(req.headers.authorization, req.ip ?? 'unknown');
  refuseNul(req.params, 'path');
  const params = route.params ? parseOrThrow(route.params, req.params, 'path') : req.params;
  const runId = typeof (params as Record<string, unknown>).id === 'string' ? String((params as Record<string, unknown>).id) : undefined;
  if (runScoped && runId) markRoute(res, `${req.baseUrl}${pattern}`, runId);
  auth.authorize(principal, route.access.role, accessOptions(route.access, runId));
  refuseNul(req.query, 'query');
  const query = route.query ? parseOrThrow(route.query, req.query, 'query') : req.query;
  let body: unknown = undefined;
  if (route.body) {
    if (!req.is('application/json') && req.body === undefined) throw new InputError('the request body must be JSON (Content-Type: application/json)', 'body');
    refuseNul(req.body, 'body');
    body = parseOrThrow(route.body, req.body ?? {}, 'body');
  }
  // A child logger costs an object and its bindings per request; most handlers never log.
  let log: Logger | undefined;
  const context: RouteContext<unknown, unknown, unknown> = {
    params,
    query,
    body,
    principal,
    req,
    res,
    get log() {
      return (log ??= runScoped && runId ? logger.child({ runId }) : logger);
    },
  };
  const execute = async (): Promise<Reply | undefined> => {
    const reply = await route.handler(context);
    return res.headersSent ? undefined : { ...reply, status: reply?.status ?? route.successStatus ?? 200 };
  };
  const reply = await replay.around(route, principal, req, execute);
  if (!reply || res.headersSent) return;
  if (reply.headers) res.set(reply.headers);
  if (reply.prepared) {
    // Express answers 304 itself when the request's If-None-Match names this ETag.
    res.status(reply.status!).set('ETag', reply.prepared.etag).type('application/json').send(reply.prepared.json);
    return;
  }
  if (reply.body === undefined) res.status(reply.status!).end();
  else res.status(reply.status!).json(reply.body);
}

type RouteHead = Pick<RouteDef, 'path' | 'tag' | 'summary' | 'access'>;

/** The DELETE of one thing: 204 and no body; the service throws NotFound when there is nothing. */
export function deleteRoute<P>(def: RouteHead & { params: z.ZodType<P>; remove: (params: P) => Promise<void> }): RouteDef {
  const { remove, ...head } = def;
  return defineRoute({
    ...head,
    method: 'delete',
    successStatus: 204,
    response: 'empty',
    handler: async ({ params }) => {
      await remove(params);
    },
  });
}

/** A POST that creates or updates by name: 201 when it created, 200 when it replaced what was there. */
export function upsertRoute<B, V>(def: RouteHead & { body: z.ZodType<B>; response: z.ZodType<V>; upsert: (body: B) => Promise<{ value: V; created: boolean }> }): RouteDef {
  const { upsert, ...head } = def;
  return defineRoute({
    ...head,
    method: 'post',
    successStatus: 201,
    alsoStatuses: [200],
    handler: async ({ body }) => {
      const { value, created } = await upsert(body);
      return { status: created ? 201 : 200, body: value };
    },
  });
}

/** A PUT that creates or replaces the thing its path names: 201 when it created, 200 when it replaced. */
export function replaceRoute<P, B, V>(
  def: RouteHead & { params: z.ZodType<P>; body: z.ZodType<B>; response: z.ZodType<V>; replace: (params: P, body: B, principal: Principal) => Promise<{ value: V; created: boolean }> },
): RouteDef {
  const { replace, ...head } = def;
  return defineRoute({
    ...head,
    method: 'put',
    successStatus: 201,
    alsoStatuses: [200],
    handler: async ({ params, body, principal }) => {
      const { value, created } = await replace(params, body, principal);
      return { status: created ? 201 : 200, body: value };
    },
  });
}

/** The GET of one thing by its path parameters. */
export function getRoute<P, V>(def: RouteHead & { params: z.ZodType<P>; response: z.ZodType<V>; read: (params: P) => Promise<V> }): RouteDef {
  const { read, ...head } = def;
  return defineRoute({ ...head, method: 'get', handler: async ({ params }) => ({ body: await read(params) }) });
}

/** The GET of a list short enough never to be paged (queues, secrets): all of it, in the page shape. */
export function wholeListRoute<V>(def: RouteHead & { item: z.ZodType<V>; list: () => Promise<V[]> }): RouteDef {
  const { list, item, ...head } = def;
  return defineRoute({
    ...head,
    method: 'get',
    response: z.object({ items: z.array(item), nextPageToken: z.null() }),
    handler: async () => ({ body: { items: await list(), nextPageToken: null } }),
  });
}

/** A page of stored things with each turned into its response view. */
export async function viewPage<T, V>(page: Page<T>, view: (item: T) => V | Promise<V>): Promise<Page<V>> {
  return { items: await Promise.all(page.items.map(view)), nextPageToken: page.nextPageToken };
}

/** A viewer's GET of a list: one page of stored things filtered by the query, each in its view. */
export function listRoute<Q, T, V>(
  def: Pick<RouteDef, 'path' | 'tag' | 'summary'> & { query: z.ZodType<Q>; item: z.ZodType<V>; list: (query: Q) => Promise<Page<T>>; view: (item: T) => V | Promise<V> },
): RouteDef {
  const { list, view, item, ...head } = def;
  return defineRoute({ ...head, method: 'get', access: { role: 'viewer' }, response: pageOf(item), handler: async ({ query }) => ({ body: await viewPage(await list(query), view) }) });
}
