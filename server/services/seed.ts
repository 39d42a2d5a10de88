import fs from 'node:fs';
import path from 'node:path';
import type { CatalogService } from './catalogService.ts';
import type { CatalogStore } from '../store/catalogStore.ts';
import { DatasetCreate, FeatureCreate, ModelCreate, RuntimeCreate, WorkflowCreate } from '../api/schemas.ts';
import { canonicalJson } from '../ids.ts';
import type { Logger } from '../logger.ts';

/** The curated runtimes every installation starts with. */
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
 * Loads runtimes and the example definitions (examples/&ast;/griffin.json). Re-running it is a no-op:
 * a version is added only when its content differs from the latest stored one.
 */
export async function seedCatalog(catalog: CatalogService, store: CatalogStore, options: { examplesDir: string; loadExamples: boolean }, logger: Logger): Promise<void> {
  for (const runtime of STANDARD_RUNTIMES) {
    if (!(await store.getRuntime(runtime.name))) await catalog.upsertRuntime(RuntimeCreate.parse(runtime));
  }
  if (!options.loadExamples || !fs.existsSync(options.examplesDir)) return;
  for (const entry of fs.readdirSync(options.examplesDir).sort()) {
    const file = path.join(options.examplesDir, entry, 'griffin.json');
    if (!fs.existsSync(file)) continue;
    const defs = JSON.parse(fs.readFileSync(file, 'utf8')) as ExampleFile;
    for (const raw of defs.features ?? []) await catalog.upsertFeature(FeatureCreate.parse(raw));
    for (const raw of defs.datasets ?? []) {
      const input = DatasetCreate.parse(raw);
      const latest = await store.getDataset(input.name);
      if (!latest || !sameContent(latest, input)) await catalog.createDataset(input);
    }
    for (const raw of defs.models ?? []) {
      const input = ModelCreate.parse(raw);
      const latest = await store.getModel(input.name);
      if (!latest || !sameContent(latest, input)) await catalog.createModel(input);
    }
    for (const raw of defs.workflows ?? []) {
      const input = WorkflowCreate.parse(raw);
      const pinned = { ...input, model: await pinLatest(input.model, (n) => store.getModel(n)), dataset: await pinLatest(input.dataset, (n) => store.getDataset(n)) };
      const latest = await store.getWorkflow(input.name);
      if (!latest || !sameContent(latest, pinned)) await catalog.createWorkflow(input);
    }
    logger.info({ example: entry }, 'loaded example definitions');
  }
}

function sameContent(stored: object, input: object): boolean {
  const pick = (o: object) => Object.fromEntries(Object.keys(input).map((k) => [k, (o as Record<string, unknown>)[k] ?? null]));
  return canonicalJson(pick(stored)) === canonicalJson(pick(input));
}

/** Workflows store pinned refs (model@3): an example naming "model" means its latest version. */
async function pinLatest(ref: string, latest: (name: string) => Promise<{ version: number } | undefined>): Promise<string> {
  if (ref.includes('@')) return ref;
  const found = await latest(ref);
  return found ? `${ref}@${found.version}` : ref;
}
