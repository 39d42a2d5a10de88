import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { CodeSnapshotView } from '../domain/index.ts';
import { InputError, Unprocessable } from '../errors.ts';
import { isWithin } from './paths.ts';
import type { ZipEntry } from './zip.ts';
import { readZip, type ZipLimits } from './zipRead.ts';

/** An uploaded code snapshot, named by the sha256 of the zip's bytes. */
export const CODE_URI_PREFIX = 'griffin://code/';
const CODE_URI = /^griffin:\/\/code\/([0-9a-f]{64})$/;

export const isUploadedCodeUri = (uri: string): boolean => uri.startsWith('griffin://');

export type StoredCode = CodeSnapshotView;

/** The sha256 a griffin://code/ URI names; a malformed one is a 400 naming the field. */
export function codeHashOf(uri: string, field: string): string {
  const match = CODE_URI.exec(uri);
  if (!match) throw new InputError(`${field}: "${uri}" is not an uploaded code URI; those look like ${CODE_URI_PREFIX}<sha256 of the zip, 64 lowercase hex digits>`, field);
  return match[1];
}

/**
 * Uploaded code, content-addressed under Griffin's data directory: <sha256>.zip as uploaded and
 * <sha256>.json describing it. An archive is checked (readZip) before it is stored, and again
 * whenever it is read. The same bytes uploaded twice are stored once. Nothing here unpacks or
 * runs code on this host except `unpack`, which only the local executor calls, into a run's own
 * working directory.
 */
export class CodeStore {
  constructor(
    private readonly dir: string,
    readonly limits: ZipLimits & { maxUploadBytes: number },
  ) {}

  private zipFile(sha: string): string {
    return path.join(this.dir, `${sha}.zip`);
  }

  private metaFile(sha: string): string {
    return path.join(this.dir, `${sha}.json`);
  }

  /** Stores the archive unless the same bytes are already stored; `created` tells which. */
  put(bytes: Buffer): { code: StoredCode; created: boolean } {
    const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
    const existing = this.find(sha256);
    if (existing) return { code: existing, created: false };
    const entries = readZip(bytes, this.limits);
    const code: StoredCode = {
      codeUri: `${CODE_URI_PREFIX}${sha256}`,
      sha256,
      size: bytes.length,
      files: entries.length,
      unpackedSize: entries.reduce((sum, e) => sum + e.data.length, 0),
      uploadedAt: new Date().toISOString(),
    };
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // The description first, the archive last: an archive that is present is always complete and described.
    const suffix = `.tmp-${crypto.randomBytes(4).toString('hex')}`;
    fs.writeFileSync(`${this.metaFile(sha256)}${suffix}`, JSON.stringify(code), { mode: 0o600 });
    fs.renameSync(`${this.metaFile(sha256)}${suffix}`, this.metaFile(sha256));
    fs.writeFileSync(`${this.zipFile(sha256)}${suffix}`, bytes, { mode: 0o600 });
    fs.renameSync(`${this.zipFile(sha256)}${suffix}`, this.zipFile(sha256));
    return { code, created: true };
  }

  /** The stored snapshot of this sha256, if any. */
  find(sha: string): StoredCode | undefined {
    if (!fs.existsSync(this.zipFile(sha))) return undefined;
    try {
      return JSON.parse(fs.readFileSync(this.metaFile(sha), 'utf8')) as StoredCode;
    } catch {
      return undefined;
    }
  }

  /** The stored snapshot a codeUri names, or a 422 saying it was never uploaded here. */
  get(uri: string, field: string): StoredCode {
    const code = this.find(codeHashOf(uri, field));
    if (!code) throw new Unprocessable(`${field}: no code was uploaded as ${uri} to this Griffin; upload the directory first (POST /api/v1/code, \`griffin submit --code DIR\`, or the Python SDK)`, field);
    return code;
  }

  /** The files of a stored snapshot, for a bundle (Ray package, pod bundle) or for unpacking. */
  entries(uri: string, field = 'model.codeUri'): ZipEntry[] {
    const code = this.get(uri, field);
    return readZip(fs.readFileSync(this.zipFile(code.sha256)), this.limits);
  }

  /**
   * Writes the snapshot's files below `target` (which must not exist yet), for the local executor.
   * Names were checked by readZip; the join is checked again so that nothing lands outside.
   */
  async unpack(uri: string, target: string, owner?: { uid: number; gid: number }): Promise<number> {
    const entries = this.entries(uri);
    await fs.promises.mkdir(target, { mode: 0o700 });
    const own = async (p: string) => {
      if (owner) await fs.promises.lchown(p, owner.uid, owner.gid);
    };
    await own(target);
    const made = new Set<string>([target]);
    for (const entry of entries) {
      const file = path.join(target, ...entry.name.split('/'));
      if (!isWithin(target, file) || file === target) throw new Error(`refusing to unpack ${entry.name} outside ${target}`);
      const parents: string[] = [];
      for (let dir = path.dirname(file); !made.has(dir); dir = path.dirname(dir)) parents.unshift(dir);
      for (const dir of parents) {
        await fs.promises.mkdir(dir, { mode: 0o755 });
        await own(dir);
        made.add(dir);
      }
      // 'wx': never through something already there (a link planted by an earlier entry cannot exist, but be sure).
      await fs.promises.writeFile(file, entry.data, { mode: entry.mode ?? 0o644, flag: 'wx' });
      await own(file);
    }
    return entries.length;
  }
}

/** The code store a component was given; uploaded code cannot run where none was wired in. */
export function requireCodeStore(code: CodeStore | undefined, uri: string): CodeStore {
  if (!code) throw new Unprocessable(`${uri} is uploaded code, and this Griffin component has no code store to read it from`, 'model.codeUri');
  return code;
}

/** requirements.txt of a snapshot as pip lines (Ray's runtime_env.pip), when it has one. */
export function uploadedRequirements(code: CodeStore | undefined, uri: string): string[] | undefined {
  const file = requireCodeStore(code, uri).entries(uri).find((e) => e.name === 'requirements.txt');
  if (!file) return undefined;
  const lines = file.data.toString('utf8').split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
  return lines.length ? lines : undefined;
}
