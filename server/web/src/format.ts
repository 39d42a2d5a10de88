export function relativeTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const diff = now - Date.parse(iso);
  const future = diff < 0;
  const s = Math.abs(diff) / 1000;
  let text: string;
  // Small clock differences between browser and service should not read as "in the future".
  if (s < 5) return 'just now';
  if (s < 60) text = `${Math.floor(s)} s`;
  else if (s < 3600) text = `${Math.floor(s / 60)} min`;
  else if (s < 86_400) text = `${Math.floor(s / 3600)} h`;
  else text = `${Math.floor(s / 86_400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}

export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function runDuration(run: { startedAt: string | null; finishedAt: string | null }, now = Date.now()): string {
  if (!run.startedAt) return '—';
  return duration((run.finishedAt ? Date.parse(run.finishedAt) : now) - Date.parse(run.startedAt));
}

/**
 * A point in time with its time zone named ("Dec 2, 2026, 03:00:00 GMT+1"): the browser's zone,
 * or `timeZone` (a schedule's, so its fire times read as the cron expression means them).
 */
export function dateTime(iso: string | null | undefined, timeZone?: string): string {
  if (!iso) return '—';
  const d = new Date(iso);
  const options: Intl.DateTimeFormatOptions = { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'short' };
  try {
    return d.toLocaleString(undefined, { ...options, timeZone });
  } catch {
    // A zone this browser does not know: the browser's own, still labelled.
    return d.toLocaleString(undefined, options);
  }
}

export function num(value: unknown, digits = 4): string {
  if (typeof value !== 'number') return value === undefined || value === null ? '—' : String(value);
  if (Number.isInteger(value)) return value.toLocaleString();
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(3);
  return value.toFixed(digits).replace(/\.?0+$/, '');
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function plain(value: unknown): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
