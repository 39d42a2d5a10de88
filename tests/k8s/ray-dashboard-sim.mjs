// A simulated Ray dashboard (the Ray Jobs REST API) for the KubeRay operator in the test cluster.
//
// No Ray cluster runs in tests/k8s: the head pods that KubeRay creates are simulated by KWOK. The
// operator still asks the head's dashboard (http://<head-service>.<ns>.svc.cluster.local:8265) how a
// RayJob's Ray job is doing; cluster.sh points the operator's HTTP proxy setting here, so every such
// request arrives at this server, whatever head it names. Jobs behave like this:
//   - HTTPMode: the operator POSTs /api/jobs/ and the job starts then.
//   - K8sJobMode: the submitter pod is simulated too, so the job "was submitted" when the operator
//     first asks about a RayJob's jobId (the RayJob is looked up through the API server).
//   - A job is RUNNING for its duration (GRIFFIN_TEST_DURATION, default 2s), then SUCCEEDED, or FAILED
//     when its outcome is `fail`; `hang` stays RUNNING until stopped. The outcome and duration come from,
//     first found: the RayJob's label or annotation griffin.test/outcome (griffin.test/duration), then
//     GRIFFIN_TEST_OUTCOME (GRIFFIN_TEST_DURATION) or the griffin_test_outcome (griffin_test_duration)
//     key of GRIFFIN_HYPERPARAMETERS in the env_vars of its runtime env or the env of its head
//     container, as in tests/k8s/kwok-stages.yaml; default succeed.
//   - In K8sJobMode, KubeRay's submitter pod runs `ray job logs --follow` and exits 0 when the job ends;
//     KWOK leaves those pods Running (tests/k8s/kwok-stages.yaml), and this server ends them then,
//     through the pod status subresource as a kubelet would.
//   - POST /api/jobs/{id}/stop stops it (STOPPED); GET /api/jobs/{id}/logs returns a few lines.
//
//   node tests/k8s/ray-dashboard-sim.mjs --port 16465 --kubeconfig FILE
import { createServer } from 'node:http';
import * as k8s from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const port = Number(arg('port', '16465'));
const kc = new k8s.KubeConfig();
kc.loadFromFile(arg('kubeconfig'));
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const core = kc.makeApiClient(k8s.CoreV1Api);

/** submission id -> job */
const jobs = new Map();

const OUTCOMES = new Set(['succeed', 'fail', 'hang']);
const DEFAULT_DURATION_MS = 2000;

function parseDuration(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(String(text ?? '').trim());
  if (!m) return undefined;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2]];
}

/** Outcome and duration hints from a RayJob (or from a submission's runtime env). */
function hintsFrom({ labels = {}, annotations = {}, envVars = {}, containerEnv = [] }) {
  const fromEnv = (name) => envVars[name] ?? containerEnv.find((e) => e?.name === name)?.value;
  let hyperparameters = {};
  try {
    hyperparameters = JSON.parse(fromEnv('GRIFFIN_HYPERPARAMETERS') ?? '{}') ?? {};
  } catch {
    // not JSON: no hints there
  }
  const outcome = labels['griffin.test/outcome'] ?? annotations['griffin.test/outcome'] ?? fromEnv('GRIFFIN_TEST_OUTCOME') ?? hyperparameters.griffin_test_outcome;
  const duration = annotations['griffin.test/duration'] ?? fromEnv('GRIFFIN_TEST_DURATION') ?? hyperparameters.griffin_test_duration;
  return {
    outcome: OUTCOMES.has(outcome) ? outcome : 'succeed',
    durationMs: parseDuration(duration) ?? DEFAULT_DURATION_MS,
  };
}

function runtimeEnvOf(rayJob) {
  try {
    return parseYaml(rayJob.spec?.runtimeEnvYAML ?? '') ?? {};
  } catch {
    return {};
  }
}

