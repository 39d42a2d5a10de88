import fs from 'node:fs';
import path from 'node:path';

/** Owner-only: the data directory holds the database, the signing secret and the admin token. */
const PRIVATE = 0o700;

/**
 * Creates the data directory (mode 0700) and takes group and other permissions away from what an
 * older version may have left open: the directory itself, the files at its top (the SQLite files,
 * `secret`, `admin-token`) and the `runs` and `artifacts` directories. Below those, nothing is
 * reachable through a 0700 directory, and new files are created 0600 (the service's umask).
 * Returns the paths whose mode changed.
 */
export function secureDataDir(dataDir: string): string[] {
  fs.mkdirSync(dataDir, { recursive: true, mode: PRIVATE });
  const changed: string[] = [];
  const ownerOnly = (target: string) => {
    const stat = fs.lstatSync(target);
    if (stat.isSymbolicLink()) return;
    const mode = stat.mode & 0o777;
    if (mode & 0o077) {
      fs.chmodSync(target, mode & PRIVATE);
      changed.push(target);
    }
  };
  ownerOnly(dataDir);
  for (const entry of fs.readdirSync(dataDir, { withFileTypes: true })) {
    if (entry.isFile() || (entry.isDirectory() && (entry.name === 'runs' || entry.name === 'artifacts'))) ownerOnly(path.join(dataDir, entry.name));
  }
  return changed;
}
