import type { Run } from './entities.ts';
import type { AttemptUsageView } from './views.ts';

/** One attempt's use, as GET /runs/{id}/usage shows it (views.ts). */
export type AttemptUsage = AttemptUsageView;

/** KubeRay runs one head and `workers` workers, each with the run's resources (kubeManifests.ts). */
const DEFAULT_RAY_WORKERS = 1;

/** How many copies of the requested resources an attempt holds. */
function replicas(run: Run): number {
  return run.backend === 'kuberay' ? 1 + (run.spec.resources.workers ?? DEFAULT_RAY_WORKERS) : 1;
}

const round = (n: number) => Math.round(n * 1000) / 1000;

/**
 * The usage of the run's current attempt from when it started running to `endedAt` (or now).
 * Requested amounts, not measured ones: what the run held, which is what a shared cluster pays for.
 * An attempt that never started running used nothing.
 */
export function attemptUsage(run: Run, endedAt: string | null, now = new Date()): AttemptUsage | undefined {
  if (!run.startedAt) return undefined;
  const end = endedAt ? Date.parse(endedAt) : now.getTime();
  const wallSeconds = Math.max(0, (end - Date.parse(run.startedAt)) / 1000);
  const { cpu = 0, memoryMb = 0, gpu = 0 } = run.spec.resources;
  const n = replicas(run);
  return {
    attempt: run.attempt,
    startedAt: run.startedAt,
    endedAt,
    wallSeconds: round(wallSeconds),
    resourceSeconds: { cpu: round(cpu * n * wallSeconds), memoryMb: round(memoryMb * n * wallSeconds), gpu: round(gpu * n * wallSeconds) },
  };
}
