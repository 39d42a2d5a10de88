import type { LogChunk } from './types.ts';

/**
 * Up to `limit` bytes of a whole log from byte offset `cursor`, ending on a line break when the
 * chunk is cut short. Backends that only hand out whole logs (Ray, Kubernetes pods) page with it.
 */
export function sliceLog(whole: string | Buffer, cursor: number, limit: number): LogChunk {
  const bytes = typeof whole === 'string' ? Buffer.from(whole, 'utf8') : whole;
  if (cursor >= bytes.length) return { text: '', nextCursor: cursor };
  let chunk = bytes.subarray(cursor, Math.min(bytes.length, cursor + limit));
  if (cursor + chunk.length < bytes.length) {
    const lastNewline = chunk.lastIndexOf(0x0a);
    if (lastNewline >= 0) chunk = chunk.subarray(0, lastNewline + 1);
  }
  return { text: chunk.toString('utf8'), nextCursor: cursor + chunk.length };
}
