import { describe, expect, it } from 'vitest';
import type { Run } from '../../server/domain/index.ts';
import { attemptUsage } from '../../server/domain/usage.ts';

const run = (backend: Run['backend'], resources: Run['spec']['resources'], startedAt: string | null): Run =>
  ({ id: 'r1', attempt: 2, backend, startedAt, spec: { resources } }) as unknown as Run;

describe('attempt usage', () => {
  it('multiplies each requested resource by the wall time', () => {
    const u = attemptUsage(run('kubernetes', { cpu: 1.5, memoryMb: 1024, gpu: 2 }, '2026-01-01T00:00:00.000Z'), '2026-01-01T00:01:40.000Z');
    expect(u).toEqual({ attempt: 2, startedAt: '2026-01-01T00:00:00.000Z', endedAt: '2026-01-01T00:01:40.000Z', wallSeconds: 100, resourceSeconds: { cpu: 150, memoryMb: 102_400, gpu: 200 } });
  });

  it('counts every pod of a KubeRay cluster (head and workers), and nothing for an attempt that never ran', () => {
    const u = attemptUsage(run('kuberay', { gpu: 1, workers: 3 }, '2026-01-01T00:00:00.000Z'), '2026-01-01T00:00:10.000Z');
    expect(u?.resourceSeconds).toEqual({ cpu: 0, memoryMb: 0, gpu: 40 });
    expect(attemptUsage(run('kuberay', { gpu: 1 }, '2026-01-01T00:00:00.000Z'), '2026-01-01T00:00:10.000Z')?.resourceSeconds.gpu).toBe(20);
    expect(attemptUsage(run('local', { cpu: 1 }, null), '2026-01-01T00:00:10.000Z')).toBeUndefined();
  });

  it('so far, while running', () => {
    const u = attemptUsage(run('local', { cpu: 1 }, '2026-01-01T00:00:00.000Z'), null, new Date('2026-01-01T00:00:05.000Z'));
    expect(u).toMatchObject({ endedAt: null, wallSeconds: 5, resourceSeconds: { cpu: 5 } });
  });
});
