import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import type { Run } from '../domain.ts';
import { PROJECT_ROOT } from '../config.ts';
import { resolveInside } from '../services/paths.ts';
import type { Logger } from '../logger.ts';
import { undeliveredReports } from './reportSpool.ts';
import { backendObjectName, type BackendStatus, type Executor, type LaunchRequest, type LogChunk } from './types.ts';

const PYTHON_HELPER_DIR = path.join(PROJECT_ROOT, 'server', 'runtime', 'python');
const KILL_GRACE_MS = 10_000;

/*
 * The wrapper shell records the entrypoint's exit status in a file (written atomically) before it
 * exits. The status therefore survives a restart of the service: a re-attached run is judged by
 * that file, and a run whose process vanished without one was killed from outside.
 * $0 carries the backend name so the process can be recognised in /proc after a restart.
 */
const WRAPPER = '/bin/sh -c "$1"; code=$?; printf "%s" "$code" > "$2.tmp" && mv "$2.tmp" "$2"; exit "$code"';

interface LocalRef {
  pid: number;
  name: string;
  runDir: string;
  workDir: string;
  logPath: string;
  exitFile: string;
}

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 15: 'SIGTERM' };

function describeExit(code: number): string {
  if (code > 128 && SIGNALS[code - 128]) return `the training process was stopped by ${SIGNALS[code - 128]} (exit code ${code})`;
  return `the training process exited with code ${code}`;
}

/** Is `pid` alive and still the process we started (not a reused pid, not a zombie)? */
function isOurProcess(pid: number, name: string): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(name);
  } catch {
    return false;
  }
}

/** A leading `python` in an entrypoint means the runtime's interpreter. */
export function withInterpreter(entrypoint: string, interpreter: string | null): string {
  const chosen = interpreter || 'python3';
  return entrypoint.replace(/^python3?(?=\s|$)/, chosen);
}

/**
 * Runs the entrypoint as a child process of this machine: the model's code is copied into a
 * per-run working directory, output goes to the run's log file, and the process gets its own
 * process group so that cancel and timeouts end everything it started.
 */
export class LocalExecutor implements Executor {
  readonly name = 'local' as const;
  private readonly children = new Map<string, () => void>();

  constructor(
    private readonly dataDir: string,
    private readonly codeRoot: string,
    private readonly logger: Logger,
    /** Called with the run id when a training process this instance started exits. */
    private readonly onExit: (runId: string) => void = () => {},
  ) {}

  private paths(run: Run): LocalRef & { pidFile: string } {
    const name = backendObjectName(run.id, run.attempt);
    const runDir = path.join(this.dataDir, 'runs', run.id, `attempt-${run.attempt}`);
    return {
      pid: 0,
      name,
      runDir,
      workDir: path.join(runDir, 'work'),
      logPath: this.logPath(run.id),
      exitFile: path.join(runDir, 'exit-status'),
      pidFile: path.join(runDir, 'pid'),
    };
  }

  logPath(runId: string): string {
    return path.join(this.dataDir, 'runs', runId, 'output.log');
  }

