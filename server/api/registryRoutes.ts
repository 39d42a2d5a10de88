import { z } from 'zod';
import type { RegistryService } from '../services/registryService.ts';
import { defineRoute, type RouteDef } from './route.ts';
import { AliasSet, ModelVersionCreate, ModelVersionUpdate, NameParams, PageQuery, RegisteredModelCreate, VersionParams } from './schemas.ts';

const AliasParams = NameParams.extend({ alias: z.string().regex(/^[a-z][a-z0-9_-]{0,99}$/, 'is not a valid alias') });
const VersionListQuery = PageQuery.extend({ runId: z.string().max(32).optional() });

export function registryRoutes(registry: RegistryService): RouteDef[] {
  return [
    defineRoute({ method: 'post', path: '/registry/models', tag: 'registry', summary: 'Create a registered model.', access: { role: 'editor' }, body: RegisteredModelCreate, successStatus: 201, handler: async ({ body }) => ({ body: await registry.createModel(body.name, body.description, body.tags) }) }),
    defineRoute({ method: 'get', path: '/registry/models', tag: 'registry', summary: 'List registered models.', access: { role: 'viewer' }, query: PageQuery, handler: async ({ query }) => ({ body: await registry.listModels(query) }) }),
    defineRoute({ method: 'get', path: '/registry/models/:name', tag: 'registry', summary: 'A registered model with its aliases and latest version.', access: { role: 'viewer' }, params: NameParams, handler: async ({ params }) => ({ body: await registry.getModel(params.name) }) }),
    defineRoute({
      method: 'post',
      path: '/registry/models/:name/versions',
      tag: 'registry',
      summary: 'Register a version from a run or an artifact URI; the same (model, run) returns the same version (200).',
      access: { role: 'editor' },
      params: NameParams,
      body: ModelVersionCreate,
      successStatus: 201,
      alsoStatuses: [200],
      handler: async ({ params, body }) => {
        const { version, created } = await registry.registerVersion(params.name, body);
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
      handler: async ({ params, query }) => {
        await registry.getModel(params.name);
        const page = await registry.listVersions({ ...query, name: params.name });
        return { body: { items: page.items.map((v) => registry.view(v)), nextPageToken: page.nextPageToken } };
      },
    }),
    defineRoute({ method: 'get', path: '/registry/models/:name/versions/:version', tag: 'registry', summary: 'One model version.', access: { role: 'viewer' }, params: VersionParams, handler: async ({ params }) => ({ prepared: await registry.versionBody(params.name, params.version) }) }),
    defineRoute({
      method: 'patch',
      path: '/registry/models/:name/versions/:version',
      tag: 'registry',
      summary: 'Merge tags into a version (other tags are kept) and replace its description.',
      access: { role: 'editor' },
      params: VersionParams,
      body: ModelVersionUpdate,
      handler: async ({ params, body }) => ({ body: registry.view(await registry.updateVersion(params.name, params.version, body)) }),
    }),
    defineRoute({ method: 'get', path: '/registry/models/:name/versions/:version/lineage', tag: 'registry', summary: 'Where a version came from: run, workflow, model, dataset, features, trigger.', access: { role: 'viewer' }, params: VersionParams, handler: async ({ params }) => ({ body: await registry.lineage(params.name, params.version) }) }),
    defineRoute({ method: 'put', path: '/registry/models/:name/aliases/:alias', tag: 'registry', summary: 'Point an alias (e.g. production) at a version; it moves from any other version.', access: { role: 'editor' }, params: AliasParams, body: AliasSet, handler: async ({ params, body }) => ({ body: registry.view(await registry.setAlias(params.name, params.alias, body.version)) }) }),
    defineRoute({ method: 'get', path: '/registry/models/:name/aliases/:alias', tag: 'registry', summary: 'The version an alias points at.', access: { role: 'viewer' }, params: AliasParams, handler: async ({ params }) => ({ prepared: await registry.aliasBody(params.name, params.alias) }) }),
    defineRoute({
      method: 'delete',
      path: '/registry/models/:name/aliases/:alias',
      tag: 'registry',
      summary: 'Remove an alias.',
      access: { role: 'editor' },
      params: AliasParams,
      successStatus: 204,
      handler: async ({ params }) => {
        await registry.deleteAlias(params.name, params.alias);
      },
    }),
  ];
}
