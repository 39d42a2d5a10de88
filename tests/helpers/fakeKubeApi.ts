import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/*
 * A stand-in for a kube-apiserver, for the kubernetes and kuberay executor tests until the test
 * cluster (a real kube-apiserver) lands. It follows the documented API for the calls Griffin
 * makes, and for the calls the tests make to play the cluster's controllers:
 *   - bearer-token authentication (401 Status otherwise);
 *   - POST .../jobs, .../rayjobs and .../secrets: 201 with the stored object (uid, resourceVersion,
 *     creationTimestamp added); 409 with a Status body, reason AlreadyExists, for a duplicate name;
 *   - GET .../{name}: 200, or 404 with a Status body, reason NotFound;
 *   - PUT .../{name}/status (the status subresource): replaces the status only;
 *   - PUT .../{name} (replace): the body becomes the object, keeping its uid; 404 when absent
 *     (a Secret is stored as sent: stringData is not folded into data as the API server does);
 *   - DELETE .../{name}?propagationPolicy=Foreground: 200 with the object marked with a
 *     deletionTimestamp and the foregroundDeletion finalizer; it disappears (with its pods)
 *     when `settleDeletions()` plays the garbage collector;
 *   - POST/GET .../pods (GET filtered by an equality labelSelector) and GET .../pods/{name}/log
 *     (text/plain; 400 for a container that has not started);
 *   - GET of a collection with watch=true: a stream of ADDED/MODIFIED/DELETED events (one JSON
 *     object a line) after the resourceVersion asked for, filtered by labelSelector; when that
 *     version is older than the history kept (see `forgetHistory`), an ERROR event with a 410
 *     Status and the end of the stream, as the API server does.
 * No controllers run: the tests set Job and RayJob status through the status subresource, as
 * they can on a real API server without a controller manager. Only pod logs need the stand-in
 * (`setLog`), because a real one needs a kubelet.
 */

type Obj = Record<string, any>;

interface Resource {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: true;
}

const RESOURCES: Resource[] = [
  { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job', namespaced: true },
  { group: 'ray.io', version: 'v1', plural: 'rayjobs', kind: 'RayJob', namespaced: true },
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true },
];

export interface RecordedRequest {
  /** Who called: Griffin (kubeconfig) or the test playing the cluster's controllers (driverKubeconfig). */
  actor: 'griffin' | 'driver';
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
}

export interface FakeKubeApi {
  server: string;
  token: string;
  /** A kubeconfig file for this server (context namespace: `namespace`). */
  kubeconfig: string;
  /** The same server with another token, for the test's own calls, so that they are told apart in `requests`. */
  driverKubeconfig: string;
  requests: RecordedRequest[];
  get(plural: string, namespace: string, name: string): Obj | undefined;
  list(plural: string): Obj[];
  setLog(namespace: string, pod: string, container: string, text: string): void;
  /** Plays the garbage collector: objects being deleted in the foreground disappear, with their pods. */
  settleDeletions(): void;
  /** Open watch streams, by plural. */
  watches(plural?: string): number;
  /** Ends every open watch stream (a dropped connection, an API server restart). */
  dropWatches(): void;
  /** Forgets the event history: a watch from any version seen so far gets 410 Gone. */
  forgetHistory(): void;
  close(): Promise<void>;
}

const statusBody = (code: number, reason: string, message: string, details?: Obj) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message,
  reason,
  ...(details ? { details } : {}),
  code,
});

function matches(labels: Record<string, string> | undefined, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [key, value] = term.split('=');
    return (labels ?? {})[key.trim()] === value?.trim();
  });
}

