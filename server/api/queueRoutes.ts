import { z } from 'zod';
import type { QueueService } from '../services/queueService.ts';
import { defineRoute, deleteRoute, getRoute, replaceRoute, wholeListRoute, type RouteDef } from './route.ts';
import { QueueCreate, QueueName, QueueSettings, QueueView, userNameOf } from '../domain/index.ts';

export const QueueParams = z.object({ name: QueueName });

/** Queues: everyone reads them; admins create, change and delete them. */
export function queueRoutes(queues: QueueService): RouteDef[] {
  const read = { tag: 'queues', access: { role: 'viewer' } } as const;
  const write = { tag: 'queues', access: { role: 'admin' } } as const;
  return [
    wholeListRoute({ ...read, path: '/queues', summary: 'List queues with their caps and what each holds now.', item: QueueView, list: () => queues.list() }),
    getRoute({ ...read, path: '/queues/:name', summary: 'One queue: its caps, default priority, and its queued and in-flight runs.', params: QueueParams, response: QueueView, read: ({ name }) => queues.get(name) }),
    defineRoute({
      ...write,
      method: 'post',
      path: '/queues',
      summary: 'Create a queue (409 if one of that name exists).',
      body: QueueCreate,
      successStatus: 201,
      response: QueueView,
      handler: async ({ body, principal }) => {
        const { name, ...settings } = body;
        return { status: 201, body: await queues.create(name, settings, userNameOf(principal)) };
      },
    }),
    replaceRoute({
      ...write,
      path: '/queues/:name',
      summary: 'Create a queue or replace its settings (fields left out take their defaults); runs already waiting are held by the new caps from the next dispatcher pass.',
      params: QueueParams,
      body: QueueSettings,
      response: QueueView,
      replace: async ({ name }, body, principal) => {
        const { queue, created } = await queues.put(name, body, userNameOf(principal));
        return { value: queue, created };
      },
    }),
    deleteRoute({
      ...write,
      path: '/queues/:name',
      summary: 'Delete a queue that holds no queued or in-flight run (409 otherwise); "default" cannot be deleted.',
      params: QueueParams,
      remove: ({ name }) => queues.delete(name),
    }),
  ];
}
