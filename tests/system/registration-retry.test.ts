import { describe, expect, it } from 'vitest';

import { useTestService } from '../helpers/service.ts';
import { Unprocessable } from '../../server/errors.ts';

/**
 * The reconciler registers a run's model version when its process has succeeded. A failure that
 * may pass (the database away for a moment) must not lose the version; a registry refusal must
 * not fail the training, and must be told.
 */
describe('registration of a succeeded run', () => {
  const { svc } = useTestService('sqlite', { startWorkers: true });

  const submit = async () => {
    const res = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides: { hyperparameters: { epochs: 1 } } });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };

  it('is tried again on the next pass when the database failed, and the version is registered', async () => {
    const registry = svc.wired.registry;
    const real = registry.registerFromRun.bind(registry);
    let failures = 0;
    registry.registerFromRun = async (run) => {
      if (failures < 3) {
        failures += 1;
        throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
      }
      return real(run);
    };
    try {
      const run = await svc.waitForRun(await submit());
      expect(failures).toBe(3);
      expect(run.state, run.reason).toBe('succeeded');
      expect(run.reason).toBe('the training process finished successfully');
      expect(run.modelVersion).toMatchObject({ name: 'grocery-reorder' });
    } finally {
      registry.registerFromRun = real;
    }
  });

  it('refused by the registry: the run still succeeds, and its reason says why there is no version', async () => {
    const registry = svc.wired.registry;
    const real = registry.registerFromRun.bind(registry);
    registry.registerFromRun = async () => {
      throw new Unprocessable('model "grocery-reorder" is locked', 'name');
    };
    try {
      const run = await svc.waitForRun(await submit());
      expect(run.state).toBe('succeeded');
      expect(run.reason).toBe('the training process finished successfully, but registering its model version failed: model "grocery-reorder" is locked');
      expect(run.modelVersion).toBeNull();
    } finally {
      registry.registerFromRun = real;
    }
  });
});
