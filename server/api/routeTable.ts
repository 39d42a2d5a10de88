import FindMyWay, { type HTTPMethod } from 'find-my-way';
import { InputError } from '../errors.ts';

/** Path parameters as the routes' schemas read them; a wildcard ("*path") is the rest of the path, decoded. */
export type PathParams = Record<string, string>;

/** Longest path parameter matched (an artifact's path is one); longer ones find no route. */
const MAX_PARAM_CHARS = 8_192;

/**
 * Routes by method and path, found in one walk of a radix tree (find-my-way, Fastify's router).
 *
 * Express tries its routes one after another, a regular expression each: a read of an alias walked
 * some forty of them before its own, and that walk was a tenth of the service's CPU under a
 * poller's load. Matching follows Express's defaults: case-insensitive paths (parameters keep
 * their case), a trailing slash ignored, parameters percent-decoded, HEAD served by GET.
 */
export class RouteTable<T> {
  private readonly tree = FindMyWay({ caseSensitive: false, ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_CHARS });
  private readonly methods = new Set<HTTPMethod>();
  /** The name of each path's wildcard parameter, by the tree's path ("/runs/:id/artifacts/*"). */
  private readonly wildcardNames = new Map<string, string>();

  /** `path` in Express's syntax: ":name" a segment, "*name" the rest of the path. */
  add(method: string, path: string, value: T): void {
    const wildcard = /\/\*(\w+)$/.exec(path);
    const treePath = wildcard ? `${path.slice(0, wildcard.index)}/*` : path;
    if (wildcard) this.wildcardNames.set(treePath, wildcard[1]);
    const verbs: HTTPMethod[] = method.toUpperCase() === 'GET' ? ['GET', 'HEAD'] : [method.toUpperCase() as HTTPMethod];
    for (const verb of verbs) {
      this.tree.on(verb, treePath, () => {}, { value, treePath });
      this.methods.add(verb);
    }
  }

  /** The route `method path` names, with its parameters; undefined when none does (see refuseMalformedPath). */
  match(method: string, path: string): { value: T; params: PathParams } | undefined {
    if (!this.methods.has(method as HTTPMethod)) return undefined;
    const found = this.tree.find(method as HTTPMethod, path);
    if (!found) return undefined;
    const { value, treePath } = found.store as { value: T; treePath: string };
    const params = { ...(found.params as PathParams) };
    const wildcardName = this.wildcardNames.get(treePath);
    if (wildcardName !== undefined) {
      params[wildcardName] = params['*'];
      delete params['*'];
    }
    return { value, params };
  }
}

/**
 * A path the tree could not decode (it finds no route for it): a 400 naming it, as Express
 * answered a malformed parameter. For the paths a mount owns only; elsewhere (the web UI's
 * paths) such a path is not an API error.
 */
export function refuseMalformedPath(path: string): void {
  try {
    decodeURIComponent(path);
  } catch {
    throw new InputError(`the path ${JSON.stringify(path.slice(0, 200))} has a malformed percent-escape; encode "%" as %25`, 'path');
  }
}
