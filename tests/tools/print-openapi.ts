/**
 * Prints the service's OpenAPI document as JSON, for tests that cannot import TypeScript
 * (airflow-plugin/tests/unit/test_contract.py checks the fake service's answers against it):
 *   node --import tsx tests/tools/print-openapi.ts > openapi.json
 * The service is wired on a throw-away SQLite database and never listens: the document depends on
 * the route declarations alone.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { allRoutes, API_VERSION } from '../../server/app.ts';
import { buildOpenApi } from '../../server/api/openapi.ts';
import { loadConfig } from '../../server/config.ts';
import { connect } from '../../server/db/connect.ts';
import { createLogger } from '../../server/logger.ts';
import { wire } from '../../server/wire.ts';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-openapi-'));
try {
  const config = loadConfig({ GRIFFIN_DATA_DIR: dataDir, GRIFFIN_LOG_LEVEL: 'silent' });
  const db = connect({ dataDir });
  const wired = wire(config, db, createLogger('silent'));
  const text = `${JSON.stringify(buildOpenApi(allRoutes(wired), API_VERSION))}\n`;
  await db.destroy();
  // Exit only once a pipe has taken the whole document (it is larger than a pipe's buffer).
  await new Promise<void>((resolve, reject) => process.stdout.write(text, (error) => (error ? reject(error) : resolve())));
} finally {
  fs.rmSync(dataDir, { recursive: true, force: true });
}
process.exit(0);
