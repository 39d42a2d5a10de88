import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { directoryEntries } from '../../server/files/codeBundle.ts';
import { copyTree } from '../../server/files/copyTree.ts';
import { skipsCodePath } from '../../server/files/paths.ts';

/** Every file under a directory, as sorted '/'-separated relative paths. */
function listFiles(dir: string, relative = ''): string[] {
  return fs
    .readdirSync(path.join(dir, relative), { withFileTypes: true })
    .flatMap((e) => {
      const rel = relative ? `${relative}/${e.name}` : e.name;
      return e.isDirectory() ? listFiles(dir, rel) : [rel];
    })
    .sort();
}

describe('the one copy filter of training code', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-code-filter-'));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  const code = path.join(root, 'code');
  const files = {
    'train.py': 'print(1)',
    'pkg/model.py': 'x = 1',
    'pkg/model.pyc': 'compiled',
    'pkg/__pycache__/model.cpython-312.pyc': 'compiled',
    '.venv/lib/site.py': 'dependency',
    'pkg/.venv/bin/python': 'dependency',
    '.git/HEAD': 'ref',
    'node_modules/x/index.js': 'dependency',
    '.pytest_cache/v': 'cache',
    '.mypy_cache/v': 'cache',
    'notes.venv.txt': 'a file whose name only contains a skipped word',
  };
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(code, rel)), { recursive: true });
    fs.writeFileSync(path.join(code, rel), text);
  }
  const kept = ['notes.venv.txt', 'pkg/model.py', 'train.py'];

  it('skips dependency, cache and VCS directories and compiled Python, and nothing else', () => {
    expect(Object.keys(files).filter((rel) => !skipsCodePath(rel)).sort()).toEqual(kept);
  });

  it('leaves the same files out of the cluster bundle and the local work directory', async () => {
    const bundled = directoryEntries(code).map((e) => e.name).sort();
    const target = path.join(root, 'copy');
    await copyTree(code, target, { skip: skipsCodePath });
    expect(bundled).toEqual(kept);
    expect(listFiles(target)).toEqual(kept);
  });
});
