import type { z } from 'zod';
import type { Schedule } from '../domain/index.ts';
import type { RunService } from '../services/runService.ts';
import type { ScheduleService } from '../services/scheduleService.ts';
import { defineRoute, deleteRoute, viewPage, type RouteDef } from './route.ts';
import { FiringView, pageOf, ScheduleListItemView, ScheduleView, TriggeredView } from '../domain/index.ts';
import { PageQuery } from './params.ts';
import { ScheduleCreate, SchedulePatch } from '../domain/index.ts';
import { ScheduleGetQuery, ScheduleListQuery, ScheduleParams, ScheduleTriggerQuery } from './scheduleSchemas.ts';

/** /api/v1/schedules: cron-scheduled runs. `:id` takes a schedule id or its name. */
export function scheduleRoutes(schedules: ScheduleService, runs: RunService): RouteDef[] {
  /** An editor's change to one schedule, answered with the schedule as it now is. */
  const change = <B>(method: 'put' | 'patch' | 'post', path: string, summary: string, body: z.ZodType<B> | undefined, apply: (id: string, body: B) => Promise<Schedule>) =>
    defineRoute({
      method,
      path,
      tag: 'schedules',
      summary,
      access: { role: 'editor' },
      params: ScheduleParams,
      body,
      response: ScheduleView,
      handler: async ({ params, body: input }) => ({ body: schedules.view(await apply(params.id, input)) }),
    });
  return [
    defineRoute({
      method: 'get',
      path: '/schedules',
      tag: 'schedules',
      summary: 'List schedules by name, each with its next fire times and its last firing (`lastFiring`: outcome, run and run state; null before the first).',
      access: { role: 'viewer' },
      query: ScheduleListQuery,
      response: pageOf(ScheduleListItemView),
      handler: async ({ query }) => {
        const page = await schedules.list(query);
        return { body: { items: await schedules.listItems(page.items), nextPageToken: page.nextPageToken } };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/schedules',
      tag: 'schedules',
      summary: 'Create a schedule: cron + time zone + workflow + overrides + overlap, catch-up and concurrency policies.',
      access: { role: 'editor' },
      body: ScheduleCreate,
      successStatus: 201,
      response: ScheduleView,
      handler: async ({ body }) => {
        const schedule = await schedules.create(body);
        return { body: schedules.view(schedule), headers: { Location: `/api/v1/schedules/${schedule.id}` } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/schedules/:id',
      tag: 'schedules',
      summary: 'A schedule with its next N fire times (?next=N, default 5).',
      access: { role: 'viewer' },
      params: ScheduleParams,
      query: ScheduleGetQuery,
      response: ScheduleView,
      handler: async ({ params, query }) => ({ body: schedules.view(await schedules.find(params.id), query.next) }),
    }),
    change('put', '/schedules/:id', 'Replace a schedule definition; every replica applies it within a sync interval.', ScheduleCreate, (id, body) => schedules.update(id, body)),
    change('patch', '/schedules/:id', 'Change some fields of a schedule.', SchedulePatch, (id, body) => schedules.update(id, body)),
    deleteRoute({ path: '/schedules/:id', tag: 'schedules', summary: 'Delete a schedule and its firing history; runs it created stay.', access: { role: 'editor' }, params: ScheduleParams, remove: (params) => schedules.remove(params.id) }),
    change('post', '/schedules/:id/pause', 'Pause: no firing from now on, on any replica. Pausing a paused schedule is a no-op.', undefined, (id) => schedules.setEnabled(id, false)),
    change('post', '/schedules/:id/resume', 'Resume; fire times missed while paused follow the catch-up policy.', undefined, (id) => schedules.setEnabled(id, true)),
    defineRoute({
      method: 'post',
      path: '/schedules/:id/trigger',
      tag: 'schedules',
      summary: 'Fire now, through the same path as cron firings (policies apply); returns the firing and its run.',
      access: { role: 'editor' },
      params: ScheduleParams,
      query: ScheduleTriggerQuery,
      successStatus: 201,
      response: TriggeredView,
      handler: async ({ params, query }) => {
        const firing = await schedules.trigger(params.id, { overlapPolicy: query.overlapPolicy });
        const run = firing.runId ? await runs.view(await runs.get(firing.runId)) : null;
        return { body: { firing: schedules.firingView(firing), run } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/schedules/:id/firings',
      tag: 'schedules',
      summary: 'Firing history, newest first: scheduled time, kind, outcome, the run created or the reason none was.',
      access: { role: 'viewer' },
      params: ScheduleParams,
      query: PageQuery,
      response: pageOf(FiringView),
      handler: async ({ params, query }) => ({ body: await viewPage(await schedules.firings(params.id, query), (f) => schedules.firingView(f)) }),
    }),
  ];
}
