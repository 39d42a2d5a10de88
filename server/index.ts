import path from 'node:path';
import type { Server } from 'node:http';
import { forgetSecretSettings, loadConfig, PROJECT_ROOT } from './config.ts';
import { createLogger } from './logger.ts';
import { connect } from './db/connect.ts';
import { migrateLatest } from './db/migrate.ts';
import { wire } from './wire.ts';
import { createApp } from './app.ts';
import { seedCatalog } from './services/seed.ts';
import { secureDataDir } from './services/dataDir.ts';

/** Entry: config -> knex -> migrate -> wire -> listen -> workers. SIGTERM drains. */
async function main(): Promise<void> {
  const config = loadConfig();
  // Read once: processes started from here on (training code among them) never inherit them.
  forgetSecretSettings(process.env);
  // Everything the service creates (database, secret, logs, artifacts) is its own user's only.
  process.umask(0o077);
  const logger = createLogger(config.logLevel);
  for (const notice of config.startupNotices) logger.warn(notice);
  const tightened = secureDataDir(config.dataDir);
  if (tightened.length) logger.warn({ paths: tightened }, 'took group and other permissions away from files in the data directory');
  const db = connect({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const applied = await migrateLatest(db);
  if (applied.length) logger.info({ migrations: applied }, 'applied migrations');

  const wired = wire(config, db, logger);
  await seedCatalog(wired.catalog, wired.stores.catalog, { examplesDir: path.join(PROJECT_ROOT, 'examples'), loadExamples: config.loadExamples }, logger);
  const admin = await wired.auth.bootstrapAdmin(config.dataDir, config.adminToken);
  if (admin.printedToken) {
    // Printed once, on the first start only; it is also in the data directory (mode 0600).
    process.stdout.write(`\nGriffin admin token (saved in ${admin.file}):\n  ${admin.printedToken}\n\n`);
  }

  const app = createApp(wired);
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.port, config.host, () => resolve(s));
    s.once('error', reject);
  });
  server.keepAliveTimeout = 65_000;
  if (config.workers) wired.startWorkers();
  logger.info({ url: config.publicUrl, database: config.databaseUrl ? 'postgres' : 'sqlite', dataDir: config.dataDir }, 'griffin is listening');
  process.stdout.write(`Griffin is running at ${config.publicUrl}\n`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new work; requests in flight finish; active runs are left to the reconciler');
    await wired.stopWorkers();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await db.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error) => {
  process.stderr.write(`griffin failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
