// Packs a code directory for `griffin submit --code DIR`: the same rules as the Python SDK
// (sdk/griffin_sdk/code.py): a common subset of .gitignore (globs, "**", anchored "/x", "dir/",
// "!negation", nested .gitignore files), cache/VCS directories always left out, symbolic links
// refused, and a size limit. The zip itself is written by the service's own zip writer.
import fs from 'node:fs';
import path from 'node:path';
import { tsImport } from 'tsx/esm/api';

export const DEFAULT_MAX_BYTES = 100 * 1024 * 1024;
const MAX_FILES = 10_000;
const ALWAYS_SKIPPED = new Set(['.git', '__pycache__', '.venv', 'node_modules', '.pytest_cache', '.mypy_cache']);

function globToRegex(glob) {
  let out = '';
  for (let i = 0; i < glob.length; i += 1) {
    const c = glob[i];
    if (glob.startsWith('**/', i)) {
      out += '(?:.*/)?';
      i += 2;
    } else if (glob.startsWith('/**', i) && i + 3 === glob.length) {
      out += '/.*';
      i += 2;
    } else if (glob.startsWith('**', i)) {
      out += '.*';
      i += 1;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[' && glob.indexOf(']', i + 1) > 0) {
      const end = glob.indexOf(']', i + 1);
      const body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
      out += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
      i = end;
    } else if (c === '\\' && i + 1 < glob.length) {
      i += 1;
      out += glob[i].replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return out;
}

export function parseGitignore(text) {
  const rules = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trimEnd();
    if (!line || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1);
    else if (line.startsWith('\\')) line = line.slice(1);
    const dirOnly = line.endsWith('/');
    line = line.replace(/\/+$/, '');
    if (!line) continue;
    const anchored = line.includes('/');
    line = line.replace(/^\/+/, '');
    rules.push({ regex: new RegExp(`^${anchored ? '' : '(?:.*/)?'}${globToRegex(line)}$`), negate, dirOnly });
  }
  return rules;
}

function ignored(rel, isDir, scopes) {
  let result = false;
  for (const { base, rules } of scopes) {
    const sub = base ? rel.slice(base.length + 1) : rel;
    for (const rule of rules) {
      if (rule.dirOnly && !isDir) continue;
      if (rule.regex.test(sub)) result = !rule.negate;
    }
  }
  return result;
}

/** The directory as zip bytes and the list of files packed; throws an Error saying what is wrong. */
export async function packDirectory(dir, maxBytes = DEFAULT_MAX_BYTES) {
  const root = path.resolve(dir);
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new Error(`code directory ${dir} does not exist or is not a directory`);
  const entries = [];
  let total = 0;
  const walk = (abs, rel, scopes) => {
    const ignoreFile = path.join(abs, '.gitignore');
    if (fs.existsSync(ignoreFile) && fs.statSync(ignoreFile).isFile()) scopes = [...scopes, { base: rel, rules: parseGitignore(fs.readFileSync(ignoreFile, 'utf8')) }];
    for (const name of fs.readdirSync(abs).sort()) {
      const childRel = rel ? `${rel}/${name}` : name;
      const full = path.join(abs, name);
      const stat = fs.lstatSync(full);
      if (ALWAYS_SKIPPED.has(name) || name.endsWith('.pyc') || ignored(childRel, stat.isDirectory(), scopes)) continue;
      if (stat.isSymbolicLink()) throw new Error(`${childRel} is a symbolic link; Griffin does not take links in uploaded code (copy the file, or add it to .gitignore)`);
      if (stat.isDirectory()) walk(full, childRel, scopes);
      else if (stat.isFile()) {
        total += stat.size;
        if (total > maxBytes) throw new Error(`${dir} holds more than ${maxBytes} bytes of code after .gitignore; add data and outputs to .gitignore`);
        if (entries.length >= MAX_FILES) throw new Error(`${dir} holds more than ${MAX_FILES} files after .gitignore`);
        entries.push({ name: childRel, data: fs.readFileSync(full), mode: stat.mode & 0o111 ? 0o755 : 0o644 });
      }
    }
  };
  walk(root, '', []);
  const { createZip } = await tsImport('../server/files/zip.ts', import.meta.url);
  return { bytes: createZip(entries), files: entries.map((e) => e.name) };
}
