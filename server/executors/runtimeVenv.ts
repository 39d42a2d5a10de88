import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lockDigest } from '../files/runtimeLocks.ts';
import { processStartTime } from './processGroup.ts';

/** What a venv is built from: a runtime's pins, and the interpreter that makes the venv. */
export interface VenvRuntime {
  name: string;
  packages: readonly string[];
  pythonVersion: string | null;
  localInterpreter: string | null;
}

export interface EnsureOptions {
  /** Build output (pip's) and waiting notices go here: the run's log. */
  logFile?: string;
  signal?: AbortSignal;
}

export interface EnsuredVenv {
  python: string;
  dir: string;
  /** False when an earlier build was reused. */
  built: boolean;
  seconds: number;
}

/** A runtime that cannot be built: the message names the runtime and what went wrong, for the run's reason. */
export class RuntimeBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeBuildError';
  }
}

const READY = '.griffin-ready';
const POLL_MS = 500;
const TAIL_BYTES = 4000;

interface LockOwner {
  host: string;
  pid: number;
  start: number | null;
}

/**
 * Local venvs of runtimes, one per (runtime, lock digest), built on first use and then reused.
 * Built in place under an exclusive lock directory (mkdir is atomic, also between the replicas of
 * one host); a venv counts only once its ready marker exists, written last through a rename, so
 * nobody ever runs on a half-built venv. A build that died leaves its lock to the next builder,
 * which removes the partial venv and builds again.
 */
export class RuntimeVenvs {
  constructor(
    readonly root: string,
    private readonly options: { buildTimeoutSeconds: number } = { buildTimeoutSeconds: 1800 },
  ) {}

  private base(runtime: VenvRuntime): string {
    return runtime.localInterpreter || 'python3';
  }

  dirFor(runtime: VenvRuntime): string {
    return path.join(this.root, `${runtime.name}-${lockDigest(runtime.packages, this.base(runtime)).slice(0, 16)}`);
  }

  /** The venv's interpreter if it is built already. */
  readyPython(runtime: VenvRuntime): string | undefined {
    const dir = this.dirFor(runtime);
    return fs.existsSync(path.join(dir, READY)) ? path.join(dir, 'bin', 'python') : undefined;
  }

