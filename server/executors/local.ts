import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Run } from '../domain/index.ts';
import { isRemoteUri, resolveInside, skipsCodePath } from '../files/paths.ts';
import { HELPER_MODULES, PYTHON_HELPER_DIR, STAGED_HELPER_DIR } from '../files/codeBundle.ts';
import { isUploadedCodeUri, requireCodeStore, type CodeStore } from '../files/codeStore.ts';
import type { Logger } from '../logger.ts';
import { copyTree } from '../files/copyTree.ts';
import type { HostSlots, Slot, SlotHolder } from './localSlots.ts';
import { groupAlive, groupMembers, isProcessNamed, processStartTime, signalGroup } from './processGroup.ts';
import { undeliveredReports } from './reportSpool.ts';
import { describeExitStatus } from './exitStatus.ts';
import { isolatesRuns, resolveRunUser, unreachableFor, type RunUser } from './runUser.ts';
import type { RuntimeVenvs } from './runtimeVenv.ts';
import { backendObjectName, LeaseLost, type BackendStatus, type Executor, type LaunchRequest, type LogBytes, type LogChunk, type SpecProblem, type SpecToValidate } from './types.ts';

/*
 * The wrapper shell records the entrypoint's exit status in a file (written atomically) before it
 * exits. The status therefore survives a restart of the service: a re-attached run is judged by
 * that file, and a run whose process vanished without one was killed from outside.
 * $0 carries the backend name so the process can be recognised in /proc after a restart.
 * Arguments after the status file prefix the entrypoint: `setpriv ...` when training runs as
 * another user. The wrapper itself stays the service's user, so training code can neither signal
 * it nor write its status file.
 */
const WRAPPER = 'cmd=$1; status_file=$2; shift 2; "$@" /bin/sh -c "$cmd"; code=$?; printf "%s" "$code" > "$status_file.tmp" && mv "$status_file.tmp" "$status_file"; exit "$code"';

/** A launch dir with no process whose owner has not touched it for this long was abandoned by a dead launch. */
const ABANDONED_AFTER_MS = 60_000;
const LAUNCH_TOUCH_MS = 2_000;
const SLOT_POLL_MS = 500;

/** Secret variables as render() shows them: names only. */
const redacted = (env: Record<string, string> | undefined) => Object.fromEntries(Object.keys(env ?? {}).map((name) => [name, '[redacted]']));

interface LocalRef {
  pid: number;
  name: string;
  launchId?: string;
  /** The launch's own directory in the data dir: pid, exit status, termination marker. */
  runDir: string;
  workDir: string;
  logPath: string;
  exitFile: string;
  runAs?: string;
}

interface Termination {
  since: string;
  cause: 'cancel' | 'wrapper-died' | 'stragglers';
}

/**
 * A zero exit, with what the training helper could not deliver before it gave up (its spool state),
 * kept on the run (details) so that a later explicit registration is refused for the same reason.
 */
function succeeded(workDir: string): BackendStatus {
  const undelivered = undeliveredReports(workDir);
  return undelivered ? { phase: 'succeeded', undeliveredReports: undelivered, details: { undeliveredReports: undelivered } } : { phase: 'succeeded' };
}

/** A leading `python` in an entrypoint means the runtime's interpreter. */
export function withInterpreter(entrypoint: string, interpreter: string | null): string {
  const chosen = interpreter || 'python3';
  return entrypoint.replace(/^python3?(?=\s|$)/, chosen);
}

/**
 * The interpreter a venv is made from, as an absolute path. When training runs as another user it
 * must be one that user can run with its standard library: a venv links back to its base, and an
 * interpreter under root's home (pyenv, say) is out of the run user's reach.
 */
