import { z } from 'zod';
import type { RunService } from '../services/runService.ts';
import type { UsageService } from '../services/usageService.ts';
import { RunUsageView } from '../domain/index.ts';
import { defineRoute, type RouteDef } from './route.ts';

export function usageRoutes(usage: UsageService, runs: RunService): RouteDef[] {
  return [
    defineRoute({
      method: 'get',
      path: '/runs/:id/usage',
      tag: 'runs',
      summary: "A run's usage per attempt: wall time and requested resources times that time (cpu core-seconds, memory MB-seconds, GPU-seconds).",
      access: { role: 'viewer' },
      params: z.object({ id: z.string().min(1).max(32) }),
      response: RunUsageView,
      handler: async ({ params }) => ({ body: await usage.ofRun(await runs.get(params.id)) }),
    }),
  ];
}