function hintsFromRayJob(rayJob) {
  const head = rayJob.spec?.rayClusterSpec?.headGroupSpec?.template?.spec?.containers ?? [];
  return hintsFrom({
    labels: rayJob.metadata?.labels ?? {},
    annotations: rayJob.metadata?.annotations ?? {},
    envVars: runtimeEnvOf(rayJob).env_vars ?? {},
    containerEnv: head.flatMap((c) => c.env ?? []),
  });
}

async function findRayJob(jobId) {
  const list = await custom.listClusterCustomObject({ group: 'ray.io', version: 'v1', plural: 'rayjobs' });
  return list.items.find((j) => j.status?.jobId === jobId || j.spec?.jobId === jobId);
}

function addJob(id, { entrypoint, metadata, runtimeEnv, hints, source, submitter }) {
  const job = {
    id,
    /** K8sJobMode: { namespace, jobName } of KubeRay's submitter Job, ended with the Ray job. */
    submitter,
    submitterEnded: false,
    entrypoint: entrypoint ?? '',
    metadata: metadata ?? {},
    runtimeEnv: runtimeEnv ?? {},
    outcome: hints.outcome,
    durationMs: hints.durationMs,
    startTime: Date.now(),
    stoppedAt: null,
  };
  jobs.set(id, job);
  console.log(`${new Date().toISOString()} job ${id} submitted (${source}): outcome ${job.outcome}, ${job.durationMs} ms`);
  return job;
}

function statusOf(job) {
  if (job.stoppedAt) return { status: 'STOPPED', message: 'Job was intentionally stopped.', end: job.stoppedAt };
  const end = job.startTime + job.durationMs;
  if (job.outcome === 'hang' || Date.now() < end) return { status: 'RUNNING', message: 'Job is currently running.', end: 0 };
  if (job.outcome === 'fail') {
    return { status: 'FAILED', message: 'Job entrypoint command failed with exit code 1 (simulated: griffin.test/outcome=fail)', end };
  }
  return { status: 'SUCCEEDED', message: 'Job finished successfully.', end };
}

function details(job) {
  const s = statusOf(job);
  return {
    type: 'SUBMISSION',
    job_id: null,
    submission_id: job.id,
    driver_info: null,
    status: s.status,
    entrypoint: job.entrypoint,
    message: s.message,
    error_type: s.status === 'FAILED' ? 'JOB_ENTRYPOINT_COMMAND_ERROR' : null,
    start_time: job.startTime,
    end_time: s.end || null,
    metadata: job.metadata,
    runtime_env: job.runtimeEnv,
  };
}

async function lookup(id) {
  if (jobs.has(id)) return jobs.get(id);
  // K8sJobMode: the (simulated) submitter pod would have submitted the job by now.
  const rayJob = await findRayJob(id);
  if (!rayJob || (rayJob.spec?.submissionMode ?? 'K8sJobMode') === 'HTTPMode') return undefined;
  return addJob(id, {
    entrypoint: rayJob.spec?.entrypoint,
    metadata: rayJob.spec?.metadata,
    runtimeEnv: runtimeEnvOf(rayJob),
    hints: hintsFromRayJob(rayJob),
    source: `RayJob ${rayJob.metadata.namespace}/${rayJob.metadata.name}`,
    // KubeRay names the submitter Job after the RayJob.
    submitter: { namespace: rayJob.metadata.namespace, jobName: rayJob.metadata.name },
  });
}

