import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A code root of a test's own with a model directory in it, for local runs of purpose-written
 * training code. Made searchable by everyone, as a code root must be for the run user.
 */
export function makeCodeRoot(files: Record<string, string>): { root: string; destroy(): void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-code-'));
  fs.chmodSync(root, 0o755);
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(root, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
  return { root, destroy: () => fs.rmSync(root, { recursive: true, force: true }) };
}

/** A temporary GRIFFIN_LOCAL_WORK_DIR the run user can reach. */
export function makeWorkRoot(): { dir: string; destroy(): void } {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-work-'));
  fs.chmodSync(parent, 0o711);
  return { dir: path.join(parent, 'work'), destroy: () => fs.rmSync(parent, { recursive: true, force: true }) };
}

type Api = (method: string, route: string, body?: unknown) => Promise<{ status: number; body: any }>;

/** Registers model `name` (code in <root>/<name>, run with `entrypoint`) and a dataset for it; returns an inline run spec. */
export async function defineModel(api: Api, name: string, entrypoint: string): Promise<Record<string, unknown>> {
  const model = await api('POST', '/api/v1/models', { name, framework: 'python-stdlib', codeUri: name, entrypoint });
  if (model.status !== 201) throw new Error(`model ${name}: ${model.status} ${JSON.stringify(model.body)}`);
  const dataset = await api('POST', '/api/v1/datasets', { name, uri: `${name}/data.csv` });
  if (dataset.status !== 201) throw new Error(`dataset ${name}: ${dataset.status} ${JSON.stringify(dataset.body)}`);
  return { model: `${name}@${model.body.version}`, dataset: `${name}@${dataset.body.version}`, runtime: 'python3' };
}

/** Live pids whose process group is `pgid`. */
export function groupPids(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

export const isRoot = (): boolean => process.getuid?.() === 0;
