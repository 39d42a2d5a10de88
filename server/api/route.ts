import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import type { Principal, Role } from '../domain.ts';
import { InputError } from '../errors.ts';
import type { AuthService } from '../services/authService.ts';
import type { Logger } from '../logger.ts';
import { markRoute } from '../metrics.ts';
import type { IdempotentReplay } from './idempotency.ts';
import { refuseNul } from './inputChecks.ts';

export type Access =
  | { role: Role }
  /** A user role, or the run-scoped token of the run named by the `:id` path parameter. */
  | { role: Role; runToken: true }
  /** A user role, or the run-scoped token of a run whose input model version the `:id` run produced. */
  | { role: Role; inputModelToken: true };

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

export interface Reply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/**
 * One route: its schemas, who may call it, and a handler that only parses, calls a service and
 * returns. The same declarations drive validation, authorization and the OpenAPI document.
 */
export interface RouteDef<P = any, Q = any, B = any> {
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
  successStatus?: number;
  /** Other 2xx statuses the handler answers with, e.g. 200 when a create finds what it would create. */
  alsoStatuses?: number[];
  responseDescription?: string;
  /** Media types of the success response, when not JSON (e.g. application/zip, or any type for an artifact). */
  responseTypes?: string[];
  handler: (ctx: RouteContext<P, Q, B>) => Promise<Reply | void>;
}

export const defineRoute = <P, Q, B>(def: RouteDef<P, Q, B>): RouteDef<P, Q, B> => def;

/** Turns the first zod issue into a 400 naming the field, e.g. "overrides.timeoutSeconds". */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'query' | 'path'): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  // An unknown key is reported on the object that holds it; name the key itself.
  const at = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]] : issue.path;
  const field = at.map(String).join('.') || where;
  throw new InputError(`${field}: ${issue.message}`, field);
}

/** Express paths use ":id"; OpenAPI uses "{id}". */
export const openApiPath = (p: string): string => p.replace(/:(\w+)(\(\*\))?\*?/g, '{$1}').replace(/\*(\w+)/g, '{$1}');

/** `replay` handles Idempotency-Key on POSTs, after authentication, authorization and validation. */
export function mountRoutes(router: Router, routes: RouteDef[], auth: AuthService, logger: Logger, replay?: IdempotentReplay): void {
  for (const route of routes) {
    const pattern = openApiPath(route.path);
    const runScoped = route.path.startsWith('/runs/:id');
    router[route.method](route.path, async (req: Request, res: Response) => {
      markRoute(res, `${req.baseUrl}${pattern}`);
      const principal = await auth.authenticate(req.headers.authorization, req.ip ?? 'unknown');
      refuseNul(req.params, 'path');
      const params = route.params ? parseOrThrow(route.params, req.params, 'path') : req.params;
      const runId = typeof (params as Record<string, unknown>).id === 'string' ? String((params as Record<string, unknown>).id) : undefined;
      if (runScoped && runId) markRoute(res, `${req.baseUrl}${pattern}`, runId);
      auth.authorize(principal, route.access.role, { runId, allowRunToken: 'runToken' in route.access, allowInputModelToken: 'inputModelToken' in route.access });
      refuseNul(req.query, 'query');
      const query = route.query ? parseOrThrow(route.query, req.query, 'query') : req.query;
      let body: unknown = undefined;
      if (route.body) {
        if (!req.is('application/json') && req.body === undefined) throw new InputError('the request body must be JSON (Content-Type: application/json)', 'body');
        refuseNul(req.body, 'body');
        body = parseOrThrow(route.body, req.body ?? {}, 'body');
      }
      const log = runScoped && runId ? logger.child({ runId }) : logger;
      const execute = async (): Promise<Reply | undefined> => {
        const reply = await route.handler({ params, query, body, principal, req, res, log });
        return res.headersSent ? undefined : { ...reply, status: reply?.status ?? route.successStatus ?? 200 };
      };
      const reply = replay ? await replay.around(route, principal, req, execute) : await execute();
      if (!reply || res.headersSent) return;
      if (reply.headers) res.set(reply.headers);
      if (reply.body === undefined) res.status(reply.status!).end();
      else res.status(reply.status!).json(reply.body);
    });
  }
}
