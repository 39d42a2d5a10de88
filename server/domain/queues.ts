import { z } from 'zod';
import { NAME } from './vocabulary.ts';

/*
 * Queues: how many runs of a queue may be in flight at once, how many GPUs and CPUs they may hold
 * together, and the priority a run gets when it names none. The dispatcher launches by priority,
 * then by age, and only within these caps (store/runStore.ts claimQueued).
 */

export const DEFAULT_QUEUE = 'default';

/** The reasons the claim writes start with this, so it can tell its own from any other. */
export const QUEUE_HOLD_PREFIX = 'waiting for queue ';

/** Higher launches first; ties go to the older run. */
export const PRIORITY_MIN = -100;
export const PRIORITY_MAX = 100;
export const Priority = z
  .number()
  .int()
  .min(PRIORITY_MIN)
  .max(PRIORITY_MAX)
  .describe(`${PRIORITY_MIN}..${PRIORITY_MAX}; higher launches first, ties by age; default: the queue's defaultPriority`);

export const QueueName = NAME.describe('a queue (GET /api/v1/queues); default: "default"');

const Cap = (value: z.ZodNumber, what: string) => value.min(0).nullable().describe(`${what}; null: no limit`);

export const QueueSettings = z.strictObject({
  description: z.string().max(10_000).default(''),
  maxConcurrentRuns: Cap(z.number().int().max(100_000), 'runs of this queue launching, running or cancelling at once; 0 holds every run').default(null),
  resources: z
    .strictObject({
      gpu: Cap(z.number().int().max(100_000), 'GPUs the in-flight runs of this queue request together').optional(),
      cpu: Cap(z.number().max(1_000_000), 'CPUs the in-flight runs of this queue request together').optional(),
    })
    .default({}),
  defaultPriority: Priority.default(0).describe("the priority of a run of this queue that names none"),
});

export const QueueCreate = QueueSettings.extend({ name: QueueName });

export type QueueSettingsInput = z.infer<typeof QueueSettings>;
export type QueueCreateInput = z.infer<typeof QueueCreate>;

const Timestamp = z.string().describe('ISO 8601 date-time');

export const Queue = z.object({
  name: z.string(),
  description: z.string(),
  maxConcurrentRuns: z.number().int().nullable(),
  resources: z.object({ gpu: z.number().int().nullable(), cpu: z.number().nullable() }),
  defaultPriority: z.number().int(),
  createdBy: z.string().nullable(),
  updatedBy: z.string().nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Queue = z.infer<typeof Queue>;

/** What a queue holds now: runs waiting, runs in flight and the resources those request. */
export const QueueLoad = z.object({
  queued: z.number().int(),
  inFlight: z.number().int(),
  gpu: z.number(),
  cpu: z.number(),
});
export type QueueLoad = z.infer<typeof QueueLoad>;
export const EMPTY_QUEUE_LOAD: Readonly<QueueLoad> = Object.freeze({ queued: 0, inFlight: 0, gpu: 0, cpu: 0 });

export const QueueView = Queue.extend({ load: QueueLoad });
export type QueueView = z.infer<typeof QueueView>;

/** The resources a run holds against its queue's caps: what it requests, per copy, times its copies. */
export interface HeldResources {
  gpu: number;
  cpu: number;
}

/** KubeRay runs one head and `workers` workers (default 1), each with the run's resources. */
export function heldResources(backend: string, resources: { gpu?: number; cpu?: number; workers?: number }): HeldResources {
  const copies = backend === 'kuberay' ? 1 + (resources.workers ?? 1) : 1;
  return { gpu: (resources.gpu ?? 0) * copies, cpu: (resources.cpu ?? 0) * copies };
}

export type QueueCaps = Pick<Queue, 'name' | 'maxConcurrentRuns' | 'resources'>;

const amount = (n: number) => String(Math.round(n * 1000) / 1000);

/** What holds a run in its queue: the reason it gets, and the one the runs behind it get. */
export interface QueueHold {
  reason: string;
  behind: string;
}

/**
 * What holds a run of this queue now, or undefined when it fits: the queue is at its run count,
 * or the run's GPUs or CPUs would take the queue over its cap. The reason is the run's `reason`
 * while it waits, shown by the API, the UI and the Airflow task log. Within a queue runs launch
 * strictly in order, so the runs behind a run that does not fit wait for it.
 */
export function queueHold(queue: QueueCaps, inFlight: { runs: number } & HeldResources, run: HeldResources & { id: string }): QueueHold | undefined {
  const prefix = `${QUEUE_HOLD_PREFIX}${queue.name}`;
  if (queue.maxConcurrentRuns !== null && inFlight.runs >= queue.maxConcurrentRuns) {
    const reason = `${prefix}: ${inFlight.runs} of ${queue.maxConcurrentRuns} running`;
    return { reason, behind: reason };
  }
  const short = (used: number, cap: number, unit: string, needs: number) => {
    const state = `${amount(used)} of ${amount(cap)} ${unit} in use`;
    return used < cap ? { reason: `${prefix}: ${state} (this run needs ${amount(needs)})`, behind: `${prefix}: ${state}; run ${run.id} is first in line and needs ${amount(needs)}` } : { reason: `${prefix}: ${state}`, behind: `${prefix}: ${state}` };
  };
  const gpu = queue.resources.gpu;
  if (gpu !== null && run.gpu > 0 && inFlight.gpu + run.gpu > gpu) return short(inFlight.gpu, gpu, 'GPUs', run.gpu);
  const cpu = queue.resources.cpu;
  if (cpu !== null && run.cpu > 0 && inFlight.cpu + run.cpu > cpu) return short(inFlight.cpu, cpu, 'CPUs', run.cpu);
  return undefined;
}

/**
 * Why a run can never fit its queue as the caps stand (it requests more than the cap), or
 * undefined; such a run is refused at submission rather than left waiting for ever.
 */
export function neverFits(queue: QueueCaps, run: HeldResources): string | undefined {
  if (queue.resources.gpu !== null && run.gpu > queue.resources.gpu) return `requests ${amount(run.gpu)} GPUs, but queue ${queue.name} allows ${queue.resources.gpu} in flight at once`;
  if (queue.resources.cpu !== null && run.cpu > queue.resources.cpu) return `requests ${amount(run.cpu)} CPUs, but queue ${queue.name} allows ${amount(queue.resources.cpu)} in flight at once`;
  return undefined;
}
