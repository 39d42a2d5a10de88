import fs from 'node:fs';
import path from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import YAML from 'yaml';

export const K8S_SCHEMA_VERSION = '1.34.0';
export const KUBERAY_VERSION = 'v1.5.0';

/**
 * The reference schemas fetched by tests/setup/schemas.sh (GRIFFIN_TEST_SCHEMAS). Without them
 * the manifest tests fail with this message, unless GRIFFIN_TEST_SKIP names "schemas" on purpose.
 */
export function schemaDir(): string | undefined {
  const dir = process.env.GRIFFIN_TEST_SCHEMAS;
  if (dir) return dir;
  if ((process.env.GRIFFIN_TEST_SKIP ?? '').split(',').map((s) => s.trim()).includes('schemas')) return undefined;
  throw new Error('GRIFFIN_TEST_SCHEMAS is not set: run `npm test` (tests/setup/ensure.sh fetches the Kubernetes and KubeRay schemas), or bash tests/setup/schemas.sh and source ~/.cache/griffin-test/env; GRIFFIN_TEST_SKIP=schemas skips on purpose');
}

export type Validate = (document: unknown) => string[];

const describe = (errors: ErrorObject[] | null | undefined): string[] =>
  (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}${e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})` : ''}`);

/** Validators for Kubernetes kinds, from the "strict" definitions: unknown fields are errors, as with fieldValidation=Strict. */
export function kubernetesValidators(dir: string): (definition: string) => Validate {
  const defs = JSON.parse(fs.readFileSync(path.join(dir, `kubernetes-v${K8S_SCHEMA_VERSION}-strict.json`), 'utf8')) as { $id: string };
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema(defs);
  return (definition) => {
    const validate = ajv.getSchema(`${defs.$id}#/$defs/${definition}`) as ValidateFunction | undefined;
    if (!validate) throw new Error(`no definition ${definition} in the Kubernetes ${K8S_SCHEMA_VERSION} schema`);
    return (document) => (validate(document) ? [] : describe(validate.errors));
  };
}

/**
 * The structural schema of KubeRay's RayJob CRD (ray.io/v1). The API server prunes unknown fields
 * of custom resources silently (or refuses them with fieldValidation=Strict, as Griffin asks), so
 * every object that lists its properties is closed here: a misspelt field is an error.
 */
export function rayJobValidator(dir: string): Validate {
  const crd = YAML.parse(fs.readFileSync(path.join(dir, `kuberay-${KUBERAY_VERSION}`, 'ray.io_rayjobs.yaml'), 'utf8'));
  const version = crd.spec.versions.find((v: { name: string }) => v.name === 'v1');
  const schema = close(structuredClone(version.schema.openAPIV3Schema));
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  const validate = ajv.compile(schema);
  return (document) => (validate(document) ? [] : describe(validate.errors));
}

function close(node: any): any {
  if (Array.isArray(node)) return node.map(close);
  if (!node || typeof node !== 'object') return node;
  for (const [k, v] of Object.entries(node)) node[k] = close(v);
  if (node.properties && node.additionalProperties === undefined && !node['x-kubernetes-preserve-unknown-fields']) node.additionalProperties = false;
  return node;
}
