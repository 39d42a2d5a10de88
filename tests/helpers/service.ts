import path from 'node:path';
import http, { type Server } from 'node:http';
import supertest from 'supertest';
import type { Knex } from 'knex';
import { loadConfig, PROJECT_ROOT } from '../../server/config.ts';
import { createLogger } from '../../server/logger.ts';
import { wire, type Wired } from '../../server/wire.ts';
import { createApp } from '../../server/app.ts';
import { seedCatalog } from '../../server/services/seed.ts';
import type { Express } from 'express';
import { afterAll, beforeAll } from 'vitest';
import { createTestDatabase, type DatabaseId, type TestDatabase } from './databases.ts';
import { freePort } from './ports.ts';
import { responseContract, type ResponseContract } from './responseContract.ts';

export const ADMIN_TOKEN = 'gft_test_admin_token_0123456789';

export interface TestService {
  wired: Wired;
  /** The service listens here for real, so training processes can report back. */
  baseUrl: string;
  /** The app, its JSON success responses checked against the OpenAPI document (responseContract.ts). */
  app: Express;
  contract: ResponseContract;
  /** supertest agent; `as(token)` sets the bearer token. */
  request: supertest.Agent;
  admin: (req: supertest.Test) => supertest.Test;
  tokenFor(role: 'viewer' | 'editor' | 'admin'): Promise<string>;
  /** Runs dispatcher and reconciler passes until the run reaches a terminal state. */
  waitForRun(id: string, timeoutMs?: number): Promise<Record<string, any>>;
  close(): Promise<void>;
}

/**
 * The real app on a given database, with workers driven by the test (or started when asked), so
 * tests observe exactly the behaviour a deployment has.
 */
export async function startTestService(
  db: Knex,
  options: { dataDir: string; env?: Record<string, string>; startWorkers?: boolean; loadExamples?: boolean; logTo?: (line: string) => void },
): Promise<TestService> {
  const port = await freePort();
  const config = loadConfig({
    GRIFFIN_DATA_DIR: options.dataDir,
    GRIFFIN_ADMIN_TOKEN: ADMIN_TOKEN,
    GRIFFIN_PORT: String(port),
    GRIFFIN_RECONCILE_INTERVAL_MS: '100',
    GRIFFIN_DISPATCH_INTERVAL_MS: '100',
    GRIFFIN_LOG_LEVEL: 'silent',
    GRIFFIN_AUTH_FAILURE_LIMIT: '100000',
    ...options.env,
  });
  // logTo captures the service's log lines (at debug and above) for a test to inspect.
  const logger = options.logTo ? createLogger('debug', { write: (line: string) => void options.logTo!(line) }) : createLogger(config.logLevel);
  const wired = wire(config, db, logger);
  await seedCatalog(wired.catalog, wired.stores.catalog, { examplesDir: path.join(PROJECT_ROOT, 'examples'), loadExamples: options.loadExamples ?? true }, logger);
  await wired.auth.bootstrapAdmin(config.dataDir, config.adminToken);
  const inner = createApp(wired);
  const contract = responseContract((await supertest(inner).get('/api/v1/openapi.json')).body);
  // Everything the tests and training processes send goes through the check, by supertest or the port.
  const app = Object.assign(contract.instrument((req, res) => inner(req as never, res as never)), inner) as unknown as Express;
  const server: Server = await new Promise((resolve) => {
    const s = http.createServer(app).listen(port, '127.0.0.1', () => resolve(s));
  });
  if (options.startWorkers) wired.startWorkers();
  const request = supertest.agent(app);
  const tokens = new Map<string, string>();
  return {
    wired,
    baseUrl: config.publicUrl,
    app,
    contract,
    request,
    admin: (req) => req.set('Authorization', `Bearer ${ADMIN_TOKEN}`),
    async tokenFor(role) {
      if (role === 'admin') return ADMIN_TOKEN;
      if (!tokens.has(role)) tokens.set(role, (await wired.auth.createToken(`test-${role}`, role)).secret);
      return tokens.get(role)!;
    },
    async waitForRun(id, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (!options.startWorkers) {
          await wired.dispatcher.pass();
          await wired.reconciler.pass();
        }
        const res = await supertest(app).get(`/api/v1/runs/${id}`).set('Authorization', `Bearer ${ADMIN_TOKEN}`);
        if (res.body.terminal) return res.body;
        if (Date.now() > deadline) throw new Error(`run ${id} still ${res.body.state} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close() {
      await wired.stopWorkers();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      if (contract.violations.length) {
        throw new Error(`responses that do not match the OpenAPI document:\n${[...new Set(contract.violations)].join('\n')}`);
      }
    },
  };
}

export { freePort };

/** Forwards every property to the object `current()` returns once the suite has set it up. */
function lateBound<T extends object>(what: string, current: () => T | undefined): T {
  return new Proxy({} as T, {
    get(_target, key) {
      const value = current();
      if (!value) throw new Error(`${what} is used before the suite's beforeAll set it up`);
      const member = Reflect.get(value, key, value);
      return typeof member === 'function' ? member.bind(value) : member;
    },
  });
}

/**
 * A fresh database and the test service on it for the enclosing describe block: created before
 * its tests, closed and dropped after them. The two are usable from inside the tests.
 */
export function useTestService(
  dbId: DatabaseId,
  options: { env?: Record<string, string>; startWorkers?: boolean; loadExamples?: boolean } = {},
): { svc: TestService; t: TestDatabase } {
  let t: TestDatabase | undefined;
  let svc: TestService | undefined;
  beforeAll(async () => {
    t = await createTestDatabase(dbId);
    svc = await startTestService(t.db, { dataDir: t.dataDir, ...options });
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
  });
  return { svc: lateBound('the test service', () => svc), t: lateBound('the test database', () => t) };
}
