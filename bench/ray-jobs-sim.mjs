// A simulated Ray head for the bench: the Ray Jobs API calls the ray executor makes, over a
// jobs table the bench fills (no Ray runs; 10,000 real Ray jobs would not fit on this machine).
// Each job answers as Ray's GET /api/jobs/ does (submission_id, job_id, status, metadata with
// griffin_run_id). It runs in its own process so that its CPU is not counted as Griffin's.
//   POST /bench/jobs {"runIds": [...]}            adds RUNNING jobs griffin-run-<id>-1
//   POST /bench/end  {"runIds": [...], "status"}  ends them (FAILED, SUCCEEDED, STOPPED)
//   node bench/ray-jobs-sim.mjs --port 8265
import { createServer } from 'node:http';

const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
const jobs = new Map();

const body = async (req) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
};
const send = (res, status, value) => {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
};

createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://sim');
  const path = url.pathname;
  if (req.method === 'GET' && path === '/api/version') return send(res, 200, { version: '4', ray_version: 'simulated' });
  if (req.method === 'POST' && path === '/bench/jobs') {
    const { runIds } = await body(req);
    const now = Date.now();
    for (const runId of runIds) {
      const id = `griffin-run-${runId}-1`;
      jobs.set(id, { type: 'SUBMISSION', submission_id: id, job_id: `raysubmit_${runId}`, status: 'RUNNING', entrypoint: 'sh start.sh', message: 'Job is currently running.', error_type: null, start_time: now, end_time: null, metadata: { griffin_run_id: runId, griffin_attempt: '1' }, runtime_env: {}, driver_info: null, driver_agent_http_address: null, driver_node_id: null, driver_exit_code: null });
    }
    return send(res, 200, { jobs: jobs.size });
  }
  if (req.method === 'POST' && path === '/bench/end') {
    const { runIds, status } = await body(req);
    for (const runId of runIds) {
      const job = jobs.get(`griffin-run-${runId}-1`);
      if (job) Object.assign(job, { status, end_time: Date.now(), message: `Job ${status.toLowerCase()}`, driver_exit_code: status === 'FAILED' ? 1 : 0 });
    }
    return send(res, 200, {});
  }
  if (req.method === 'GET' && path === '/api/jobs/') return send(res, 200, [...jobs.values()]);
  if (req.method === 'GET' && path.startsWith('/api/v0/actors')) return send(res, 200, { result: true, data: { result: { result: [] } } });
  const m = /^\/api\/jobs\/([^/]+)(?:\/(logs|stop))?$/.exec(path);
  if (m) {
    const job = jobs.get(decodeURIComponent(m[1]));
    if (!job) return send(res, 404, { detail: 'not found' });
    if (m[2] === 'logs') return send(res, 200, { logs: 'simulated\n' });
    if (m[2] === 'stop') return (job.status = 'STOPPED'), send(res, 200, { stopped: true });
    return send(res, 200, job);
  }
  send(res, 404, { detail: `no route ${path}` });
}).listen(port, '127.0.0.1');
