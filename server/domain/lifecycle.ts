/*
 * The run lifecycle, in one place: its states, the sets the rest of the code asks about, and every
 * move a run can make, each naming the states it may come from. The store runs the conditional
 * update a transition describes (UPDATE ... WHERE state IN from) and throws StateConflict when
 * another actor moved the run first; callers never spell out states themselves.
 *
 *   queued --claimed--> launching --started--> running --succeeded--> succeeded
 *     |  ^                 |  \--launchFailed--> failed      |--failed / timedOut--> failed
 *     |  |                 \------cancelRequested-------------+--> cancelling --cancelled--> cancelled
 *     |  \------retried (from launching or running: the attempt failed, another one follows)
 *     \--cancelledQueued--> cancelled
 *
 * A retried run is the same run with its attempt counted up, queued until its backoff is over.
 *
 * A run created through the MLflow API (backend "external") is stored running and never seen by
 * the dispatcher or reconciler; its client ends it (runs/update), a cancel ends it at once, and it
 * fails when the run it is nested in ends first:
 *
 *   running --externalFinished / externalFailed / externalKilled / parentEnded--> succeeded / failed / cancelled / failed
 *
 * Plain data and functions, no zod: the web UI bundles this module, and the SDK's state sets are
 * generated from it (scripts/gen-sdk-states.ts). The zod enum of the states is in entities.ts.
 */

export const RUN_STATES = ['queued', 'launching', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled'] as const;
export type RunState = (typeof RUN_STATES)[number];

/** A run in one of these has ended for good. */
export const TERMINAL: readonly RunState[] = ['succeeded', 'failed', 'cancelled'];
/** Claimed and not yet ended: what the reconciler compares with the backends. */
export const IN_FLIGHT: readonly RunState[] = ['launching', 'running', 'cancelling'];
/** Not ended: queued or in flight. */
export const ACTIVE: readonly RunState[] = ['queued', ...IN_FLIGHT];
/** States a resubmission with rerunIfFailed replaces with a new run: the run will not succeed. */
export const RERUNNABLE: readonly RunState[] = ['failed', 'cancelled', 'cancelling'];

export const isTerminal = (state: RunState): boolean => TERMINAL.includes(state);
export const isInFlight = (state: RunState): boolean => IN_FLIGHT.includes(state);

export interface Transition {
  /** For logs and conflicts: which move was refused. */
  readonly name: string;
  readonly from: readonly RunState[];
  readonly to: RunState;
}

const move = (name: string, from: readonly RunState[], to: RunState): Transition => Object.freeze({ name, from: Object.freeze([...from]), to });

/** Every move a run makes. */
export const Transitions = {
  /** A dispatcher took a queued run, with a launch lease. */
  claimed: move('claimed', ['queued'], 'launching'),
  /** The backend accepted the launch. */
  started: move('started', ['launching'], 'running'),
  /** The backend refused the launch, or stayed unreachable past its grace period. */
  launchFailed: move('launchFailed', ['launching'], 'failed'),
  /** The training process finished successfully. */
  succeeded: move('succeeded', ['running'], 'succeeded'),
  /** The backend reported a failure, or lost the run. */
  failed: move('failed', ['running'], 'failed'),
  /** The attempt failed and the run's retry policy allows another: queued again, with its attempt counted up. */
  retried: move('retried', ['launching', 'running'], 'queued'),
  /** Still running past its timeout: stopped and failed. */
  timedOut: move('timedOut', ['running'], 'failed'),
  /** The run's backend is no longer configured on this server: nothing can ever finish it. */
  backendGone: move('backendGone', ['running', 'cancelling'], 'failed'),
  /** A queued run is cancelled at once: nothing was started. */
  cancelledQueued: move('cancelledQueued', ['queued'], 'cancelled'),
  /** A launched run is asked to stop; the reconciler confirms with the backend. */
  cancelRequested: move('cancelRequested', ['launching', 'running'], 'cancelling'),
  /** The backend confirmed nothing of the run is left running. */
  cancelled: move('cancelled', ['cancelling'], 'cancelled'),
  // ---- runs no backend executes (created through the MLflow API): their client ends them
  /** Its client ended it as FINISHED. */
  externalFinished: move('externalFinished', ['running'], 'succeeded'),
  /** Its client ended it as FAILED. */
  externalFailed: move('externalFailed', ['running'], 'failed'),
  /** Its client ended it as KILLED, or a user cancelled it: nothing runs that would need stopping. */
  externalKilled: move('externalKilled', ['running'], 'cancelled'),
  /** The run it is nested in ended while it was still open: nothing can end it any more. */
  parentEnded: move('parentEnded', ['running'], 'failed'),
} as const satisfies Record<string, Transition>;

export type TransitionName = keyof typeof Transitions;

/** Whether a run in `state` may make this move. */
export const canMake = (transition: Transition, state: RunState): boolean => transition.from.includes(state);

/**
 * Whether the transition keeps its reason on the run: ends and cancel requests say why; the moves
 * in between (claimed, started) only record it in the run's events. A retry says why the last
 * attempt ended, which stays worth showing while the next one runs.
 */
export const keepsReason = (transition: Transition): boolean => isTerminal(transition.to) || transition.to === 'cancelling' || transition === Transitions.retried;
