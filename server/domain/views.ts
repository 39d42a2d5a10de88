import { z } from 'zod';
import { Artifact, Metric, ModelVersion, Run, RunEvent } from './entities.ts';

/*
 * Response views: what the API returns, as zod schemas. Routes declare them (api/route.ts), the
 * OpenAPI document carries them, and the web client's types are inferred from them.
 */

export const pageOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextPageToken: z.string().nullable() });

const Link = z.string().describe('absolute URL');
const VersionRef = z.object({ name: z.string(), version: z.number().int() });

export const RunView = Run.omit({
  leaseOwner: true,
  leaseExpiresAt: true,
  requestHash: true,
  idempotencyGeneration: true,
  workflowName: true,
  workflowVersion: true,
  registeredModel: true,
  registeredVersion: true,
  triggerInfo: true,
}).extend({
  terminal: z.boolean(),
  workflow: VersionRef.nullable(),
  airflow: z.record(z.string(), z.unknown()).nullable(),
  schedule: z.record(z.string(), z.unknown()).nullable(),
  url: Link,
  airflowUrl: Link.nullable(),
  artifactUri: Link,
  modelVersion: VersionRef.nullable(),
  /** Detail views only: the latest point of each metric key. */
  latestMetrics: z.record(z.string(), Metric.omit({ key: true })).optional(),
  /** Detail views only: every state change. */
  events: z.array(RunEvent).optional(),
});
export type RunView = z.infer<typeof RunView>;

export const VersionView = ModelVersion.omit({ id: true }).extend({ url: Link });
export type VersionView = z.infer<typeof VersionView>;

export const ArtifactView = Artifact.extend({ uri: Link });
export type ArtifactView = z.infer<typeof ArtifactView>;
