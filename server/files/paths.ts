import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError, Unprocessable } from '../errors.ts';

const REMOTE_SCHEME = /^(s3|gs|gcs|az|abfs|abfss|hdfs|https?):\/\//i;

export const isRemoteUri = (uri: string): boolean => REMOTE_SCHEME.test(uri);

/**
 * Resolves a user-supplied path (relative, or file://) inside `root` and refuses anything that
 * would land outside it: "..", absolute paths elsewhere, symlink-free string tricks alike.
 */
export function resolveInside(root: string, userPath: string, field: string): string {
  let candidate = userPath;
  if (/^file:\/\//i.test(candidate)) {
    try {
      candidate = fileURLToPath(candidate);
    } catch {
      throw new InputError(`${field} is not a valid file:// URI`, field);
    }
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(candidate)) {
    throw new InputError(`${field} uses an unsupported scheme; use a path, a file:// URI, or one of s3://, gs://, https://`, field);
  }
  if (candidate.includes('\0')) throw new InputError(`${field} contains a NUL byte`, field);
  // What file systems hold (NAME_MAX): a longer name is not a path to check, and stat would throw ENAMETOOLONG.
  if (candidate.split(/[\\/]/).some((segment) => Buffer.byteLength(segment) > 255)) {
    throw new InputError(`${field} has a path segment longer than 255 bytes`, field);
  }
  const resolved = path.resolve(root, candidate);
  const relative = path.relative(root, resolved);
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new InputError(`${field} must stay inside the code root (${root})`, field);
  }
  return resolved;
}

/** True when `child` is `parent` or lies below it (plain path comparison; see realPathOf for symlinks). */
export function isWithin(parent: string, child: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

/**
 * The path with every symbolic link resolved, also for a path that does not exist yet: the
 * longest existing prefix is resolved and the missing rest appended.
 */
export function realPathOf(target: string): string {
  const absolute = path.resolve(target);
  const missing: string[] = [];
  for (let current = absolute; ; current = path.dirname(current)) {
    try {
      return path.join(fs.realpathSync(current), ...missing);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
      if (path.dirname(current) === current) return absolute;
      missing.unshift(path.basename(current));
    }
  }
}

/**
 * Refuses a local code or dataset location that is Griffin's data directory, lies inside it, or
 * contains it, after following symbolic links: that directory holds the database, the signing
 * secret and the admin token, which no model or dataset may hand to training code or a bundle.
 */
export function refuseDataDir(location: string, dataDir: string, field: string): void {
  const real = realPathOf(location);
  const data = realPathOf(dataDir);
  if (isWithin(data, real) || isWithin(real, data)) {
    throw new Unprocessable(`${field} reaches Griffin's data directory (its database, secrets and run files); point it at code or data outside that directory`, field);
  }
}

/** resolveInside, then refuseDataDir: where a local code or dataset URI may point. */
export function resolveLocal(roots: { codeRoot: string; dataDir: string }, userPath: string, field: string): string {
  const resolved = resolveInside(roots.codeRoot, userPath, field);
  refuseDataDir(resolved, roots.dataDir, field);
  return resolved;
}

/**
 * Directories never copied into a run's work directory or a cluster bundle (caches, VCS data,
 * dependencies). A codeUri naming one, or inside one, would launch an empty directory.
 */
export const SKIPPED_CODE_DIRS = ['__pycache__', '.git', 'node_modules', '.pytest_cache', '.mypy_cache', '.venv'] as const;

/** Files never copied either: compiled Python, rebuilt by the interpreter that runs the code. */
export const SKIPPED_CODE_SUFFIXES = ['.pyc', '.pyo'] as const;

/**
 * The one copy filter of training code, for the local work directory and the cluster bundle alike:
 * whether a '/'-separated path relative to the code directory is left out (with all below it).
 */
export function skipsCodePath(relative: string): boolean {
  return skippedSegment(relative) !== undefined || SKIPPED_CODE_SUFFIXES.some((suffix) => relative.endsWith(suffix));
}

/** The first segment of a relative path that is a skipped directory, if any. */
export function skippedSegment(relative: string): string | undefined {
  return relative.split(/[\\/]/).find((segment) => (SKIPPED_CODE_DIRS as readonly string[]).includes(segment));
}

/** A dataset or code URI as the training process should see it: remote URIs as given, paths as file:// URIs. */
export function uriForProcess(root: string, uri: string, field: string): string {
  if (isRemoteUri(uri)) return uri;
  return `file://${resolveInside(root, uri, field)}`;
}

/**
 * Artifact paths come from training code: relative, '/'-separated, no empty, "." or ".." segments,
 * so that joining them under the run's artifact directory can never leave it.
 */
export function checkArtifactPath(raw: string): string {
  const field = 'path';
  if (!raw || raw.length > 1000) throw new InputError('artifact path must be 1 to 1000 characters', field);
  if (raw.includes('\\') || raw.includes('\0')) throw new InputError('artifact path may not contain "\\" or NUL', field);
  const segments = raw.split('/');
  if (raw.startsWith('/') || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new InputError('artifact path must be relative with no empty, "." or ".." segments', field);
  }
  return segments.join('/');
}
