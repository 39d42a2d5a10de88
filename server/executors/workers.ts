/**
 * The workers of a distributed run as the run keeps them (backendRef.workers): how many, how many
 * in each state, and each one where the backend names them. Ray reports actor states (ALIVE,
 * PENDING_CREATION, RESTARTING, DEAD); KubeRay reports worker replicas (desired, ready).
 */
export interface RunWorkers {
  source: 'ray-state-api' | 'kuberay';
  count: number;
  states: Record<string, number>;
  items?: Array<{ id: string; state: string; pid?: number }>;
  desired?: number;
}

export function workerSummary(source: RunWorkers['source'], items: Array<{ id: string; state: string; pid?: number }>): RunWorkers {
  const states: Record<string, number> = {};
  for (const item of items) states[item.state] = (states[item.state] ?? 0) + 1;
  return { source, count: items.length, states, items };
}
