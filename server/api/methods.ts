import type { NextFunction, Request, Response } from 'express';
import { MethodNotAllowed } from '../errors.ts';
import type { RouteDef } from './route.ts';

/** A route path ("/runs/:id/artifacts/*path") as a regular expression over request paths. */
function patternOf(routePath: string): RegExp {
  const source = routePath
    .split('/')
    .map((segment) => {
      if (segment.startsWith(':')) return '[^/]+';
      if (segment.startsWith('*')) return '.+';
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${source}/?$`);
}

/**
 * The methods each declared path answers, for the 405 a request with another method on a known
 * path gets (RFC 9110: with an Allow header), and for OPTIONS. HEAD comes with every GET.
 */
export function methodsByPath(routes: Array<Pick<RouteDef, 'method' | 'path'>>): (requestPath: string) => string[] | undefined {
  const table = new Map<string, { pattern: RegExp; methods: Set<string> }>();
  for (const route of routes) {
    const entry = table.get(route.path) ?? { pattern: patternOf(route.path), methods: new Set<string>() };
    entry.methods.add(route.method.toUpperCase());
    if (route.method === 'get') entry.methods.add('HEAD');
    table.set(route.path, entry);
  }
  return (requestPath) => {
    const methods = new Set<string>();
    for (const { pattern, methods: these } of table.values()) if (pattern.test(requestPath)) these.forEach((m) => methods.add(m));
    return methods.size ? [...methods].sort() : undefined;
  };
}

/**
 * Placed after the routes of a router: a known path asked with a method it does not have is a
 * 405 naming the methods it has (OPTIONS gets 204 with the same Allow header); an unknown path
 * falls through to the 404.
 */
export function methodNotAllowed(allowed: (requestPath: string) => string[] | undefined) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const methods = allowed(req.path);
    if (!methods) return next();
    const allow = methods.join(', ');
    if (req.method === 'OPTIONS') {
      res.set('Allow', allow).status(204).end();
      return;
    }
    throw new MethodNotAllowed(`${req.method} is not supported on ${req.baseUrl}${req.path}; use ${allow}`, allow);
  };
}
