import type { Request } from 'express';
import type { Principal } from '../domain/index.ts';
import { Conflict, InputError } from '../errors.ts';
import { canonicalJson, sha256Hex } from '../ids.ts';
import type { Logger } from '../logger.ts';
import { TOKEN_SECRET_PATTERN } from '../services/authService.ts';
import { SCHEDULER_KEY_PREFIX } from '../services/scheduleService.ts';
import type { IdempotencyRecord, IdempotencyStore } from '../store/idempotencyStore.ts';
import type { Reply, RouteDef } from './route.ts';

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const RETENTION_MS = 24 * 3600 * 1000;
const SWEEP_EVERY_MS = 3600_000;
const CLAIM_ATTEMPTS = 3;

/**
 * The Idempotency-Key a client sent, or undefined without one. Keys in the scheduler's namespace
 * are refused: a client holding `schedule:<id>:<time>` could make that firing fail or adopt its run.
 */
export function clientIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const key = Array.isArray(header) ? header[0] : header;
  if (!KEY_PATTERN.test(key)) throw new InputError('Idempotency-Key must be 1 to 255 printable ASCII characters without spaces', 'Idempotency-Key');
  if (key.startsWith(SCHEDULER_KEY_PREFIX)) {
    throw new InputError(`Idempotency-Key: keys starting with "${SCHEDULER_KEY_PREFIX}" are reserved for schedule firings; choose another key`, 'Idempotency-Key');
  }
  return key;
}

/** Fields that hold a secret by name, whatever their value looks like. */
const SECRET_FIELDS = new Set(['token', 'runToken', 'secret', 'password', 'adminToken']);
const REDACTED = '[redacted]';

/** A copy of a JSON value without secrets: secret fields dropped, token secrets in any text masked. */
export function redactSecrets(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(TOKEN_SECRET_PATTERN, REDACTED);
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).filter(([k]) => !SECRET_FIELDS.has(k)).map(([k, v]) => [k, redactSecrets(v)]));
  }
  return value;
}

/** Keys belong to one caller (the token, not how its header was spelled) and one route. */
export function replayScope(principal: Principal, routePath: string): string {
  const caller = principal.kind === 'user' ? `token:${principal.tokenId}` : `run:${principal.runId}`;
  return sha256Hex(`${caller}\n${routePath}`);
}

interface ReplayPolicy {
  /** The route keeps its key on its own record (run submission: the key lives on the run). */
  ownKey?: true;
  /** What is kept of a successful answer, before the secret scrub that applies to every route. */
  keep?: (body: unknown) => unknown;
  /** The answer to a replay, from what was kept. By default the kept answer itself. */
  replay?: (kept: { status: number; body: unknown }) => Reply;
}

/**
 * Every route whose replay differs from "store the answer, scrubbed of anything that looks like
 * a secret, and send it again": the one place to look when a route's answer holds something that
 * must not be kept.
 */
const POLICIES: Record<string, ReplayPolicy> = {
  'post /runs': { ownKey: true },
  // Content-addressed: the same bytes give the same answer without a key.
  'post /code': { ownKey: true },
  // The secret exists only in the first answer; a replay names the token instead.
  'post /tokens': {
    keep: (body) => {
      const { token: _secret, ...rest } = body as Record<string, unknown>;
      return rest;
    },
    replay: ({ body }) => {
      const { id, name } = body as { id: string; name: string };
      return {
        status: 409,
        body: {
          error: {
            code: 'conflict',
            message: `already created: this Idempotency-Key created token ${id} ("${name}"); the secret is shown only once. If it was lost, revoke the token and create another`,
            field: 'Idempotency-Key',
            tokenId: id,
          },
        },
      };
    },
  },
};

const policyOf = (route: RouteDef): ReplayPolicy => POLICIES[`${route.method} ${route.path}`] ?? {};

/**
 * Idempotency-Key for mutating POSTs: the same key and request replay the first successful
 * answer, another request is a 409. It runs after authentication and authorization, so a replay
 * is allowed exactly when the request itself would be. Only successful answers are kept; a failed
 * first attempt frees the key for the retry.
 *
 * A key in flight is owned by one instance under a lease it renews while the request runs. A
 * crashed owner stops renewing, and the next request with that key takes it over once the lease
 * has run out (at once when the owner is this very instance id, restarted). The request then runs
 * again: a crash between the effect and the stored answer can repeat that effect, the price of
 * never leaving a key locked.
 */
export class IdempotentReplay {
  /**
   * Keys that requests in this process are handling now (with how many), so a restart under a
   * fixed instance id knows its other keys are a dead predecessor's.
   */
  private readonly held = new Map<string, number>();
  private lastSweep = 0;

  constructor(
    private readonly store: IdempotencyStore,
    private readonly options: { instanceId: string; leaseMs: number },
    private readonly logger: Logger,
  ) {}

