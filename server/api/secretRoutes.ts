import type { SecretService } from '../services/secretService.ts';
import { deleteRoute, getRoute, replaceRoute, wholeListRoute, type RouteDef } from './route.ts';
import { SecretPut, SecretView, userNameOf } from '../domain/index.ts';
import { SecretParams } from './secretSchemas.ts';

/**
 * Admin-only secrets. Create and update are one idempotent PUT, so no Idempotency-Key replay
 * store ever sees a request carrying a value.
 */
export function secretRoutes(secrets: SecretService): RouteDef[] {
  const head = { tag: 'secrets', access: { role: 'admin' } } as const;
  return [
    wholeListRoute({ ...head, path: '/secrets', summary: 'List secrets: names and metadata, never values.', item: SecretView, list: () => secrets.list() }),
    getRoute({ ...head, path: '/secrets/:name', summary: "One secret's metadata (never its value).", params: SecretParams, response: SecretView, read: ({ name }) => secrets.get(name) }),
    replaceRoute({
      ...head,
      path: '/secrets/:name',
      summary: 'Create a secret or replace its value; the value is encrypted at rest and never returned.',
      params: SecretParams,
      body: SecretPut,
      response: SecretView,
      replace: async ({ name }, body, principal) => {
        const { secret, created } = await secrets.put(name, body.value, body.description, userNameOf(principal));
        return { value: secret, created };
      },
    }),
    deleteRoute({ ...head, path: '/secrets/:name', summary: 'Delete a secret; runs that reference it fail to launch from then on.', params: SecretParams, remove: ({ name }) => secrets.delete(name) }),
  ];
}
