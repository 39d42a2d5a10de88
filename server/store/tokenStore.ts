import type { Knex } from 'knex';
import type { ApiToken, Role } from '../domain/index.ts';
import { nowIso } from './rows.ts';

interface TokenRow {
  id: string;
  name: string;
  role: Role;
  prefix: string;
  token_hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

const tokenFromRow = (r: TokenRow): ApiToken => ({
  id: r.id,
  name: r.name,
  role: r.role,
  prefix: r.prefix,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
});

/** API tokens, stored only as SHA-256 hashes. */
export class TokenStore {
  constructor(private readonly db: Knex) {}

  async insert(token: { id: string; name: string; role: Role; prefix: string; tokenHash: string }): Promise<ApiToken> {
    await this.db('api_tokens').insert({
      id: token.id,
      name: token.name,
      role: token.role,
      prefix: token.prefix,
      token_hash: token.tokenHash,
      created_at: nowIso(),
    });
    return (await this.get(token.id))!;
  }

  async get(id: string): Promise<ApiToken | undefined> {
    const row = (await this.db('api_tokens').where({ id }).first()) as TokenRow | undefined;
    return row && tokenFromRow(row);
  }

  async findActiveByHash(tokenHash: string): Promise<ApiToken | undefined> {
    const row = (await this.db('api_tokens').where({ token_hash: tokenHash }).whereNull('revoked_at').first()) as TokenRow | undefined;
    return row && tokenFromRow(row);
  }

  async findByName(name: string): Promise<ApiToken | undefined> {
    const row = (await this.db('api_tokens').where({ name }).whereNull('revoked_at').first()) as TokenRow | undefined;
    return row && tokenFromRow(row);
  }

  async list(): Promise<ApiToken[]> {
    return ((await this.db('api_tokens').orderBy('created_at')) as TokenRow[]).map(tokenFromRow);
  }

  async revoke(id: string): Promise<boolean> {
    return (await this.db('api_tokens').where({ id }).whereNull('revoked_at').update({ revoked_at: nowIso() })) > 0;
  }

  /** Best effort, at most once a minute per token, so reads stay cheap. */
  async touch(id: string, previous: string | null): Promise<void> {
    const now = nowIso();
    if (previous && Date.parse(now) - Date.parse(previous) < 60_000) return;
    await this.db('api_tokens').where({ id }).update({ last_used_at: now });
  }
}
