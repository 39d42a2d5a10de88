#!/usr/bin/env node
// The griffin CLI: a thin client of the /api/v1 HTTP API (plain JavaScript, no build step).
import path from 'node:path';
import { parseArgs } from 'node:util';

const USAGE = `usage: griffin <command> [options]

  submit <workflow[@version]> [--set key=value ...] [--backend b] [--timeout s] [--queue q] [--priority n]
         [--idempotency-key k] [--wait]
  submit [workflow] --code DIR --entrypoint CMD [--dataset d] [--runtime r] [--model m] [--register name] [--set ...]
         [--queue q] [--priority n] [--wait]
         uploads DIR (honouring .gitignore) and runs it; with a workflow, its dataset, runtime and backend
  status <run-id>
  list [--state s] [--workflow w] [--limit n]
  logs <run-id> [--follow]
  cancel <run-id> [--reason text]
  workflows list [--limit n]
  backends                       which backends this server runs, and what to set for the others
  (--queue names a queue, GET /api/v1/queues; --priority is -100..100, higher first: write a negative one as --priority=-5)
  token create <name> --role viewer|editor|admin | token list | token revoke <token-id>
  schedule create <name> --cron "<expr>" --workflow <workflow[@version]> [--timezone tz] [--set key=value ...]
           [--backend b] [--timeout s] [--queue q] [--priority n] [--overlap skip|allow|cancel_previous]
           [--catch-up skip|run_once] [--max-concurrent n] [--paused]
  schedule list | pause <schedule> | resume <schedule> | trigger <schedule> | firings <schedule> | delete <schedule>

Environment: GRIFFIN_URL (default http://127.0.0.1:8080), GRIFFIN_TOKEN (a bearer token).`;

function fail(message, code = 1) {
  process.stderr.write(`griffin: ${message}\n`);
  process.exit(code);
}

/**
 * GRIFFIN_URL as users write it: with or without a scheme, with or without the /api/v1 suffix the
 * API paths add again. Anything that still is not an http(s) URL is refused with what was seen.
 */
function serviceUrl(raw) {
  let text = (raw || 'http://127.0.0.1:8080').trim().replace(/\/+$/, '');
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) text = `http://${text}`;
  text = text.replace(/\/api\/v1$/, '');
  let url;
  try {
    url = new URL(text);
  } catch {
    fail(`GRIFFIN_URL "${raw}" is not a URL; set it to the service's address, e.g. http://127.0.0.1:8080`, 2);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(`GRIFFIN_URL "${raw}" must be an http:// or https:// URL`, 2);
  return text;
}

const baseUrl = serviceUrl(process.env.GRIFFIN_URL);
const token = process.env.GRIFFIN_TOKEN;

/** A whole number of at least `min` from an option, or a usage error naming the option. */
function wholeNumber(value, option, min = 1) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(String(value)) || n < min) fail(`${option} takes a whole number${min > 0 ? ` of at least ${min}` : ''}, not "${value}"`, 2);
  return n;
}

/** --priority: a whole number from -100 to 100 (higher launches first). */
function priorityOf(value) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\s*-?\d+\s*$/.test(String(value)) || n < -100 || n > 100) fail(`--priority takes a whole number from -100 to 100, not "${value}"`, 2);
  return n;
}

/** --queue and --priority as run overrides (or spec fields): absent options add nothing. */
function queueFields(values) {
  const fields = {};
  if (values.queue) fields.queue = values.queue;
  const priority = priorityOf(values.priority);
  if (priority !== undefined) fields.priority = priority;
  return fields;
}

/** The name nearest to `name` by edit distance, when it is near enough to be a likely typo. */
function closest(name, candidates) {
  const distance = (a, b) => {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i += 1) {
      const cur = [i];
      for (let j = 1; j <= b.length; j += 1) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
    return prev[b.length];
  };
  let best;
  for (const c of candidates) {
    const d = distance(name, c);
    if (!best || d < best.d) best = { c, d };
  }
  return best && best.d <= Math.max(2, Math.floor(name.length / 3)) ? best.c : undefined;
}

