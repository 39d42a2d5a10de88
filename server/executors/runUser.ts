import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** The unprivileged account local training runs as when the service runs as root. */
export interface RunUser {
  name: string;
  uid: number;
  gid: number;
}

/** Training code runs as another user only when the service is root: without root it cannot switch. */
export const isolatesRuns = (): boolean => process.getuid?.() === 0;

/**
 * Looks the account up through NSS (getent), so LDAP or sssd users work as well as /etc/passwd.
 * Throws a message meant for the run's reason when the account is missing or is root.
 */
export async function resolveRunUser(name: string): Promise<RunUser> {
  let line: string;
  try {
    line = (await exec('getent', ['passwd', name])).stdout.trim().split('\n')[0] ?? '';
  } catch {
    line = '';
  }
  const fields = line.split(':');
  if (fields.length < 4) {
    throw new Error(
      `the run user "${name}" does not exist on this host: the service runs as root, so local training runs as GRIFFIN_RUN_AS_USER; create it (useradd --system --no-create-home --shell /usr/sbin/nologin ${name}) or set GRIFFIN_RUN_AS_USER to an unprivileged user`,
    );
  }
  const user = { name, uid: Number(fields[2]), gid: Number(fields[3]) };
  if (user.uid === 0) throw new Error(`GRIFFIN_RUN_AS_USER "${name}" is root; local training must run as an unprivileged user`);
  try {
    await exec('setpriv', ['--version']);
  } catch {
    throw new Error(`setpriv (util-linux) is not installed: the service runs as root and needs it to start local training as ${name}`);
  }
  return user;
}

/** The first directory on the way to `dir` that `user` cannot search, if any. */
export function unreachableFor(dir: string, user: RunUser): string | undefined {
  let current = path.resolve(dir);
  const chain: string[] = [];
  for (;;) {
    chain.unshift(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const entry of chain) {
    const stat = fs.statSync(entry);
    const bit = stat.uid === user.uid ? 0o100 : stat.gid === user.gid ? 0o010 : 0o001;
    if (!(stat.mode & bit)) return entry;
  }
  return undefined;
}
