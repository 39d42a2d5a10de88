/*
 * The API's objects as the UI reads them: inferred from the same zod views the routes declare and
 * the OpenAPI document (/api/v1/openapi.json) is generated from (server/domain/views.ts), so the
 * UI cannot drift from what the service sends. Type-only imports: nothing of the server is bundled.
 */
import type {
  ApiToken as ApiTokenView,
  ArtifactView,
  BackendStatusView,
  Dataset as DatasetView,
  Feature as FeatureView,
  LineageView,
  Metric as MetricView,
  Model as ModelView,
  Page as PageOf,
  RegisteredModelView,
  RegistryChange,
  RunEvent as RunEventView,
  RunUsageView,
  RunView,
  Runtime as RuntimeView,
  ScheduleFiring,
  ScheduleListItemView,
  TimeContext as TimeContextView,
  VersionView,
  Workflow as WorkflowView,
} from '../../domain/index.ts';

export type Page<T> = PageOf<T>;
export type RunEvent = RunEventView;
export type Run = RunView;
/** A run's usage per attempt and in total (GET /runs/{id}/usage). */
export type RunUsage = RunUsageView;
export type Metric = MetricView;
export type Artifact = ArtifactView;
export type Workflow = WorkflowView;
export type Model = ModelView;
export type Dataset = DatasetView;
export type Feature = FeatureView;
export type Runtime = RuntimeView;
/** A registered model; its detail view adds the aliases and the latest version. */
export type RegisteredModel = Omit<RegisteredModelView, 'aliases' | 'latestVersion'> & Partial<Pick<RegisteredModelView, 'aliases' | 'latestVersion'>>;
export type ModelVersion = VersionView;
export type Lineage = LineageView;
export type ApiToken = ApiTokenView;
export type TimeContext = TimeContextView;
/** One move of an alias (GET /registry/models/{name}/aliases/{alias}/history). */
export type AliasMove = RegistryChange;
export type BackendStatus = BackendStatusView;
export type ScheduleFiringSummary = Pick<ScheduleFiring, 'scheduledAt' | 'kind' | 'outcome' | 'reason' | 'runId' | 'runState'>;
/** A schedule; in the list it also says how its last firing went (null: it has not fired). */
export type Schedule = Omit<ScheduleListItemView, 'lastFiring'> & Partial<Pick<ScheduleListItemView, 'lastFiring'>>;
