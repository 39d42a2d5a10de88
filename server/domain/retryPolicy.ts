import { z } from 'zod';

/*
 * Retries by the service: how many attempts a run may make, which failures start another one, and
 * how long it waits before the next. The one backoff policy for attempts lives here; the reconciler
 * and the launcher only ask it.
 */

export const RETRY_ON = ['infrastructure', 'any'] as const;
export const RetryOn = z.enum(RETRY_ON);
export type RetryOn = (typeof RETRY_ON)[number];

export const DEFAULT_MAX_ATTEMPTS = 1;
export const MAX_ATTEMPTS_LIMIT = 10;
export const DEFAULT_RETRY_ON: RetryOn = 'infrastructure';
/** The wait before attempt 2; each later wait doubles it. */
export const DEFAULT_RETRY_BACKOFF_SECONDS = 10;
export const MAX_RETRY_BACKOFF_SECONDS = 3600;
/** No wait between two attempts is longer than this, however many came before. */
export const MAX_RETRY_DELAY_SECONDS = 3600;

export interface RetryPolicy {
  maxAttempts: number;
  retryOn: RetryOn;
  retryBackoffSeconds: number;
}

/** A run's policy; runs stored before retries existed make one attempt. */
export function retryPolicyOf(spec: Partial<RetryPolicy>): RetryPolicy {
  return {
    maxAttempts: spec.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    retryOn: spec.retryOn ?? DEFAULT_RETRY_ON,
    retryBackoffSeconds: spec.retryBackoffSeconds ?? DEFAULT_RETRY_BACKOFF_SECONDS,
  };
}

/** Why an attempt ended, as far as retrying cares: the infrastructure under it, or the code's own failure. */
export interface AttemptFailure {
  infrastructure: boolean;
}

/** Whether an attempt that failed this way is followed by another one. */
export function shouldRetry(policy: RetryPolicy, attempt: number, failure: AttemptFailure): boolean {
  if (attempt >= policy.maxAttempts) return false;
  return policy.retryOn === 'any' || failure.infrastructure;
}

/**
 * Seconds to wait after attempt `ended` failed: retryBackoffSeconds doubled for each attempt before
 * it, capped at MAX_RETRY_DELAY_SECONDS, then scaled by a random factor in [1/2, 1] so that runs a
 * shared outage failed together do not all come back at the same instant.
 */
export function retryDelaySeconds(policy: RetryPolicy, ended: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_RETRY_DELAY_SECONDS, policy.retryBackoffSeconds * 2 ** Math.max(0, ended - 1));
  const factor = 0.5 + Math.min(1, Math.max(0, random())) / 2;
  return Math.round(ceiling * factor * 1000) / 1000;
}

/** The event's words for a retry: "attempt 1 ended: <why>; retrying in 3 s (attempt 2 of 2)". */
export function retryReason(ended: number, why: string, delaySeconds: number, maxAttempts: number): string {
  const wait = delaySeconds < 10 ? Math.round(delaySeconds * 10) / 10 : Math.round(delaySeconds);
  return `attempt ${ended} ended: ${why}; retrying in ${wait} s (attempt ${ended + 1} of ${maxAttempts})`;
}

/**
 * The reason of a failed run that is not retried: the cause first (what a user reads in a banner),
 * then, when it could have made more attempts, which one this was and why no other follows.
 */
export function finalReason(policy: RetryPolicy, attempt: number, why: string, failure: AttemptFailure): string {
  if (policy.maxAttempts <= 1) return why;
  if (attempt >= policy.maxAttempts) return `${why} (attempt ${attempt} of ${policy.maxAttempts}; no attempts left)`;
  const kind = failure.infrastructure ? 'an infrastructure failure' : 'a failure of the training code itself, not of the infrastructure';
  return `${why} (attempt ${attempt} of ${policy.maxAttempts}; not retried: retryOn is ${policy.retryOn} and this was ${kind})`;
}