/** For a workflow the service does not know: the closest name it does know, as a hint. */
async function workflowHint(ref) {
  const name = ref.split('@')[0];
  const page = await api('GET', '/workflows?limit=500', undefined, {}, { quiet: true });
  const names = [...new Set((page?.items ?? []).map((w) => w.name))];
  const guess = closest(name, names);
  return guess ? ` (did you mean "${guess}"?)` : names.length ? ` (known workflows: ${names.slice(0, 10).join(', ')})` : '';
}

async function api(method, path, body, headers = {}, { quiet = false, onError } = {}) {
  if (!token) fail('set GRIFFIN_TOKEN to a Griffin API token (the first start saves one in ~/.local/share/griffin/admin-token)');
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
  let data;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    if (quiet) return undefined;
    fail(`${res.status} from ${baseUrl}${path} is not JSON; is GRIFFIN_URL the Griffin service? (${text.slice(0, 120)})`);
  }
  if (!res.ok) {
    if (quiet) return undefined;
    const e = data?.error;
    const hint = onError ? await onError(res.status, e) : '';
    fail(`${res.status} ${e?.code ?? ''}: ${e?.message ?? text}${e?.field ? ` (field: ${e.field})` : ''}${hint}`);
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
    `  workflow: ${run.workflow ? `${run.workflow.name}@${run.workflow.version}` : 'inline spec'}  backend: ${run.backend}  trigger: ${run.trigger}  queue: ${run.queue} (priority ${run.priority})`,
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
      if (values.timeout) overrides.timeoutSeconds = wholeNumber(values.timeout, '--timeout');
      Object.assign(overrides, queueFields(values));
      const body = { name: ref, cron: values.cron, workflow: values.workflow, overrides, enabled: !values.paused };
      if (values.timezone) body.timezone = values.timezone;
      if (values.overlap) body.overlapPolicy = values.overlap;
      if (values['catch-up']) body.catchUpPolicy = values['catch-up'];
      if (values['max-concurrent']) body.maxConcurrentRuns = wholeNumber(values['max-concurrent'], '--max-concurrent');
      process.stdout.write(`${scheduleSummary(await api('POST', '/schedules', body))}\n`);
      return;
    }
    case 'list': {
      const page = await api('GET', `/schedules?limit=${wholeNumber(values.limit, '--limit') ?? 100}`);
      if (!page.items.length) {
        process.stdout.write('no schedules\n');
        return;
      }
      process.stdout.write(`${'NAME'.padEnd(24)}  ${'STATE'.padEnd(7)}  ${'CRON (TIME ZONE)'.padEnd(36)}  ${'WORKFLOW'.padEnd(24)}  NEXT\n`);
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
      if (run) {
        process.stdout.write(`submitted run ${run.id} (${run.url})\n`);
        return;
      }
      // A firing that started nothing (skipped or failed) is not a success for a script either.
      fail(`no run (${firing.outcome}): ${firing.reason}`);
      return;
    }
    case 'delete':
      await api('DELETE', `/schedules/${target()}`);
      process.stdout.write(`deleted schedule ${ref}\n`);
      return;
    case 'firings': {
      const page = await api('GET', `/schedules/${target()}/firings?limit=${values.limit ?? '20'}`);
      for (const f of page.items) {
        process.stdout.write(`${f.scheduledAt}  ${f.kind.padEnd(9)}  ${f.outcome.padEnd(9)}  ${f.runId ? `run ${f.runId} (${f.runState})` : ''}${f.reason ? `  ${f.reason}` : ''}\n`);
      }
      return;
    }
    default:
      fail(`unknown schedule command "${sub ?? ''}"; use create, list, pause, resume, trigger, firings or delete`, 2);
  }
}

