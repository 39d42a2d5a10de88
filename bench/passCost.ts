import type { Knex } from 'knex';
import { median, round, type Row } from './lib.ts';

/** What one worker pass cost: this process's CPU (the SQLite driver's threads included), wall time, database queries. */
export interface PassCost {
  cpuMs: number;
  wallMs: number;
  queries: number;
}

export interface PassMeter {
  /** One pass, measured. */
  measure(pass: () => Promise<unknown>): Promise<PassCost>;
  /** A warm-up pass, then the median of `passes` measured ones. */
  repeat(pass: () => Promise<unknown>): Promise<PassCost>;
}

/** Measures passes against `db`, counting its queries through Knex's `query` event. */
export function passMeter(db: Knex, passes: number): PassMeter {
  let queries = 0;
  db.on('query', () => (queries += 1));
  const measure = async (pass: () => Promise<unknown>): Promise<PassCost> => {
    const q0 = queries;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await pass();
    const wallMs = performance.now() - t0;
    const c = process.cpuUsage(c0);
    return { cpuMs: (c.user + c.system) / 1000, wallMs, queries: queries - q0 };
  };
  const repeat = async (pass: () => Promise<unknown>): Promise<PassCost> => {
    await pass(); // warm caches and the connection pool
    const costs: PassCost[] = [];
    for (let i = 0; i < passes; i += 1) costs.push(await measure(pass));
    return { cpuMs: median(costs.map((c) => c.cpuMs)), wallMs: median(costs.map((c) => c.wallMs)), queries: median(costs.map((c) => c.queries)) };
  };
  return { measure, repeat };
}

/** A bench row of a pass's CPU beside the floor of any level-triggered pass: reading the in-flight runs alone. */
export function passRow(section: string, figure: string, cost: PassCost, floor: PassCost, note?: string): Row {
  return {
    section,
    figure,
    griffin: { value: round(cost.cpuMs, 1), unit: 'ms CPU', cpuMs: round(cost.cpuMs, 1)!, wallMs: round(cost.wallMs, 1)!, queries: cost.queries },
    baseline: { what: 'listInFlight alone', value: round(floor.cpuMs, 1), unit: 'ms CPU', cpuMs: round(floor.cpuMs, 1)!, wallMs: round(floor.wallMs, 1)!, queries: floor.queries },
    ratio: round(cost.cpuMs / floor.cpuMs, 2),
    note,
  };
}
