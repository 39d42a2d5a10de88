import { z } from 'zod';
import type { Request } from 'express';
import { actorOf, type RegistryService } from '../services/registryService.ts';
import { InputError } from '../errors.ts';
import { defineRoute, type RouteDef } from './route.ts';
import { AliasSet, LineageView, ModelVersionCreate, ModelVersionUpdate, pageOf, RegisteredModel, RegisteredModelCreate, RegisteredModelView, REGISTRY_CHANGE_KINDS, RegistryChange, RegistryChangesView, VersionView } from '../domain/index.ts';
import { NameParams, PageQuery, VersionParams } from './params.ts';

const AliasParams = NameParams.extend({ alias: z.string().regex(/^[a-z][a-z0-9_-]{0,99}$/, 'is not a valid alias') });
const VersionListQuery = PageQuery.extend({ runId: z.string().max(32).optional() });
const ChangesQuery = z.object({
  after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  model: NameParams.shape.name.optional(),
  alias: AliasParams.shape.alias.optional(),
  kind: z
    .string()
    .max(200)
    .transform((s) => s.split(',').map((k) => k.trim()).filter(Boolean))
    .pipe(z.array(z.enum(REGISTRY_CHANGE_KINDS)))
    .optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
const DeleteAliasQuery = z.object({ reason: z.string().max(2000).default('') });

/**
 * The condition of an alias move, from the body's `expectedVersion` or from the headers:
 * `If-Match: "3"` (the ETag that GET .../aliases/{alias} answers with) or `If-None-Match: *`
 * (the alias must be unset). Undefined: no condition.
 */
function expectedVersionOf(req: Request, fromBody: number | null | undefined): number | null | undefined {
  const ifMatch = req.get('if-match');
  const ifNoneMatch = req.get('if-none-match');
  let fromHeader: number | null | undefined;
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*') throw new InputError('If-None-Match: only "*" (the alias must be unset) is supported', 'If-None-Match');
    fromHeader = null;
  }
  if (ifMatch !== undefined) {
    const m = /^\s*(?:W\/)?"?(\d{1,10})"?\s*$/.exec(ifMatch);
    if (!m) throw new InputError('If-Match: give the version the alias must point at, e.g. If-Match: "3" (the ETag of GET .../aliases/{alias})', 'If-Match');
    if (fromHeader !== undefined) throw new InputError('give either If-Match or If-None-Match, not both', 'If-Match');
    fromHeader = Number(m[1]);
  }
  if (fromHeader !== undefined && fromBody !== undefined && fromHeader !== fromBody) throw new InputError('expectedVersion in the body and the If-Match/If-None-Match header disagree', 'expectedVersion');
  return fromBody !== undefined ? fromBody : fromHeader;
}

export function registryRoutes(registry: RegistryService): RouteDef[] {
  return [
    defineRoute({ method: 'post', path: '/registry/models', tag: 'registry', summary: 'Create a registered model.', access: { role: 'editor' }, body: RegisteredModelCreate, response: RegisteredModel, successStatus: 201, handler: async ({ body }) => ({ body: await registry.createModel(body.name, body.description, body.tags) }) }),
    defineRoute({ method: 'get', path: '/registry/models', tag: 'registry', summary: 'List registered models.', access: { role: 'viewer' }, query: PageQuery, response: pageOf(RegisteredModel), handler: async ({ query }) => ({ body: await registry.listModels(query) }) }),
    defineRoute({ method: 'get', path: '/registry/models/:name', tag: 'registry', summary: 'A registered model with its aliases and latest version.', access: { role: 'viewer' }, params: NameParams, response: RegisteredModelView, handler: async ({ params }) => ({ body: await registry.getModel(params.name) }) }),
    defineRoute({
      method: 'post',
      path: '/registry/models/:name/versions',
      tag: 'registry',
      summary: 'Register a version from a run or an artifact URI; the same (model, run) returns the same version (200).',
      access: { role: 'editor' },
      params: NameParams,
      body: ModelVersionCreate,
      response: VersionView,
      successStatus: 201,
      alsoStatuses: [200],
      handler: async ({ params, body, principal }) => {
        const { version, created } = await registry.registerVersion(params.name, body, { actor: actorOf(principal) });
        return { status: created ? 201 : 200, body: registry.view(version) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/registry/models/:name/versions',
      tag: 'registry',
      summary: 'Versions of a registered model, newest first.',
      access: { role: 'viewer' },
      params: NameParams,
      query: VersionListQuery,
      response: pageOf(VersionView),
      handler: async ({ params, query }) => ({ prepared: await registry.versionsPageBody({ ...query, name: params.name }) }),
    }),
    defineRoute({ method: 'get', path: '/registry/models/:name/versions/:version', tag: 'registry', summary: 'One model version.', access: { role: 'viewer' }, params: VersionParams, response: VersionView, handler: async ({ params }) => ({ prepared: await registry.versionBody(params.name, params.version) }), cached: (params) => registry.cachedVersionBody(params.name, params.version) }),
    defineRoute({
      method: 'patch',
      path: '/registry/models/:name/versions/:version',
      tag: 'registry',
      summary: 'Merge tags into a version (other tags are kept) and replace its description.',
      access: { role: 'editor' },
      params: VersionParams,
      body: ModelVersionUpdate,
      response: VersionView,
      handler: async ({ params, body, principal }) => ({ body: registry.view(await registry.updateVersion(params.name, params.version, body, actorOf(principal))) }),
    }),
    defineRoute({ method: 'get', path: '/registry/models/:name/versions/:version/lineage', tag: 'registry', summary: 'Where a version came from: run, workflow, model, dataset, features, trigger.', access: { role: 'viewer' }, params: VersionParams, response: LineageView, handler: async ({ params }) => ({ body: await registry.lineage(params.name, params.version) }) }),
    defineRoute({
      method: 'put',
      path: '/registry/models/:name/aliases/:alias',
      tag: 'registry',
      summary:
        'Point an alias (e.g. production) at a version; it moves from any other version. With expectedVersion (or If-Match: "<version>"; null or If-None-Match: * for "must be unset") the move is a compare-and-set: 409 when the alias moved meanwhile. Every move is recorded in the alias history.',
      access: { role: 'editor' },
      params: AliasParams,
      body: AliasSet,
      response: VersionView,
      handler: async ({ params, body, principal, req }) => {
        const expectedVersion = expectedVersionOf(req, body.expectedVersion);
        const version = await registry.setAlias(params.name, params.alias, body.version, { actor: actorOf(principal), reason: body.reason, expectedVersion });
        return { body: registry.view(version), headers: { ETag: `"${version.version}"` } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/registry/models/:name/aliases/:alias',
      tag: 'registry',
      summary: 'The version an alias points at; its ETag ("<version>") is what If-Match takes for a compare-and-set move.',
      access: { role: 'viewer' },
      params: AliasParams,
      response: VersionView,
      // The ETag names the version: If-None-Match is a 304 while the alias still points there.
      handler: async ({ params }) => ({ prepared: await registry.aliasBody(params.name, params.alias) }),
      cached: (params) => registry.cachedAliasBody(params.name, params.alias),
    }),
    defineRoute({
      method: 'get',
      path: '/registry/models/:name/aliases/:alias/history',
      tag: 'registry',
      summary: 'Every move of an alias, newest first: who, when, from which version to which (null: unset), and why.',
      access: { role: 'viewer' },
      params: AliasParams,
      query: PageQuery,
      response: pageOf(RegistryChange),
      handler: async ({ params, query }) => ({ body: await registry.aliasHistory(params.name, params.alias, query) }),
    }),
    defineRoute({
      method: 'delete',
      path: '/registry/models/:name/aliases/:alias',
      tag: 'registry',
      summary: 'Remove an alias (recorded in its history). If-Match: "<version>" removes it only if it still points there.',
      access: { role: 'editor' },
      params: AliasParams,
      query: DeleteAliasQuery,
      response: 'empty',
      successStatus: 204,
      handler: async ({ params, query, principal, req }) => {
        await registry.deleteAlias(params.name, params.alias, { actor: actorOf(principal), reason: query.reason, expectedVersion: expectedVersionOf(req, undefined) });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/registry/changes',
      tag: 'registry',
      summary:
        'Registry changes (versions registered, aliases moved or removed) after a cursor, oldest first, at most `limit`. Continue with after=<cursor>; `head` is the newest change, where a reader that wants only new changes starts.',
      access: { role: 'viewer' },
      query: ChangesQuery,
      response: RegistryChangesView,
      handler: async ({ query }) => ({ body: await registry.changes({ after: query.after, model: query.model, alias: query.alias, kinds: query.kind, limit: query.limit }) }),
    }),
  ];
}