  private buildEnv(request: LaunchRequest, workDir: string): Record<string, string> {
    // Only what a training process needs: the service's own secrets must not leak into user code.
    const inherited: Record<string, string> = {};
    for (const key of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'VIRTUAL_ENV']) {
      const value = process.env[key];
      if (value !== undefined) inherited[key] = value;
    }
    return {
      ...inherited,
      HOME: inherited.HOME ?? os.homedir(),
      ...request.env,
      GRIFFIN_RUN_DIR: workDir,
      PYTHONPATH: PYTHON_HELPER_DIR,
      PYTHONUNBUFFERED: '1',
      PYTHONDONTWRITEBYTECODE: '1',
    };
  }

  async render(request: LaunchRequest): Promise<unknown> {
    const p = this.paths(request.run);
    const env = this.buildEnv(request, p.workDir);
    return {
      command: ['/bin/sh', '-c', withInterpreter(request.run.spec.entrypoint, request.run.spec.runtime.localInterpreter)],
      cwd: p.workDir,
      codeFrom: resolveInside(this.codeRoot, request.run.spec.model.codeUri, 'model.codeUri'),
      env: { ...env, GRIFFIN_RUN_TOKEN: '[redacted]' },
      logPath: p.logPath,
      timeoutSeconds: request.run.spec.timeoutSeconds,
    };
  }

  async launch(request: LaunchRequest): Promise<Record<string, unknown>> {
    const { run } = request;
    const p = this.paths(run);
    const adopted = this.adopt(p);
    if (adopted) return adopted;

    const codeDir = resolveInside(this.codeRoot, run.spec.model.codeUri, 'model.codeUri');
    fs.mkdirSync(p.runDir, { recursive: true });
    fs.rmSync(p.workDir, { recursive: true, force: true });
    fs.cpSync(codeDir, p.workDir, {
      recursive: true,
      filter: (src) => !/(^|\/)(__pycache__|\.git|node_modules|\.pytest_cache)$/.test(src),
    });

    const logFd = fs.openSync(p.logPath, 'a');
    try {
      fs.writeSync(logFd, `[griffin] attempt ${run.attempt}: starting ${run.spec.entrypoint} in ${p.workDir}\n`);
      const command = withInterpreter(run.spec.entrypoint, run.spec.runtime.localInterpreter);
      const child = spawn('/bin/sh', ['-c', WRAPPER, p.name, command, p.exitFile], {
        cwd: p.workDir,
        env: this.buildEnv(request, p.workDir),
        detached: true,
        stdio: ['ignore', logFd, logFd],
      });
      if (child.pid === undefined) {
        throw new Error(await new Promise<string>((resolve) => child.once('error', (err) => resolve(err.message))));
      }
      fs.writeFileSync(p.pidFile, String(child.pid));
      child.once('exit', () => {
        this.children.delete(run.id);
        this.onExit(run.id);
      });
      // Detached and unreferenced: the training process outlives a service restart and is re-attached.
      child.unref();
      this.children.set(run.id, () => child.kill('SIGKILL'));
      return { ...p, pid: child.pid, pidFile: undefined };
    } finally {
      fs.closeSync(logFd);
    }
  }

  /** A launch that already happened (a crash between spawn and the state change) is adopted. */
  private adopt(p: ReturnType<LocalExecutor['paths']>): Record<string, unknown> | undefined {
    if (!fs.existsSync(p.pidFile)) return undefined;
    const pid = Number(fs.readFileSync(p.pidFile, 'utf8'));
    if (fs.existsSync(p.exitFile) || isOurProcess(pid, p.name)) return { ...p, pid, pidFile: undefined, adopted: true };
    return undefined;
  }

  async status(run: Run): Promise<BackendStatus> {
    const ref = run.backendRef as unknown as LocalRef | null;
    if (!ref?.exitFile) return { phase: 'lost', reason: 'the run has no local process reference' };
    if (fs.existsSync(ref.exitFile)) {
      const code = Number(fs.readFileSync(ref.exitFile, 'utf8').trim());
      if (code !== 0) return { phase: 'failed', reason: describeExit(code) };
      const undelivered = undeliveredReports(ref.workDir);
      // Kept on the run (details), so that a later explicit registration is refused for the same reason.
      return undelivered ? { phase: 'succeeded', undeliveredReports: undelivered, details: { undeliveredReports: undelivered } } : { phase: 'succeeded' };
    }
    if (isOurProcess(ref.pid, ref.name)) return { phase: 'running' };
    // The wrapper writes the status file before exiting, so read it once more to close that race.
    if (fs.existsSync(ref.exitFile)) return this.status(run);
    return {
      phase: 'lost',
      reason: 'the training process ended without recording an exit status (killed from outside, or the host restarted)',
    };
  }

  async cancel(run: Run, options: { force?: boolean } = {}): Promise<void> {
    const ref = run.backendRef as unknown as LocalRef | null;
    if (!ref?.pid || !isOurProcess(ref.pid, ref.name)) return;
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-ref.pid, signal);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    };
    if (options.force) {
      signalGroup('SIGKILL');
      return;
    }
    signalGroup('SIGTERM');
    const timer = setTimeout(() => {
      if (isOurProcess(ref.pid, ref.name)) {
        this.logger.warn({ runId: run.id }, 'training process ignored SIGTERM; sending SIGKILL');
        signalGroup('SIGKILL');
      }
    }, KILL_GRACE_MS);
    timer.unref();
  }

  async logs(run: Run, cursor: number, limit: number): Promise<LogChunk> {
    return readLogFile(this.logPath(run.id), cursor, limit);
  }
}

/** Reads up to `limit` bytes from `cursor`, ending on a line break when the chunk is cut short. */
export function readLogFile(file: string, cursor: number, limit: number): LogChunk {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return { text: '', nextCursor: cursor };
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (cursor >= size) return { text: '', nextCursor: cursor };
    const length = Math.min(limit, size - cursor);
    const buffer = Buffer.alloc(length);
    const read = fs.readSync(fd, buffer, 0, length, cursor);
    let chunk = buffer.subarray(0, read);
    if (cursor + read < size) {
      const lastNewline = chunk.lastIndexOf(0x0a);
      if (lastNewline >= 0) chunk = chunk.subarray(0, lastNewline + 1);
    }
    return { text: chunk.toString('utf8'), nextCursor: cursor + chunk.length };
  } finally {
    fs.closeSync(fd);
  }
}