export function baseInterpreter(name: string | null, user: RunUser | undefined): string {
  const wanted = name || 'python3';
  const candidates = wanted.includes('/') ? [wanted] : (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':').filter(Boolean).map((dir) => path.join(dir, wanted));
  for (const candidate of candidates) {
    let real: string;
    try {
      real = fs.realpathSync(candidate);
      fs.accessSync(real, fs.constants.X_OK);
    } catch {
      continue;
    }
    if (!user || !unreachableFor(path.dirname(path.dirname(real)), user)) return real;
  }
  throw new Error(
    user
      ? `no ${wanted} that the run user ${user.name} can run was found on PATH (${process.env.PATH ?? ''}); install one outside root's home or give the runtime a localInterpreter it can reach`
      : `no ${wanted} was found on PATH to build the runtime's venv from`,
  );
}

const readJson = <T>(file: string): T | undefined => {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
};

export interface LocalExecutorOptions {
  dataDir: string;
  codeRoot: string;
  /** Where working directories go when training runs as another user (it must be able to reach them). */
  workRoot: string | undefined;
  /** GRIFFIN_RUN_AS_USER: the account training runs as when the service is root. */
  runAsUser: string;
  killGraceSeconds: number;
  slots: HostSlots;
  /** Uploaded code (griffin://code/...), unpacked into each launch's own working directory. */
  code?: CodeStore;
  /** Venvs of runtimes that pin packages, built on first use. */
  runtimes: RuntimeVenvs;
}

/**
 * Runs the entrypoint as a child process of this machine: the model's code is copied into a
 * working directory of this launch, output goes to the run's log file, and the process gets its
 * own process group. The run is over only when that group is gone: a wrapper that dies leaves its
 * group to be stopped (SIGTERM, SIGKILL after GRIFFIN_KILL_GRACE_SECONDS) before the run fails.
 */
export class LocalExecutor implements Executor {
  readonly name = 'local' as const;

