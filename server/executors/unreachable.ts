import type { Run } from '../domain/index.ts';
import type { BackendStatus } from './types.ts';
import { describeFailure } from './retry.ts';

/*
 * A backend that cannot be reached leaves its runs as they are for a grace period, then fails
 * them with a reason that names the backend. The time of the first failure is kept on the run
 * (backendRef.unreachableSince, written by the reconciler or the launcher) rather than in
 * memory, so a restarted service, or another replica, continues the same count.
 */

/** Thrown by launch() when the backend stayed unreachable through the whole retry budget. */
export class BackendUnreachable extends Error {
  constructor(
    readonly target: string,
    readonly lastError: string,
    readonly graceSeconds: number,
  ) {
    super(`${target} is unreachable (${lastError})`);
  }
}

/** The detail that tells the reconciler the backend answered again. */
export const REACHABLE = Object.freeze({ unreachableSince: null });

export function unreachableSince(run: Pick<Run, 'backendRef'>): string | undefined {
  const since = run.backendRef?.unreachableSince;
  return typeof since === 'string' ? since : undefined;
}

export function unreachableReason(target: string, seconds: number, lastError: string): string {
  return `${target} has been unreachable for ${Math.round(seconds)} s (last error: ${lastError})`;
}

/**
 * What status() reports while the backend does not answer: `unknown` (the run keeps its state)
 * until the grace period has passed since the first failure, then `failed`.
 */
export function unreachableStatus(run: Pick<Run, 'backendRef'>, target: string, error: unknown, graceSeconds: number, now = Date.now()): BackendStatus {
  const since = unreachableSince(run) ?? new Date(now).toISOString();
  const elapsed = (now - Date.parse(since)) / 1000;
  const lastError = describeFailure(error);
  if (elapsed >= graceSeconds) return { phase: 'failed', reason: unreachableReason(target, elapsed, lastError), infrastructure: true };
  return { phase: 'unknown', reason: `${target} is unreachable (${lastError})`, details: { unreachableSince: since } };
}
