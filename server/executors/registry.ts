import type { BackendName, RunBackendName } from '../domain/index.ts';
import { Unprocessable } from '../errors.ts';
import type { Executor } from './types.ts';

/** The configured backends; asking for one that is not configured is a clear 422, not a crash. */
export class ExecutorRegistry {
  private readonly executors = new Map<BackendName, Executor>();
  private readonly missingHints = new Map<BackendName, string>();

  register(executor: Executor): void {
    this.executors.set(executor.name, executor);
  }

  /** Records why a backend is unavailable, so the error can tell the user what to configure. */
  unavailable(name: BackendName, hint: string): void {
    this.missingHints.set(name, hint);
  }

  /** A run's backend may be "external" (created through the MLflow API), which no executor serves. */
  get(name: RunBackendName, field = 'backend'): Executor {
    const executor = this.executors.get(name as BackendName);
    if (!executor) {
      const hint = this.missingHint(name);
      throw new Unprocessable(`the ${name} backend is not available: ${hint}`, field);
    }
    return executor;
  }

  has(name: RunBackendName): boolean {
    return this.executors.has(name as BackendName);
  }

  names(): BackendName[] {
    return [...this.executors.keys()];
  }

  /** Why a backend is not configured (what to set), or undefined when it is. */
  missingHint(name: RunBackendName): string | undefined {
    if (this.executors.has(name as BackendName)) return undefined;
    if (name === 'external') return 'no backend executes runs created through the MLflow API; their client ends them';
    return this.missingHints.get(name as BackendName) ?? 'it is not configured on this server';
  }
}

/** What the catalog needs to know about backends: which ones this server can run, and why not. */
export type BackendAvailability = Pick<ExecutorRegistry, 'has' | 'missingHint'>;
