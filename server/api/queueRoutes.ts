import { z } from 'zod';
import type { QueueService } from '../services/queueService.ts';
import { defineRoute, type RouteDef } from './route.ts';
import { QueueCreate, QueueName, QueueSettings, QueueView, type Principal } from '../domain/index.ts';

export const QueueParams = z.object({ name: QueueName });

const actor = (principal: Principal) => (principal.kind === 'user' ? principal.name : null);

/** Queues: everyone reads them; admins create, change and delete them. */
export function queueRoutes(queues: QueueService): RouteDef[] {
  return [
    defineRoute({
      method: 'get',
      path: '/queues',
      tag: 'queues',
      summary: 'List queues with their caps and what each holds now.',
      access: { role: 'viewer' },
      response: z.object({ items: z.array(QueueView), nextPageToken: z.null() }),
      handler: async () => ({ body: { items: await queues.list(), nextPageToken: null } }),
    }),
    defineRoute({
      method: 'get',
      path: '/queues/:name',
      tag: 'queues',
      summary: "One queue: its caps, default priority, and its queued and in-flight runs.",
      access: { role: 'viewer' },
      params: QueueParams,
      response: QueueView,
      handler: async ({ params }) => ({ body: await queues.get(params.name) }),
    }),
    defineRoute({
      method: 'post',
      path: '/queues',
      tag: 'queues',
      summary: 'Create a queue (409 if one of that name exists).',
      access: { role: 'admin' },
      body: QueueCreate,
      successStatus: 201,
      response: QueueView,
      handler: async ({ body, principal }) => {
        const { name, ...settings } = body;
        return { status: 201, body: await queues.create(name, settings, actor(principal)) };
      },
    }),
    defineRoute({
      method: 'put',
      path: '/queues/:name',
      tag: 'queues',
      summary: "Create a queue or replace its settings (fields left out take their defaults); runs already waiting are held by the new caps from the next dispatcher pass.",
      access: { role: 'admin' },
      params: QueueParams,
      body: QueueSettings,
      successStatus: 201,
      alsoStatuses: [200],
      response: QueueView,
      handler: async ({ params, body, principal }) => {
        const { queue, created } = await queues.put(params.name, body, actor(principal));
        return { status: created ? 201 : 200, body: queue };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/queues/:name',
      tag: 'queues',
      summary: 'Delete a queue that holds no queued or in-flight run (409 otherwise); "default" cannot be deleted.',
      access: { role: 'admin' },
      params: QueueParams,
      response: 'empty',
      successStatus: 204,
      handler: async ({ params }) => {
        await queues.delete(params.name);
      },
    }),
  ];
}
