import type { NextFunction, Request, Response } from 'express';
import { Conflict, InputError } from '../errors.ts';
import { canonicalJson, sha256Hex } from '../ids.ts';
import type { IdempotencyStore } from '../store/idempotencyStore.ts';

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const RETENTION_MS = 24 * 3600 * 1000;

/**
 * Idempotency-Key for mutating POSTs: the same key and body replays the first successful answer,
 * another body is a 409. Run submission handles its key on the run itself, so it is left out here.
 * Only successful answers are kept; a failed first attempt frees the key for the retry.
 */
export function idempotentPosts(store: IdempotencyStore) {
  let lastSweep = 0;
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const header = req.headers['idempotency-key'];
    if (req.method !== 'POST' || header === undefined || req.path === '/runs') return next();
    const key = Array.isArray(header) ? header[0] : header;
    if (!KEY_PATTERN.test(key)) throw new InputError('Idempotency-Key must be 1 to 255 printable ASCII characters without spaces', 'Idempotency-Key');
    // Scoped by caller and route, so two users (or two routes) never share a key.
    const scope = sha256Hex(`${req.headers.authorization ?? ''}\n${req.path}`);
    const requestHash = sha256Hex(canonicalJson(req.body ?? null));

    if (Date.now() - lastSweep > 3600_000) {
      lastSweep = Date.now();
      void store.deleteOlderThan(new Date(Date.now() - RETENTION_MS).toISOString()).catch(() => undefined);
    }

    if (!(await store.reserve(scope, key, requestHash))) {
      const existing = await store.get(scope, key);
      if (existing && existing.requestHash !== requestHash) throw new Conflict(`Idempotency-Key "${key}" was already used with a different request body`, 'Idempotency-Key');
      if (!existing || existing.status === null) throw new Conflict(`a request with Idempotency-Key "${key}" is still being processed; retry shortly`, 'Idempotency-Key');
      res.status(existing.status).type('application/json').send(existing.responseBody ?? '');
      return;
    }

    const send = res.json.bind(res);
    let body: unknown;
    res.json = (value: unknown) => {
      body = value;
      return send(value);
    };
    res.on('finish', () => {
      const done = res.statusCode < 300 ? store.complete(scope, key, res.statusCode, JSON.stringify(body ?? null)) : store.release(scope, key);
      done.catch(() => undefined);
    });
    next();
  };
}