  /** Runs `execute` for a POST under its Idempotency-Key, or answers from what the key stored. */
  async around(route: RouteDef, principal: Principal, req: Request, execute: () => Promise<Reply | undefined>): Promise<Reply | undefined> {
    if (route.method !== 'post') return execute();
    const key = clientIdempotencyKey(req.headers['idempotency-key']);
    const policy = policyOf(route);
    if (key === undefined || policy.ownKey) return execute();

    const scope = replayScope(principal, req.path);
    const requestHash = sha256Hex(canonicalJson({ body: req.body ?? null, query: req.query }));
    this.sweep();
    const id = `${scope}\n${key}`;
    // Counted before the key is reserved: another request here must never mistake it for a dead predecessor's.
    this.held.set(id, (this.held.get(id) ?? 0) + 1);
    try {
      const stored = await this.claim(scope, key, requestHash);
      if (stored) return (policy.replay ?? ((kept) => kept))(stored);
      return await this.runHolding(scope, key, req, policy, execute);
    } finally {
      const left = (this.held.get(id) ?? 1) - 1;
      if (left > 0) this.held.set(id, left);
      else this.held.delete(id);
    }
  }

  /** Runs the request while renewing the key's lease, then keeps its answer (or frees the key). */
  private async runHolding(scope: string, key: string, req: Request, policy: ReplayPolicy, execute: () => Promise<Reply | undefined>): Promise<Reply | undefined> {
    const heartbeat = setInterval(() => {
      this.store.renew(scope, key, this.options.instanceId, this.leaseUntil()).then(
        (renewed) => renewed || this.logger.warn({ path: req.path }, 'an idempotency key was taken over while its request was still running'),
        (error) => this.logger.warn({ err: error }, 'could not renew an idempotency key lease'),
      );
    }, Math.max(100, Math.floor(this.options.leaseMs / 3)));
    heartbeat.unref();
    try {
      let reply: Reply | undefined;
      try {
        reply = await execute();
      } catch (error) {
        await this.store.release(scope, key, this.options.instanceId).catch(() => undefined);
        throw error;
      }
      const status = reply?.status ?? 200;
      if (!reply || status >= 300) {
        await this.store.release(scope, key, this.options.instanceId).catch(() => undefined);
        return reply;
      }
      // Kept before the answer leaves, so an answered request is always replayable.
      const kept = reply.body === undefined ? null : JSON.stringify(redactSecrets(policy.keep ? policy.keep(reply.body) : reply.body));
      await this.store.complete(scope, key, this.options.instanceId, status, kept ?? 'null').catch((error) => {
        this.logger.warn({ err: error, path: req.path }, 'could not store the answer of an idempotent request; a replay will run it again');
        return this.store.release(scope, key, this.options.instanceId).catch(() => undefined);
      });
      return reply;
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Reserves the key for this request (undefined), or returns the answer a previous one stored. */
  private async claim(scope: string, key: string, requestHash: string): Promise<{ status: number; body: unknown } | undefined> {
    const me = this.options.instanceId;
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt += 1) {
      if (await this.store.reserve(scope, key, requestHash, me, this.leaseUntil())) return undefined;
      const existing = await this.store.get(scope, key);
      if (!existing) continue; // released meanwhile
      if (existing.requestHash !== requestHash) throw new Conflict(`Idempotency-Key "${key}" was already used with a different request`, 'Idempotency-Key');
      if (existing.status !== null) {
        const body = existing.responseBody === null ? null : (JSON.parse(existing.responseBody) as unknown);
        return { status: existing.status, body: body === null ? undefined : body };
      }
      if (!this.ownerIsGone(scope, key, existing)) break;
      if (await this.store.takeOver(scope, key, existing, me, this.leaseUntil())) return undefined;
    }
    throw new Conflict(`a request with Idempotency-Key "${key}" is still being processed; retry shortly`, 'Idempotency-Key');
  }

  private ownerIsGone(scope: string, key: string, record: IdempotencyRecord): boolean {
    // Held by this instance id but by no other request in this process: a predecessor that died.
    if (record.owner === this.options.instanceId && (this.held.get(`${scope}\n${key}`) ?? 0) <= 1) return true;
    // Rows from before leases carry none: their lease is counted from when they were made.
    const expires = record.leaseExpiresAt ? Date.parse(record.leaseExpiresAt) : Date.parse(record.createdAt) + this.options.leaseMs;
    return !(expires > Date.now());
  }

  private leaseUntil(): string {
    return new Date(Date.now() + this.options.leaseMs).toISOString();
  }

  private sweep(): void {
    if (Date.now() - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = Date.now();
    void this.store.deleteOlderThan(new Date(Date.now() - RETENTION_MS).toISOString()).catch(() => undefined);
  }
}
