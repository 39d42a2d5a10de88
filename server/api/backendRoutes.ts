import type { ExecutorRegistry } from '../executors/registry.ts';
import { defineRoute, type RouteDef } from './route.ts';
import { BACKENDS, BackendStatusView, pageOf } from '../domain/index.ts';

/** Which backends this server runs, so forms can mark the others before anyone submits. */
export function backendRoutes(executors: ExecutorRegistry): RouteDef[] {
  return [
    defineRoute({
      method: 'get',
      path: '/backends',
      tag: 'backends',
      summary: 'Every backend and whether this server has it configured; `hint` says what to set when it is not.',
      access: { role: 'viewer' },
      response: pageOf(BackendStatusView),
      handler: async () => ({
        body: { items: BACKENDS.map((name) => ({ name, configured: executors.has(name), hint: executors.missingHint(name) ?? null })), nextPageToken: null },
      }),
    }),
  ];
}