  async ensure(runtime: VenvRuntime, options: EnsureOptions = {}): Promise<EnsuredVenv> {
    const started = Date.now();
    const dir = this.dirFor(runtime);
    const seconds = () => (Date.now() - started) / 1000;
    const ready = this.readyPython(runtime);
    if (ready) return { python: ready, dir, built: false, seconds: seconds() };
    fs.mkdirSync(this.root, { recursive: true, mode: 0o755 });
    const lock = `${dir}.lock`;
    let told = false;
    for (;;) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (this.tryLock(lock)) break;
      const python = this.readyPython(runtime);
      if (python) return { python, dir, built: false, seconds: seconds() };
      if (this.ownerGone(lock)) {
        note(options.logFile, `[griffin] runtime ${runtime.name}: the build that held ${lock} is gone; building again`);
        fs.rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (!told) {
        told = true;
        note(options.logFile, `[griffin] runtime ${runtime.name}: another launch is building its venv; waiting for it`);
      }
      if (Date.now() - started > this.options.buildTimeoutSeconds * 1000) {
        throw new RuntimeBuildError(`runtime "${runtime.name}": waited ${this.options.buildTimeoutSeconds} s for another build of its venv at ${dir}`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    try {
      const python = this.readyPython(runtime);
      if (python) return { python, dir, built: false, seconds: seconds() };
      await this.build(runtime, dir, options);
      return { python: path.join(dir, 'bin', 'python'), dir, built: true, seconds: seconds() };
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }

  private tryLock(lock: string): boolean {
    try {
      fs.mkdirSync(lock, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    const owner: LockOwner = { host: os.hostname(), pid: process.pid, start: processStartTime(process.pid) ?? null };
    fs.writeFileSync(path.join(lock, 'owner.json'), JSON.stringify(owner));
    return true;
  }

  /** A lock of this host whose process is gone (or is another process under a reused pid). */
  private ownerGone(lock: string): boolean {
    let owner: LockOwner;
    try {
      owner = JSON.parse(fs.readFileSync(path.join(lock, 'owner.json'), 'utf8')) as LockOwner;
    } catch {
      // The owner writes owner.json right after mkdir; a lock without one for long was left by a crash in between.
      try {
        return Date.now() - fs.statSync(lock).mtimeMs > 10_000;
      } catch {
        return false;
      }
    }
    if (owner.host !== os.hostname()) return false;
    const start = processStartTime(owner.pid);
    return start === undefined || (owner.start !== null && start !== owner.start);
  }

  private async build(runtime: VenvRuntime, dir: string, options: EnsureOptions): Promise<void> {
    if (!runtime.packages.length) throw new RuntimeBuildError(`runtime "${runtime.name}" pins no packages; there is nothing to build`);
    const base = this.base(runtime);
    fs.rmSync(dir, { recursive: true, force: true });
    const started = Date.now();
    note(options.logFile, `[griffin] runtime ${runtime.name}: first use on this host, building its venv (${runtime.packages.length} pinned packages) in ${dir}`);
    const step = (what: string, command: string, args: string[]) => this.run(runtime, what, command, args, options);
    try {
      if (runtime.pythonVersion) {
        const have = (await step(`check ${base}`, base, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'])).trim().split('\n').pop();
        if (have !== runtime.pythonVersion && !have?.startsWith(`${runtime.pythonVersion}.`)) {
          throw new RuntimeBuildError(`runtime "${runtime.name}" is Python ${runtime.pythonVersion}, but ${base} on this host is Python ${have}; install Python ${runtime.pythonVersion} or give the runtime a localInterpreter that is`);
        }
      }
      await step('create the venv', base, ['-m', 'venv', dir]);
      const lockCopy = path.join(dir, 'requirements.lock');
      fs.writeFileSync(lockCopy, `${runtime.packages.join('\n')}\n`);
      const python = path.join(dir, 'bin', 'python');
      // --no-deps: the lock names every package, so nothing unpinned can slip in; pip check proves it is complete.
      await step('install the lock', python, ['-m', 'pip', 'install', '--no-deps', '--no-input', '--disable-pip-version-check', '-r', lockCopy]);
      await step('check the lock is complete (pip check)', python, ['-m', 'pip', 'check', '--disable-pip-version-check']);
      const seconds = (Date.now() - started) / 1000;
      fs.writeFileSync(path.join(dir, 'griffin-runtime.json'), JSON.stringify({ name: runtime.name, packages: runtime.packages, base, builtAt: new Date().toISOString(), seconds }, null, 2));
      const marker = path.join(dir, `${READY}.${crypto.randomBytes(4).toString('hex')}`);
      fs.writeFileSync(marker, new Date().toISOString());
      fs.renameSync(marker, path.join(dir, READY));
      note(options.logFile, `[griffin] runtime ${runtime.name}: venv built in ${seconds.toFixed(1)} s`);
    } catch (error) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Runs one build step, its output appended to the log; the error carries the end of that output. */
  private run(runtime: VenvRuntime, what: string, command: string, args: string[], options: EnsureOptions): Promise<string> {
    return new Promise((resolve, reject) => {
      const logFd = options.logFile ? fs.openSync(options.logFile, 'a', 0o600) : undefined;
      let output = '';
      const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PIP_NO_INPUT: '1', PYTHONDONTWRITEBYTECODE: '1' } });
      const timer = setTimeout(() => child.kill('SIGKILL'), this.options.buildTimeoutSeconds * 1000);
      const abort = () => child.kill('SIGKILL');
      options.signal?.addEventListener('abort', abort, { once: true });
      const take = (chunk: Buffer) => {
        if (logFd !== undefined) fs.writeSync(logFd, chunk);
        output = (output + chunk.toString('utf8')).slice(-TAIL_BYTES);
      };
      child.stdout.on('data', take);
      child.stderr.on('data', take);
      const done = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', abort);
        if (logFd !== undefined) fs.closeSync(logFd);
      };
      child.once('error', (error) => {
        done();
        reject(new RuntimeBuildError(`runtime "${runtime.name}": could not ${what}: ${command}: ${error.message}`));
      });
      child.once('close', (code, signal) => {
        done();
        if (code === 0) return resolve(output);
        if (options.signal?.aborted) return reject(options.signal.reason);
        const cause = lastErrorLine(output) ?? (signal ? `stopped by ${signal}` : `exit code ${code}`);
        reject(new RuntimeBuildError(`runtime "${runtime.name}": could not ${what}: ${cause}`));
      });
    });
  }
}

/** pip's own words for what failed: its last ERROR line, or the last line of all. */
function lastErrorLine(output: string): string | undefined {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  const error = [...lines].reverse().find((l) => /^(ERROR|error):/.test(l) || / has requirement | requires /.test(l));
  return (error ?? lines[lines.length - 1])?.slice(0, 500);
}

function note(logFile: string | undefined, line: string): void {
  if (logFile) fs.appendFileSync(logFile, `${line}\n`, { mode: 0o600 });
}
