import { actorOf } from '../../services/registryService.ts';
import type { Principal } from '../../domain/index.ts';
import { MlflowError, PARENT_RUN_TAG } from '../../services/mlflowModel.ts';
import type { MlflowService } from '../../services/mlflowService.ts';
import { defineMlflowRoute, type MlflowRouteDef } from './mount.ts';
import * as S from './schemas.ts';

const V2 = '/api/2.0/mlflow';
const ARTIFACTS = '/api/2.0/mlflow-artifacts/artifacts';

/** Experiment metadata (workflow names) is readable by any run's token: the client looks up its experiment. */
const ownRunOnly = ({ principal }: { principal: Principal }) => (principal.kind === 'run' ? principal.runId : undefined);
const runOfBody = ({ body }: { body: { runId: string } }) => body.runId;
/** A create writes into the run it is nested in: the parent the tags name, else a run token's own run. */
const parentOfCreate = ({ body, principal }: { body: { tags: Array<{ key: string; value: string }> }; principal: Principal }) =>
  body.tags.find((t) => t.key === PARENT_RUN_TAG)?.value ?? (principal.kind === 'run' ? principal.runId : undefined);
const runOfQuery = ({ query }: { query: { runId: string } }) => query.runId;
const artifactPathOf = (raw: unknown): string => (Array.isArray(raw) ? raw.join('/') : String(raw));

