import type { Run } from '../domain/index.ts';
import type { Executor, LogChunk } from './types.ts';

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

const TAIL_PAGE_BYTES = 1024 * 1024;
const TAIL_MAX_PAGES = 16;

/**
 * About the last `bytes` of a run's log: from the backend's own tail when it has one, else by paging
 * from the start (backends that hand out whole logs). A log longer than the pages read yields the
 * tail of what was read, which then is not the end: callers use it as a hint only.
 */
export async function readLogTail(executor: Executor, run: Run, bytes: number): Promise<string> {
  if (executor.logTail) return executor.logTail(run, bytes);
  let cursor = 0;
  let tail = '';
  for (let page = 0; page < TAIL_MAX_PAGES; page += 1) {
    const chunk = await executor.logs(run, cursor, TAIL_PAGE_BYTES);
    if (chunk.text === '' || chunk.nextCursor <= cursor) break;
    tail = (tail + chunk.text).slice(-bytes);
    cursor = chunk.nextCursor;
  }
  return tail;
}
