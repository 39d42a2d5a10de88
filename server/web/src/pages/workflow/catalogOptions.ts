import { get } from '../../api';
import { useLoad } from '../../hooks';
import type { Dataset, Model, Page, Runtime } from '../../types';

/** The Model Store's models, datasets and runtimes for the workflow form's pickers. */
export function useCatalogOptions() {
  const models = useLoad(() => get<Page<Model>>('/models?limit=500'), []);
  const datasets = useLoad(() => get<Page<Dataset>>('/datasets?limit=500'), []);
  const runtimes = useLoad(() => get<Page<Runtime>>('/runtimes'), []);
  const refs = (items: { name: string; version: number }[] | undefined) =>
    [...(items ?? [])].sort((a, b) => a.name.localeCompare(b.name) || b.version - a.version).map((i) => `${i.name}@${i.version}`);
  return { models: refs(models.data?.items), datasets: refs(datasets.data?.items), runtimes: runtimes.data?.items ?? [], error: models.error ?? datasets.error ?? runtimes.error };
}
