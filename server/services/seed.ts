import fs from 'node:fs';
import path from 'node:path';
import type { CatalogService } from './catalogService.ts';
import type { CatalogStore, ExampleKind } from '../store/catalogStore.ts';
import { DatasetCreate, FeatureCreate, ModelCreate, RuntimeCreate, WorkflowCreate } from '../domain/index.ts';
import { canonicalJson, sha256Hex } from '../ids.ts';
import type { Logger } from '../logger.ts';
import { curatedRuntimes } from '../files/runtimeLocks.ts';

/** The plain runtimes every installation starts with; the framework runtimes come from runtimes/ (runtimeLocks.ts). */
export const STANDARD_RUNTIMES = [
  {
    name: 'python3',
    description: 'The Python 3 interpreter on the Griffin host (local); Python 3.11 with Ray in the container image (kubernetes, kuberay), the cluster\'s Python on ray.',
    localInterpreter: 'python3',
    pythonVersion: '3.11',
    rayVersion: '2.40.0',
    image: 'rayproject/ray:2.40.0-py311',
    frameworks: ['python-stdlib'],
    backends: ['local', 'ray', 'kubernetes', 'kuberay'],
  },
  {
    name: 'ray-2-py311',
    description: 'Ray 2.40 on Python 3.11 (rayproject/ray image) for Ray-native training on Ray or KubeRay.',
    localInterpreter: 'python3',
    pythonVersion: '3.11',
    rayVersion: '2.40.0',
    image: 'rayproject/ray:2.40.0-py311',
    frameworks: ['ray', 'python-stdlib'],
    backends: ['ray', 'kuberay', 'local'],
  },
] as const;

interface ExampleFile {
  features?: unknown[];
  datasets?: unknown[];
  models?: unknown[];
  workflows?: unknown[];
}

/**
 * Loads runtimes and the example definitions (examples/&ast;/griffin.json). An example's definition
 * gets a new version only when it is missing, or when the example file changed since it was last
 * loaded and nobody made a version after that load: a version a user made is never superseded.
 */
export async function seedCatalog(catalog: CatalogService, store: CatalogStore, options: { examplesDir: string; loadExamples: boolean }, logger: Logger): Promise<void> {
  for (const runtime of STANDARD_RUNTIMES) {
    if (!(await store.getRuntime(runtime.name))) await catalog.upsertRuntime(RuntimeCreate.parse(runtime));
  }
  // A framework runtime follows its lock file; what an admin changed beside the pins (its image, say) stays.
  for (const raw of curatedRuntimes()) {
    const runtime = RuntimeCreate.parse(raw);
    const stored = await store.getRuntime(runtime.name);
    const lock = { lockFile: runtime.lockFile ?? null, packages: runtime.packages, rayRuntimeEnv: runtime.rayRuntimeEnv ?? null };
    if (stored && sameContent(stored, lock)) continue;
    const { createdAt: _c, updatedAt: _u, ...kept } = stored ?? { createdAt: '', updatedAt: '' };
    const merged = stored ? RuntimeCreate.parse(Object.fromEntries(Object.entries({ ...kept, ...lock }).filter(([, v]) => v !== null))) : runtime;
    await catalog.upsertRuntime(merged);
    logger.info({ runtime: runtime.name, lockFile: runtime.lockFile, packages: runtime.packages.length }, stored ? 'updated runtime pins from its lock file' : 'added runtime');
  }
  if (!options.loadExamples || !fs.existsSync(options.examplesDir)) return;
  for (const entry of fs.readdirSync(options.examplesDir).sort()) {
    const file = path.join(options.examplesDir, entry, 'griffin.json');
    if (!fs.existsSync(file)) continue;
    const defs = JSON.parse(fs.readFileSync(file, 'utf8')) as ExampleFile;
    const outcomes: Outcome[] = [];
    // The versions this example stands at, so its workflows pin the example's own model and dataset.
    const standing = { dataset: new Map<string, number>(), model: new Map<string, number>() };
    for (const raw of defs.features ?? []) await catalog.upsertFeature(FeatureCreate.parse(raw));
    for (const raw of defs.datasets ?? []) {
      const input = DatasetCreate.parse(raw);
      const outcome = await loadDefinition(store, 'dataset', input.name, input, {
        latest: () => store.getDataset(input.name),
        create: () => catalog.createDataset(input),
      });
      outcomes.push(outcome);
      if (outcome.version !== null) standing.dataset.set(input.name, outcome.version);
    }
    for (const raw of defs.models ?? []) {
      const input = ModelCreate.parse(raw);
      const outcome = await loadDefinition(store, 'model', input.name, input, {
        latest: () => store.getModel(input.name),
        create: () => catalog.createModel(input),
      });
      outcomes.push(outcome);
      if (outcome.version !== null) standing.model.set(input.name, outcome.version);
    }
    for (const raw of defs.workflows ?? []) {
      const input = WorkflowCreate.parse(raw);
      const pinned = {
        ...input,
        model: await pinTo(input.model, standing.model, (n) => store.getModel(n)),
        dataset: await pinTo(input.dataset, standing.dataset, (n) => store.getDataset(n)),
      };
      outcomes.push(
        await loadDefinition(store, 'workflow', input.name, pinned, {
          latest: () => store.getWorkflow(input.name),
          // An example stays loadable on a server without its backend (ray-sweep on a default one).
          create: async () => {
            const made = await catalog.createWorkflow(pinned, { force: true });
            if (made.warnings) logger.info({ example: entry, workflow: `${made.name}@${made.version}`, backend: made.backend }, `example workflow loaded, but ${made.warnings.join('; ')} (or choose another backend for a run)`);
            return made;
          },
        }),
      );
    }
    const created = outcomes.filter((o) => o.action === 'created').map((o) => `${o.kind} ${o.name}@${o.version}`);
    const kept = outcomes.filter((o) => o.action === 'kept').map((o) => `${o.kind} ${o.name}@${o.latest}`);
    logger.info({ example: entry, created, kept }, created.length ? 'loaded example definitions' : 'example definitions up to date');
    if (kept.length) {
      logger.warn({ example: entry, kept }, 'example file changed, but a version made after the last load is latest: left it latest (create a version from the example yourself if you want it)');
    }
  }
}

