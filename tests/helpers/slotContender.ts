import { parentPort, workerData } from 'node:worker_threads';
import { HostSlots } from '../../server/executors/localSlots.ts';

/**
 * One contender for the per-host local slots, run in a worker thread so that contenders race for
 * real. Each round acquires a slot, counts itself in the shared counter while it "trains" (until
 * the limit is held, or 100 ms), then does what a finished run does: its process group ends (the
 * slot is bound to a group that no longer exists, so other contenders may take it over at once)
 * and the reconciler releases it.
 */
interface Input {
  dir: string;
  limit: number;
  rounds: number;
  /** How many contenders race: each waits until all of them are ready. */
  contenders: number;
  id: number;
  goneGroup: number;
  counters: SharedArrayBuffer;
}

const { dir, limit, rounds, contenders, id, goneGroup, counters } = workerData as Input;
const shared = new Int32Array(counters); // [0] holders now, [1] most seen at once, [2] contenders ready
const slots = new HostSlots(dir, limit);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Start together: on a busy machine a worker thread can take seconds to load, and one that
// started alone could finish all its rounds before the others begin, racing nobody.
Atomics.add(shared, 2, 1);
Atomics.notify(shared, 2);
for (let ready = Atomics.load(shared, 2); ready < contenders; ready = Atomics.load(shared, 2)) Atomics.wait(shared, 2, ready, 1_000);

for (let round = 0; round < rounds; round += 1) {
  const holder = { runId: `run-${id}-${round}`, attempt: 1, launchId: `${id}-${round}` };
  const slot = await slots.acquire(holder);
  if (!slot) {
    await pause(Math.random() * 2);
    round -= 1;
    continue;
  }
  const now = Atomics.add(shared, 0, 1) + 1;
  Atomics.notify(shared, 0);
  for (let most = Atomics.load(shared, 1); now > most; most = Atomics.load(shared, 1)) {
    if (Atomics.compareExchange(shared, 1, most, now) === most) break;
  }
  // Hold until the limit is reached, or for 100 ms: taking a slot scans /proc under the mutex,
  // and on a host with thousands of processes that outlasts a short hold, so that contenders
  // would never overlap and the race would test nothing.
  const until = Date.now() + 100;
  for (let held = Atomics.load(shared, 0); held < limit && Date.now() < until; held = Atomics.load(shared, 0)) Atomics.wait(shared, 0, held, Math.max(1, until - Date.now()));
  // Then a while longer, long enough for a contender that (wrongly) got past the limit to show.
  await pause(Math.random() * 20);
  Atomics.sub(shared, 0, 1);
  Atomics.notify(shared, 0);
  await slot.bind(goneGroup);
  await slots.releaseFor(holder);
}
parentPort?.postMessage('done');
