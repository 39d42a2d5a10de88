import type { Knex } from 'knex';
import { isUniqueViolation } from '../db/connect.ts';
import { nowIso } from './rows.ts';

export interface IdempotencyRecord {
  requestHash: string;
  /** null while the first request is still being handled. */
  status: number | null;
  responseBody: string | null;
  /** The instance handling the request while it is in flight (null on rows older than leases). */
  owner: string | null;
  /** In flight: the owner's claim runs out at this time unless it renews it (ISO). */
  leaseExpiresAt: string | null;
  createdAt: string;
}

interface Row {
  request_hash: string;
  status: number | null;
  response_body: string | null;
  owner: string | null;
  lease_expires_at: string | null;
  created_at: string;
}

/** Idempotency keys of mutating requests and the response each produced. */
export class IdempotencyStore {
  constructor(private readonly db: Knex) {}

  /** Reserves the key for `owner` until `leaseExpiresAt`; false when it already exists (then read it with get()). */
  async reserve(scope: string, key: string, requestHash: string, owner: string, leaseExpiresAt: string): Promise<boolean> {
    try {
      await this.db('idempotency_keys').insert({ scope, key, request_hash: requestHash, owner, lease_expires_at: leaseExpiresAt, created_at: nowIso() });
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  async get(scope: string, key: string): Promise<IdempotencyRecord | undefined> {
    const row = (await this.db('idempotency_keys').where({ scope, key }).first()) as Row | undefined;
    return (
      row && {
        requestHash: row.request_hash,
        status: row.status === null ? null : Number(row.status),
        responseBody: row.response_body,
        owner: row.owner,
        leaseExpiresAt: row.lease_expires_at,
        createdAt: row.created_at,
      }
    );
  }

  /**
   * Takes an in-flight key over from an owner that is gone. Conditional on the owner and lease
   * that were read, so of several requests racing for the same dead key exactly one wins.
   */
  async takeOver(scope: string, key: string, seen: Pick<IdempotencyRecord, 'owner' | 'leaseExpiresAt'>, owner: string, leaseExpiresAt: string): Promise<boolean> {
    const query = this.db('idempotency_keys').where({ scope, key }).whereNull('status');
    if (seen.owner === null) query.whereNull('owner');
    else query.where({ owner: seen.owner });
    if (seen.leaseExpiresAt === null) query.whereNull('lease_expires_at');
    else query.where({ lease_expires_at: seen.leaseExpiresAt });
    return (await query.update({ owner, lease_expires_at: leaseExpiresAt, created_at: nowIso() })) === 1;
  }

  /** Extends the owner's lease while its request is still running; false when the key was taken over. */
  async renew(scope: string, key: string, owner: string, leaseExpiresAt: string): Promise<boolean> {
    return (await this.db('idempotency_keys').where({ scope, key, owner }).whereNull('status').update({ lease_expires_at: leaseExpiresAt })) === 1;
  }

  /** Records the answer; a no-op for an owner whose key was taken over meanwhile. */
  async complete(scope: string, key: string, owner: string, status: number, responseBody: string): Promise<void> {
    await this.db('idempotency_keys').where({ scope, key, owner }).whereNull('status').update({ status, response_body: responseBody, lease_expires_at: null });
  }

  async release(scope: string, key: string, owner: string): Promise<void> {
    await this.db('idempotency_keys').where({ scope, key, owner }).whereNull('status').delete();
  }

  async deleteOlderThan(cutoffIso: string): Promise<number> {
    return this.db('idempotency_keys').where('created_at', '<', cutoffIso).delete();
  }
}
