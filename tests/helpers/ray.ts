import net from 'node:net';
import got from 'got';

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

/**
 * A TCP proxy in front of the shared Ray head. Closing it makes the head unreachable for
 * whoever talks through it, without stopping the head that other tests use.
 */
export async function startTcpProxy(target: URL): Promise<{ address: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `http://127.0.0.1:${port}`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
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
