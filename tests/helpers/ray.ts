import got from 'got';
import { startTcpProxy, type TcpProxy } from './tcpProxy.ts';

/**
 * The Ray head started by the test setup (tests/setup/ray.sh). Without it the Ray tests fail
 * with this message rather than skip quietly, unless GRIFFIN_TEST_SKIP names "ray" on purpose.
 */
export function rayTestAddress(): string | undefined {
  const address = process.env.GRIFFIN_TEST_RAY_ADDRESS;
  if (address) return address.replace(/\/+$/, '');
  if ((process.env.GRIFFIN_TEST_SKIP ?? '').split(',').map((s) => s.trim()).includes('ray')) return undefined;
  throw new Error(
    'GRIFFIN_TEST_RAY_ADDRESS is not set: run the suite with `npm test` (tests/setup/ensure.sh starts a Ray head), ' +
      'source ~/.cache/griffin-test/env, or set GRIFFIN_TEST_SKIP=ray to skip the Ray tests on purpose',
  );
}

export interface RayJob {
  submission_id: string;
  status: string;
  metadata: Record<string, string> | null;
  runtime_env: Record<string, unknown> | null;
  entrypoint: string;
}

/** Reads the Ray Jobs API directly, to check what Griffin did there. */
export async function rayJob(address: string, submissionId: string): Promise<RayJob | undefined> {
  const res = await got(`${address}/api/jobs/${submissionId}`, { throwHttpErrors: false, retry: { limit: 0 } });
  if (res.statusCode === 404) return undefined;
  return JSON.parse(res.body) as RayJob;
}

export async function stopRayJob(address: string, submissionId: string): Promise<void> {
  await got.post(`${address}/api/jobs/${submissionId}/stop`, { throwHttpErrors: false, retry: { limit: 0 } });
}

/** A proxy in front of the shared Ray head (tests/helpers/tcpProxy.ts), with the address a client takes. */
export async function startRayProxy(target: URL): Promise<TcpProxy & { address: string }> {
  const proxy = await startTcpProxy(target);
  return { ...proxy, address: `http://127.0.0.1:${proxy.port}` };
}

export async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 120_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
