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
import { IdempotencyStore } from './store/idempotencyStore.ts';
import { AuthService } from './services/authService.ts';
import { CatalogService } from './services/catalogService.ts';
import { ReadCache } from './services/readCache.ts';
import { RunService } from './services/runService.ts';
import { RegistryService } from './services/registryService.ts';
import { MlflowService } from './services/mlflowService.ts';
import { LoggedModelStore } from './store/loggedModelStore.ts';
import { ExperimentStore } from './store/experimentStore.ts';
import { ExecutorRegistry } from './executors/registry.ts';
import { LocalExecutor } from './executors/local.ts';
import { HostSlots } from './executors/localSlots.ts';
import { RuntimeVenvs } from './executors/runtimeVenv.ts';
import { isolatesRuns, resolveRunUser } from './executors/runUser.ts';
import { RayExecutor } from './executors/ray.ts';
import { KubeClient } from './executors/kubeClient.ts';
import { KUBE_UNREACHABLE_GRACE_SECONDS, KubeRayExecutor, KubernetesExecutor } from './executors/kubernetes.ts';
import { Launcher } from './workers/launcher.ts';
import { Dispatcher } from './workers/dispatcher.ts';
import { Reconciler } from './workers/reconciler.ts';
import { AttemptEnd } from './workers/attemptEnd.ts';
import { WorkerLoop } from './workers/loop.ts';
import { ScheduleStore } from './store/scheduleStore.ts';
import { ScheduleService } from './services/scheduleService.ts';
import { Scheduler } from './workers/scheduler.ts';
import { scheduleRoutes } from './api/scheduleRoutes.ts';
import { bundleRoutes } from './api/bundleRoutes.ts';
import { backendRoutes } from './api/backendRoutes.ts';
import { codeRoutes } from './api/codeRoutes.ts';
import { CodeStore } from './files/codeStore.ts';
import { MAX_FILES as MAX_CODE_FILES } from './files/codeBundle.ts';
import { secretRoutes } from './api/secretRoutes.ts';
import { SecretStore } from './store/secretStore.ts';
import { SecretService } from './services/secretService.ts';
import { UsageStore } from './store/usageStore.ts';
import { UsageService } from './services/usageService.ts';
import { usageRoutes } from './api/usageRoutes.ts';
import { QueueStore } from './store/queueStore.ts';
import { QueueService } from './services/queueService.ts';
import { queueRoutes } from './api/queueRoutes.ts';
import type { AppDeps } from './app.ts';
import { createMetrics, type Metrics } from './metrics.ts';

