import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from '../../server/config.ts';
import { ADMIN_TOKEN, freePort } from './service.ts';

export interface ServiceProcess {
  child: ChildProcess;
  baseUrl: string;
  port: number;
  output: () => string;
  api(method: string, route: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts the service as users do (tsx server/index.ts) and waits until /readyz answers. */
export async function startServiceProcess(env: Record<string, string>, port?: number): Promise<ServiceProcess> {
  const chosenPort = port ?? (await freePort());
  // node --import tsx keeps the service one process, so a signal reaches the server itself.
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'server', 'index.ts')], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      GRIFFIN_PORT: String(chosenPort),
      GRIFFIN_HOST: '127.0.0.1',
      GRIFFIN_ADMIN_TOKEN: ADMIN_TOKEN,
      GRIFFIN_RECONCILE_INTERVAL_MS: '200',
      GRIFFIN_DISPATCH_INTERVAL_MS: '200',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const baseUrl = `http://127.0.0.1:${chosenPort}`;
  // Generous: a cold start compiles the service with tsx, which takes long on a busy machine.
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`service exited with ${child.exitCode}:\n${output}`);
    try {
      if ((await fetch(`${baseUrl}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`service did not become ready:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    baseUrl,
    port: chosenPort,
    output: () => output,
    async api(method, route, body, headers = {}) {
      let res: Response;
      try {
        res = await fetch(`${baseUrl}${route}`, {
          method,
          headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json', ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (error) {
        // "fetch failed" alone does not say whether the service is gone: say so, with its last words.
        const state = child.exitCode !== null || child.signalCode !== null ? `exited (${child.exitCode ?? child.signalCode})` : 'still running';
        const cause = (error as { cause?: { code?: string } }).cause?.code ?? String(error);
        throw new Error(`${method} ${route}: ${cause}; the service is ${state}; its output ends:\n${output.slice(-4000)}`, { cause: error });
      }
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    stop(signal = 'SIGTERM') {
      return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill(signal);
      });
    },
  };
}
