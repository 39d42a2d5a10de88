/*
 * A run's `env`: variable names mapped to literals (visible like any other spec field) or to
 * {"secret": "<name>"} references, resolved only at launch (services/secretService.ts).
 */

export type EnvValue = string | { secret: string };
export type RunEnv = Record<string, EnvValue>;

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Secret names double as Kubernetes Secret keys and DNS-style names: lowercase, digits, ".", "_", "-". */
export const SECRET_NAME = /^[a-z0-9]([a-z0-9._-]{0,251}[a-z0-9])?$/;

/** Names Griffin sets itself for every run: a run's env must not shadow them. */
const RESERVED_PREFIXES = ['GRIFFIN_', 'MLFLOW_'];
const RESERVED_NAMES = new Set(['PYTHONPATH', 'PYTHONUNBUFFERED', 'PYTHONDONTWRITEBYTECODE', 'HOME', 'USER', 'LOGNAME']);

/** Why `name` cannot be a run's environment variable, or undefined when it can. */
export function envNameProblem(name: string): string | undefined {
  if (!ENV_NAME.test(name)) return 'is not an environment variable name (letters, digits and "_", not starting with a digit, at most 128 characters)';
  const prefix = RESERVED_PREFIXES.find((p) => name.toUpperCase().startsWith(p));
  if (prefix) return `is reserved: Griffin sets the ${prefix}* variables itself`;
  if (RESERVED_NAMES.has(name)) return 'is reserved: Griffin sets it for every run';
  return undefined;
}

export const isSecretRef = (value: EnvValue): value is { secret: string } => typeof value === 'object' && value !== null;

/** The literal variables of an env; references are left out. */
export function literalEnv(env: RunEnv | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(env ?? {}).filter((entry): entry is [string, string] => !isSecretRef(entry[1])));
}

/** Variable name -> secret name, for the references of an env. */
export function secretRefs(env: RunEnv | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(env ?? {}).flatMap(([name, value]) => (isSecretRef(value) ? [[name, value.secret]] : [])));
}
