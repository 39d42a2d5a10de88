import type { RunService } from '../services/runService.ts';
import type { ScheduleService } from '../services/scheduleService.ts';
import { defineRoute, type RouteDef } from './route.ts';
import { FiringView, pageOf, ScheduleView, TriggeredView } from '../domain/index.ts';
import { PageQuery } from './params.ts';
import { ScheduleCreate, ScheduleGetQuery, ScheduleListQuery, ScheduleParams, SchedulePatch, ScheduleTriggerQuery } from './scheduleSchemas.ts';

/** /api/v1/schedules: cron-scheduled runs. `:id` takes a schedule id or its name. */
export function scheduleRoutes(schedules: ScheduleService, runs: RunService): RouteDef[] {
  return [
    defineRoute({
      method: 'get',
      path: '/schedules',
      tag: 'schedules',
      summary: 'List schedules by name, each with its next fire times.',
      access: { role: 'viewer' },
      query: ScheduleListQuery,
      response: pageOf(ScheduleView),
      handler: async ({ query }) => {
        const page = await schedules.list(query);
        return { body: { items: page.items.map((s) => schedules.view(s)), nextPageToken: page.nextPageToken } };
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
    defineRoute({
      method: 'put',
      path: '/schedules/:id',
      tag: 'schedules',
      summary: 'Replace a schedule definition; every replica applies it within a sync interval.',
      access: { role: 'editor' },
      params: ScheduleParams,
      body: ScheduleCreate,
      response: ScheduleView,
      handler: async ({ params, body }) => ({ body: schedules.view(await schedules.update(params.id, body)) }),
    }),
    defineRoute({
      method: 'patch',
      path: '/schedules/:id',
      tag: 'schedules',
      summary: 'Change some fields of a schedule.',
      access: { role: 'editor' },
      params: ScheduleParams,
      body: SchedulePatch,
      response: ScheduleView,
      handler: async ({ params, body }) => ({ body: schedules.view(await schedules.update(params.id, body)) }),
    }),
    defineRoute({
      method: 'delete',
      path: '/schedules/:id',
      tag: 'schedules',
      summary: 'Delete a schedule and its firing history; runs it created stay.',
      access: { role: 'editor' },
      params: ScheduleParams,
      successStatus: 204,
      response: 'empty',
      handler: async ({ params }) => {
        await schedules.remove(params.id);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/schedules/:id/pause',
      tag: 'schedules',
      summary: 'Pause: no firing from now on, on any replica. Pausing a paused schedule is a no-op.',
      access: { role: 'editor' },
      params: ScheduleParams,
      response: ScheduleView,
      handler: async ({ params }) => ({ body: schedules.view(await schedules.setEnabled(params.id, false)) }),
    }),
    defineRoute({
      method: 'post',
      path: '/schedules/:id/resume',
      tag: 'schedules',
      summary: 'Resume; fire times missed while paused follow the catch-up policy.',
      access: { role: 'editor' },
      params: ScheduleParams,
      response: ScheduleView,
      handler: async ({ params }) => ({ body: schedules.view(await schedules.setEnabled(params.id, true)) }),
    }),
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
      handler: async ({ params, query }) => {
        const page = await schedules.firings(params.id, query);
        return { body: { items: page.items.map((f) => schedules.firingView(f)), nextPageToken: page.nextPageToken } };
      },
    }),
  ];
}
