import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../config.ts';
import { InputError } from '../errors.ts';

/** The curated framework runtimes: runtimes/<name>/runtime.json beside its requirements.lock. */
export const RUNTIMES_DIR = path.join(PROJECT_ROOT, 'runtimes');
export const LOCK_FILE_NAME = 'requirements.lock';

/**
 * One exact pin, as pip writes it in a lock: `name==version`, optionally with extras and an
 * environment marker. Ranges, URLs and pip options are refused: a lock that can resolve
 * differently tomorrow is not a lock.
 */
const PIN = /^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(\[[A-Za-z0-9._,-]+\])?==([A-Za-z0-9][A-Za-z0-9.+!_-]*)(\s*;\s*[^#]+)?$/;

export const isExactPin = (line: string): boolean => PIN.test(line.trim());

/** The distribution name of a pin, normalised as PyPI does (PEP 503). */
export function pinName(pin: string): string {
  const match = PIN.exec(pin.trim());
  if (!match) throw new Error(`not an exact pin: ${pin}`);
  return match[1].toLowerCase().replace(/[-_.]+/g, '-');
}

/**
 * The pins of a lock file: one per line, `#` comments and blank lines ignored. A line that is not
 * an exact pin, or a package pinned twice, is an error naming the line.
 */
export function parseLock(text: string, where: string, field = 'packages'): string[] {
  const pins: string[] = [];
  const seen = new Map<string, number>();
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) return;
    const at = `${where}:${index + 1}`;
    if (!isExactPin(line)) {
      throw new InputError(`${at}: "${line.slice(0, 200)}" is not an exact pin (name==version); a runtime's lock pins every package to one version`, field);
    }
    const name = pinName(line);
    if (seen.has(name)) throw new InputError(`${at}: ${name} is pinned twice (first on line ${seen.get(name)})`, field);
    seen.set(name, index + 1);
    pins.push(line.replace(/\s+/g, ' '));
  });
  return pins;
}

/** Pins given as a list (a runtime made over the API): the rules of a lock file, errors naming `field.<index>`. */
export function checkPinList(pins: readonly string[], field = 'packages'): string[] {
  const seen = new Map<string, number>();
  return pins.map((pin, index) => {
    const line = pin.trim();
    if (!isExactPin(line)) throw new InputError(`${field}.${index}: "${line.slice(0, 200)}" is not an exact pin (name==version); a runtime pins every package to one version`, `${field}.${index}`);
    const name = pinName(line);
    if (seen.has(name)) throw new InputError(`${field}.${index}: ${name} is pinned twice (first at ${field}.${seen.get(name)})`, `${field}.${index}`);
    seen.set(name, index);
    return line.replace(/\s+/g, ' ');
  });
}

/** What the local venv of a runtime is keyed by: its pins and the interpreter it is built from. */
export function lockDigest(packages: readonly string[], baseInterpreter: string): string {
  return crypto.createHash('sha256').update(`${baseInterpreter}\n${packages.join('\n')}\n`).digest('hex');
}

interface RuntimeFile {
  description: string;
  frameworks: string[];
  backends: string[];
  image: string;
  pythonVersion: string;
  rayVersion: string;
  localInterpreter?: string;
  /** What a Ray job of this runtime installs through runtime_env (pins that must be in the lock). */
  rayRuntimeEnv?: { pip: string[] };
}

/** A curated runtime as RuntimeCreate takes it, read from runtimes/<name>/. */
export function readCuratedRuntime(dir: string): Record<string, unknown> {
  const name = path.basename(dir);
  const spec = JSON.parse(fs.readFileSync(path.join(dir, 'runtime.json'), 'utf8')) as RuntimeFile;
  const lockPath = path.join(dir, LOCK_FILE_NAME);
  const packages = parseLock(fs.readFileSync(lockPath, 'utf8'), path.relative(PROJECT_ROOT, lockPath));
  // A runtime for the local backend only names no Ray packages.
  if (spec.rayRuntimeEnv) checkRayPins(name, spec.rayRuntimeEnv.pip, packages);
  return {
    name,
    description: spec.description,
    frameworks: spec.frameworks,
    backends: spec.backends,
    image: spec.image,
    pythonVersion: spec.pythonVersion,
    rayVersion: spec.rayVersion,
    localInterpreter: spec.localInterpreter ?? 'python3',
    lockFile: path.relative(PROJECT_ROOT, lockPath),
    packages,
    rayRuntimeEnv: spec.rayRuntimeEnv,
  };
}

/** Every curated runtime of the repository, by name. */
export function curatedRuntimes(root: string = RUNTIMES_DIR): Record<string, unknown>[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .sort()
    .filter((entry) => fs.existsSync(path.join(root, entry, 'runtime.json')))
    .map((entry) => readCuratedRuntime(path.join(root, entry)));
}

/** A Ray job must get the very versions the lock names, or Ray and local runs would train on different code. */
export function checkRayPins(runtime: string, pip: readonly string[], packages: readonly string[], field = 'rayRuntimeEnv.pip'): void {
  const locked = new Map(packages.map((p) => [pinName(p), p.replace(/\[[^\]]*\]/, '')]));
  pip.forEach((entry, index) => {
    if (!isExactPin(entry)) throw new InputError(`runtime "${runtime}": ${field}.${index} "${entry}" is not an exact pin (name==version)`, `${field}.${index}`);
    const name = pinName(entry);
    if (name === 'ray') throw new InputError(`runtime "${runtime}": ${field}.${index} pins ray, which the Ray cluster provides; leave it out`, `${field}.${index}`);
    const inLock = locked.get(name);
    if (packages.length && inLock !== entry.replace(/\[[^\]]*\]/, '').replace(/\s+/g, ' ')) {
      throw new InputError(`runtime "${runtime}": ${field}.${index} "${entry}" differs from its lock (${inLock ?? 'not pinned there'})`, `${field}.${index}`);
    }
  });
}
