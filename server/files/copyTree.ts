import fs from 'node:fs/promises';
import path from 'node:path';

export interface CopyOptions {
  /** Relative paths ('/'-separated) to leave out, with everything below them. */
  skip: (relative: string) => boolean;
  /** Files and directories are given to this owner (when the service runs training as another user). */
  owner?: { uid: number; gid: number };
  /** Stops the copy between two files (the launch lost its lease, or the service is stopping). */
  signal?: AbortSignal;
}

const PARALLEL_FILES = 16;

/**
 * Copies a code directory without blocking the event loop: every file operation goes through
 * libuv's thread pool, a few at a time, so the service keeps answering (and heartbeating its
 * launch lease) while tens of thousands of files are copied. Symbolic links are copied as links.
 * Returns the number of files copied.
 */
export async function copyTree(source: string, target: string, options: CopyOptions): Promise<number> {
  let files = 0;
  let firstError: unknown;
  const pending = new Set<Promise<void>>();
  const check = () => {
    if (firstError) throw firstError;
    if (options.signal?.aborted) throw options.signal.reason ?? new Error('copy aborted');
  };
  const own = async (p: string) => {
    if (options.owner) await fs.lchown(p, options.owner.uid, options.owner.gid);
  };
  const schedule = async (work: () => Promise<void>) => {
    while (pending.size >= PARALLEL_FILES) await Promise.race(pending);
    check();
    const task: Promise<void> = work()
      .catch((error: unknown) => void (firstError ??= error))
      .finally(() => pending.delete(task));
    pending.add(task);
  };
  const walk = async (from: string, to: string, relative: string): Promise<void> => {
    const mode = (await fs.stat(from)).mode & 0o7777;
    await fs.mkdir(to, { mode: mode | 0o700 });
    await own(to);
    for (const entry of await fs.readdir(from, { withFileTypes: true })) {
      check();
      const rel = relative ? `${relative}/${entry.name}` : entry.name;
      if (options.skip(rel)) continue;
      const src = path.join(from, entry.name);
      const dest = path.join(to, entry.name);
      if (entry.isDirectory()) {
        await walk(src, dest, rel);
      } else if (entry.isSymbolicLink()) {
        await schedule(async () => {
          await fs.symlink(await fs.readlink(src), dest);
          await own(dest);
        });
      } else if (entry.isFile()) {
        files += 1;
        await schedule(async () => {
          await fs.copyFile(src, dest);
          await own(dest);
        });
      }
    }
  };
  try {
    await walk(source, target, '');
  } finally {
    // A failed copy still waits for the files in flight, so the caller can remove the target whole.
    await Promise.all(pending);
  }
  if (firstError) throw firstError;
  return files;
}
