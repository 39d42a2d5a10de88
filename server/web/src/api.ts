/*
 * The only module that talks to the service: the public /api/v1 with the signed-in bearer token.
 * Every failure becomes an ApiError carrying the API's own message and field, so pages can show
 * it next to the input it names.
 */

const TOKEN_KEY = 'griffin.token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const tokenStore = {
  get: (): string | null => localStorage.getItem(TOKEN_KEY),
  set: (token: string) => localStorage.setItem(TOKEN_KEY, token),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

type UnauthorizedHandler = (message: string) => void;
let onUnauthorized: UnauthorizedHandler = () => {};

/** The app installs this once: a 401 anywhere returns the user to the sign-in page. */
export function setUnauthorizedHandler(handler: UnauthorizedHandler): void {
  onUnauthorized = handler;
}

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Used by sign-in: a 401 there is an answer, not a reason to leave the page. */
  noAuthRedirect?: boolean;
  token?: string;
}

async function send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
  const token = options.token ?? tokenStore.get();
  const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    // GETs revalidate: the browser sends the ETag it holds, and a run or alias that has not changed
    // since the last poll costs the service a 304 and no body (the page still sees a 200).
    res = await fetch(`/api/v1${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body), cache: method === 'GET' ? 'no-cache' : undefined });
  } catch {
    throw new ApiError(0, 'unreachable', 'Cannot reach the Griffin service. Is it running?');
  }
  if (res.ok) return res;
  let code = 'http_error';
  let message = `${method} ${path} answered HTTP ${res.status}`;
  let field: string | undefined;
  try {
    const payload = await res.json();
    if (payload?.error) {
      code = payload.error.code ?? code;
      message = payload.error.message ?? message;
      field = payload.error.field;
    }
  } catch {
    // not JSON (a proxy's page, say): keep the generic message
  }
  if (res.status === 429) {
    const retry = res.headers.get('Retry-After');
    if (retry) message += ` (retry in ${retry} s)`;
  }
  const error = new ApiError(res.status, code, message, field);
  if (res.status === 401 && !options.noAuthRedirect) onUnauthorized(message);
  throw error;
}

export async function api<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const res = await send(method, path, options);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const get = <T = any>(path: string) => api<T>('GET', path);
export const post = <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => api<T>('POST', path, { body: body ?? {}, headers });
export const put = <T = any>(path: string, body?: unknown) => api<T>('PUT', path, { body: body ?? {} });
export const del = <T = any>(path: string) => api<T>('DELETE', path);

/** Downloads with the bearer token (a plain link would not carry it). */
export async function download(path: string, filename: string): Promise<void> {
  const res = await send('GET', path, { headers: { Accept: '*/*' } });
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const enc = encodeURIComponent;

/**
 * The error's message without the field's path in front ("timeoutSeconds: ", or
 * "overrides.hyperparameters.epochs must be ..."), for display next to the field, which is labelled.
 */
export function fieldMessage(error: ApiError): string {
  const f = error.field;
  if (f && error.message.startsWith(`${f}: `)) return error.message.slice(f.length + 2);
  if (f && error.message.startsWith(`${f} `)) return error.message.slice(f.length + 1);
  return error.message;
}

export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