/** Uploads a code directory; answers its griffin://code/<sha256>. */
async function uploadCode(dir) {
  const { packDirectory } = await import('./codeArchive.js');
  let packed;
  try {
    packed = await packDirectory(dir);
  } catch (error) {
    fail(error.message, 2);
  }
  let res;
  try {
    res = await fetch(`${baseUrl}/api/v1/code`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/zip' }, body: packed.bytes });
  } catch (error) {
    fail(`cannot reach Griffin at ${baseUrl}: ${error.cause?.code ?? error.message}`);
  }
  const data = await res.json().catch(() => undefined);
  if (!res.ok) fail(`${res.status} ${data?.error?.code ?? ''}: ${data?.error?.message ?? 'uploading the code failed'}`);
  process.stdout.write(`uploaded ${packed.files.length} files of ${dir} as ${data.codeUri}${res.status === 200 ? ' (already there)' : ''}\n`);
  return data.codeUri;
}

/** `submit --code DIR`: the code becomes a model version (reused when the latest already is this code) and runs in an inline spec. */
async function submitCode(workflowRef, values) {
  if (!token) fail('set GRIFFIN_TOKEN to a Griffin API token');
  const base = workflowRef ? await api('GET', workflowRef.includes('@') ? `/workflows/${workflowRef.replace('@', '/versions/')}` : `/workflows/${workflowRef}`) : {};
  const name = values.model || (base.model ? base.model.split('@')[0] : '') || path.basename(path.resolve(values.code)).toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[-._]+|[-._]+$/g, '') || 'uploaded-code';
  let entrypoint = values.entrypoint || base.entrypoint;
  if (!entrypoint && base.model) entrypoint = (await api('GET', `/models/${base.model.replace('@', '/versions/')}`)).entrypoint;
  if (!entrypoint) fail('--code needs --entrypoint, the command that starts the code (e.g. "python train.py")', 2);
  const dataset = values.dataset || base.dataset;
  if (!dataset) fail('--code needs --dataset (or a workflow to take it from)', 2);
  const codeUri = await uploadCode(values.code);
  const latest = await api('GET', `/models/${name}`, undefined, {}, { quiet: true });
  const runtimeName = values.runtime || base.runtime || 'python3';
  // A new model version takes a framework its runtime provides (the service refuses any other).
  const provided = (await api('GET', `/runtimes/${runtimeName}`)).frameworks ?? [];
  const framework = latest && (!provided.length || provided.includes(latest.framework)) ? latest.framework : (provided[0] ?? 'python');
  let modelRef;
  if (latest && latest.codeUri === codeUri && latest.entrypoint === entrypoint && latest.framework === framework) modelRef = `${name}@${latest.version}`;
  else {
    const body = { name, framework, codeUri, entrypoint, defaultHyperparameters: latest?.defaultHyperparameters ?? {}, hyperparameterSchema: latest?.hyperparameterSchema ?? {} };
    modelRef = `${name}@${(await api('POST', '/models', body)).version}`;
  }
  const spec = {
    model: modelRef,
    dataset,
    runtime: runtimeName,
    backend: values.backend || base.backend || 'local',
    hyperparameters: { ...(base.hyperparameters ?? {}), ...parseSets(values.set) },
    resources: base.resources ?? {},
    ...(base.queue ? { queue: base.queue } : {}),
    ...(base.priority !== undefined ? { priority: base.priority } : {}),
    ...queueFields(values),
  };
  if (values.timeout || base.timeoutSeconds) spec.timeoutSeconds = wholeNumber(values.timeout, '--timeout') ?? base.timeoutSeconds;
  if (values.register) spec.register = { modelName: values.register, aliases: [] };
  else if (base.register) spec.register = base.register;
  const headers = values['idempotency-key'] ? { 'Idempotency-Key': values['idempotency-key'] } : {};
  let run = await api('POST', '/runs', { spec, trigger: 'cli' }, headers);
  process.stdout.write(`submitted run ${run.id} of ${modelRef} (${run.url})\n`);
  if (values.wait) {
    await followLogs(run.id);
    run = await api('GET', `/runs/${run.id}`);
    while (!run.terminal) {
      await sleep(500);
      run = await api('GET', `/runs/${run.id}`);
    }
    process.stdout.write(`${summary(run)}\n`);
    if (run.state !== 'succeeded') process.exit(1);
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
      code: { type: 'string' },
      entrypoint: { type: 'string' },
      model: { type: 'string' },
      dataset: { type: 'string' },
      runtime: { type: 'string' },
      register: { type: 'string' },
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
      queue: { type: 'string' },
      priority: { type: 'string' },
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
      if (values.code) {
        await submitCode(args[0], values);
        return;
      }
      if (!args[0]) fail('submit needs a workflow name (or --code DIR --entrypoint CMD)', 2);
      const overrides = {};
      if (values.set) overrides.hyperparameters = parseSets(values.set);
      if (values.backend) overrides.backend = values.backend;
      if (values.timeout) overrides.timeoutSeconds = wholeNumber(values.timeout, '--timeout');
      Object.assign(overrides, queueFields(values));
      const headers = values['idempotency-key'] ? { 'Idempotency-Key': values['idempotency-key'] } : {};
      const onError = (status, e) => (status === 404 && e?.field === 'workflow' ? workflowHint(args[0]) : '');
      let run = await api('POST', '/runs', { workflow: args[0], overrides, trigger: 'cli' }, headers, { onError });
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
      q.set('limit', String(wholeNumber(values.limit, '--limit') ?? 20));
      const page = await api('GET', `/runs?${q}`);
      if (!page.items.length) {
        process.stdout.write(values.state || values.workflow ? 'no runs match\n' : 'no runs yet\n');
        return;
      }
      process.stdout.write(`${'RUN'.padEnd(12)}  ${'STATE'.padEnd(10)}  ${'WORKFLOW'.padEnd(24)}  ${'TRIGGER'.padEnd(8)}  CREATED\n`);
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
    case 'workflows': {
      if (args[0] !== 'list') fail('usage: griffin workflows list [--limit n]', 2);
      const page = await api('GET', `/workflows?limit=${wholeNumber(values.limit, '--limit') ?? 100}`);
      // The list holds every version; show each workflow once, at its latest version.
      const latest = new Map();
      for (const w of page.items) if (!latest.has(w.name) || latest.get(w.name).version < w.version) latest.set(w.name, w);
      if (!latest.size) {
        process.stdout.write('no workflows\n');
        return;
      }
      // A workflow whose backend this server does not run fails every submit: say so in the list.
      const backends = (await api('GET', '/backends', undefined, {}, { quiet: true })) ?? { items: [] };
      const off = new Set(backends.items.filter((b) => !b.configured).map((b) => b.name));
      const backendCell = (b) => (off.has(b) ? `${b} (not configured)` : b);
      process.stdout.write(`${'WORKFLOW'.padEnd(28)}  ${'LATEST'.padEnd(6)}  ${'BACKEND'.padEnd(24)}  MODEL\n`);
      for (const w of [...latest.values()].sort((a, b) => a.name.localeCompare(b.name))) {
        process.stdout.write(`${w.name.padEnd(28)}  ${`v${w.version}`.padEnd(6)}  ${backendCell(w.backend).padEnd(24)}  ${w.model}\n`);
      }
      return;
    }
    case 'backends': {
      const page = await api('GET', '/backends');
      process.stdout.write(`${'BACKEND'.padEnd(12)}  ${'CONFIGURED'.padEnd(10)}  HINT\n`);
      for (const b of page.items) process.stdout.write(`${b.name.padEnd(12)}  ${(b.configured ? 'yes' : 'no').padEnd(10)}  ${b.hint ?? ''}\n`);
      return;
    }
    case 'token': {
      if (args[0] === 'list') {
        const page = await api('GET', '/tokens');
        process.stdout.write(`${'ID'.padEnd(14)}  ${'NAME'.padEnd(24)}  ${'ROLE'.padEnd(7)}  CREATED\n`);
        for (const t of page.items) process.stdout.write(`${String(t.id).padEnd(14)}  ${t.name.padEnd(24)}  ${t.role.padEnd(7)}  ${t.createdAt}\n`);
        return;
      }
      if (args[0] === 'revoke') {
        const id = args[1] ?? fail('usage: griffin token revoke <token-id> (griffin token list shows the ids)', 2);
        await api('DELETE', `/tokens/${encodeURIComponent(id)}`);
        process.stdout.write(`revoked token ${id}\n`);
        return;
      }
      if (args[0] !== 'create' || !args[1]) fail('usage: griffin token create <name> --role viewer|editor|admin | token list | token revoke <token-id>', 2);
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