/** The submitter pod's `ray job logs --follow` returns once the job has ended: exit 0. */
async function endSubmitter(job) {
  if (!job.submitter || job.submitterEnded || statusOf(job).status === 'RUNNING') return;
  job.submitterEnded = true;
  const { namespace, jobName } = job.submitter;
  const pods = await core.listNamespacedPod({ namespace, labelSelector: `batch.kubernetes.io/job-name=${jobName}` });
  const now = new Date().toISOString();
  for (const pod of pods.items.filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp)) {
    const containerStatuses = (pod.spec?.containers ?? []).map((c) => ({
      name: c.name,
      image: c.image,
      imageID: '',
      ready: false,
      restartCount: 0,
      started: false,
      state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: pod.status?.startTime ?? now, finishedAt: now } },
    }));
    const conditions = (pod.status?.conditions ?? []).map((c) =>
      c.type === 'Ready' || c.type === 'ContainersReady' ? { ...c, status: 'False', reason: 'PodCompleted', lastTransitionTime: now } : c,
    );
    await core.replaceNamespacedPodStatus({
      namespace,
      name: pod.metadata.name,
      body: { ...pod, status: { ...pod.status, phase: 'Succeeded', conditions, containerStatuses } },
    });
    console.log(`${now} submitter pod ${namespace}/${pod.metadata.name} of job ${job.id} ended (${statusOf(job).status})`);
  }
}

function send(res, status, body) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' });
  res.end(text);
}

async function readJson(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

async function handle(req, res) {
  // Proxied requests carry an absolute URL; direct ones a path.
  const url = new URL(req.url ?? '/', 'http://sim.invalid');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const m = /^\/api\/jobs(?:\/([^/]+))?(?:\/(logs|stop))?$/.exec(path);
  if (path === '/healthz') return send(res, 200, 'ok');
  if (path === '/api/version') return send(res, 200, { version: '4', ray_version: 'simulated', ray_commit: 'none' });
  if (!m) return send(res, 404, `not found: ${path}`);
  const [, id, action] = m;
  if (!id && req.method === 'GET') return send(res, 200, [...jobs.values()].map(details));
  if (!id && req.method === 'POST') {
    const body = await readJson(req);
    const sid = body.submission_id || `raysubmit_${Math.random().toString(36).slice(2, 14)}`;
    if (jobs.has(sid)) {
      // Ray answers a duplicate submission_id with a 500 and this text; KubeRay looks for it.
      return send(res, 500, `Job with submission_id ${sid} already exists. Please use a different submission_id.`);
    }
    const rayJob = await findRayJob(sid).catch(() => undefined);
    const envVars = body.runtime_env?.env_vars ?? {};
    const hints = rayJob
      ? hintsFromRayJob(rayJob)
      : hintsFrom({ labels: body.metadata ?? {}, envVars });
    addJob(sid, { entrypoint: body.entrypoint, metadata: body.metadata, runtimeEnv: body.runtime_env, hints, source: 'POST /api/jobs/' });
    return send(res, 200, { job_id: sid, submission_id: sid });
  }
  const job = await lookup(decodeURIComponent(id));
  if (!job) return send(res, 404, `Job ${id} does not exist`);
  if (action === 'logs' && req.method === 'GET') {
    const s = statusOf(job);
    const lines = [`simulated Ray job ${job.id}: ${job.entrypoint}`, `status ${s.status}`];
    return send(res, 200, { logs: `${lines.join('\n')}\n` });
  }
  if (action === 'stop' && req.method === 'POST') {
    const running = statusOf(job).status === 'RUNNING';
    if (running) job.stoppedAt = Date.now();
    return send(res, 200, { stopped: running });
  }
  if (!action && req.method === 'DELETE') {
    jobs.delete(job.id);
    return send(res, 200, { deleted: true });
  }
  if (!action && req.method === 'GET') {
    endSubmitter(job).catch((error) => {
      job.submitterEnded = false; // try again on the next poll
      console.error(`ending the submitter of ${job.id}: ${error?.body ?? error?.message ?? error}`);
    });
    return send(res, 200, details(job));
  }
  return send(res, 405, 'method not allowed');
}

const server = createServer((req, res) => {
  handle(req, res).catch((error) => {
    console.error(`${req.method} ${req.url}: ${error?.stack ?? error}`);
    send(res, 500, String(error?.message ?? error));
  });
});
server.listen(port, '127.0.0.1', () => console.log(`simulated Ray dashboard on 127.0.0.1:${port}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
