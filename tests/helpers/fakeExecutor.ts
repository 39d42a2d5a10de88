import type { BackendName, Run } from '../../server/domain/index.ts';
import type { BackendStatus, Executor, LaunchRequest, LogChunk, SpecProblem } from '../../server/executors/types.ts';

/**
 * An in-memory Executor for unit tests of the workers' decisions. It keeps the interface's
 * documented promises (launch is idempotent per run and attempt and returns a reference; status
 * reports what the test set, `running` by default; cancel is a request) and records every call,
 * so a test says what the backend reports and reads what the worker asked of it.
 */
export class FakeExecutor implements Executor {
  readonly calls: Array<{ op: 'launch' | 'status' | 'cancel'; runId: string; force?: boolean }> = [];
  private readonly statuses = new Map<string, BackendStatus>();
  private readonly launched = new Map<string, Record<string, unknown>>();
  /** What the next launch() does instead of succeeding. */
  launchError: Error | undefined;
  logText = '';

  constructor(readonly name: BackendName = 'local') {}

  /** What the backend reports for the run from now on. */
  report(runId: string, status: BackendStatus): void {
    this.statuses.set(runId, status);
  }

  callsOf(op: 'launch' | 'status' | 'cancel', runId?: string) {
    return this.calls.filter((c) => c.op === op && (runId === undefined || c.runId === runId));
  }

  async launch({ run }: LaunchRequest): Promise<Record<string, unknown>> {
    this.calls.push({ op: 'launch', runId: run.id });
    if (this.launchError) throw this.launchError;
    const key = `${run.id}-${run.attempt}`;
    // Idempotent, as the interface requires: a second launch adopts what the first created.
    if (!this.launched.has(key)) this.launched.set(key, { name: `fake-${key}` });
    return this.launched.get(key)!;
  }

  async status(run: Run): Promise<BackendStatus> {
    this.calls.push({ op: 'status', runId: run.id });
    return this.statuses.get(run.id) ?? { phase: 'running' };
  }

  async cancel(run: Run, options: { force?: boolean } = {}): Promise<void> {
    this.calls.push({ op: 'cancel', runId: run.id, force: options.force ?? false });
  }

  async logs(_run: Run, cursor: number, limit: number): Promise<LogChunk> {
    const bytes = Buffer.from(this.logText);
    const text = bytes.subarray(cursor, cursor + limit).toString();
    return { text, nextCursor: cursor + Buffer.byteLength(text) };
  }

  validate(): SpecProblem | undefined {
    return undefined;
  }

  async render(request: LaunchRequest): Promise<unknown> {
    return { fake: request.run.id };
  }
}
