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
  bind(pgid: number): Promise<void>;
  release(): Promise<void>;
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

  /**
   * Frees the slot `holder` took, if it still has it: once its process group is gone, another
   * launch may have judged the slot free and taken it over, and that launch's file must stay.
   */
  async releaseFor(holder: SlotHolder): Promise<void> {
    if (!this.taken().length) return;
    await this.withMutex(() => {
      for (const index of this.taken()) if (this.heldBy(index, holder.launchId)) fs.rmSync(this.file(index), { force: true });
    });
  }

  private heldBy(index: number, launchId: string): boolean {
    return this.read(index)?.launchId === launchId;
  }

  /**
   * Binding and releasing check that the file is still this launch's and change it under the
   * mutex: outside it, another launch could take the slot over between the check and the change,
   * and the change would then overwrite or delete that launch's claim.
   */
  private slot(index: number, content: SlotFile): Slot {
    const stillOurs = () => this.heldBy(index, content.launchId);
    return {
      index,
      bind: (pgid) =>
        this.withMutex(() => {
          if (stillOurs()) this.write(index, { ...content, pgid });
        }),
      release: () =>
        this.withMutex(() => {
          if (stillOurs()) fs.rmSync(this.file(index), { force: true });
        }),
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
        if (!this.breakIfAbandoned(lock)) await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    const me = `${process.pid} ${processStartTime(process.pid) ?? ''}`;
    let named = false;
    try {
      // The owner file appears whole (renamed into place): a contender reading a half-written one
      // would take the mutex for abandoned and break it while it is held.
      const owner = `${lock}.owner.${crypto.randomBytes(4).toString('hex')}`;
      fs.writeFileSync(owner, me);
      fs.renameSync(owner, path.join(lock, 'owner'));
      named = true;
      return body();
    } finally {
      // Only our own: a mutex broken by mistake (see breakIfAbandoned) may be another's by now.
      // One we could not name (a full disk) is still ours: nobody breaks an unnamed one for 30 s.
      if (!named || readOwner(lock) === me) fs.rmSync(lock, { recursive: true, force: true });
    }
  }

  /**
   * Breaks the mutex if its holder is gone. The lock is first moved aside and its owner read again:
   * if two contenders judged the same dead holder at once, the second may have moved a mutex the
   * first has just taken, and it puts that one back instead of deleting it.
   */
  private breakIfAbandoned(lock: string): boolean {
    const judged = this.abandonedOwner(lock);
    if (judged === undefined) return false;
    const aside = `${lock}.broken.${crypto.randomBytes(4).toString('hex')}`;
    try {
      fs.renameSync(lock, aside);
    } catch {
      return true; // gone already: try mkdir again
    }
    if (readOwner(aside) === judged) fs.rmSync(aside, { recursive: true, force: true });
    else {
      try {
        fs.renameSync(aside, lock);
      } catch {
        // A new mutex was taken meanwhile. The moved one's holder leaves a lock that is not its
        // own alone when it finishes, so the moved directory only needs removing.
        fs.rmSync(aside, { recursive: true, force: true });
      }
    }
    return true;
  }

  /** The owner text of an abandoned mutex ('' for one with no owner for 30 s), or undefined while it is held. */
  private abandonedOwner(lock: string): string | undefined {
    let age: number;
    try {
      age = Date.now() - fs.statSync(lock).mtimeMs;
    } catch {
      return undefined;
    }
    const owner = readOwner(lock);
    if (age > MUTEX_STALE_MS) return owner ?? '';
    // No owner file yet: the holder is between mkdir and writing it; only the stale timeout frees it.
    if (owner === undefined) return undefined;
    const [pid, start] = owner.split(' ');
    if (!/^\d+$/.test(pid)) return undefined;
    const now = processStartTime(Number(pid));
    return now === undefined || (start !== '' && String(now) !== start) ? owner : undefined;
  }
}

function readOwner(lock: string): string | undefined {
  try {
    return fs.readFileSync(path.join(lock, 'owner'), 'utf8');
  } catch {
    return undefined;
  }
}
