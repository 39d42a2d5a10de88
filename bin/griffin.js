#!/usr/bin/env node
// The griffin CLI: a thin client of the /api/v1 HTTP API (plain JavaScript, no build step).
import { parseArgs } from 'node:util';

const USAGE = `usage: griffin <command> [options]

  submit <workflow[@version]> [--set key=value ...] [--backend b] [--timeout s] [--idempotency-key k] [--wait]
  status <run-id>
  list [--state s] [--workflow w] [--limit n]
  logs <run-id> [--follow]
  cancel <run-id> [--reason text]
  token create <name> --role viewer|editor|admin
  schedule create <name> --cron "<expr>" --workflow <workflow[@version]> [--timezone tz] [--set key=value ...]
           [--backend b] [--timeout s] [--overlap skip|allow|cancel_previous] [--catch-up skip|run_once]
           [--max-concurrent n] [--paused]
  schedule list | pause <schedule> | resume <schedule> | trigger <schedule> | firings <schedule>

Environment: GRIFFIN_URL (default http://127.0.0.1:8080), GRIFFIN_TOKEN (a bearer token).`;

const baseUrl = (process.env.GRIFFIN_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const token = process.env.GRIFFIN_TOKEN;

function fail(message, code = 1) {
  process.stderr.write(`griffin: ${message}\n`);
  process.exit(code);
}

async function api(method, path, body, headers = {}) {
  if (!token) fail('set GRIFFIN_TOKEN to a Griffin API token (the first start saves one in .griffin/admin-token)');
  let res;
  try {
    res = await fetch(`${baseUrl}/api/v1${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (error) {
    fail(`cannot reach Griffin at ${baseUrl}: ${error.cause?.code ?? error.message}`);
  }
  const text = await res.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!res.ok) {
    const e = data?.error;
    fail(`${res.status} ${e?.code ?? ''}: ${e?.message ?? text}${e?.field ? ` (field: ${e.field})` : ''}`);
  }
  return data;
}

/** "--set lr=0.1" -> {lr: 0.1}: values parse as JSON when they can, else stay strings. */
function parseSets(sets = []) {
  const out = {};
  for (const item of sets) {
    const eq = item.indexOf('=');
    if (eq < 1) fail(`--set takes key=value, got "${item}"`, 2);
    const raw = item.slice(eq + 1);
    try {
      out[item.slice(0, eq)] = JSON.parse(raw);
    } catch {
      out[item.slice(0, eq)] = raw;
    }
  }
  return out;
}

function summary(run) {
  const metrics = Object.entries(run.latestMetrics ?? {})
    .map(([k, m]) => `${k}=${Number(m.value).toPrecision(4)}`)
    .join(' ');
  return [
    `run ${run.id}: ${run.state}${run.reason ? ` (${run.reason})` : ''}`,
    `  workflow: ${run.workflow ? `${run.workflow.name}@${run.workflow.version}` : 'inline spec'}  backend: ${run.backend}  trigger: ${run.trigger}`,
    `  url: ${run.url}`,
    metrics ? `  metrics: ${metrics}` : null,
    run.modelVersion ? `  model version: ${run.modelVersion.name} v${run.modelVersion.version}` : null,
  ]
    .filter(Boolean)
    .join('\n');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function followLogs(id) {
  const res = await fetch(`${baseUrl}/api/v1/runs/${id}/logs?follow=true`, { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) fail(`${res.status}: ${await res.text()}`);
  for await (const chunk of res.body) process.stdout.write(chunk);
}

function scheduleSummary(s) {
  const next = s.nextFireTimes.length ? s.nextFireTimes.slice(0, 3).join(', ') : '- (paused)';
  return [
    `schedule ${s.name} (${s.id}): ${s.enabled ? 'enabled' : 'paused'}`,
    `  cron: ${s.cron} (${s.timezone})  workflow: ${s.workflow}  overlap: ${s.overlapPolicy}  catch-up: ${s.catchUpPolicy}  max concurrent: ${s.maxConcurrentRuns ?? 'no limit'}`,
    `  next: ${next}`,
  ].join('\n');
}

/** griffin schedule create|list|pause|resume|trigger|firings: a schedule is named by its name or id. */
async function scheduleCommand([sub, ref], values) {
  const target = () => encodeURIComponent(ref ?? fail(`schedule ${sub} needs a schedule name or id`, 2));
  switch (sub) {
    case 'create': {
      if (!ref || !values.cron || !values.workflow) fail('usage: griffin schedule create <name> --cron "<expr>" --workflow <workflow[@version]> [options]', 2);
      const overrides = {};
      if (values.set) overrides.hyperparameters = parseSets(values.set);
      if (values.backend) overrides.backend = values.backend;
      if (values.timeout) overrides.timeoutSeconds = Number(values.timeout);
      const body = { name: ref, cron: values.cron, workflow: values.workflow, overrides, enabled: !values.paused };
      if (values.timezone) body.timezone = values.timezone;
      if (values.overlap) body.overlapPolicy = values.overlap;
      if (values['catch-up']) body.catchUpPolicy = values['catch-up'];
      if (values['max-concurrent']) body.maxConcurrentRuns = Number(values['max-concurrent']);
      process.stdout.write(`${scheduleSummary(await api('POST', '/schedules', body))}\n`);
      return;
    }
    case 'list': {
      const page = await api('GET', `/schedules?limit=${values.limit ?? '100'}`);
      for (const s of page.items) {
        process.stdout.write(`${s.name.padEnd(24)}  ${(s.enabled ? 'enabled' : 'paused').padEnd(7)}  ${`${s.cron} (${s.timezone})`.padEnd(36)}  ${s.workflow.padEnd(24)}  next: ${s.nextFireTimes[0] ?? '-'}\n`);
      }
      return;
    }
    case 'pause':
    case 'resume':
      process.stdout.write(`${scheduleSummary(await api('POST', `/schedules/${target()}/${sub}`))}\n`);
      return;
    case 'trigger': {
      const { firing, run } = await api('POST', `/schedules/${target()}/trigger`);
      process.stdout.write(run ? `submitted run ${run.id} (${run.url})\n` : `no run (${firing.outcome}): ${firing.reason}\n`);
      return;
    }
    case 'firings': {
      const page = await api('GET', `/schedules/${target()}/firings?limit=${values.limit ?? '20'}`);
      for (const f of page.items) {
        process.stdout.write(`${f.scheduledAt}  ${f.kind.padEnd(9)}  ${f.outcome.padEnd(9)}  ${f.runId ? `run ${f.runId} (${f.runState})` : ''}${f.reason ? `  ${f.reason}` : ''}\n`);
      }
      return;
    }
    default:
      fail(`unknown schedule command "${sub ?? ''}"; use create, list, pause, resume, trigger or firings`, 2);
  }
}

async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      set: { type: 'string', multiple: true },
      backend: { type: 'string' },
      timeout: { type: 'string' },
      'idempotency-key': { type: 'string' },
      wait: { type: 'boolean' },
      follow: { type: 'boolean', short: 'f' },
      state: { type: 'string' },
      workflow: { type: 'string' },
      limit: { type: 'string' },
      reason: { type: 'string' },
      role: { type: 'string' },
      cron: { type: 'string' },
      timezone: { type: 'string' },
      overlap: { type: 'string' },
      'catch-up': { type: 'string' },
      'max-concurrent': { type: 'string' },
      paused: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...args] = positionals;
  if (!command || values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  switch (command) {
    case 'submit': {
      if (!args[0]) fail('submit needs a workflow name', 2);
      const overrides = {};
      if (values.set) overrides.hyperparameters = parseSets(values.set);
      if (values.backend) overrides.backend = values.backend;
      if (values.timeout) overrides.timeoutSeconds = Number(values.timeout);
      const headers = values['idempotency-key'] ? { 'Idempotency-Key': values['idempotency-key'] } : {};
      let run = await api('POST', '/runs', { workflow: args[0], overrides, trigger: 'cli' }, headers);
      process.stdout.write(`submitted run ${run.id} (${run.url})\n`);
      if (values.wait) {
        while (!run.terminal) {
          await sleep(1000);
          run = await api('GET', `/runs/${run.id}`);
        }
        process.stdout.write(`${summary(run)}\n`);
        if (run.state !== 'succeeded') process.exit(1);
      }
      return;
    }
    case 'status': {
      const run = await api('GET', `/runs/${args[0] ?? fail('status needs a run id', 2)}`);
      process.stdout.write(values.json ? `${JSON.stringify(run, null, 2)}\n` : `${summary(run)}\n`);
      return;
    }
    case 'list': {
      const q = new URLSearchParams();
      if (values.state) q.set('state', values.state);
      if (values.workflow) q.set('workflow', values.workflow);
      q.set('limit', values.limit ?? '20');
      const page = await api('GET', `/runs?${q}`);
      for (const r of page.items) {
        process.stdout.write(`${r.id}  ${r.state.padEnd(10)}  ${(r.workflow ? `${r.workflow.name}@${r.workflow.version}` : 'inline').padEnd(24)}  ${r.trigger.padEnd(8)}  ${r.createdAt}\n`);
      }
      return;
    }
    case 'logs': {
      const id = args[0] ?? fail('logs needs a run id', 2);
      if (values.follow) return followLogs(id);
      const chunk = await api('GET', `/runs/${id}/logs?limit=4194304`);
      process.stdout.write(chunk.text);
      return;
    }
    case 'cancel': {
      const run = await api('POST', `/runs/${args[0] ?? fail('cancel needs a run id', 2)}/cancel`, values.reason ? { reason: values.reason } : {});
      process.stdout.write(`run ${run.id}: ${run.state}\n`);
      return;
    }
    case 'schedule':
      return scheduleCommand(args, values);
    case 'token': {
      if (args[0] !== 'create' || !args[1]) fail('usage: griffin token create <name> --role viewer|editor|admin', 2);
      const created = await api('POST', '/tokens', { name: args[1], role: values.role ?? 'viewer' });
      process.stdout.write(`${created.token}\n`);
      process.stderr.write(`token "${created.name}" (${created.role}); the secret above is shown only once\n`);
      return;
    }
    default:
      fail(`unknown command "${command}"\n${USAGE}`, 2);
  }
}

main().catch((error) => fail(error.message));
