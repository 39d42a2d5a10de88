import fs from 'node:fs';

/**
 * What /proc says about process groups. The local executor starts every run as the leader of a new
 * session and process group, so "the run's processes" are the live members of that group: the
 * wrapper shell may be gone while the training process it started is still running.
 */

/** The process groups that have at least one live (not zombie) member, from one scan of /proc. */
export function liveProcessGroups(): Set<number> {
  const groups = new Set<number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat && stat.state !== 'Z' && stat.state !== 'X') groups.add(stat.pgrp);
  }
  return groups;
}

/**
 * Whether the group has a live member. Exact, and cheap in the common cases, because the full
 * scan of /proc costs a read per process on the host and a reconciler sweep asks once per run:
 * no process at all in the group (kill 0 answers ESRCH) is dead; a live leader still in its own
 * group (the wrapper shell, for most of a run's life) is alive; only a group whose leader is gone
 * or a zombie needs the scan for other members.
 */
export function groupAlive(pgid: number): boolean {
  if (pgid <= 0) return false;
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    // EPERM: members exist that this user may not signal (training as the run user).
  }
  const leader = readStat(pgid);
  if (leader && leader.pgrp === pgid && leader.state !== 'Z' && leader.state !== 'X') return true;
  return liveProcessGroups().has(pgid);
}

/** The pids of a group's live members (for tests and log lines). */
export function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X') members.push(Number(entry));
  }
  return members;
}

/** Signals every member of the group; a group that is already gone is not an error. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  if (pgid <= 0) return;
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Is `pid` alive and still the process we started: not a reused pid, not a zombie? `name` is in its argv. */
export function isProcessNamed(pid: number, name: string): boolean {
  const stat = readStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return false;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(name);
  } catch {
    return false;
  }
}

/** A process's start time in clock ticks since boot: with the pid, it names one process for good. */
export function processStartTime(pid: number): number | undefined {
  return readStat(pid)?.startTime;
}

export interface Stat {
  state: string;
  ppid: number;
  pgrp: number;
  /** User and system CPU time used so far, in clock ticks (1/100 s on Linux). */
  cpuTicks: number;
  startTime: number;
}

/** One process's /proc/PID/stat, or undefined when it is gone. */
export function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may hold spaces and parentheses; the fields after the last ')' are fixed.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0], ppid: Number(fields[1]), pgrp: Number(fields[2]), cpuTicks: Number(fields[11]) + Number(fields[12]), startTime: Number(fields[19]) };
}
