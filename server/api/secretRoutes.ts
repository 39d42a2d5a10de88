import { z } from 'zod';
import type { SecretService } from '../services/secretService.ts';
import { defineRoute, type RouteDef } from './route.ts';
import { SecretPut, SecretView } from '../domain/index.ts';
import { SecretParams } from './secretSchemas.ts';

/**
 * Admin-only secrets. Create and update are one idempotent PUT, so no Idempotency-Key replay
 * store ever sees a request carrying a value.
 */
export function secretRoutes(secrets: SecretService): RouteDef[] {
  return [
    defineRoute({
      method: 'get',
      path: '/secrets',
      tag: 'secrets',
      summary: 'List secrets: names and metadata, never values.',
      access: { role: 'admin' },
      response: z.object({ items: z.array(SecretView), nextPageToken: z.null() }),
      handler: async () => ({ body: { items: await secrets.list(), nextPageToken: null } }),
    }),
    defineRoute({
      method: 'get',
      path: '/secrets/:name',
      tag: 'secrets',
      summary: "One secret's metadata (never its value).",
      access: { role: 'admin' },
      params: SecretParams,
      response: SecretView,
      handler: async ({ params }) => ({ body: await secrets.get(params.name) }),
    }),
    defineRoute({
      method: 'put',
      path: '/secrets/:name',
      tag: 'secrets',
      summary: 'Create a secret or replace its value; the value is encrypted at rest and never returned.',
      access: { role: 'admin' },
      params: SecretParams,
      body: SecretPut,
      successStatus: 201,
      alsoStatuses: [200],
      response: SecretView,
      handler: async ({ params, body, principal }) => {
        const by = principal.kind === 'user' ? principal.name : null;
        const { secret, created } = await secrets.put(params.name, body.value, body.description, by);
        return { status: created ? 201 : 200, body: secret };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/secrets/:name',
      tag: 'secrets',
      summary: 'Delete a secret; runs that reference it fail to launch from then on.',
      access: { role: 'admin' },
      params: SecretParams,
      response: 'empty',
      successStatus: 204,
      handler: async ({ params }) => {
        await secrets.delete(params.name);
      },
    }),
  ];
}