export function mlflowRoutes(mlflow: MlflowService): MlflowRouteDef[] {
  const runOfArtifactPath = ({ params }: { params: Record<string, unknown> }) => mlflow.parseArtifactPath(artifactPathOf(params.path)).runId;
  const runOfLoggedModel = ({ params }: { params: Record<string, unknown> }) => mlflow.runOfLoggedModel(S.LoggedModelParams.parse(params).model_id);
  return [
    // ---- experiments
    defineMlflowRoute({ method: 'get', path: `${V2}/experiments/get`, summary: 'An experiment: Default (inline runs), a workflow, or a named experiment.', role: 'viewer', runScope: ownRunOnly, query: S.ExperimentIdQuery, response: S.ExperimentReply, handler: async ({ query }) => ({ experiment: await mlflow.getExperiment(query.experiment_id) }) }),
    defineMlflowRoute({ method: 'get', path: `${V2}/experiments/get-by-name`, summary: 'An experiment by name.', role: 'viewer', runScope: ownRunOnly, query: S.ExperimentNameQuery, response: S.ExperimentReply, handler: async ({ query }) => ({ experiment: await mlflow.getExperimentByName(query.experiment_name) }) }),
    defineMlflowRoute({ method: 'post', path: `${V2}/experiments/create`, summary: 'Create a named experiment; workflow names and Default are taken.', role: 'editor', body: S.ExperimentCreate, response: S.ExperimentCreated, handler: async ({ body }) => ({ experiment_id: await mlflow.createExperiment(body.name) }) }),
    defineMlflowRoute({ method: 'post', path: `${V2}/experiments/search`, summary: "Every experiment (filter: name='x' only).", role: 'viewer', runScope: ownRunOnly, body: S.ExperimentSearch, response: S.ExperimentsReply, handler: async ({ body }) => ({ experiments: await mlflow.searchExperiments(body.max_results, body.filter) }) }),
    // ---- runs
    defineMlflowRoute({
      method: 'post',
      path: `${V2}/runs/create`,
      summary: "An external run (no backend executes it; runs/update ends it): nested in the mlflow.parentRunId tag's run, and a run token's always in its own run. MLflow inside a Griffin run resumes that run (MLFLOW_RUN_ID) instead.",
      role: 'editor',
      runScope: parentOfCreate,
      body: S.RunCreate,
      response: S.RunReply,
      handler: async ({ body, principal }) => ({
        run: await mlflow.createRun(
          { experimentId: body.experiment_id, startTime: body.start_time, runName: body.run_name, tags: body.tags },
          principal.kind === 'run' ? { user: `run ${principal.runId}`, parentRunId: principal.runId } : { user: principal.name },
        ),
      }),
    }),
    defineMlflowRoute({ method: 'get', path: `${V2}/runs/get`, summary: 'A run with its latest metrics, params (hyperparameters and logged) and tags.', role: 'viewer', runScope: runOfQuery, query: S.RunGetQuery, response: S.RunReply, handler: async ({ query }) => ({ run: await mlflow.getRun(query.runId) }) }),
    defineMlflowRoute({ method: 'post', path: `${V2}/runs/update`, summary: "Rename a run; FINISHED, FAILED or KILLED end an external run (a run Griffin launched keeps its backend's state).", role: 'editor', runScope: runOfBody, body: S.RunUpdate, response: S.RunInfoReply, handler: async ({ body }) => ({ run_info: await mlflow.updateRun(body.runId, { runName: body.run_name, status: body.status }) }) }),
    defineMlflowRoute({ method: 'post', path: `${V2}/runs/search`, summary: 'Runs of experiments, newest first (no filter expressions).', role: 'viewer', body: S.RunSearch, response: S.RunsReply, handler: async ({ body }) => {
      const { runs, nextPageToken } = await mlflow.searchRuns({ experimentIds: body.experiment_ids, filter: body.filter, maxResults: body.max_results, pageToken: body.page_token });
      return { runs, ...(nextPageToken ? { next_page_token: nextPageToken } : {}) };
    } }),
    defineMlflowRoute({ method: 'post', path: `${V2}/runs/log-metric`, summary: 'Append one metric point (stored at once).', role: 'editor', runScope: runOfBody, body: S.LogMetric, response: S.Empty, handler: async ({ body }) => {
      await mlflow.logBatch(body.runId, { metrics: [{ key: body.key, value: body.value, step: body.step ?? 0, timestamp: body.timestamp ?? Date.now() }] });
      return {};
    } }),
    defineMlflowRoute({ method: 'post', path: `${V2}/runs/log-parameter`, summary: 'Log a param; another value for a logged param or a hyperparameter is refused.', role: 'editor', runScope: runOfBody, body: S.LogParam, response: S.Empty, handler: async ({ body }) => {
      await mlflow.logBatch(body.runId, { params: [{ key: body.key, value: body.value }] });
      return {};
    } }),
    defineMlflowRoute({ method: 'post', path: `${V2}/runs/set-tag`, summary: 'Set a run tag.', role: 'editor', runScope: runOfBody, body: S.SetTag, response: S.Empty, handler: async ({ body }) => {
      await mlflow.logBatch(body.runId, { tags: [{ key: body.key, value: body.value }] });
      return {};
    } }),
    defineMlflowRoute({ method: 'post', path: `${V2}/runs/delete-tag`, summary: 'Delete a run tag.', role: 'editor', runScope: runOfBody, body: S.DeleteTag, response: S.Empty, handler: async ({ body }) => {
      await mlflow.deleteTag(body.runId, body.key);
      return {};
    } }),
    defineMlflowRoute({ method: 'post', path: `${V2}/runs/log-batch`, summary: 'Metrics, params and tags in one transaction: all stored or none.', role: 'editor', runScope: runOfBody, body: S.LogBatch, response: S.Empty, handler: async ({ body }) => {
      await mlflow.logBatch(body.runId, { metrics: body.metrics.map((m) => ({ key: m.key, value: m.value, step: m.step ?? 0, timestamp: m.timestamp ?? Date.now(), ...(m.model_id ? { modelId: m.model_id } : {}) })), params: body.params, tags: body.tags });
      return {};
    } }),
    defineMlflowRoute({ method: 'post', path: `${V2}/runs/log-inputs`, summary: "Accepted and not stored: a Griffin run's dataset is the one in its spec.", role: 'editor', runScope: runOfBody, body: S.LogInputs, response: S.Empty, handler: async ({ body }) => {
      await mlflow.getRun(body.runId);
      return {};
    } }),
    defineMlflowRoute({ method: 'get', path: `${V2}/metrics/get-history`, summary: 'Every point of one metric of a run, by step.', role: 'viewer', runScope: runOfQuery, query: S.MetricHistoryQuery, response: S.MetricsReply, handler: async ({ query }) => ({ metrics: await mlflow.metricHistory(query.runId, query.metric_key) }) }),
    // ---- logged models (MLflow 3's log_model, autolog): their files are a directory of the source run's artifacts
    defineMlflowRoute({ method: 'post', path: `${V2}/logged-models`, summary: "Create a logged model of a run: its files go into the run's artifacts (<name>/).", role: 'editor', runScope: ({ body }) => body.source_run_id, body: S.LoggedModelCreate, response: S.LoggedModelReply, handler: async ({ body }) => ({
      model: await mlflow.createLoggedModel({ experimentId: body.experiment_id, name: body.name, modelType: body.model_type, sourceRunId: body.source_run_id, params: body.params, tags: body.tags }),
    }) }),
    defineMlflowRoute({ method: 'post', path: `${V2}/logged-models/search`, summary: "The logged models of the runs of some experiments (no filter expressions).", role: 'viewer', body: S.LoggedModelSearch, response: S.LoggedModelsReply, handler: async ({ body }) => {
      if (body.filter?.trim()) throw new MlflowError('INVALID_PARAMETER_VALUE', `Griffin's MLflow API does not filter logged models (got filter "${body.filter}"); search without one`);
      return { models: await mlflow.searchLoggedModels(body.experiment_ids, body.max_results ?? 100) };
    } }),
    defineMlflowRoute({ method: 'get', path: `${V2}/logged-models/:model_id`, summary: 'A logged model.', role: 'viewer', runScope: runOfLoggedModel, response: S.LoggedModelReply, handler: async ({ params }) => ({ model: await mlflow.getLoggedModel(S.LoggedModelParams.parse(params).model_id) }) }),
    defineMlflowRoute({ method: 'patch', path: `${V2}/logged-models/:model_id`, summary: 'Finalize a logged model: READY once its files are uploaded, or UPLOAD_FAILED.', role: 'editor', runScope: runOfLoggedModel, body: S.LoggedModelFinalize, response: S.LoggedModelReply, handler: async ({ params, body }) => ({ model: await mlflow.finalizeLoggedModel(S.LoggedModelParams.parse(params).model_id, body.status) }) }),
    defineMlflowRoute({ method: 'post', path: `${V2}/runs/outputs`, summary: "A run's logged models (accepted when the run logged them: they are its artifacts).", role: 'editor', runScope: runOfBody, body: S.LogOutputs, response: S.Empty, handler: async ({ body }) => {
      await mlflow.logOutputs(body.runId, body.models.map((m) => m.model_id));
      return {};
    } }),
    // ---- artifacts through the tracking server (mlflow-artifacts:/runs/<run id>/<path>)
    defineMlflowRoute({ method: 'get', path: ARTIFACTS, summary: 'The files and directories directly under runs/<run id>/<dir>.', role: 'viewer', runScope: ({ query }) => mlflow.parseArtifactPath(query.path).runId, query: S.ArtifactListQuery, response: S.ArtifactsReply, handler: async ({ query }) => ({ files: await mlflow.listArtifacts(query.path) }) }),
    defineMlflowRoute({ method: 'put', path: `${ARTIFACTS}/*path`, summary: "Upload a file into the run's artifacts (the run token may).", role: 'editor', runScope: runOfArtifactPath, rawBody: true, response: S.Empty, handler: async ({ params, req }) => {
      await mlflow.putArtifact(artifactPathOf(params.path), req);
      return {};
    } }),
    defineMlflowRoute({ method: 'get', path: `${ARTIFACTS}/*path`, summary: 'Download an artifact file.', role: 'viewer', runScope: runOfArtifactPath, response: S.Empty, responseTypes: ['*/*'], handler: async ({ params, res }) => {
      const file = await mlflow.artifactFile(artifactPathOf(params.path));
      await new Promise<void>((resolve, reject) => res.sendFile(file, { dotfiles: 'allow' }, (err) => (err ? reject(err) : resolve())));
    } }),
    // ---- registry
    defineMlflowRoute({ method: 'post', path: `${V2}/registered-models/create`, summary: 'Create a registered model.', role: 'editor', body: S.RegisteredModelCreate, response: S.RegisteredModelReply, handler: async ({ body }) => ({ registered_model: await mlflow.createRegisteredModel(body.name, body.description, body.tags) }) }),
    defineMlflowRoute({ method: 'get', path: `${V2}/registered-models/get`, summary: 'A registered model with its latest version and aliases.', role: 'viewer', query: S.ModelNameQuery, response: S.RegisteredModelReply, handler: async ({ query }) => ({ registered_model: await mlflow.getRegisteredModel(query.name) }) }),
    defineMlflowRoute({ method: 'get', path: `${V2}/registered-models/search`, summary: "Registered models (filter: name='x' only).", role: 'viewer', query: S.ModelSearch, response: S.RegisteredModelsReply, handler: async ({ query }) => {
      const { models, nextPageToken } = await mlflow.searchRegisteredModels(query.filter, query.max_results ?? 100, query.page_token);
      return { registered_models: models, ...(nextPageToken ? { next_page_token: nextPageToken } : {}) };
    } }),
    defineMlflowRoute({ method: 'post', path: `${V2}/model-versions/create`, summary: "Register a version from runs:/<run>/<path>, mlflow-artifacts:/runs/<run>/<path> or any URI; Griffin's rules apply.", role: 'editor', body: S.ModelVersionCreate, response: S.ModelVersionReply, handler: async ({ body, principal }) => ({ model_version: await mlflow.createModelVersion({ name: body.name, source: body.source, runId: body.run_id || undefined, tags: body.tags, description: body.description }, actorOf(principal)) }) }),
    defineMlflowRoute({ method: 'get', path: `${V2}/model-versions/get`, summary: 'One model version.', role: 'viewer', query: S.ModelVersionQuery, response: S.ModelVersionReply, handler: async ({ query }) => ({ model_version: await mlflow.getModelVersion(query.name, query.version) }) }),
    defineMlflowRoute({ method: 'get', path: `${V2}/model-versions/search`, summary: "Versions of one model (filter: name='x' [and run_id='y']).", role: 'viewer', query: S.ModelSearch, response: S.ModelVersionsReply, handler: async ({ query }) => {
      const { versions, nextPageToken } = await mlflow.searchModelVersions(query.filter, query.max_results ?? 100, query.page_token);
      return { model_versions: versions, ...(nextPageToken ? { next_page_token: nextPageToken } : {}) };
    } }),
    defineMlflowRoute({ method: 'get', path: `${V2}/model-versions/get-download-uri`, summary: "Where a version's files are: mlflow-artifacts:/runs/<run>/<path> for a Griffin run's artifacts.", role: 'viewer', query: S.ModelVersionQuery, response: S.DownloadUriReply, handler: async ({ query }) => ({ artifact_uri: await mlflow.downloadUriOf(query.name, query.version) }) }),
    defineMlflowRoute({ method: 'post', path: `${V2}/registered-models/alias`, summary: 'Point an alias at a version (it moves from any other).', role: 'editor', body: S.AliasSet, response: S.Empty, handler: async ({ body, principal }) => {
      await mlflow.setAlias(body.name, body.alias, body.version, actorOf(principal));
      return {};
    } }),
    defineMlflowRoute({ method: 'get', path: `${V2}/registered-models/alias`, summary: 'The version an alias points at.', role: 'viewer', query: S.AliasQuery, response: S.ModelVersionReply, handler: async ({ query }) => ({ model_version: await mlflow.versionByAlias(query.name, query.alias) }) }),
    defineMlflowRoute({ method: 'delete', path: `${V2}/registered-models/alias`, summary: 'Remove an alias.', role: 'editor', body: S.AliasQuery, response: S.Empty, handler: async ({ body, principal }) => {
      await mlflow.deleteAlias(body.name, body.alias, actorOf(principal));
      return {};
    } }),
    defineMlflowRoute({ method: 'get', path: '/api/3.0/mlflow/server-info', summary: 'What the artifact client may use: no multipart uploads or downloads.', role: 'viewer', runScope: ownRunOnly, response: S.ServerInfoReply, handler: async () => ({ store_type: 'Griffin', workspaces_enabled: false, multipart_uploads_enabled: false, multipart_downloads_enabled: false }) }),
  ];
}
