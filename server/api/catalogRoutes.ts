import { z } from 'zod';
import type { CatalogService } from '../services/catalogService.ts';
import { defineRoute, deleteRoute, upsertRoute, type RouteDef } from './route.ts';
import { Dataset, DatasetCreate, Feature, FeatureCreate, Model, ModelCreate, pageOf, Runtime, RuntimeCreate, Workflow, WorkflowCreate, type Page } from '../domain/index.ts';
import { NameParams, NameQuery, PageQuery, VersionParams, WorkflowCreateQuery } from './params.ts';


/**
 * Versioned definitions share one shape of routes: POST creates the next version, GET /{name} is
 * the latest, /{name}/versions/{n} one version.
 */
function versionedRoutes<T, V, Q = unknown>(
  path: string,
  tag: string,
  schema: z.ZodType<T>,
  view: z.ZodType<V>,
  ops: {
    /** The create route's query parameters, when it has any. */
    createQuery?: z.ZodType<Q>;
    createSummary?: string;
    /** What the create route answers, when it says more than the version itself. */
    createView?: z.ZodType<V>;
    create: (input: T, query: Q) => Promise<V>;
    get: (name: string, version?: number) => Promise<V>;
    list: (filter: { name?: string; limit: number; pageToken?: string }) => Promise<Page<V>>;
  },
): RouteDef[] {
  const page = pageOf(view);
  return [
    defineRoute({
      method: 'post',
      path,
      tag,
      summary: ops.createSummary ?? `Create a new ${tag} version (immutable once written).`,
      access: { role: 'editor' },
      body: schema,
      query: ops.createQuery,
      response: ops.createView ?? view,
      successStatus: 201,
      handler: async ({ body, query }) => ({ body: await ops.create(body, query as Q) }),
    }),
    defineRoute({ method: 'get', path, tag, summary: `List ${tag} versions; filter by name.`, access: { role: 'viewer' }, query: NameQuery, response: page, handler: async ({ query }) => ({ body: await ops.list(query) }) }),
    defineRoute({ method: 'get', path: `${path}/:name`, tag, summary: `The latest version of a ${tag}.`, access: { role: 'viewer' }, params: NameParams, response: view, handler: async ({ params }) => ({ body: await ops.get(params.name) }) }),
    defineRoute({
      method: 'get',
      path: `${path}/:name/versions`,
      tag,
      summary: `Every version of a ${tag}.`,
      access: { role: 'viewer' },
      params: NameParams,
      query: PageQuery,
      response: page,
      handler: async ({ params, query }) => {
        await ops.get(params.name);
        return { body: await ops.list({ ...query, name: params.name }) };
      },
    }),
    defineRoute({ method: 'get', path: `${path}/:name/versions/:version`, tag, summary: `One version of a ${tag}.`, access: { role: 'viewer' }, params: VersionParams, response: view, handler: async ({ params }) => ({ body: await ops.get(params.name, params.version) }) }),
  ];
}

export function catalogRoutes(catalog: CatalogService): RouteDef[] {
  return [
    ...versionedRoutes('/models', 'models', ModelCreate, Model, {
      create: (b) => catalog.createModel(b),
      get: (n, v) => catalog.getModel(n, v),
      list: (f) => catalog.listModels(f),
    }),
    ...versionedRoutes('/datasets', 'datasets', DatasetCreate, Dataset, {
      create: (b) => catalog.createDataset(b),
      get: (n, v) => catalog.getDataset(n, v),
      list: (f) => catalog.listDatasets(f),
    }),
    ...versionedRoutes('/workflows', 'workflows', WorkflowCreate, Workflow, {
      createQuery: WorkflowCreateQuery,
      createSummary:
        'Create a new workflow version (immutable once written). A backend this server has not configured (GET /backends) is a 422 naming `backend`, unless ?force=true: then the version is saved and the answer carries `warnings`.',
      createView: Workflow.extend({ warnings: z.array(z.string()).optional().describe('why runs of this version would fail here (a forced save)') }),
      create: (b, q) => catalog.createWorkflow(b, { force: q.force }),
      get: (n, v) => catalog.getWorkflow(n, v),
      list: (f) => catalog.listWorkflows(f),
    }),
    upsertRoute({
      path: '/features',
      tag: 'features',
      summary: 'Create or update a feature.',
      access: { role: 'editor' },
      body: FeatureCreate,
      response: Feature,
      upsert: (body) => catalog.upsertFeature(body).then(({ feature, created }) => ({ value: feature, created })),
    }),
    defineRoute({ method: 'get', path: '/features', tag: 'features', summary: 'List features.', access: { role: 'viewer' }, query: PageQuery, response: pageOf(Feature), handler: async ({ query }) => ({ body: await catalog.listFeatures(query) }) }),
    defineRoute({ method: 'get', path: '/features/:name', tag: 'features', summary: 'One feature.', access: { role: 'viewer' }, params: NameParams, response: Feature, handler: async ({ params }) => ({ body: await catalog.getFeature(params.name) }) }),
    deleteRoute({ path: '/features/:name', tag: 'features', summary: 'Delete a feature (datasets keep their recorded feature names).', access: { role: 'admin' }, params: NameParams, remove: (params) => catalog.deleteFeature(params.name) }),
    upsertRoute({
      path: '/runtimes',
      tag: 'runtimes',
      summary: 'Create or update a standard runtime (admin: the list is curated).',
      access: { role: 'admin' },
      body: RuntimeCreate,
      response: Runtime,
      upsert: (body) => catalog.upsertRuntime(body).then(({ runtime, created }) => ({ value: runtime, created })),
    }),
    defineRoute({ method: 'get', path: '/runtimes', tag: 'runtimes', summary: 'List runtimes.', access: { role: 'viewer' }, response: pageOf(Runtime), handler: async () => ({ body: { items: await catalog.listRuntimes(), nextPageToken: null } }) }),
    defineRoute({ method: 'get', path: '/runtimes/:name', tag: 'runtimes', summary: 'One runtime.', access: { role: 'viewer' }, params: NameParams, response: Runtime, handler: async ({ params }) => ({ body: await catalog.getRuntime(params.name) }) }),
    deleteRoute({ path: '/runtimes/:name', tag: 'runtimes', summary: 'Delete a runtime (runs keep their snapshot).', access: { role: 'admin' }, params: NameParams, remove: (params) => catalog.deleteRuntime(params.name) }),
  ];
}