interface Outcome {
  kind: ExampleKind;
  name: string;
  action: 'created' | 'unchanged' | 'kept';
  /** The version the example stands at now (null when a newer version that is not the example's is latest). */
  version: number | null;
  latest?: number;
}

/**
 * One definition of an example: create it when missing; when the file changed since the last load,
 * add a version only if the latest version is still the one that load left; otherwise keep what is
 * there. Without a record (a database loaded before this was recorded) a differing latest version
 * may be a user's, so it is kept too.
 */
async function loadDefinition<T extends { version: number }>(
  store: CatalogStore,
  kind: ExampleKind,
  name: string,
  input: object,
  ops: { latest: () => Promise<T | undefined>; create: () => Promise<T> },
): Promise<Outcome> {
  const hash = sha256Hex(canonicalJson(input));
  const record = await store.exampleLoad(kind, name);
  const latest = await ops.latest();
  if (!latest || (record && record.contentHash !== hash && record.version === latest.version)) {
    const made = await ops.create();
    await store.recordExampleLoad(kind, name, hash, made.version);
    return { kind, name, action: 'created', version: made.version };
  }
  if (record?.contentHash === hash) return { kind, name, action: 'unchanged', version: record.version };
  if (sameContent(latest, input)) {
    await store.recordExampleLoad(kind, name, hash, latest.version);
    return { kind, name, action: 'unchanged', version: latest.version };
  }
  await store.recordExampleLoad(kind, name, hash, record?.version ?? null);
  return { kind, name, action: 'kept', version: record?.version ?? null, latest: latest.version };
}

function sameContent(stored: object, input: object): boolean {
  const pick = (o: object) => Object.fromEntries(Object.keys(input).map((k) => [k, (o as Record<string, unknown>)[k] ?? null]));
  return canonicalJson(pick(stored)) === canonicalJson(pick(input));
}

/**
 * Workflows store pinned refs (model@3). An example naming "model" means the version the example
 * stands at, so that a user's newer model version is not pulled into the example's workflow; a
 * name the example does not define means its latest version.
 */
async function pinTo(ref: string, standing: Map<string, number>, latest: (name: string) => Promise<{ version: number } | undefined>): Promise<string> {
  if (ref.includes('@')) return ref;
  const version = standing.get(ref) ?? (await latest(ref))?.version;
  return version ? `${ref}@${version}` : ref;
}
