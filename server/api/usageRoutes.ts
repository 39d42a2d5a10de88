import { z } from 'zod';
import type { RunService } from '../services/runService.ts';
import type { UsageService } from '../services/usageService.ts';
import { defineRoute, type RouteDef } from './route.ts';

const RESOURCE_SECONDS = z.object({ cpu: z.number(), memoryMb: z.number(), gpu: z.number() });
const ATTEMPT_USAGE = z.object({ attempt: z.number().int(), startedAt: z.string(), endedAt: z.string().nullable(), wallSeconds: z.number(), resourceSeconds: RESOURCE_SECONDS });
export const RunUsage = z.object({ attempts: z.array(ATTEMPT_USAGE), total: z.object({ wallSeconds: z.number(), resourceSeconds: RESOURCE_SECONDS }) });

export function usageRoutes(usage: UsageService, runs: RunService): RouteDef[] {
  return [
    defineRoute({
      method: 'get',
      path: '/runs/:id/usage',
      tag: 'runs',
      summary: "A run's usage per attempt: wall time and requested resources times that time (cpu core-seconds, memory MB-seconds, GPU-seconds).",
      access: { role: 'viewer' },
      params: z.object({ id: z.string().min(1).max(32) }),
      response: RunUsage,
      handler: async ({ params }) => ({ body: await usage.ofRun(await runs.get(params.id)) }),
    }),
  ];
}
