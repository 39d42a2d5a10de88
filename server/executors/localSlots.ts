import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { liveProcessGroups, processStartTime } from './processGroup.ts';

/**
 * GRIFFIN_MAX_LOCAL_RUNS as a limit per host, shared by every service process on it: replicas on
 * one host share the data directory (local runs' logs and exit statuses live there), so each
 * slot is a file in <dataDir>/local-slots.
 *
 * A slot is held while the launch that took it is in progress (its service process is alive) and
 * then, once the training process is started, while that process group has a live member. Nothing
 * depends on a release being called: a slot whose launch or process group is gone is free, so a
 * crash of the service or of a wrapper shell can never leak a slot, nor free one early.
 */
export interface SlotHolder {
  runId: string;
  attempt: number;
  launchId: string;
}

interface SlotFile extends SlotHolder {
  /** The service process doing the launch, with its start time (pids are reused). */
  launcherPid: number;
  launcherStart: number | null;
  /** The training process group, once started. */
  pgid?: number;
}

export interface Slot {
  readonly index: number;
  /** The training process started: from now on the slot lives as long as its process group. */
  bind(pgid: number): void;
  release(): void;
}

const MUTEX_STALE_MS = 30_000;

export class HostSlots {
  constructor(
    private readonly dir: string,
    readonly limit: number,
  ) {}

  /** How many more local runs this host may start now. */
  free(): number {
    return Math.max(0, this.limit - this.held().length);
  }

  /** The holders of the slots in use. */
  held(): SlotHolder[] {
    const groups = liveProcessGroups();
    const holders: SlotHolder[] = [];
    for (const index of this.taken()) {
      const slot = this.read(index);
      if (slot && this.isLive(slot, groups)) holders.push({ runId: slot.runId, attempt: slot.attempt, launchId: slot.launchId });
    }
    return holders;
  }

  /** Indexes of the slot files present: only those are read, however high the limit. */
  private taken(): number[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return [];
    }
    return names
      .map((n) => /^slot-(\d+)$/.exec(n)?.[1])
      .filter((i): i is string => i !== undefined)
      .map(Number)
      .filter((i) => i < this.limit)
      .sort((a, b) => a - b);
  }

  /** Takes a free slot for `holder`, or answers undefined when all are in use. */
  async acquire(holder: SlotHolder): Promise<Slot | undefined> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    return this.withMutex(() => {
      const groups = liveProcessGroups();
      const taken = this.taken();
      const stale = taken.find((index) => {
        const current = this.read(index);
        return !current || !this.isLive(current, groups);
      });
      let index = stale;
      if (index === undefined) {
        const used = new Set(taken);
        for (let i = 0; i < this.limit && index === undefined; i += 1) if (!used.has(i)) index = i;
      }
      if (index === undefined) return undefined;
      const content: SlotFile = { ...holder, launcherPid: process.pid, launcherStart: processStartTime(process.pid) ?? null };
      this.write(index, content);
      return this.slot(index, content);
    });
  }

  /** Frees the slot `holder` took, if it still has it (a slot may have been judged free and retaken). */
  releaseFor(holder: SlotHolder): void {
    for (const index of this.taken()) {
      const current = this.read(index);
      if (current?.launchId === holder.launchId) this.slot(index, current).release();
    }
  }

  private slot(index: number, content: SlotFile): Slot {
    const file = this.file(index);
    const stillOurs = () => this.read(index)?.launchId === content.launchId;
    return {
      index,
      bind: (pgid) => {
        if (stillOurs()) this.write(index, { ...content, pgid });
      },
      release: () => {
        if (stillOurs()) fs.rmSync(file, { force: true });
      },
    };
  }

  private isLive(slot: SlotFile, groups: Set<number>): boolean {
    if (slot.pgid) return groups.has(slot.pgid);
    const start = processStartTime(slot.launcherPid);
    return start !== undefined && (slot.launcherStart === null || start === slot.launcherStart);
  }

  private file(index: number): string {
    return path.join(this.dir, `slot-${index}`);
  }

  private read(index: number): SlotFile | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.file(index), 'utf8')) as SlotFile;
    } catch {
      return undefined;
    }
  }

  private write(index: number, content: SlotFile): void {
    const tmp = `${this.file(index)}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(content), { mode: 0o600 });
    fs.renameSync(tmp, this.file(index));
  }

  /**
   * Slot decisions are made under a host-wide mutex (an atomic mkdir), held for a few reads and one
   * write. A mutex left behind by a process that died holding it is broken once that process is
   * gone (or after 30 s).
   */
  private async withMutex<T>(body: () => T): Promise<T> {
    const lock = path.join(this.dir, '.lock');
    for (;;) {
      try {
        fs.mkdirSync(lock);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        if (this.mutexAbandoned(lock)) {
          fs.rmSync(lock, { recursive: true, force: true });
          continue;
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    try {
      fs.writeFileSync(path.join(lock, 'owner'), `${process.pid} ${processStartTime(process.pid) ?? ''}`);
      return body();
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }

  private mutexAbandoned(lock: string): boolean {
    try {
      const stat = fs.statSync(lock);
      if (Date.now() - stat.mtimeMs > MUTEX_STALE_MS) return true;
      const [pid, start] = fs.readFileSync(path.join(lock, 'owner'), 'utf8').split(' ');
      const now = processStartTime(Number(pid));
      return now === undefined || (start !== '' && String(now) !== start);
    } catch {
      // No owner file yet: the holder is between mkdir and writing it; wait for the stale timeout.
      return false;
    }
  }
}
