import type { BackendName } from '../domain/index.ts';
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

  get(name: BackendName, field = 'backend'): Executor {
    const executor = this.executors.get(name);
    if (!executor) {
      const hint = this.missingHint(name);
      throw new Unprocessable(`the ${name} backend is not available: ${hint}`, field);
    }
    return executor;
  }

  has(name: BackendName): boolean {
    return this.executors.has(name);
  }

  names(): BackendName[] {
    return [...this.executors.keys()];
  }

  /** Why a backend is not configured (what to set), or undefined when it is. */
  missingHint(name: BackendName): string | undefined {
    if (this.executors.has(name)) return undefined;
    return this.missingHints.get(name) ?? 'it is not configured on this server';
  }
}

/** What the catalog needs to know about backends: which ones this server can run, and why not. */
export type BackendAvailability = Pick<ExecutorRegistry, 'has' | 'missingHint'>;
