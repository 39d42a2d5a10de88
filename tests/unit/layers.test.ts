import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/*
 * The service's layers (README, "Architecture"): arrows only point down. Each layer lists what it
 * may import; an import that runs back up (a store reaching for a service, anything below the
 * routers reaching for server/api/) fails here with the file and the line.
 */

const SERVER = path.resolve(__dirname, '../../server');

/** Modules every layer may use: errors, ids, logging, metrics, configuration, the database, files. */
const BASE = ['base', 'domain'];

const MAY_IMPORT: Record<string, readonly string[]> = {
  domain: ['domain'],
  base: BASE,
  store: [...BASE, 'store'],
  executors: [...BASE, 'executors'],
  services: [...BASE, 'store', 'executors', 'services'],
  workers: [...BASE, 'store', 'executors', 'services', 'workers'],
  api: [...BASE, 'store', 'executors', 'services', 'api', 'operators'],
  app: ['*'],
};

/** The layer a file under server/ (or an import target) belongs to. */
export function layerOf(file: string): string {
  const relative = path.relative(SERVER, file).split(path.sep);
  if (relative[0] === '..') return relative.includes('operators') ? 'operators' : 'outside';
  if (relative.length === 1) return ['app.ts', 'wire.ts', 'index.ts'].includes(relative[0]) ? 'app' : 'base';
  const [top] = relative;
  if (['db', 'files'].includes(top)) return 'base';
  return top;
}

interface Import {
  file: string;
  line: number;
  target: string;
}

function importsOf(file: string): Import[] {
  const text = fs.readFileSync(file, 'utf8');
  const found: Import[] = [];
  const pattern = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;
  for (const match of text.matchAll(pattern)) {
    const spec = match[1] ?? match[2];
    const line = text.slice(0, match.index).split('\n').length + (match[0].startsWith('\n') ? 1 : 0);
    found.push({ file, line, target: path.resolve(path.dirname(file), spec) });
  }
  return found;
}

function serverFiles(dir = SERVER): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return ['web', 'runtime', 'node_modules'].includes(entry.name) ? [] : serverFiles(full);
    return /\.(ts|mts)$/.test(entry.name) ? [full] : [];
  });
}

/** Every import that runs up the layers, as "file:line imports target (layer -> layer)". */
export function upwardImports(files: string[]): string[] {
  return files.flatMap((file) =>
    importsOf(file).flatMap(({ line, target }) => {
      const from = layerOf(file);
      const to = layerOf(target);
      const allowed = MAY_IMPORT[from] ?? [];
      if (allowed.includes('*') || allowed.includes(to)) return [];
      return [`${path.relative(SERVER, file)}:${line} imports ${path.relative(SERVER, target)} (${from} may not import ${to})`];
    }),
  );
}

describe('layers', () => {
  it('no file under server/ imports a layer above its own', () => {
    expect(upwardImports(serverFiles())).toEqual([]);
  });

  it('nothing below the routers imports server/api/', () => {
    const offenders = serverFiles().filter((file) => !['app', 'api'].includes(layerOf(file)) && importsOf(file).some((i) => layerOf(i.target) === 'api'));
    expect(offenders.map((f) => path.relative(SERVER, f))).toEqual([]);
  });

  it('catches an import that runs back up, in every form it is written', () => {
    const dir = fs.mkdtempSync(path.join(SERVER, 'store', '.layers-test-'));
    try {
      const probe = path.join(dir, 'probe.ts');
      fs.writeFileSync(
        probe,
        [
          "import type { RunService } from '../../services/runService.ts';",
          "export { PageQuery } from '../../api/params.ts';",
          "const lazy = () => import('../../workers/loop.ts');",
          "import { Transitions } from '../../domain/index.ts';",
        ].join('\n'),
      );
      const found = upwardImports([probe]);
      expect(found).toHaveLength(3);
      expect(found[0]).toMatch(/probe\.ts:1 imports services\/runService\.ts \(store may not import services\)/);
      expect(found[1]).toMatch(/store may not import api/);
      expect(found[2]).toMatch(/store may not import workers/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
