import fs from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import YAML from 'yaml';
import { PROJECT_ROOT } from '../../server/config.ts';

/** Where the shipped RBAC for Griffin's own service account lives, and the service accounts. */
export const SHIPPED_RBAC = path.join(PROJECT_ROOT, 'deploy', 'kubernetes', 'rbac.yaml');
export const SHIPPED_SERVICE_ACCOUNTS = path.join(PROJECT_ROOT, 'deploy', 'kubernetes', 'serviceaccounts.yaml');
/** The node that tests/k8s/cluster.sh registers and KWOK simulates. */
export const SIMULATED_NODE = 'griffin-kwok-0';

const skipped = (part: string) => (process.env.GRIFFIN_TEST_SKIP ?? '').split(',').map((s) => s.trim()).includes(part);

/**
 * The admin kubeconfig of the control plane that tests/k8s/cluster.sh runs. Without it the tests
 * fail with this message rather than skip quietly, unless GRIFFIN_TEST_SKIP names "k8s" on purpose.
 */
export function testKubeconfig(): string | undefined {
  const file = process.env.GRIFFIN_TEST_KUBECONFIG;
  if (file) return file;
  if (skipped('k8s')) return undefined;
  throw new Error(
    'GRIFFIN_TEST_KUBECONFIG is not set: run the suite with `npm test` (tests/setup/ensure.sh runs tests/k8s/cluster.sh up), ' +
      'source ~/.cache/griffin-test/env, or set GRIFFIN_TEST_SKIP=k8s to skip the Kubernetes tests on purpose',
  );
}

/** Whether the KubeRay tests must run: the operator is up, or it was not skipped on purpose (then they fail). */
export function kubeRayExpected(): boolean {
  return process.env.GRIFFIN_TEST_KUBERAY === '1' || !skipped('kuberay');
}

export interface AdminClients {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  batch: k8s.BatchV1Api;
  custom: k8s.CustomObjectsApi;
  objects: k8s.KubernetesObjectApi;
}

export function adminClients(kubeconfig: string): AdminClients {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    batch: kc.makeApiClient(k8s.BatchV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
  };
}

export const statusCode = (error: unknown): number | undefined => (error as { code?: number })?.code;

/** A namespace of its own for a test file; the namespace controller empties it when it is deleted. */
export async function createNamespace(admin: AdminClients, prefix: string): Promise<string> {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  await admin.core.createNamespace({ body: { metadata: { name, labels: { 'griffin.test/suite': prefix } } } });
  return name;
}

export async function deleteNamespace(admin: AdminClients, name: string): Promise<void> {
  await admin.core.deleteNamespace({ name }).catch((error) => {
    if (statusCode(error) !== 404) throw error;
  });
}

type Manifest = Record<string, any>;

const manifests = (file: string): Manifest[] =>
  fs.existsSync(file) ? YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => d.toJS() as Manifest).filter(Boolean) : [];

/** The ServiceAccounts, Role and RoleBinding of deploy/kubernetes/, as shipped. */
export function shippedRbac(): { serviceAccounts: Manifest[]; role: Manifest; roleBinding: Manifest } {
  const docs = [...manifests(SHIPPED_RBAC), ...manifests(SHIPPED_SERVICE_ACCOUNTS)];
  const role = docs.find((d) => d.kind === 'Role');
  const roleBinding = docs.find((d) => d.kind === 'RoleBinding' && d.roleRef?.name === role?.metadata?.name);
  if (!role || !roleBinding) throw new Error(`${SHIPPED_RBAC} must hold a Role and a RoleBinding to it`);
  return { serviceAccounts: docs.filter((d) => d.kind === 'ServiceAccount'), role, roleBinding };
}

/**
 * Creates the shipped RBAC objects in `namespace` (only the namespace is changed), and returns the
 * service account the RoleBinding grants the Role to: the identity Griffin runs as.
 */
export async function applyShippedRbac(admin: AdminClients, namespace: string): Promise<string> {
  const { serviceAccounts, role, roleBinding } = shippedRbac();
  const subject = (roleBinding.subjects ?? []).find((s: Manifest) => s.kind === 'ServiceAccount');
  if (!subject) throw new Error(`the RoleBinding in ${SHIPPED_RBAC} binds no ServiceAccount`);
  const inNamespace = (o: Manifest): Manifest => ({ ...o, metadata: { ...o.metadata, namespace } });
  const accounts = serviceAccounts.some((sa) => sa.metadata.name === subject.name)
    ? serviceAccounts
    : [...serviceAccounts, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: subject.name } }];
  for (const sa of accounts) await admin.objects.create(inNamespace(sa));
  await admin.objects.create(inNamespace(role));
  await admin.objects.create(
    inNamespace({
      ...roleBinding,
      subjects: roleBinding.subjects.map((s: Manifest) => (s.kind === 'ServiceAccount' ? { ...s, namespace } : s)),
    }),
  );
  return subject.name;
}

/**
 * A service account bound to `rules`, for tests of what a narrower grant does. Returns its name.
 */
export async function serviceAccountWithRules(admin: AdminClients, namespace: string, name: string, rules: Manifest[]): Promise<string> {
  await admin.objects.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } });
  await admin.objects.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name, namespace }, rules });
  await admin.objects.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace }],
  });
  return name;
}

/**
 * A kubeconfig file that authenticates as `serviceAccount` with a token from the TokenRequest API
 * (what a pod's projected token is), against the same API server as the admin kubeconfig.
 */
export async function serviceAccountKubeconfig(admin: AdminClients, namespace: string, serviceAccount: string, dir: string): Promise<string> {
  const request = await admin.core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const token = request.status?.token;
  if (!token) throw new Error(`no token for ${namespace}/${serviceAccount}`);
  const cluster = admin.kc.getCurrentCluster()!;
  const file = path.join(dir, `${serviceAccount}.kubeconfig`);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster.name, cluster: { server: cluster.server, 'certificate-authority': cluster.caFile } }],
    users: [{ name: serviceAccount, user: { token } }],
    contexts: [{ name: serviceAccount, context: { cluster: cluster.name, user: serviceAccount, namespace } }],
    'current-context': serviceAccount,
  };
  fs.writeFileSync(file, YAML.stringify(config), { mode: 0o600 });
  return file;
}

/** Polls `read` until `done` holds; the error names what was awaited and the last value seen. */
export async function eventually<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (done(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(last)?.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A named object, or undefined once it is gone (404). */
export async function readOrGone<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (statusCode(error) === 404) return undefined;
    throw error;
  }
}
