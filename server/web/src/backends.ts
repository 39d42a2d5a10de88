import { get } from './api';
import { useLoad } from './hooks';
import type { BackendStatus, Page } from './types';

export const BACKENDS = ['local', 'ray', 'kubernetes', 'kuberay'] as const;

/**
 * Which backends this server runs (GET /backends), so forms mark the others before anything is
 * submitted. An older service without the route counts every backend as configured.
 */
export function useBackends(): { status: (name: string) => BackendStatus | undefined; loaded: boolean } {
  const loaded = useLoad(() => get<Page<BackendStatus>>('/backends'), []);
  const items = loaded.data?.items;
  return { status: (name) => items?.find((b) => b.name === name), loaded: Boolean(items) || Boolean(loaded.error) };
}

/** The option text for a backend: its name, and "not configured" when the server lacks it. */
export const backendLabel = (name: string, status?: BackendStatus) => (status && !status.configured ? `${name} (not configured)` : name);