export async function startFakeKubeApi(options: { namespace?: string } = {}): Promise<FakeKubeApi> {
  const namespace = options.namespace ?? 'griffin-test';
  const token = crypto.randomBytes(12).toString('hex');
  const driverToken = crypto.randomBytes(12).toString('hex');
  const store = new Map<string, Obj>(); // `${plural}/${namespace}/${name}`
  const logs = new Map<string, string>(); // `${namespace}/${pod}/${container}`
  const requests: RecordedRequest[] = [];
  let resourceVersion = 1000;
  interface Watcher {
    plural: string;
    ns: string;
    selector: string | undefined;
    res: http.ServerResponse;
  }
  const watchers = new Set<Watcher>();
  const history: Array<{ rv: number; plural: string; ns: string; type: string; object: Obj }> = [];
  let historyFrom = 0;
  const emit = (type: string, plural: string, ns: string, object: Obj) => {
    const event = { rv: Number(object.metadata?.resourceVersion ?? resourceVersion), plural, ns, type, object: structuredClone(object) };
    history.push(event);
    for (const w of watchers) {
      if (w.plural === plural && w.ns === ns && matches(object.metadata?.labels, w.selector)) w.res.write(`${JSON.stringify({ type, object })}\n`);
    }
  };

  const key = (plural: string, ns: string, name: string) => `${plural}/${ns}/${name}`;
  const resourceName = (r: Resource) => (r.group ? `${r.plural}.${r.group}` : r.plural);

  const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams.entries());
    const actor = req.headers.authorization === `Bearer ${driverToken}` ? 'driver' : 'griffin';
    const send = (status: number, body: unknown, type = 'application/json') => {
      requests.push({ actor, method: req.method ?? 'GET', path: url.pathname, query, status });
      res.writeHead(status, { 'Content-Type': type });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${token}` && req.headers.authorization !== `Bearer ${driverToken}`) return send(401, statusBody(401, 'Unauthorized', 'Unauthorized'));
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: Obj = {};
    if (chunks.length) {
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return send(400, statusBody(400, 'BadRequest', 'the request body is not JSON'));
      }
    }

    // /api/v1/namespaces/{ns}/{plural}[/{name}[/{sub}]] and /apis/{group}/{version}/namespaces/...
    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m) return send(404, statusBody(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`));
    const [, coreVersion, group = '', groupVersion, ns, plural, name, sub] = m;
    const version = coreVersion ?? groupVersion;
    const resource = RESOURCES.find((r) => r.plural === plural && r.group === group && r.version === version);
    if (!resource) return send(404, statusBody(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`));
    const notFound = () => send(404, statusBody(404, 'NotFound', `${resourceName(resource)} "${name}" not found`, { name, group: resource.group, kind: resource.plural }));

    if (!name) {
      if (req.method === 'POST') {
        const objName = body.metadata?.name;
        if (!objName) return send(422, statusBody(422, 'Invalid', `${resource.kind}.${resource.group} "" is invalid: metadata.name: Required value`));
        // Like the API server, a body without kind/apiVersion takes them from the URL; a different kind is refused.
        if (body.kind && body.kind !== resource.kind) return send(400, statusBody(400, 'BadRequest', `kind ${body.kind} does not match ${resource.kind}`));
        if (store.has(key(plural, ns, objName))) {
          return send(409, statusBody(409, 'AlreadyExists', `${resourceName(resource)} "${objName}" already exists`, { name: objName, group: resource.group, kind: resource.plural }));
        }
        const stored = {
          ...body,
          kind: resource.kind,
          apiVersion: resource.group ? `${resource.group}/${resource.version}` : 'v1',
          metadata: { ...body.metadata, namespace: ns, uid: crypto.randomUUID(), resourceVersion: String(++resourceVersion), creationTimestamp: new Date().toISOString(), generation: 1 },
          status: plural === 'pods' ? { phase: 'Pending' } : {},
        };
        store.set(key(plural, ns, objName), stored);
        emit('ADDED', plural, ns, stored);
        return send(201, stored);
      }
      if (req.method === 'GET' && query.watch === 'true') {
        requests.push({ actor, method: 'GET', path: url.pathname, query, status: 200 });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
        res.flushHeaders(); // the API server answers a watch at once, before any event
        const from = Number(query.resourceVersion || resourceVersion);
        if (from < historyFrom) {
          res.end(`${JSON.stringify({ type: 'ERROR', object: statusBody(410, 'Expired', `too old resource version: ${from} (${historyFrom})`) })}\n`);
          return;
        }
        for (const e of history) {
          if (e.rv > from && e.plural === plural && e.ns === ns && matches(e.object.metadata?.labels, query.labelSelector)) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
        }
        const watcher: Watcher = { plural, ns, selector: query.labelSelector, res };
        watchers.add(watcher);
        res.on('close', () => watchers.delete(watcher));
        return;
      }
      if (req.method === 'GET') {
        const items = [...store.entries()].filter(([k, o]) => k.startsWith(`${plural}/${ns}/`) && matches(o.metadata?.labels, query.labelSelector)).map(([, o]) => o);
        return send(200, { kind: `${resource.kind}List`, apiVersion: resource.group ? `${resource.group}/${resource.version}` : 'v1', metadata: { resourceVersion: String(resourceVersion) }, items });
      }
      return send(405, statusBody(405, 'MethodNotAllowed', 'method not allowed'));
    }

    const existing = store.get(key(plural, ns, name));
    if (sub === 'log' && plural === 'pods' && req.method === 'GET') {
      if (!existing) return notFound();
      const containers: string[] = (existing.spec?.containers ?? []).map((c: Obj) => c.name);
      const container = query.container ?? containers[0];
      const text = logs.get(`${ns}/${name}/${container}`);
      if (text === undefined) return send(400, statusBody(400, 'BadRequest', `container "${container}" in pod "${name}" is waiting to start: ContainerCreating`));
      return send(200, text, 'text/plain');
    }
    if (sub === 'status' && req.method === 'PUT') {
      if (!existing) return notFound();
      existing.status = body.status ?? {};
      existing.metadata.resourceVersion = String(++resourceVersion);
      emit('MODIFIED', plural, ns, existing);
      return send(200, existing);
    }
    if (sub) return send(404, statusBody(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`));
    if (req.method === 'GET') return existing ? send(200, existing) : notFound();
    if (req.method === 'PUT') {
      // Replace: the body becomes the object, keeping its identity (uid, creation time).
      if (!existing) return notFound();
      const replaced = { ...body, kind: resource.kind, apiVersion: existing.apiVersion, metadata: { ...body.metadata, namespace: ns, uid: existing.metadata.uid, creationTimestamp: existing.metadata.creationTimestamp, resourceVersion: String(++resourceVersion) } };
      store.set(key(plural, ns, name), replaced);
      emit('MODIFIED', plural, ns, replaced);
      return send(200, replaced);
    }
    if (req.method === 'DELETE') {
      if (!existing) return notFound();
      const policy = query.propagationPolicy ?? body.propagationPolicy ?? 'Background';
      if (policy === 'Foreground') {
        existing.metadata.deletionTimestamp ??= new Date().toISOString();
        existing.metadata.finalizers = [...new Set([...(existing.metadata.finalizers ?? []), 'foregroundDeletion'])];
        existing.metadata.resourceVersion = String(++resourceVersion);
        emit('MODIFIED', plural, ns, existing);
        return send(200, existing);
      }
      store.delete(key(plural, ns, name));
      existing.metadata.resourceVersion = String(++resourceVersion);
      emit('DELETED', plural, ns, existing);
      return send(200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: resource.group, kind: resource.plural, uid: existing.metadata.uid } });
    }
    return send(405, statusBody(405, 'MethodNotAllowed', 'method not allowed'));
  };

  const server = http.createServer((req, res) => {
    handler(req, res).catch((error) => {
      res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(statusBody(500, 'InternalError', String(error))));
    });
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const serverUrl = `http://127.0.0.1:${port}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-fake-kube-'));
  const writeKubeconfig = (file: string, userToken: string) => fs.writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      // @kubernetes/client-node speaks plain HTTP only with TLS verification switched off.
      `- name: fake\n  cluster:\n    server: ${serverUrl}\n    insecure-skip-tls-verify: true`,
      'users:',
      `- name: griffin\n  user:\n    token: ${userToken}`,
      'contexts:',
      `- name: fake\n  context:\n    cluster: fake\n    user: griffin\n    namespace: ${namespace}`,
      'current-context: fake',
      '',
    ].join('\n'),
  );
  const kubeconfig = path.join(dir, 'kubeconfig');
  const driverKubeconfig = path.join(dir, 'kubeconfig-driver');
  writeKubeconfig(kubeconfig, token);
  writeKubeconfig(driverKubeconfig, driverToken);

  return {
    server: serverUrl,
    token,
    kubeconfig,
    driverKubeconfig,
    requests,
    get: (plural, ns, name) => store.get(key(plural, ns, name)),
    list: (plural) => [...store.entries()].filter(([k]) => k.startsWith(`${plural}/`)).map(([, o]) => o),
    setLog: (ns, pod, container, text) => void logs.set(`${ns}/${pod}/${container}`, text),
    settleDeletions() {
      for (const [k, o] of [...store.entries()]) {
        if (!o.metadata?.deletionTimestamp) continue;
        store.delete(k);
        const [plural, ns] = k.split('/');
        o.metadata.resourceVersion = String(++resourceVersion);
        emit('DELETED', plural, ns, o);
        // Dependents (the pods of a Job) go with it.
        for (const [pk, pod] of [...store.entries()]) {
          if (pk.startsWith(`pods/${ns}/`) && (pod.metadata?.ownerReferences ?? []).some((ref: Obj) => ref.uid === o.metadata.uid)) store.delete(pk);
        }
      }
    },
    watches: (plural) => [...watchers].filter((w) => !plural || w.plural === plural).length,
    dropWatches() {
      for (const w of [...watchers]) w.res.destroy();
      watchers.clear();
    },
    forgetHistory() {
      // As after a compaction: versions before now are gone; a list taken now can be watched from.
      history.length = 0;
      resourceVersion += 1;
      historyFrom = resourceVersion;
    },
    async close() {
      for (const w of [...watchers]) w.res.destroy();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
