import type { ApiException, BatchV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, V1Job, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { KubeObject, ListPage, OpenWatch, WatchEvent } from './kubeInformer.ts';
import { RETRY_BUDGETS, withRetry, type RetryBudget } from './retry.ts';

export const RAYJOB = { group: 'ray.io', version: 'v1', plural: 'rayjobs' } as const;

/** The API server refused a request for a reason that retrying will not fix (400, 403, 422, ...). */
export class KubeApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly reason: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** The message of a Kubernetes Status body (what `kubectl` prints), e.g. 'jobs.batch "x" is forbidden: ...'. */
function statusMessage(error: ApiException<unknown>): { reason?: string; message: string } {
  let body: unknown = error.body;
  if (typeof body === 'string') {
    const text = body;
    try {
      body = JSON.parse(text);
    } catch {
      return { message: text.slice(0, 500) || `HTTP ${error.code}` };
    }
  }
  const status = body as { reason?: string; message?: string } | undefined;
  return { reason: status?.reason, message: status?.message ?? `HTTP ${error.code}` };
}

// @kubernetes/client-node's ApiException, told apart without importing the library up front.
const isApiException = (error: unknown): error is ApiException<unknown> =>
  error instanceof Error && typeof (error as { code?: unknown }).code === 'number' && 'body' in error && 'headers' in error;

/** Refusals a retry cannot fix become KubeApiError; transient failures stay as they are for isTransient(). */
function translate(error: unknown): unknown {
  if (isApiException(error) && error.code < 500 && error.code !== 429) {
    const { reason, message } = statusMessage(error);
    return new KubeApiError(error.code, reason, `the Kubernetes API refused the request (${error.code}${reason ? ` ${reason}` : ''}): ${message}`);
  }
  return error;
}

const isApiError = (error: unknown, code?: number): error is ApiException<unknown> => isApiException(error) && (code === undefined || error.code === code);

interface Apis {
  config: KubeConfig;
  watch: (path: string, query: Record<string, string | boolean | number>, onEvent: (type: string, object: unknown) => void, done: (error: unknown) => void) => Promise<AbortController>;
  batch: BatchV1Api;
  core: CoreV1Api;
  custom: CustomObjectsApi;
}

/**
 * The few Kubernetes API calls the kubernetes and kuberay executors make, through
 * @kubernetes/client-node, with the retry policy of retry.ts. 404 is an answer here (undefined),
 * 409 on create means "exists" (adopt), and other refusals become KubeApiError.
 */
export class KubeClient {
  private apis: Promise<Apis> | undefined;
  private loadedServer: string | undefined;

  /**
   * `kubeconfig`: a kubeconfig file; without it, in-cluster credentials when running in a pod, or
   * ~/.kube/config. The client library (a second to import) and the credentials are loaded on
   * first use, so a service that never runs on Kubernetes does not pay for them at start.
   */
  constructor(private readonly kubeconfig?: string) {}

  static load(kubeconfig?: string): KubeClient {
    return new KubeClient(kubeconfig);
  }

  /** The API server URL once known, for messages. */
  get server(): string {
    return this.loadedServer ?? (this.kubeconfig ? `the cluster of ${this.kubeconfig}` : 'the in-cluster API server');
  }

  private connect(): Promise<Apis> {
    this.apis ??= (async () => {
      const k8s = await import('@kubernetes/client-node');
      const config = new k8s.KubeConfig();
      if (this.kubeconfig && !this.kubeconfig.includes(':')) config.loadFromFile(this.kubeconfig);
      else config.loadFromDefault();
      this.loadedServer = config.getCurrentCluster()?.server;
      const watcher = new k8s.Watch(config);
      return {
        config,
        watch: (path, query, onEvent, done) => watcher.watch(path, query, onEvent, done),
        batch: config.makeApiClient(k8s.BatchV1Api),
        core: config.makeApiClient(k8s.CoreV1Api),
        custom: config.makeApiClient(k8s.CustomObjectsApi),
      };
    })();
    return this.apis;
  }

  /** Loads the credentials now (at start), so that a broken kubeconfig is reported early. */
  async check(): Promise<string> {
    await this.connect();
    return this.server;
  }

  private async call<T>(request: () => Promise<T>, budget: RetryBudget, notFound?: () => T): Promise<T> {
    try {
      return await withRetry(request, budget);
    } catch (error) {
      if (notFound && isApiError(error, 404)) return notFound();
      throw translate(error);
    }
  }

  /** Creates a Job; 'exists' when one of that name is there already (409 AlreadyExists). */
  async createJob(namespace: string, body: V1Job): Promise<'created' | 'exists'> {
    try {
      await withRetry(async () => (await this.connect()).batch.createNamespacedJob({ namespace, body, fieldValidation: 'Strict' }), RETRY_BUDGETS.launch);
      return 'created';
    } catch (error) {
      if (isApiError(error, 409)) return 'exists';
      throw translate(error);
    }
  }

  readJob(namespace: string, name: string): Promise<V1Job | undefined> {
    return this.call(async () => (await this.connect()).batch.readNamespacedJob({ namespace, name }), RETRY_BUDGETS.poll, () => undefined);
  }

  /** Deletes a Job and, first, its pods (Foreground); a Job that is gone already is fine. */
  async deleteJob(namespace: string, name: string): Promise<void> {
    await this.call(async () => void (await (await this.connect()).batch.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Foreground' })), RETRY_BUDGETS.poll, () => undefined);
  }

  async listPods(namespace: string, labelSelector: string): Promise<V1Pod[]> {
    return this.call(async () => (await (await this.connect()).core.listNamespacedPod({ namespace, labelSelector })).items, RETRY_BUDGETS.poll);
  }

  /** A container's log; empty while the container has not started (400) or when the pod is gone (404). */
  async podLog(namespace: string, name: string, container: string): Promise<string> {
    try {
      return await this.call(async () => (await this.connect()).core.readNamespacedPodLog({ namespace, name, container }), RETRY_BUDGETS.poll, () => '');
    } catch (error) {
      if (error instanceof KubeApiError && error.statusCode === 400) return '';
      throw error;
    }
  }

  /**
   * Creates a Secret, or replaces the data of the one of that name (a relaunch of the run). The
   * body holds secret values: it is never logged, and errors carry only the API's status text.
   */
  async applySecret(namespace: string, body: V1Secret): Promise<void> {
    const name = body.metadata!.name!;
    try {
      await withRetry(async () => (await this.connect()).core.createNamespacedSecret({ namespace, body, fieldValidation: 'Strict' }), RETRY_BUDGETS.launch);
    } catch (error) {
      if (!isApiError(error, 409)) throw translate(error);
      await this.call(async () => (await this.connect()).core.replaceNamespacedSecret({ namespace, name, body, fieldValidation: 'Strict' }), RETRY_BUDGETS.launch);
    }
  }

  /** A Secret that is gone already is fine. */
  async deleteSecret(namespace: string, name: string): Promise<void> {
    await this.call(async () => void (await (await this.connect()).core.deleteNamespacedSecret({ namespace, name })), RETRY_BUDGETS.poll, () => undefined);
  }

  async createCustom(namespace: string, kind: typeof RAYJOB, body: Record<string, unknown>): Promise<'created' | 'exists'> {
    try {
      await withRetry(async () => (await this.connect()).custom.createNamespacedCustomObject({ ...kind, namespace, body, fieldValidation: 'Strict' }), RETRY_BUDGETS.launch);
      return 'created';
    } catch (error) {
      if (isApiError(error, 409)) return 'exists';
      throw translate(error);
    }
  }

  readCustom(namespace: string, kind: typeof RAYJOB, name: string): Promise<Record<string, any> | undefined> {
    return this.call(async () => (await this.connect()).custom.getNamespacedCustomObject({ ...kind, namespace, name }), RETRY_BUDGETS.poll, () => undefined);
  }

  async deleteCustom(namespace: string, kind: typeof RAYJOB, name: string): Promise<void> {
    await this.call(async () => void (await (await this.connect()).custom.deleteNamespacedCustomObject({ ...kind, namespace, name, propagationPolicy: 'Foreground' })), RETRY_BUDGETS.poll, () => undefined);
  }

  /** One page of the Jobs matching `labelSelector`, for an informer's list. */
  async listJobs(namespace: string, labelSelector: string, continueToken: string | undefined, limit = LIST_PAGE): Promise<ListPage> {
    const list = await this.call(async () => (await this.connect()).batch.listNamespacedJob({ namespace, labelSelector, limit, _continue: continueToken }), RETRY_BUDGETS.poll);
    return { items: list.items as unknown as KubeObject[], resourceVersion: list.metadata?.resourceVersion ?? '', continueToken: list.metadata?._continue };
  }

  /** One page of the custom objects matching `labelSelector`, for an informer's list. */
  async listCustom(namespace: string, kind: typeof RAYJOB, labelSelector: string, continueToken: string | undefined, limit = LIST_PAGE): Promise<ListPage> {
    const list = (await this.call(async () => (await this.connect()).custom.listNamespacedCustomObject({ ...kind, namespace, labelSelector, limit, _continue: continueToken }), RETRY_BUDGETS.poll)) as {
      items?: KubeObject[];
      metadata?: { resourceVersion?: string; continue?: string };
    };
    return { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? '', continueToken: list.metadata?.continue };
  }

  /**
   * Watches a collection (`/apis/batch/v1/namespaces/ns/jobs`) from `resourceVersion`. Resolves
   * once the API server has answered; a refusal (410 Gone when that version is too old, 403)
   * rejects with the status code as `statusCode`.
   */
  async watch(path: string, labelSelector: string, resourceVersion: string, onEvent: (event: WatchEvent) => void): Promise<OpenWatch> {
    const apis = await this.connect();
    let settle!: { resolve: () => void; reject: (error: unknown) => void };
    const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    done.catch(() => undefined); // a failure before the caller awaits `done` is thrown below instead
    let failed: unknown;
    const controller = await apis.watch(
      path,
      // The server ends the watch after WATCH_SECONDS and it is reopened: a connection that died silently is not kept for ever.
      { labelSelector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: WATCH_SECONDS },
      (type, object) => onEvent({ type, object: object as WatchEvent['object'] }),
      (error) => {
        // An abort of ours ends the stream with an AbortError: that is a clean end.
        if (error && (error as { name?: string }).name !== 'AbortError') {
          failed = error;
          settle.reject(error);
        } else settle.resolve();
      },
    );
    if (failed) throw failed;
    return { done, abort: () => controller.abort() };
  }
}

const WATCH_SECONDS = 300;

/** Objects per list page: an informer's first list of 10,000 Jobs is 20 requests, not one 50 MB answer. */
const LIST_PAGE = 500;
