import type { Knex } from 'knex';
import { isUniqueViolation } from '../db/connect.ts';
import { nowIso } from './rows.ts';

export interface IdempotencyRecord {
  requestHash: string;
  /** null while the first request is still being handled. */
  status: number | null;
  responseBody: string | null;
}

/** Idempotency keys of mutating requests and the response each produced. */
export class IdempotencyStore {
  constructor(private readonly db: Knex) {}

  /** Reserves the key; false when it already exists (then read it with get()). */
  async reserve(scope: string, key: string, requestHash: string): Promise<boolean> {
    try {
      await this.db('idempotency_keys').insert({ scope, key, request_hash: requestHash, created_at: nowIso() });
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  async get(scope: string, key: string): Promise<IdempotencyRecord | undefined> {
    const row = (await this.db('idempotency_keys').where({ scope, key }).first()) as
      | { request_hash: string; status: number | null; response_body: string | null }
      | undefined;
    return row && { requestHash: row.request_hash, status: row.status === null ? null : Number(row.status), responseBody: row.response_body };
  }

  async complete(scope: string, key: string, status: number, responseBody: string): Promise<void> {
    await this.db('idempotency_keys').where({ scope, key }).update({ status, response_body: responseBody });
  }

  async release(scope: string, key: string): Promise<void> {
    await this.db('idempotency_keys').where({ scope, key }).whereNull('status').delete();
  }

  async deleteOlderThan(cutoffIso: string): Promise<number> {
    return this.db('idempotency_keys').where('created_at', '<', cutoffIso).delete();
  }
}
