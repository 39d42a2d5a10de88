import type { InputModelRef, RunOverridesInput } from '../domain/index.ts';
import { NotFound, Unprocessable } from '../errors.ts';
import type { RegistryStore } from '../store/registryStore.ts';

/**
 * Which registered model version a run reads (batch scoring). Resolved once, when the run is
 * submitted, and kept in the run's spec: moving the alias later never changes what a run used.
 */
export async function resolveInputModel(
  registry: RegistryStore,
  wanted: { name: string; alias: string } | undefined,
  overrides: RunOverridesInput,
  fieldPrefix: string,
): Promise<InputModelRef | null> {
  if (!wanted) {
    if (overrides.inputModel) throw new Unprocessable('this workflow reads no input model; overrides.inputModel has nothing to choose', 'overrides.inputModel');
    return null;
  }
  const model = await registry.getModel(wanted.name);
  if (!model) throw new NotFound(`registered model "${wanted.name}" does not exist; register a version of it first`, `${fieldPrefix}inputModel.name`);
  let version: number | undefined;
  let alias: string | null = null;
  if (overrides.inputModel?.version !== undefined) {
    version = overrides.inputModel.version;
  } else {
    alias = overrides.inputModel?.alias ?? wanted.alias;
    version = (await registry.aliases(model.id))[alias];
    if (version === undefined) {
      const field = overrides.inputModel?.alias ? 'overrides.inputModel.alias' : `${fieldPrefix}inputModel.alias`;
      throw new Unprocessable(
        `registered model "${wanted.name}" has no alias "${alias}"; promote a version (PUT /api/v1/registry/models/${wanted.name}/aliases/${alias}) or give overrides.inputModel.version`,
        field,
      );
    }
  }
  const found = await registry.getVersion(wanted.name, version);
  if (!found) throw new NotFound(`registered model "${wanted.name}" has no version ${version}`, 'overrides.inputModel.version');
  return { name: found.name, version: found.version, alias, artifactUri: found.artifactUri, runId: found.runId };
}
