import type { Run } from '../domain/index.ts';
import { runLabels, type PodPlacement } from './kubeManifests.ts';

/*
 * A run's secret env on Kubernetes: one Secret per run, named from the run id and labelled as
 * Griffin's, which pods read by secretKeyRef. The values travel only in the Secret, never in the
 * Job or RayJob (whose specs anyone allowed to read Jobs can see) nor in what Griffin stores.
 */

export const runSecretName = (runId: string): string => `griffin-run-${runId}-env`;

export function runSecretManifest(run: Run, secretEnv: Record<string, string>, placement: PodPlacement): Record<string, unknown> {
  const { [`griffin.dev/attempt`]: _attempt, ...labels } = runLabels(run);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: runSecretName(run.id), namespace: placement.namespace, labels: { ...labels, 'app.kubernetes.io/component': 'run-secret-env' } },
    type: 'Opaque',
    stringData: { ...secretEnv },
  };
}

/** Container env entries that read each secret variable from the run's Secret. */
export function secretEnvRefs(runId: string, secretEnv: Record<string, string> | undefined): Array<Record<string, unknown>> {
  return Object.keys(secretEnv ?? {}).map((name) => ({ name, valueFrom: { secretKeyRef: { name: runSecretName(runId), key: name } } }));
}