export interface Wired extends AppDeps {
  metrics: Metrics;
  stores: { catalog: CatalogStore; runs: RunStore; registry: RegistryStore; tokens: TokenStore };
  executors: ExecutorRegistry;
  dispatcher: Dispatcher;
  reconciler: Reconciler;
  scheduleStore: ScheduleStore;
  schedules: ScheduleService;
  scheduler: Scheduler;
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

/** The kubernetes and kuberay backends share one API client; without credentials they say what to configure. */
function registerKubernetes(config: Config, executors: ExecutorRegistry, logger: Logger, code: CodeStore, runChanged: (runId: string) => void): void {
  const hint = 'Griffin needs in-cluster credentials or a kubeconfig (GRIFFIN_KUBERNETES=true)';
  if (!config.kubernetes.enabled) {
    executors.unavailable('kubernetes', hint);
    executors.unavailable('kuberay', hint);
    return;
  }
  const client = KubeClient.load(config.kubernetes.kubeconfig);
  // Credentials load in the background, so a broken kubeconfig is reported at start (and by every launch).
  client.check().then(
    (server) => logger.info({ server, namespace: config.kubernetes.namespace }, 'kubernetes and kuberay backends configured'),
    (error) => logger.error({ err: error }, 'loading Kubernetes credentials failed; kubernetes and kuberay runs will fail to launch'),
  );
  const { namespace, serviceAccountName, nodeSelector, tolerations } = config.kubernetes;
  const options = { placement: { namespace, serviceAccountName, nodeSelector, tolerations }, codeRoot: config.codeRoot, code, unreachableGraceSeconds: KUBE_UNREACHABLE_GRACE_SECONDS };
  executors.register(new KubernetesExecutor(client, options, { onChange: runChanged, logger }));
  executors.register(new KubeRayExecutor(client, options, { onChange: runChanged, logger }));
}

/** All wiring in one place: no module keeps singletons. */
export function wire(config: Config, db: Knex, logger: Logger): Wired {
  const stores = { catalog: new CatalogStore(db), runs: new RunStore(db), registry: new RegistryStore(db), tokens: new TokenStore(db) };
  const queueStore = new QueueStore(db);
  const queues = new QueueService(queueStore, config.readCacheMs);
  const metrics = createMetrics({ countRuns: () => stores.runs.countByState(), countQueued: async () => new Map((await queues.list()).map((q) => [q.name, q.load.queued])) });
  const usage = new UsageService(new UsageStore(db), metrics.registry);
  const auth = new AuthService(stores.tokens, stores.runs, loadSecret(config), logger, config.authFailureLimit, config.authCacheMs);
  const secrets = new SecretService(new SecretStore(db), config.secret);
  const code = new CodeStore(path.join(config.dataDir, 'code'), { maxUploadBytes: config.maxCodeBytes, maxUncompressedBytes: config.maxCodeBytes, maxEntries: MAX_CODE_FILES });
  const executors = new ExecutorRegistry();
  const catalog = new CatalogService(stores.catalog, config.codeRoot, config.dataDir, executors, code, (env, field) => secrets.checkEnv(env, field), (queue, field) => queues.checkExists(queue, field), config.readCacheMs);

  const loops: WorkerLoop[] = [];
  const wakeDispatcher = () => loops[0]?.wake();
  const runChanged = (runId: string) => {
    reconciler.markChanged(runId);
    loops[1]?.wake();
  };

  const localSlots = new HostSlots(path.join(config.dataDir, 'local-slots'), config.maxConcurrentLocalRuns);
  const local = { dataDir: config.dataDir, codeRoot: config.codeRoot, workRoot: config.localWorkDir, runAsUser: config.runAsUser, killGraceSeconds: config.killGraceSeconds, slots: localSlots, code, runtimes: new RuntimeVenvs(config.runtimeDir, { buildTimeoutSeconds: config.runtimeBuildTimeoutSeconds }) };
  executors.register(new LocalExecutor(local, logger, runChanged));
  // A missing run user fails local runs (with this reason) but not the service: other backends work.
  if (isolatesRuns()) resolveRunUser(config.runAsUser).catch((error: Error) => logger.error(`local runs will fail: ${error.message}`));
  if (config.rayAddress) {
    executors.register(
      new RayExecutor(
        { address: config.rayAddress, unreachableGraceSeconds: config.rayUnreachableGraceSeconds, codeRoot: config.codeRoot, code },
        { onChange: runChanged, logger, intervalMs: config.reconcileIntervalMs },
      ),
    );
  } else {
    executors.unavailable('ray', 'set GRIFFIN_RAY_ADDRESS to the Ray dashboard URL');
  }
  registerKubernetes(config, executors, logger, code, runChanged);

  const runs = new RunService(
    stores.runs,
    catalog,
    executors,
    auth,
    { publicUrl: config.publicUrl, dataDir: config.dataDir, codeRoot: config.codeRoot, airflowBaseUrl: config.airflowBaseUrl, maxArtifactBytes: config.maxArtifactBytes, reportTimeoutSeconds: config.reportTimeoutSeconds },
    wakeDispatcher,
    new ReadCache(config.readCacheMs),
    stores.registry,
    queues,
  );
  const registry = new RegistryService(stores.registry, stores.runs, stores.catalog, { publicUrl: config.publicUrl, readCacheMs: config.readCacheMs, logger }, (runId) => runs.forget(runId));
  const mlflow = new MlflowService(stores.runs, runs, stores.catalog, new ExperimentStore(db), registry, { publicUrl: config.publicUrl }, new LoggedModelStore(db));
  const attemptEnd = new AttemptEnd(
    stores.runs,
    { onAttemptEnded: (run) => usage.attemptEnded(run), release: async (run) => (executors.has(run.backend) ? executors.get(run.backend).release?.(run) : undefined) },
    logger,
  );
  const launcher = new Launcher(stores.runs, runs, executors, { leaseSeconds: config.leaseSeconds }, logger, (run) => secrets.resolve(run.spec.env), attemptEnd);
  const dispatcher = new Dispatcher(
    stores.runs,
    launcher,
    { instanceId: config.instanceId, leaseSeconds: config.leaseSeconds, freeLocalSlots: () => localSlots.free(), localSlotsTotal: config.maxConcurrentLocalRuns, backends: executors.names() },
    logger,
  );
  const reconciler = new Reconciler(
    stores.runs,
    executors,
    registry,
    launcher,
    { instanceId: config.instanceId, leaseSeconds: config.leaseSeconds, fullSweepMs: config.reconcileFullSweepMs, eventedBackends: ['local'], attemptEnd, redact: (run, text) => secrets.redact(run.spec.env, text) },
    logger,
  );
  loops.push(
    new WorkerLoop('dispatcher', config.dispatchIntervalMs, metrics.timed('dispatcher', async () => void (await dispatcher.pass())), logger),
    new WorkerLoop('reconciler', config.reconcileIntervalMs, metrics.timed('reconciler', () => reconciler.pass()), logger),
  );
  const scheduleStore = new ScheduleStore(db);
  const schedules = new ScheduleService(scheduleStore, runs, { instanceId: config.instanceId, publicUrl: config.publicUrl }, logger, () => scheduler.wake());
  const scheduler = new Scheduler(scheduleStore, schedules, { syncIntervalMs: config.scheduleSyncMs, staleFiringMs: config.leaseSeconds * 1000 }, logger);

  return {
    config,
    db,
    logger,
    auth,
    catalog,
    runs,
    registry,
    mlflow,
    idempotency: new IdempotencyStore(db),
    stores,
    executors,
    dispatcher,
    reconciler,
    scheduleStore,
    schedules,
    scheduler,
    metrics,
    extraRoutes: [...scheduleRoutes(schedules, runs), ...bundleRoutes(runs, config.codeRoot, config.dataDir, code), ...backendRoutes(executors), ...codeRoutes(code), ...secretRoutes(secrets), ...queueRoutes(queues), ...usageRoutes(usage, runs)],
    loops,
    startWorkers: () => {
      // Watches and listing polls report changed runs to the reconciler between its full sweeps.
      for (const name of executors.names()) executors.get(name).startFollowing?.();
      loops.forEach((l) => l.start());
      scheduler.start();
    },
    stopWorkers: async () => {
      await Promise.all([...loops.map((l) => l.stop()), scheduler.stop(), ...executors.names().map((name) => executors.get(name).stopFollowing?.())]);
    },
  };
}
