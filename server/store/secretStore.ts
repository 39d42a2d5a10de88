import type { Knex } from 'knex';
import { nowIso } from './rows.ts';

export interface SecretMeta {
  name: string;
  description: string;
  createdBy: string | null;
  updatedBy: string | null;
  createdAt: string;
  updatedAt: string;
}

interface SecretRow {
  name: string;
  ciphertext: string;
  description: string;
  created_by: string | null;
  updated_by: string | null;
  created_at: string;
  updated_at: string;
}

const META_COLUMNS = ['name', 'description', 'created_by', 'updated_by', 'created_at', 'updated_at'];

const metaFromRow = (r: Omit<SecretRow, 'ciphertext'>): SecretMeta => ({
  name: r.name,
  description: r.description,
  createdBy: r.created_by,
  updatedBy: r.updated_by,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** Secrets as ciphertext; reads of metadata never select the ciphertext column. */
export class SecretStore {
  constructor(private readonly db: Knex) {}

  /** Inserts or replaces one secret in a transaction; `created` says which. */
  async put(name: string, ciphertext: string, description: string | undefined, by: string | null): Promise<{ secret: SecretMeta; created: boolean }> {
    return this.db.transaction(async (trx) => {
      const now = nowIso();
      const existing = await trx('secrets').where({ name }).first('name');
      if (existing) {
        await trx('secrets').where({ name }).update({ ciphertext, updated_at: now, updated_by: by, ...(description !== undefined ? { description } : {}) });
      } else {
        await trx('secrets').insert({ name, ciphertext, description: description ?? '', created_by: by, updated_by: by, created_at: now, updated_at: now });
      }
      const row = (await trx('secrets').where({ name }).first(META_COLUMNS)) as SecretRow;
      return { secret: metaFromRow(row), created: !existing };
    });
  }

  async list(): Promise<SecretMeta[]> {
    return ((await this.db('secrets').select(META_COLUMNS).orderBy('name')) as SecretRow[]).map(metaFromRow);
  }

  async get(name: string): Promise<SecretMeta | undefined> {
    const row = (await this.db('secrets').where({ name }).first(META_COLUMNS)) as SecretRow | undefined;
    return row && metaFromRow(row);
  }

  /** The names among `names` that exist. */
  async existing(names: string[]): Promise<Set<string>> {
    if (!names.length) return new Set();
    const rows = (await this.db('secrets').whereIn('name', names).select('name')) as { name: string }[];
    return new Set(rows.map((r) => r.name));
  }

  async ciphertexts(names: string[]): Promise<Map<string, string>> {
    if (!names.length) return new Map();
    const rows = (await this.db('secrets').whereIn('name', names).select('name', 'ciphertext')) as Pick<SecretRow, 'name' | 'ciphertext'>[];
    return new Map(rows.map((r) => [r.name, r.ciphertext]));
  }

  async delete(name: string): Promise<boolean> {
    return (await this.db('secrets').where({ name }).delete()) > 0;
  }
}