  validate(spec: SpecToValidate): SpecProblem | undefined {
    if (!isRemoteUri(spec.model.codeUri)) return undefined;
    return { message: `the local backend runs code from this machine, but model "${spec.model.name}@${spec.model.version}" lives at ${spec.model.codeUri}`, field: 'backend' };
  }
  private readonly killTimers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly options: LocalExecutorOptions,
    private readonly logger: Logger,
    /** Called with the run id when a training process this instance started exits, or its group was stopped. */
    private readonly onExit: (runId: string) => void = () => {},
  ) {}

  private get graceMs(): number {
    return this.options.killGraceSeconds * 1000;
  }

  private runRoot(runId: string): string {
    return path.join(this.options.dataDir, 'runs', runId);
  }

  /** Where this launch keeps its files: the data dir for what only the service writes, the work dir for the training process. */
  private paths(run: Run, launchId: string, user: RunUser | undefined): LocalRef {
    const runDir = path.join(this.runRoot(run.id), `attempt-${run.attempt}-${launchId}`);
    const workDir = user ? path.join(this.workRoot(), run.id, `attempt-${run.attempt}-${launchId}`) : path.join(runDir, 'work');
    return { pid: 0, name: backendObjectName(run.id, run.attempt), launchId, runDir, workDir, logPath: this.logPath(run.id), exitFile: path.join(runDir, 'exit-status'), runAs: user?.name };
  }

  private workRoot(): string {
    return path.resolve(this.options.workRoot ?? '/var/lib/griffin-run');
  }

  logPath(runId: string): string {
    return path.join(this.runRoot(runId), 'output.log');
  }

  private buildEnv(request: LaunchRequest, workDir: string, user: RunUser | undefined): Record<string, string> {
    // Only what a training process needs: the service's own environment (secrets, database URL) stays out.
    const inherited: Record<string, string> = {};
    for (const key of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'VIRTUAL_ENV']) {
      const value = process.env[key];
      if (value !== undefined) inherited[key] = value;
    }
    const identity: Record<string, string> = user ? { HOME: workDir, USER: user.name, LOGNAME: user.name } : { HOME: inherited.HOME ?? workDir };
    return {
      ...inherited,
      ...identity,
      ...request.env,
      ...request.secretEnv,
      GRIFFIN_RUN_DIR: workDir,
      PYTHONPATH: path.join(workDir, STAGED_HELPER_DIR),
      PYTHONUNBUFFERED: '1',
      PYTHONDONTWRITEBYTECODE: '1',
    };
  }

  /** A runtime with pins runs in its venv (built here on first use); one without, in its interpreter as it is. */
  private async interpreter(run: Run, user: RunUser | undefined, signal: AbortSignal | undefined): Promise<string | null> {
    const { runtime } = run.spec;
    if (!runtime.packages?.length) return runtime.localInterpreter;
    const venv = { name: runtime.name, packages: runtime.packages, pythonVersion: runtime.pythonVersion, localInterpreter: baseInterpreter(runtime.localInterpreter, user) };
    const ensured = await this.options.runtimes.ensure(venv, { logFile: this.logPath(run.id), signal });
    const blocked = user && unreachableFor(ensured.dir, user);
    if (blocked) {
      throw new Error(`the run user ${user.name} cannot reach the venv of runtime ${runtime.name} at ${ensured.dir}: ${blocked} is not searchable by it; set GRIFFIN_RUNTIME_DIR to a directory it can reach`);
    }
    return ensured.python;
  }

  async render(request: LaunchRequest): Promise<unknown> {
    const user = isolatesRuns() ? { name: this.options.runAsUser, uid: -1, gid: -1 } : undefined;
    const p = this.paths(request.run, '<launch id>', user);
    const env = this.buildEnv(request, p.workDir, user);
    const { runtime } = request.run.spec;
    let base = runtime.localInterpreter;
    try {
      base = baseInterpreter(runtime.localInterpreter, user && (await resolveRunUser(user.name).catch(() => undefined)));
    } catch {
      // A dry run shows the plan even when no usable interpreter is there; the launch says why.
    }
    const venv = runtime.packages?.length ? { name: runtime.name, packages: runtime.packages, pythonVersion: runtime.pythonVersion, localInterpreter: base } : undefined;
    const python = venv ? path.join(this.options.runtimes.dirFor(venv), 'bin', 'python') : runtime.localInterpreter;
    return {
      command: ['/bin/sh', '-c', withInterpreter(request.run.spec.entrypoint, python)],
      ...(venv ? { runtimeVenv: { dir: this.options.runtimes.dirFor(venv), built: this.options.runtimes.readyPython(venv) !== undefined, packages: venv.packages } } : {}),
      runAs: user ? user.name : 'the service\'s own user',
      cwd: p.workDir,
      codeFrom: isUploadedCodeUri(request.run.spec.model.codeUri) ? request.run.spec.model.codeUri : resolveInside(this.options.codeRoot, request.run.spec.model.codeUri, 'model.codeUri'),
      env: { ...env, ...redacted(request.secretEnv), GRIFFIN_RUN_TOKEN: '[redacted]', MLFLOW_TRACKING_TOKEN: '[redacted]' },
      logPath: p.logPath,
      timeoutSeconds: request.run.spec.timeoutSeconds,
      maxLocalRuns: this.options.slots.limit,
    };
  }

  async launch(request: LaunchRequest): Promise<Record<string, unknown>> {
    const { run } = request;
    const adopted = this.adopt(run);
    if (adopted) return adopted;

    const user = isolatesRuns() ? await resolveRunUser(this.options.runAsUser) : undefined;
    const uploaded = isUploadedCodeUri(run.spec.model.codeUri) ? requireCodeStore(this.options.code, run.spec.model.codeUri) : undefined;
    const codeDir = uploaded ? undefined : resolveInside(this.options.codeRoot, run.spec.model.codeUri, 'model.codeUri');
    const launchId = crypto.randomBytes(4).toString('hex');
    const p = this.paths(run, launchId, user);
    const holder: SlotHolder = { runId: run.id, attempt: run.attempt, launchId };
    const launchFile = path.join(p.runDir, 'launch.json');
    fs.mkdirSync(p.runDir, { recursive: true, mode: 0o700 });
    const launcher = { host: os.hostname(), pid: process.pid, start: processStartTime(process.pid) ?? null };
    fs.writeFileSync(launchFile, JSON.stringify({ launchId, workDir: p.workDir, startedAt: new Date().toISOString(), launcher }), { mode: 0o600 });
    // Other launches of this run tell by the file's age that this one is alive (see removeAbandoned).
    const touch = setInterval(() => fs.promises.utimes(launchFile, new Date(), new Date()).catch(() => undefined), LAUNCH_TOUCH_MS);
    touch.unref();
    const partial = `${p.workDir}.partial`;
    let slot: Slot | undefined;
    try {
      this.removeAbandoned(run.id, launchId);
      slot = await this.waitForSlot(run, holder, request.signal);
      if (user) this.prepareWorkParent(p.workDir, user);
      // The code goes to a temporary name and is renamed into place only when complete: no
      // process ever starts on a partial copy, whoever launches.
      if (uploaded) await uploaded.unpack(run.spec.model.codeUri, partial, user);
      else await copyTree(codeDir!, partial, { skip: skipsCodePath, owner: user, signal: request.signal });
      await this.stageHelper(partial, user);
      const staged = await this.stageDataset(request, partial, p.workDir, user);
      const interpreter = await this.interpreter(run, user, request.signal);
      fs.renameSync(partial, p.workDir);
      fs.chmodSync(p.workDir, 0o700);
      await request.renewLease?.();
      if (request.signal?.aborted) throw request.signal.reason;
      const pid = this.spawn(staged, p, user, interpreter);
      await slot.bind(pid);
      const ref: LocalRef = { ...p, pid };
      fs.writeFileSync(path.join(p.runDir, 'ref.json'), JSON.stringify(ref), { mode: 0o600 });
      return { ...ref };
    } catch (error) {
      await slot?.release();
      // Only this launch's own directories: another launch of the run may be alive beside it.
      for (const dir of [partial, p.workDir, p.runDir]) fs.rmSync(dir, { recursive: true, force: true });
      throw error;
    } finally {
      clearInterval(touch);
    }
  }

  private spawn(request: LaunchRequest, p: LocalRef, user: RunUser | undefined, interpreter: string | null): number {
    const { run } = request;
    const logFd = fs.openSync(p.logPath, 'a', 0o600);
    try {
      const as = user ? ` as ${user.name}` : '';
      fs.writeSync(logFd, `[griffin] attempt ${run.attempt}: starting ${run.spec.entrypoint} in ${p.workDir}${as}\n`);
      const command = withInterpreter(run.spec.entrypoint, interpreter);
      // setpriv drops to the run user with no supplementary groups, and no_new_privs keeps setuid programs from raising it again.
      const dropPrivileges = user ? ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--no-new-privs', '--'] : [];
      const child = spawn('/bin/sh', ['-c', WRAPPER, p.name, command, p.exitFile, ...dropPrivileges], {
        cwd: p.workDir,
        env: this.buildEnv(request, p.workDir, user),
        detached: true,
        stdio: ['ignore', logFd, logFd],
      });
      if (child.pid === undefined) throw new Error('could not start /bin/sh for the training process');
      fs.writeFileSync(path.join(p.runDir, 'pid'), String(child.pid));
      child.once('exit', () => this.onExit(run.id));
      // Detached and unreferenced: the training process outlives a service restart and is re-attached.
      child.unref();
      return child.pid;
    } finally {
      fs.closeSync(logFd);
    }
  }

  /** The run user reaches its work dir through directories it may search but not list. */
  private prepareWorkParent(workDir: string, user: RunUser): void {
    const root = this.workRoot();
    for (const dir of [root, path.dirname(workDir)]) {
      fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
      fs.chmodSync(dir, 0o711);
    }
    const blocked = unreachableFor(path.dirname(workDir), user);
    if (blocked) {
      throw new Error(`the run user ${user.name} cannot reach its working directory: ${blocked} is not searchable by it; set GRIFFIN_LOCAL_WORK_DIR to a directory whose parents it can search`);
    }
  }

  /** griffin_run.py goes with the code, so a run user that cannot read the service's files can import it. */
  private async stageHelper(workDir: string, user: RunUser | undefined): Promise<void> {
    const dir = path.join(workDir, STAGED_HELPER_DIR);
    await fs.promises.mkdir(dir, { recursive: true });
    if (user) await fs.promises.chown(dir, user.uid, user.gid);
    for (const name of HELPER_MODULES) {
      const target = path.join(dir, name);
      await fs.promises.copyFile(path.join(PYTHON_HELPER_DIR, name), target);
      if (user) await fs.promises.chown(target, user.uid, user.gid);
    }
  }

  /**
   * A local dataset the run user cannot reach (a checkout under /root, say) is handed to it inside
   * its work dir: hard-linked when it can be (free, same file system), else copied. A dataset it can
   * reach, or a remote one, is left where it is.
   */
  private async stageDataset(request: LaunchRequest, partial: string, workDir: string, user: RunUser | undefined): Promise<LaunchRequest> {
    const uri = request.env.GRIFFIN_DATASET_URI;
    if (!user || !uri?.startsWith('file://')) return request;
    const source = uri.slice('file://'.length);
    if (!fs.existsSync(source) || !unreachableFor(path.dirname(source), user)) return request;
    const relative = path.join(STAGED_HELPER_DIR, 'dataset', path.basename(source));
    const target = path.join(partial, relative);
    await fs.promises.mkdir(path.dirname(target), { recursive: true });
    await fs.promises.chown(path.dirname(target), user.uid, user.gid);
    if (fs.statSync(source).isDirectory()) {
      await copyTree(source, target, { skip: () => false, owner: user, signal: request.signal });
    } else {
      // A link shares the file's mode, so it only helps when others may read the file.
      const linked = (fs.statSync(source).mode & 0o004) !== 0 && (await fs.promises.link(source, target).then(() => true, () => false));
      if (!linked) {
        await fs.promises.copyFile(source, target);
        await fs.promises.chown(target, user.uid, user.gid);
      }
    }
    return { ...request, env: { ...request.env, GRIFFIN_DATASET_URI: `file://${path.join(workDir, relative)}` } };
  }

  /** Slots are per host and shared by every replica on it; a launch waits (keeping its lease) until one is free. */
  private async waitForSlot(run: Run, holder: SlotHolder, signal: AbortSignal | undefined): Promise<Slot> {
    let told = false;
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      const slot = await this.options.slots.acquire(holder);
      if (slot) return slot;
      if (!told) {
        told = true;
        fs.appendFileSync(this.logPath(run.id), `[griffin] attempt ${run.attempt}: waiting for a free local slot (all ${this.options.slots.limit} on this host are in use)\n`);
      }
      await new Promise((resolve) => setTimeout(resolve, SLOT_POLL_MS));
    }
  }

  /**
   * A launch that already started a process (a crash between spawn and the state change, or a
   * takeover of a launch whose owner stalled after spawning) is adopted, never started twice.
   */
  private adopt(run: Run): Record<string, unknown> | undefined {
    for (const dir of this.launchDirs(run.id, run.attempt)) {
      const ref = readJson<LocalRef>(path.join(dir, 'ref.json')) ?? this.legacyRef(run, dir);
      if (!ref) continue;
      if (fs.existsSync(ref.exitFile) || groupAlive(ref.pid)) return { ...ref, adopted: true };
    }
    return undefined;
  }

  /** Runs started before launch ids existed kept only a pid file in attempt-<n>/. */
  private legacyRef(run: Run, dir: string): LocalRef | undefined {
    if (path.basename(dir) !== `attempt-${run.attempt}` || !fs.existsSync(path.join(dir, 'pid'))) return undefined;
    const pid = Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'));
    return { pid, name: backendObjectName(run.id, run.attempt), runDir: dir, workDir: path.join(dir, 'work'), logPath: this.logPath(run.id), exitFile: path.join(dir, 'exit-status') };
  }

  private launchDirs(runId: string, attempt?: number): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.runRoot(runId));
    } catch {
      return [];
    }
    const pattern = attempt === undefined ? /^attempt-\d+(-|$)/ : new RegExp(`^attempt-${attempt}(-|$)`);
    return names.filter((n) => pattern.test(n)).map((n) => path.join(this.runRoot(runId), n));
  }

  /**
   * Directories of launches that died before starting a process: their service process (on this
   * host) is gone, or it stopped touching them.
   */
  private removeAbandoned(runId: string, ownLaunchId: string): void {
    for (const dir of this.launchDirs(runId)) {
      if (dir.endsWith(`-${ownLaunchId}`) || fs.existsSync(path.join(dir, 'pid'))) continue;
      const launchFile = path.join(dir, 'launch.json');
      let age: number;
      try {
        age = Date.now() - fs.statSync(launchFile).mtimeMs;
      } catch {
        continue;
      }
      const launch = readJson<{ workDir?: string; launcher?: { host: string; pid: number; start: number | null } }>(launchFile);
      const by = launch?.launcher;
      const startNow = by && by.host === os.hostname() ? processStartTime(by.pid) : -1;
      const launcherGone = startNow === undefined || (by?.start != null && startNow !== -1 && startNow !== by.start);
      if (age < ABANDONED_AFTER_MS && !launcherGone) continue;
      const workDir = launch?.workDir;
      if (workDir) for (const d of [workDir, `${workDir}.partial`]) fs.rmSync(d, { recursive: true, force: true });
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  async status(run: Run): Promise<BackendStatus> {
    const ref = run.backendRef as unknown as LocalRef | null;
    if (!ref?.exitFile) return { phase: 'lost', reason: 'the run has no local process reference' };
    const exitCode = this.exitCode(ref);
    if (groupAlive(ref.pid)) {
      const wrapperAlive = isProcessNamed(ref.pid, ref.name);
      if (wrapperAlive) return { phase: 'running' };
      // The wrapper is gone but processes of its group live on: they are stopped before the run ends.
      this.terminate(run.id, ref, exitCode === undefined ? 'wrapper-died' : 'stragglers');
      return { phase: 'running' };
    }
    if (ref.launchId) await this.options.slots.releaseFor({ runId: run.id, attempt: run.attempt, launchId: ref.launchId });
    // The wrapper writes the status file before exiting, so read it once more to close that race.
    const code = exitCode ?? this.exitCode(ref);
    if (code !== undefined) return code === 0 ? succeeded(ref.workDir) : { phase: 'failed', ...describeExitStatus(code) };
    const termination = readJson<Termination>(path.join(ref.runDir, 'terminating'));
    if (termination?.cause === 'wrapper-died') {
      return { phase: 'lost', reason: 'the wrapper shell of the training process died without recording an exit status (killed from outside?); its process group was stopped' };
    }
    return {
      phase: 'lost',
      reason: 'the training process ended without recording an exit status (killed from outside, or the host restarted)',
    };
  }

  private exitCode(ref: LocalRef): number | undefined {
    try {
      return Number(fs.readFileSync(ref.exitFile, 'utf8').trim());
    } catch {
      return undefined;
    }
  }

  async cancel(run: Run, options: { force?: boolean } = {}): Promise<void> {
    const ref = run.backendRef as unknown as LocalRef | null;
    if (!ref?.pid || !ref.runDir || !groupAlive(ref.pid)) return;
    if (!options.force) {
      this.terminate(run.id, ref, 'cancel');
      return;
    }
    signalGroup(ref.pid, 'SIGKILL');
    // SIGKILL is not instant for a process in uninterruptible sleep; callers record the end right after.
    const deadline = Date.now() + 2_000;
    while (groupAlive(ref.pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  /**
   * SIGTERM to the whole group, SIGKILL once the grace period is over. The start of the grace period
   * is kept beside the run, so every replica (and a restarted service) escalates on the same clock.
   */
  private terminate(runId: string, ref: LocalRef, cause: Termination['cause']): void {
    const markerFile = path.join(ref.runDir, 'terminating');
    const marker = readJson<Termination>(markerFile);
    if (!marker) {
      fs.writeFileSync(markerFile, JSON.stringify({ since: new Date().toISOString(), cause } satisfies Termination), { mode: 0o600 });
      this.logger.info({ runId, pgid: ref.pid, members: groupMembers(ref.pid), cause }, 'stopping the process group of a local run');
      signalGroup(ref.pid, 'SIGTERM');
    } else if (Date.now() - Date.parse(marker.since) >= this.graceMs) {
      this.kill(runId, ref);
      return;
    }
    const key = `${runId}:${ref.pid}`;
    if (this.killTimers.has(key)) return;
    const elapsed = marker ? Date.now() - Date.parse(marker.since) : 0;
    const timer = setTimeout(() => {
      this.killTimers.delete(key);
      this.kill(runId, ref);
    }, Math.max(0, this.graceMs - elapsed));
    timer.unref();
    this.killTimers.set(key, timer);
  }

  private kill(runId: string, ref: LocalRef): void {
    if (groupAlive(ref.pid)) {
      this.logger.warn({ runId, pgid: ref.pid, members: groupMembers(ref.pid) }, `the process group outlived the ${this.options.killGraceSeconds} s grace period; sending SIGKILL`);
      signalGroup(ref.pid, 'SIGKILL');
    }
    // Look again shortly: a killed group is gone within moments, and then the run can end.
    setTimeout(() => this.onExit(runId), 100).unref();
  }

  async logs(run: Run, cursor: number, limit: number): Promise<LogChunk> {
    return readLogFile(this.logPath(run.id), cursor, limit);
  }

  async logBytes(run: Run, cursor: number, limit: number, into?: Buffer): Promise<LogBytes> {
    return readLogFileBytes(this.logPath(run.id), cursor, limit, into);
  }

  /** The log is a file: its last bytes are read directly, however long it is. */
  async logTail(run: Run, bytes: number): Promise<string> {
    const file = this.logPath(run.id);
    let size: number;
    try {
      size = fs.statSync(file).size;
    } catch {
      return '';
    }
    return readLogFile(file, Math.max(0, size - bytes), bytes).text;
  }
}

/** Reads up to `limit` bytes from `cursor`, ending on a line break when the chunk is cut short. */
export function readLogFile(file: string, cursor: number, limit: number): LogChunk {
  const { bytes, nextCursor } = readLogFileBytes(file, cursor, limit);
  return { text: bytes.toString('utf8'), nextCursor };
}

/** readLogFile's bytes, undecoded; read into `into` (its first `limit` bytes) when given. */
export function readLogFileBytes(file: string, cursor: number, limit: number, into?: Buffer): LogBytes {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return { bytes: EMPTY, nextCursor: cursor };
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (cursor >= size) return { bytes: EMPTY, nextCursor: cursor };
    const length = Math.min(limit, size - cursor, into?.length ?? Infinity);
    // Not zero-filled: every byte handed out is one read from the file.
    const buffer = into ?? Buffer.allocUnsafeSlow(length);
    const read = fs.readSync(fd, buffer, 0, length, cursor);
    let chunk = buffer.subarray(0, read);
    if (cursor + read < size) {
      const lastNewline = chunk.lastIndexOf(0x0a);
      if (lastNewline >= 0) chunk = chunk.subarray(0, lastNewline + 1);
    }
    return { bytes: chunk, nextCursor: cursor + chunk.length };
  } finally {
    fs.closeSync(fd);
  }
}

const EMPTY = Buffer.alloc(0);
