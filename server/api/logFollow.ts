import type { Response } from 'express';
import type { LogBytes } from '../executors/types.ts';
import type { Logger } from '../logger.ts';

export interface FollowOptions {
  /**
   * Bytes a follower may have written but not yet sent: the log is read only into the room left
   * under this cap, so a slow reader costs at most this much memory, never the log's size.
   */
  bufferCapBytes: number;
  /** A reader that takes none of its buffer for this long is dropped, with a last line saying so. */
  stallMs: number;
  /** How often a caught-up follower looks for new output. */
  pollMs: number;
}

export const DEFAULT_FOLLOW: FollowOptions = { bufferCapBytes: 256 * 1024, stallMs: 30_000, pollMs: 250 };

/** After the last line, how long a dropped reader has to take it before its connection is cut. */
const DROP_GRACE_MS = 5_000;

/** Reads up to `limit` bytes from `cursor`, into `into` when the reader can (a file), else into bytes of its own. */
type Read = (cursor: number, limit: number, into?: Buffer) => Promise<LogBytes & { complete: boolean }>;

/** Most bytes read at once, the size of a follower's buffers. */
const READ_BYTES = 64 * 1024;

/**
 * A follower's read buffers. Each is lent to one write and returned once the socket has taken its
 * bytes (the write's callback), so a long follow reuses the same few buffers (the cap's worth)
 * instead of allocating, decoding and encoding every chunk: memory that the allocator kept after
 * such a follow used to leave the service's RSS tens of MiB above what it was before.
 */
class BufferPool {
  private readonly free: Buffer[] = [];

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(READ_BYTES);
  }

  give(buffer: Buffer): void {
    this.free.push(buffer);
  }
}

/**
 * Streams a run's log from `cursor` until the run ends, respecting backpressure: when the
 * response's buffer is full it stops reading and waits for 'drain'; a reader that stays stalled
 * past `stallMs` gets a final line saying how to resume, and is disconnected.
 */
export async function followLog(read: Read, cursor: number, res: Response, log: Logger, options: FollowOptions = DEFAULT_FOLLOW): Promise<void> {
  let closed = false;
  let wake: (() => void) | undefined;
  const pool = new BufferPool();
  res.once('close', () => {
    closed = true;
    wake?.();
  });
  /** Resolves on 'drain', on close, or after `ms`; true when there is room to write again. */
  const waitFor = (event: 'drain' | 'timer', ms: number) =>
    new Promise<boolean>((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer);
        res.off('drain', onDrain);
        wake = undefined;
        resolve(value);
      };
      const onDrain = () => done(true);
      const timer = setTimeout(() => done(event === 'timer'), ms);
      if (event === 'drain') res.on('drain', onDrain);
      wake = () => done(false);
    });

  while (!closed) {
    const room = options.bufferCapBytes - res.writableLength;
    if (room <= 0 || res.writableNeedDrain) {
      if (await waitFor('drain', options.stallMs)) continue;
      if (!closed) drop(res, log, cursor, options.stallMs);
      return;
    }
    const buffer = pool.take();
    const chunk = await read(cursor, Math.min(room, READ_BYTES), buffer);
    if (closed) return;
    cursor = chunk.nextCursor;
    if (chunk.bytes.length && chunk.bytes.buffer === buffer.buffer) res.write(chunk.bytes, () => pool.give(buffer));
    else {
      pool.give(buffer);
      if (chunk.bytes.length) res.write(chunk.bytes);
    }
    if (chunk.complete) break;
    if (!chunk.bytes.length) await waitFor('timer', options.pollMs);
  }
  if (!closed) res.end();
}

function drop(res: Response, log: Logger, cursor: number, stallMs: number): void {
  log.warn({ cursor, stalledMs: stallMs, bufferedBytes: res.writableLength }, 'log follower dropped: it stopped reading');
  // The reader knows how many bytes reached it; the server only knows what it queued.
  res.end(`\n[griffin] log stream closed: this reader took nothing for ${Math.round(stallMs / 1000)} s; reconnect with ?follow=true&cursor=<the cursor you started from plus the bytes you received before this line>\n`);
  // Not kept alive: the connection closes once the last line is out, or after the grace period.
  const socket = res.socket;
  const cut = setTimeout(() => socket?.destroy(), DROP_GRACE_MS);
  cut.unref();
  res.once('finish', () => socket?.end());
  socket?.once('close', () => clearTimeout(cut));
}
