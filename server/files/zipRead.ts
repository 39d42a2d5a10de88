import zlib from 'node:zlib';
import { GriffinError, InputError } from '../errors.ts';
import type { ZipEntry } from './zip.ts';

export interface ZipLimits {
  /** Most file entries an archive may hold. */
  maxEntries: number;
  /** Most bytes its files may add up to once inflated (a zip bomb declares little and inflates to much). */
  maxUncompressedBytes: number;
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const UNIX = 3;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

const FIELD = 'body';
const bad = (message: string) => new InputError(message, FIELD);
const tooLarge = (message: string) => new GriffinError(413, 'payload_too_large', message, FIELD);

/**
 * Why an entry name may not be unpacked, or undefined when it is a plain relative path. Checked
 * on the name itself, so that no later join can leave the target directory (zip-slip).
 */
function unsafeName(name: string): string | undefined {
  if (name.includes('\0')) return 'contains a NUL byte';
  if (name.includes('\\')) return 'contains "\\" (zip names use "/")';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'is an absolute path';
  const segments = name.replace(/\/$/, '').split('/');
  if (segments.includes('..')) return 'climbs out of the archive with ".."';
  if (segments.some((s) => s === '' || s === '.')) return 'has an empty or "." path segment';
  if (segments.some((s) => Buffer.byteLength(s) > 255)) return 'has a path segment longer than 255 bytes';
  return undefined;
}

function findEnd(bytes: Buffer): number {
  // The end record is 22 bytes plus a comment of up to 65535 bytes.
  const stop = Math.max(0, bytes.length - 22 - 0xffff);
  for (let i = bytes.length - 22; i >= stop; i -= 1) if (bytes.readUInt32LE(i) === EOCD) return i;
  throw bad('the body is not a zip archive (no end of central directory record)');
}

/**
 * The files of an uploaded zip archive, checked before any byte is written anywhere: every
 * name is a plain relative path, symbolic links and special files are refused, and the number of
 * entries and inflated bytes are capped (declared sizes first, then the real inflated output).
 * Directory entries are dropped: unpacking creates the directories files need.
 * Supports what zip tools write by default (stored and deflate, no zip64, no encryption).
 */
export function readZip(bytes: Buffer, limits: ZipLimits): ZipEntry[] {
  if (bytes.length < 22) throw bad('the body is not a zip archive (too short)');
  const end = findEnd(bytes);
  const count = bytes.readUInt16LE(end + 10);
  const centralSize = bytes.readUInt32LE(end + 12);
  const centralOffset = bytes.readUInt32LE(end + 16);
  if (bytes.readUInt16LE(end + 4) !== 0 || bytes.readUInt16LE(end + 6) !== 0) throw bad('multi-part zip archives are not supported');
  if (count === 0xffff || centralOffset === 0xffffffff || centralSize === 0xffffffff) throw bad('zip64 archives are not supported; keep the code below 4 GiB and 65535 files');
  if (count > limits.maxEntries) throw bad(`the archive has ${count} entries; at most ${limits.maxEntries} are allowed`);
  if (centralOffset + centralSize > end) throw bad('the zip central directory lies outside the archive');

  interface Header { name: string; method: number; crc: number; compressed: number; size: number; mode: number; offset: number }
  const headers: Header[] = [];
  let declared = 0;
  let at = centralOffset;
  for (let i = 0; i < count; i += 1) {
    if (at + 46 > end || bytes.readUInt32LE(at) !== CENTRAL) throw bad(`zip central directory entry ${i + 1} is damaged`);
    const madeBy = bytes.readUInt16LE(at + 4) >> 8;
    const flags = bytes.readUInt16LE(at + 8);
    const method = bytes.readUInt16LE(at + 10);
    const crc = bytes.readUInt32LE(at + 16);
    const compressed = bytes.readUInt32LE(at + 20);
    const size = bytes.readUInt32LE(at + 24);
    const nameLength = bytes.readUInt16LE(at + 28);
    const extraLength = bytes.readUInt16LE(at + 30);
    const commentLength = bytes.readUInt16LE(at + 32);
    const external = bytes.readUInt32LE(at + 38);
    const offset = bytes.readUInt32LE(at + 42);
    const name = bytes.subarray(at + 46, at + 46 + nameLength).toString(flags & 0x0800 ? 'utf8' : 'latin1');
    at += 46 + nameLength + extraLength + commentLength;

    const why = unsafeName(name);
    if (why) throw bad(`zip entry "${name}" ${why}; uploaded code must stay inside its own directory`);
    const mode = madeBy === UNIX ? external >>> 16 : 0;
    const type = mode & S_IFMT;
    if (type === S_IFLNK) throw bad(`zip entry "${name}" is a symbolic link; uploaded code may not contain links (pack the file itself)`);
    const isDir = name.endsWith('/') || type === S_IFDIR || (madeBy !== UNIX && (external & 0x10) !== 0);
    if (type !== 0 && type !== S_IFREG && type !== S_IFDIR) throw bad(`zip entry "${name}" is not a regular file or directory`);
    if (flags & 0x0001) throw bad(`zip entry "${name}" is encrypted`);
    if (isDir) continue;
    if (method !== 0 && method !== 8) throw bad(`zip entry "${name}" uses compression method ${method}; use deflate or store`);
    declared += size;
    if (declared > limits.maxUncompressedBytes) throw tooLarge(`the archive inflates to more than ${limits.maxUncompressedBytes} bytes (the limit for uploaded code)`);
    headers.push({ name, method, crc, compressed, size, mode, offset });
  }

  const seen = new Set<string>();
  const dirs = new Set<string>();
  for (const h of headers) {
    if (seen.has(h.name) || dirs.has(h.name)) throw bad(`zip entry "${h.name}" appears twice, or both as a file and a directory`);
    seen.add(h.name);
    const parts = h.name.split('/');
    for (let i = 1; i < parts.length; i += 1) dirs.add(parts.slice(0, i).join('/'));
  }
  for (const d of dirs) if (seen.has(d)) throw bad(`zip entry "${d}" is both a file and a directory`);

  let inflated = 0;
  return headers.map((h) => {
    if (h.offset + 30 > centralOffset || bytes.readUInt32LE(h.offset) !== LOCAL) throw bad(`zip entry "${h.name}" has no local header`);
    const start = h.offset + 30 + bytes.readUInt16LE(h.offset + 26) + bytes.readUInt16LE(h.offset + 28);
    if (start + h.compressed > centralOffset) throw bad(`zip entry "${h.name}" runs past the end of the archive`);
    const raw = bytes.subarray(start, start + h.compressed);
    let data: Buffer;
    if (h.method === 0) data = Buffer.from(raw);
    else {
      try {
        // Never more than the entry declared: a lying size stops the inflate, not the service.
        data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, h.size) });
      } catch {
        throw bad(`zip entry "${h.name}" does not inflate to its declared ${h.size} bytes`);
      }
    }
    if (data.length !== h.size || zlib.crc32(data) !== h.crc) throw bad(`zip entry "${h.name}" is damaged (size or CRC mismatch)`);
    inflated += data.length;
    if (inflated > limits.maxUncompressedBytes) throw tooLarge(`the archive inflates to more than ${limits.maxUncompressedBytes} bytes`);
    return { name: h.name, data, mode: h.mode & 0o111 ? 0o755 : 0o644 };
  });
}
