import type { BackendName } from '../domain/index.ts';
import type { Logger } from '../logger.ts';
import type { RunStore } from '../store/runStore.ts';
import type { Launcher } from './launcher.ts';

/**
 * Claims queued runs with a lease and launches them. The local backend shares this machine's
 * cores, so it is capped; remote backends queue on their own side and are claimed freely.
 */
export class Dispatcher {
  constructor(
    private readonly runs: RunStore,
    private readonly launcher: Launcher,
    private readonly options: {
      instanceId: string;
      leaseSeconds: number;
      /** Local runs this host may start now: slots are per host and shared with the other replicas on it. */
      freeLocalSlots: () => number;
      /** GRIFFIN_MAX_LOCAL_RUNS, for the reason a waiting local run shows. */
      localSlotsTotal: number;
      backends: BackendName[];
    },
    private readonly logger: Logger,
  ) {}

  async pass(): Promise<number> {
    const leaseUntil = () => new Date(Date.now() + this.options.leaseSeconds * 1000).toISOString();
    // Counted from live process groups and launches in progress, not from run states: a run
    // recorded as over whose processes still live keeps its slot.
    const hasLocal = this.options.backends.includes('local');
    const localSlots = hasLocal ? this.options.freeLocalSlots() : 0;
    if (hasLocal && localSlots === 0) {
      await this.runs.noteWaitingForLocalSlot(`waiting for a free local slot: all ${this.options.localSlotsTotal} on this host are in use (GRIFFIN_MAX_LOCAL_RUNS)`);
    }
    const remote = this.options.backends.filter((b) => b !== 'local');
    const claimed = [
      ...(localSlots > 0 ? await this.runs.claimQueued(this.options.instanceId, leaseUntil(), localSlots, ['local']) : []),
      ...(remote.length ? await this.runs.claimQueued(this.options.instanceId, leaseUntil(), 20, remote) : []),
    ];
    await Promise.all(claimed.map((run) => this.launcher.launch(run).catch((error) => this.logger.error({ err: error, runId: run.id }, 'launch bookkeeping failed'))));
    return claimed.length;
  }
}
