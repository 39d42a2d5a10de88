import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../config.ts';
import type { ResolvedRunSpec } from '../domain/index.ts';
import { Unprocessable } from '../errors.ts';
import { isRemoteUri, resolveInside, skipsCodePath } from './paths.ts';
import { isUploadedCodeUri, requireCodeStore, type CodeStore } from './codeStore.ts';
import { createZip, type ZipEntry } from './zip.ts';

/** The stdlib-only reporting helper every run may import (griffin_run). */
export const PYTHON_HELPER_DIR = path.join(PROJECT_ROOT, 'server', 'runtime', 'python');
export const HELPER_MODULES = ['griffin_run.py'];

export const MAX_FILES = 10_000;
export const MAX_BUNDLE_BYTES = 100 * 1024 * 1024;

export interface Bundle {
  bytes: Buffer;
  /** Hex sha256 of the archive: equal for equal contents. */
  sha256: string;
  files: number;
}

/**
 * The files of a code directory as zip entries. Symbolic links are left out: following them
 * could carry files from outside the code root into a training cluster.
 */
export function directoryEntries(dir: string, prefix = ''): ZipEntry[] {
  const entries: ZipEntry[] = [];
  let total = 0;
  const walk = (absolute: string, relative: string) => {
    for (const name of fs.readdirSync(absolute).sort()) {
      const rel = relative ? `${relative}/${name}` : name;
      if (skipsCodePath(rel)) continue;
      const full = path.join(absolute, name);
      const stat = fs.lstatSync(full);
      if (stat.isDirectory()) walk(full, rel);
      else if (stat.isFile()) {
        total += stat.size;
        if (entries.length >= MAX_FILES || total > MAX_BUNDLE_BYTES) {
          throw new Unprocessable(`the code directory ${dir} is too large to ship to a cluster (more than ${MAX_FILES} files or ${MAX_BUNDLE_BYTES / 1024 / 1024} MiB); use a remote codeUri`, 'model.codeUri');
        }
        entries.push({ name: `${prefix}${rel}`, data: fs.readFileSync(full), mode: stat.mode & 0o111 ? 0o755 : 0o644 });
      }
    }
  };
  walk(dir, '');
  return entries;
}

/**
 * The directory a local codeUri names, which must exist on this host: a model registered before
 * its directory was moved or deleted is a 422 naming it, not a file-system error.
 */
export function localCodeDir(codeRoot: string, codeUri: string): string {
  const dir = resolveInside(codeRoot, codeUri, 'model.codeUri');
  let isDirectory = false;
  try {
    isDirectory = fs.statSync(dir).isDirectory();
  } catch {
    throw new Unprocessable(`model.codeUri: the code directory ${codeUri} (${dir}) does not exist on this host`, 'model.codeUri');
  }
  if (!isDirectory) throw new Unprocessable(`model.codeUri: ${codeUri} (${dir}) is a file, not a code directory`, 'model.codeUri');
  return dir;
}

/** griffin_run.py (and nothing else from the helper directory), under `prefix`. */
export function helperEntries(prefix = ''): ZipEntry[] {
  return HELPER_MODULES.map((name) => ({ name: `${prefix}${name}`, data: fs.readFileSync(path.join(PYTHON_HELPER_DIR, name)) }));
}

export function bundle(entries: ZipEntry[]): Bundle {
  const bytes = createZip(entries);
  return { bytes, sha256: crypto.createHash('sha256').update(bytes).digest('hex'), files: entries.length };
}

/** Where a pod finds what the run bundle carries, relative to the directory it is staged in. */
export const STAGED_HELPER_DIR = '.griffin';
export const STAGED_DATASET_DIR = '.griffin/dataset';

/** The dataset file on this host, when the dataset is local (remote datasets are read by the training code). */
export function localDatasetFile(spec: Pick<ResolvedRunSpec, 'dataset'>, codeRoot: string): string | undefined {
  if (isRemoteUri(spec.dataset.uri)) return undefined;
  const file = resolveInside(codeRoot, spec.dataset.uri, 'dataset.uri');
  return fs.existsSync(file) && fs.statSync(file).isFile() ? file : undefined;
}

/**
 * What a pod downloads before its entrypoint starts (see server/runtime/python/griffin_stage.py):
 * the model's code when it lives on this host or was uploaded (griffin://code/), griffin_run.py
 * under .griffin/, and a local dataset file under .griffin/dataset/.
 */
export function runBundleEntries(spec: Pick<ResolvedRunSpec, 'model' | 'dataset'>, codeRoot: string, code?: CodeStore): ZipEntry[] {
  const entries: ZipEntry[] = [];
  if (isUploadedCodeUri(spec.model.codeUri)) entries.push(...requireCodeStore(code, spec.model.codeUri).entries(spec.model.codeUri));
  else if (!isRemoteUri(spec.model.codeUri)) entries.push(...directoryEntries(localCodeDir(codeRoot, spec.model.codeUri)));
  entries.push(...helperEntries(`${STAGED_HELPER_DIR}/`));
  const dataset = localDatasetFile(spec, codeRoot);
  if (dataset) {
    if (fs.statSync(dataset).size > MAX_BUNDLE_BYTES) {
      throw new Unprocessable(`dataset ${spec.dataset.uri} is too large to ship to a cluster; give it a remote URI`, 'dataset.uri');
    }
    entries.push({ name: `${STAGED_DATASET_DIR}/${path.basename(dataset)}`, data: fs.readFileSync(dataset) });
  }
  return entries;
}
