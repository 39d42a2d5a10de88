import { z } from 'zod';

/*
 * The words every layer shares: names, versions, backends, roles and triggers. Defined once, as
 * zod values; the types are inferred from them, so the set a request is checked against and the
 * type the code reasons with cannot drift apart.
 */

export const NAME = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/, 'must be lowercase letters, digits, ".", "_" or "-", starting and ending with a letter or digit');

/**
 * The largest value an integer column holds on both databases (PostgreSQL `integer`): version
 * numbers and counts above it would fail inside the database instead of being refused here.
 */
export const INT32_MAX = 2_147_483_647;

/** A version number of a model, dataset, workflow or registered model. */
export const VERSION = z.number().int().positive().max(INT32_MAX);

/** "name" (latest version) or "name@3". */
export const VERSIONED_REF = z
  .string()
  .min(1)
  .max(220)
  .regex(/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?(@[1-9][0-9]{0,9})?$/, 'must be "name" or "name@version"')
  .refine((ref) => !ref.includes('@') || Number(ref.slice(ref.indexOf('@') + 1)) <= INT32_MAX, `the version after "@" must be at most ${INT32_MAX}`);

export const BACKENDS = ['local', 'ray', 'kubernetes', 'kuberay'] as const;
export const Backend = z.enum(BACKENDS);
export type BackendName = (typeof BACKENDS)[number];
/**
 * A run no backend executes: created through the MLflow API (a nested run, or a run started
 * outside any Griffin run) and ended by its client. Never a submission's backend.
 */
export const EXTERNAL_BACKEND = 'external';
export const RUN_BACKENDS = [...BACKENDS, EXTERNAL_BACKEND] as const;
export const RunBackend = z.enum(RUN_BACKENDS);
export type RunBackendName = (typeof RUN_BACKENDS)[number];

export const ROLES = ['viewer', 'editor', 'admin'] as const;
export const RoleName = z.enum(ROLES);
export type Role = (typeof ROLES)[number];

export const TRIGGERS = ['http', 'ui', 'cli', 'airflow', 'schedule', 'mlflow'] as const;
export const TriggerName = z.enum(TRIGGERS);
export type Trigger = (typeof TRIGGERS)[number];
/** The triggers a client may name when it submits; "schedule" is the scheduler's own, "mlflow" the MLflow API's runs/create. */
export const CLIENT_TRIGGERS = ['http', 'ui', 'cli', 'airflow'] as const satisfies readonly Trigger[];

/** An alias of a model version, e.g. "production". */
export const ALIAS = z.string().regex(/^[a-z][a-z0-9_-]{0,99}$/, 'an alias: lower-case letters, digits, "_" and "-", starting with a letter');

export const JsonObject = z.record(z.string(), z.unknown());

/** Who is calling: a user token, or a training process holding its run-scoped token. */
export type Principal =
  | { kind: 'user'; tokenId: string; name: string; role: Role }
  | { kind: 'run'; runId: string; inputModelRunId?: string };

/** The user token's name that admin-managed things record as their author; null for a run's token. */
export const userNameOf = (principal: Principal): string | null => (principal.kind === 'user' ? principal.name : null);

export interface Page<T> {
  items: T[];
  nextPageToken: string | null;
}
