// Small API helper for tests/k8s/cluster.sh (the machine may have no kubectl): applies manifests,
// creates the simulated node and waits for it, through @kubernetes/client-node.
//
//   node tests/k8s/kube.mjs --kubeconfig FILE apply FILE_OR_DIR...   server-side apply; waits for CRDs
//   node tests/k8s/kube.mjs --kubeconfig FILE ensure-node NAME       the node KWOK manages
//   node tests/k8s/kube.mjs --kubeconfig FILE node-ready NAME        exit 0 when the node is Ready
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';

const args = process.argv.slice(2);
const at = args.indexOf('--kubeconfig');
if (at < 0 || !args[at + 1]) fail('usage: kube.mjs --kubeconfig FILE apply|ensure-node|node-ready ...');
const kubeconfigPath = args[at + 1];
args.splice(at, 2);
const [command, ...rest] = args;

const kc = new k8s.KubeConfig();
kc.loadFromFile(kubeconfigPath);
const core = kc.makeApiClient(k8s.CoreV1Api);

function fail(message) {
  console.error(`[k8s] ${message}`);
  process.exit(1);
}

const statusOf = (error) => error?.code ?? error?.statusCode ?? error?.response?.statusCode;

function manifestFiles(paths) {
  return paths.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(p, f))
      : [p],
  );
}

async function apply(paths) {
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const crds = [];
  for (const file of manifestFiles(paths)) {
    // loadAllYaml deserialises into the library's typed models, which patch() serialises back: a
    // plain object would lose fields such as x-kubernetes-int-or-string on the way.
    for (const spec of k8s.loadAllYaml(readFileSync(file, 'utf8'))) {
      if (!spec?.kind) continue;
      // Server-side apply: CRDs such as RayJob are far too large for kubectl's last-applied annotation.
      await objects.patch(spec, undefined, undefined, 'griffin-test-cluster', true, k8s.PatchStrategy.ServerSideApply);
      if (spec.kind === 'CustomResourceDefinition') crds.push(spec.metadata.name);
    }
  }
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  for (const name of crds) {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const crd = await ext.readCustomResourceDefinition({ name });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) fail(`CRD ${name} not Established after 60 s`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  console.error(`[k8s] applied ${paths.join(' ')}${crds.length ? ` (${crds.length} CRDs established)` : ''}`);
}

async function ensureNode(name) {
  // Status may be set when a node is created; KWOK keeps the capacity given here. The GPU capacity
  // lets runs that ask for nvidia.com/gpu be scheduled too.
  const capacity = { cpu: '32', memory: '256Gi', pods: '110', 'nvidia.com/gpu': '4' };
  const body = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: { type: 'kwok', 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' },
    },
    status: { capacity, allocatable: capacity },
  };
  try {
    await core.createNode({ body });
    console.error(`[k8s] node ${name} created`);
  } catch (error) {
    if (statusOf(error) !== 409) throw error;
  }
}

const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';

/**
 * Ready, and schedulable: the API server taints every new node not-ready (TaintNodesByCondition)
 * and the node lifecycle controller lifts the taint once the node reports Ready. That controller
 * does not run here (it would evict pods whenever a busy machine delays KWOK's heartbeats), so
 * this lifts it instead, once KWOK has made the node Ready.
 */
async function nodeReady(name) {
  const node = await core.readNode({ name });
  const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
  if (!ready) process.exit(3);
  if (node.spec?.taints?.some((t) => t.key === NOT_READY_TAINT)) {
    node.spec.taints = node.spec.taints.filter((t) => t.key !== NOT_READY_TAINT);
    try {
      await core.replaceNode({ name, body: node });
    } catch (error) {
      if (statusOf(error) === 409) process.exit(3); // changed meanwhile: the next call tries again
      throw error;
    }
  }
  process.exit(0);
}

try {
  if (command === 'apply') await apply(rest);
  else if (command === 'ensure-node') await ensureNode(rest[0]);
  else if (command === 'node-ready') await nodeReady(rest[0]);
  else fail(`unknown command ${command}`);
} catch (error) {
  fail(`${command} failed: ${error?.body ?? error?.message ?? error}`);
}
