import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { CatalogStore } from './store/catalogStore.ts';
import { RunStore } from './store/runStore.ts';
import { RegistryStore } from './store/registryStore.ts';
import { TokenStore } from './store/tokenStore.ts';
import { AuthService } from './services/authService.ts';
import { CatalogService } from './services/catalogService.ts';
import { RunService } from './services/runService.ts';
import { RegistryService } from './services/registryService.ts';
import { ExecutorRegistry } from './executors/registry.ts';
import { LocalExecutor } from './executors/local.ts';
import { Launcher } from './workers/launcher.ts';
import { Dispatcher } from './workers/dispatcher.ts';
import { Reconciler } from './workers/reconciler.ts';
import { WorkerLoop } from './workers/loop.ts';
import type { AppDeps } from './app.ts';

export interface Wired extends AppDeps {
  stores: { catalog: CatalogStore; runs: RunStore; registry: RegistryStore; tokens: TokenStore };
  executors: ExecutorRegistry;
  dispatcher: Dispatcher;
  reconciler: Reconciler;
  loops: WorkerLoop[];
  startWorkers(): void;
  stopWorkers(): Promise<void>;
}

/**
 * The service secret signs run-scoped tokens. Replicas must share it (GRIFFIN_SECRET); a single
 * instance keeps a generated one in its data directory so tokens survive restarts.
 */
function loadSecret(config: Config): string {
  if (config.secret) return config.secret;
  const file = path.join(config.dataDir, 'secret');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  fs.mkdirSync(config.dataDir, { recursive: true });
  const secret = crypto.randomBytes(32).toString('base64url');
  fs.writeFileSync(file, secret, { mode: 0o600, flag: 'wx' });
  return fs.readFileSync(file, 'utf8').trim();
}

/** All wiring in one place: no module keeps singletons. */
export function wire(config: Config, db: Knex, logger: Logger): Wired {
  const stores = { catalog: new CatalogStore(db), runs: new RunStore(db), registry: new RegistryStore(db), tokens: new TokenStore(db) };
  const auth = new AuthService(stores.tokens, stores.runs, loadSecret(config), logger, config.authFailureLimit);
  const catalog = new CatalogService(stores.catalog, config.codeRoot);
  const executors = new ExecutorRegistry();

  const loops: WorkerLoop[] = [];
  const wakeDispatcher = () => loops[0]?.wake();
  const wakeReconciler = () => loops[1]?.wake();

  executors.register(new LocalExecutor(config.dataDir, config.codeRoot, logger, wakeReconciler));
  executors.unavailable('ray', 'set GRIFFIN_RAY_ADDRESS to the Ray dashboard URL');
  executors.unavailable('kubernetes', 'Griffin needs in-cluster credentials or a kubeconfig (GRIFFIN_KUBERNETES=true)');
  executors.unavailable('kuberay', 'Griffin needs in-cluster credentials or a kubeconfig (GRIFFIN_KUBERNETES=true)');

  const runs = new RunService(
    stores.runs,
    catalog,
    executors,
    auth,
    { publicUrl: config.publicUrl, dataDir: config.dataDir, codeRoot: config.codeRoot, airflowBaseUrl: config.airflowBaseUrl, maxArtifactBytes: config.maxArtifactBytes },
    wakeDispatcher,
  );
  const registry = new RegistryService(stores.registry, stores.runs, stores.catalog, { publicUrl: config.publicUrl });
  const launcher = new Launcher(stores.runs, runs, executors, logger);
  const dispatcher = new Dispatcher(
    stores.runs,
    launcher,
    { instanceId: config.instanceId, leaseSeconds: config.leaseSeconds, maxConcurrentLocalRuns: config.maxConcurrentLocalRuns, backends: executors.names() },
    logger,
  );
  const reconciler = new Reconciler(stores.runs, executors, registry, launcher, { instanceId: config.instanceId, leaseSeconds: config.leaseSeconds }, logger);
  loops.push(
    new WorkerLoop('dispatcher', config.dispatchIntervalMs, async () => void (await dispatcher.pass()), logger),
    new WorkerLoop('reconciler', config.reconcileIntervalMs, () => reconciler.pass(), logger),
  );

  return {
    config,
    db,
    logger,
    auth,
    catalog,
    runs,
    registry,
    stores,
    executors,
    dispatcher,
    reconciler,
    loops,
    startWorkers: () => loops.forEach((l) => l.start()),
    stopWorkers: async () => {
      await Promise.all(loops.map((l) => l.stop()));
    },
  };
}
