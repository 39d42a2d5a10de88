import type { ResolvedRunSpec } from '../../server/domain/index.ts';
import type { NewRun } from '../../server/store/runStore.ts';

/** A spec with the fields the stores and workers read; the backends never see it. */
export const TEST_SPEC = { backend: 'local', timeoutSeconds: 60, hyperparameters: { lr: 0.1 }, register: null } as unknown as ResolvedRunSpec;

let counter = 0;

/** A run to insert in store and worker tests: local, submitted over HTTP, without a key; `over` changes any field. */
export const newRun = (over: Partial<NewRun> = {}): NewRun => ({
  id: `trun${String(counter++).padStart(8, '0')}`,
  workflowName: 'wf',
  workflowVersion: 1,
  spec: TEST_SPEC,
  backend: 'local',
  trigger: 'http',
  triggerInfo: null,
  dagId: null,
  idempotencyKey: null,
  idempotencyGeneration: null,
  requestHash: null,
  ...over,
});
