import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../server/errors.ts';
import { CatalogStore } from '../../server/store/catalogStore.ts';
import { RegistryStore } from '../../server/store/registryStore.ts';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';

/** Pages through a list with `limit`, following nextPageToken to the end. */
async function everyPage<T>(list: (pageToken?: string) => Promise<{ items: T[]; nextPageToken: string | null }>): Promise<T[][]> {
  const pages: T[][] = [];
  let token: string | undefined;
  do {
    const page = await list(token);
    pages.push(page.items);
    token = page.nextPageToken ?? undefined;
  } while (token);
  return pages;
}

describe.each(supportedDatabases())('keyset pages on %s', (dbId) => {
  let t: TestDatabase;
  let catalog: CatalogStore;
  let registry: RegistryStore;
  beforeAll(async () => {
    t = await createTestDatabase(dbId);
    catalog = new CatalogStore(t.db);
    registry = new RegistryStore(t.db);
    for (const name of ['delta', 'alpha', 'echo', 'charlie', 'bravo']) {
      await catalog.upsertFeature({ name, entityKey: 'user_id', dtype: 'int', source: 'orders', description: '' });
    }
    const model = await registry.ensureModel('paged');
    for (let i = 0; i < 5; i += 1) await registry.addVersion(model, { artifactUri: `s3://b/${i}`, runId: null, metrics: {}, tags: {}, description: '', actor: 'test' });
  });
  afterAll(async () => t.destroy());

  it('an ascending list comes whole, in order, each item once, the last page without a token', async () => {
    const pages = await everyPage((pageToken) => catalog.listFeatures({ limit: 2, pageToken }));
    expect(pages.map((p) => p.map((f) => f.name))).toEqual([['alpha', 'bravo'], ['charlie', 'delta'], ['echo']]);
  });

  it('a descending list comes whole, newest first', async () => {
    const pages = await everyPage((pageToken) => registry.listVersions({ name: 'paged', limit: 2, pageToken }));
    expect(pages.map((p) => p.map((v) => v.version))).toEqual([[5, 4], [3, 2], [1]]);
  });

  it('a page that ends exactly at the end issues no token', async () => {
    const first = await catalog.listFeatures({ limit: 5 });
    expect(first.items).toHaveLength(5);
    expect(first.nextPageToken).toBeNull();
  });

  it("another list's token is a 400 naming pageToken, not a broken query", async () => {
    const versionsToken = (await registry.listVersions({ name: 'paged', limit: 2 })).nextPageToken!;
    await expect(catalog.listFeatures({ limit: 2, pageToken: versionsToken })).rejects.toThrow(InputError);
    await expect(catalog.listFeatures({ limit: 2, pageToken: versionsToken })).rejects.toMatchObject({ field: 'pageToken' });
  });
});
