/**
 * The contract of the Airflow provider (airflow-plugin/, package airflow-provider-griffin): which
 * operators, sensor and trigger it has, their constructor parameters, what is templated, what they
 * push to XCom and which service routes they call.
 *
 * Both sides are held to this data: the service serves it at GET /api/v1/operators and
 * tests/http/operators.test.ts checks that every call listed here is a route of the service;
 * airflow-plugin/tests/unit/test_contract.py reads it (through operators/export.ts) and compares
 * it with the Python classes (signatures, defaults, template_fields, links, XCom keys, and the
 * requests the classes really make). Changing one side without the other fails a test.
 */

/** A parameter default as JSON: a Python tuple appears as an array, None as null. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface ParameterDefinition {
  name: string;
  /** The annotation exactly as written in the Python signature, e.g. "dict[str, Any] | None". */
  type: string;
  required: boolean;
  /** Absent exactly when `required` is true. */
  default?: JsonValue;
  /** Rendered with Jinja before execute (listed in the class's template_fields). */
  templated: boolean;
  description: string;
}

export interface ServiceCall {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path under the service root, in OpenAPI form: /api/v1/runs/{id}. */
  path: string;
  /** When the class makes this call. */
  when: string;
}

export interface OperatorDefinition {
  /** The Python class name. */
  name: string;
  /** The module to import it from. */
  module: string;
  /** The Airflow base class; its own arguments (task_id, retries, poke_interval, ...) pass through **kwargs. */
  baseClass: 'BaseOperator' | 'BaseSensorOperator';
  summary: string;
  parameters: ParameterDefinition[];
  /** The class's template_fields, in order: the templated parameters. */
  templateFields: string[];
  /** Names of the extra links shown on the task in the Airflow UI. */
  extraLinks: string[];
  /** XCom keys the task pushes besides return_value. */
  xcomKeys: string[];
  /** Keys of the dict the task returns (XCom return_value). */
  returnKeys: string[];
  calls: ServiceCall[];
}

export interface TriggerDefinition {
  name: string;
  module: string;
  summary: string;
  /** Constructor arguments; serialize() returns exactly these as its kwargs. */
  parameters: Omit<ParameterDefinition, 'templated'>[];
  /** Keys of the payload of the single event the trigger yields. */
  eventKeys: string[];
  /** Values of the event's `status`. */
  eventStatuses: string[];
  calls: ServiceCall[];
}

export interface OperatorCatalog {
  provider: {
    package: string;
    connectionType: string;
    defaultConnectionId: string;
    /** The connection's hook class. */
    hook: string;
  };
  operators: OperatorDefinition[];
  triggers: TriggerDefinition[];
}

type ParameterInput = Omit<ParameterDefinition, 'required' | 'templated'> & { required?: boolean; templated?: boolean };

/** Fills `required` and `templated`, so a definition names only what is special about a parameter. */
function parameters(list: ParameterInput[]): ParameterDefinition[] {
  return list.map((p) => ({ ...p, required: p.required ?? false, templated: p.templated ?? false }));
}

function operator(def: Omit<OperatorDefinition, 'parameters' | 'templateFields'> & { parameters: ParameterInput[] }): OperatorDefinition {
  const params = parameters(def.parameters);
  // template_fields follow the parameter order, so the list is derived rather than kept twice.
  return { ...def, parameters: params, templateFields: params.filter((p) => p.templated).map((p) => p.name) };
}

const CONN_ID: ParameterInput = { name: 'griffin_conn_id', type: 'str', default: 'griffin_default', description: 'The Airflow connection id of the Griffin service.' };

const RUN_SUMMARY_KEYS = ['run_id', 'state', 'url', 'workflow', 'attempt', 'reason', 'metrics', 'model_version', 'artifact_uri', 'idempotency_key'];

const call = (method: ServiceCall['method'], path: string, when: string): ServiceCall => ({ method, path, when });
const GET_RUN = (when: string) => call('GET', '/api/v1/runs/{id}', when);
const GET_LOGS = (when: string) => call('GET', '/api/v1/runs/{id}/logs', when);
const CANCEL_RUN = (when: string) => call('POST', '/api/v1/runs/{id}/cancel', when);
const CONSUME_RUN = (when: string) => call('POST', '/api/v1/runs/{id}/consume', when);
const UNREACHABLE_TIMEOUT: ParameterInput = {
  name: 'griffin_unreachable_timeout',
  type: 'timedelta | float | None',
  default: null,
  description: "How long a wait tolerates Griffin being unreachable before the task fails; defaults to the connection's extra unreachable_timeout, else 600 s.",
};

export const operatorCatalog: OperatorCatalog = {
  provider: {
    package: 'airflow-provider-griffin',
    connectionType: 'griffin',
    defaultConnectionId: 'griffin_default',
    hook: 'griffin_provider.hooks.GriffinHook',
  },
  operators: [
    operator({
      name: 'GriffinSubmitTrainingRunOperator',
      module: 'griffin_provider.operators',
      baseClass: 'BaseOperator',
      summary:
        'Submit a training run, optionally wait for it (in the worker or deferred), and return its summary. A retry re-attaches to the run an earlier try started.',
      parameters: [
        { name: 'workflow', type: 'str', required: true, templated: true, description: 'The workflow to run: name or name@version.' },
        {
          name: 'overrides',
          type: 'dict[str, Any] | None',
          default: null,
          templated: true,
          description: 'Run overrides: hyperparameters, datasetVersion, resources, backend, timeoutSeconds, queue, priority.',
        },
        CONN_ID,
        {
          name: 'idempotency_key',
          type: 'str | None',
          default: null,
          templated: true,
          description: 'The Idempotency-Key of the submission; defaults to airflow/<dag_id>/<task_id>/<run_id>/<map_index> (no try number).',
        },
        {
          name: 'if_run_exists',
          type: 'str',
          default: 'reattach',
          description: 'reattach (wait on an active run, return a succeeded one, start anew after a failure), new (a run per try) or fail.',
        },
        { name: 'wait_for_completion', type: 'bool', default: true, description: 'Wait until the run finishes; otherwise return right after submission.' },
        { name: 'poll_interval', type: 'float', default: 30.0, description: 'Seconds between two status checks while waiting.' },
        { name: 'deferrable', type: 'bool', default: false, description: 'Wait in the triggerer instead of a worker slot. Defaults to [operators] default_deferrable (false unless set).' },
        {
          name: 'run_timeout',
          type: 'timedelta | float | None',
          default: null,
          description: 'Maximum run time, sent as overrides.timeoutSeconds (enforced by the service) and applied to the wait as an absolute deadline.',
        },
        { name: 'cancel_on_kill', type: 'bool', default: true, description: 'Cancel the run when the task is killed.' },
        { name: 'copy_logs', type: 'bool', default: true, description: "Copy the run's log lines into the task log while waiting." },
        UNREACHABLE_TIMEOUT,
      ],
      extraLinks: ['Griffin Run'],
      xcomKeys: ['griffin_run_id', 'griffin_run_url'],
      returnKeys: RUN_SUMMARY_KEYS,
      calls: [
        call('POST', '/api/v1/runs', 'Submit, with the Idempotency-Key, the trigger "airflow", the airflow context {dagId, dagRunId, taskId, tryNumber, mapIndex} and the DAG run\'s timeContext {logicalDate, dataIntervalStart, dataIntervalEnd}.'),
        call('GET', '/api/v1/workflows/{name}', 'OpenLineage, on start: the workflow\'s dataset as input.'),
        call('GET', '/api/v1/features/{name}', 'OpenLineage, on complete: the dtypes of the dataset\'s features (its schema).'),
        call('GET', '/api/v1/runs', "With if_run_exists='fail': look for a run under the idempotency key first."),
        GET_RUN('While waiting in the worker.'),
        GET_LOGS('Copying the run log into the task log (copy_logs).'),
        CANCEL_RUN("on_kill after a user's kill (cancel_on_kill; not on a worker shutdown or eviction), and when run_timeout or execution_timeout passes, with the try number."),
        CONSUME_RUN('When the try has finished with the run (it ended, a limit passed, or wait_for_completion=False handed it on).'),
      ],
    }),
    operator({
      name: 'GriffinTrainingRunSensor',
      module: 'griffin_provider.sensors',
      baseClass: 'BaseSensorOperator',
      summary: 'Wait until a run succeeds (poke, reschedule or deferrable); a failed or cancelled run fails the task without retries.',
      parameters: [
        { name: 'run_id', type: 'str', required: true, templated: true, description: 'The Griffin run to wait on.' },
        CONN_ID,
        { name: 'success_states', type: 'Sequence[str]', default: ['succeeded'], description: 'Run states that end the wait successfully.' },
        { name: 'failure_states', type: 'Sequence[str]', default: ['failed', 'cancelled'], description: 'Run states that fail the task.' },
        { name: 'deferrable', type: 'bool', default: false, description: 'Wait in the triggerer, polling every poke_interval until timeout. Defaults to [operators] default_deferrable (false unless set).' },
        { name: 'copy_logs', type: 'bool', default: true, description: "Copy the run's log into the task log once the run has ended." },
        UNREACHABLE_TIMEOUT,
      ],
      extraLinks: ['Griffin Run'],
      xcomKeys: ['griffin_run_url'],
      returnKeys: RUN_SUMMARY_KEYS,
      calls: [GET_RUN('Every poke.'), GET_LOGS('Once the run has ended (copy_logs).')],
    }),
    operator({
      name: 'GriffinRegisterModelVersionOperator',
      module: 'griffin_provider.operators',
      baseClass: 'BaseOperator',
      summary: 'Register a model version from a run or an artifact URI and point aliases at it; idempotent on (model, run).',
      parameters: [
        { name: 'model_name', type: 'str', required: true, templated: true, description: "The registered model's name." },
        { name: 'run_id', type: 'str | None', default: null, templated: true, description: 'The run whose artifacts become the version (or artifact_uri).' },
        { name: 'artifact_uri', type: 'str | None', default: null, templated: true, description: 'An artifact URI to register instead of a run.' },
        { name: 'aliases', type: 'list[str] | None', default: null, templated: true, description: 'Aliases to point at the version, e.g. ["production"].' },
        { name: 'tags', type: 'dict[str, str] | None', default: null, templated: true, description: 'Tags of the version.' },
        { name: 'description', type: 'str | None', default: null, templated: true, description: 'Description of the version.' },
        {
          name: 'idempotency_key',
          type: 'str | None',
          default: null,
          templated: true,
          description: 'The Idempotency-Key of the registration; defaults to one built from dag_id, task_id, run_id and map_index.',
        },
        CONN_ID,
      ],
      extraLinks: ['Griffin Model Version'],
      xcomKeys: ['griffin_model_version_url'],
      returnKeys: ['name', 'version', 'artifact_uri', 'run_id', 'aliases', 'tags', 'metrics', 'url'],
      calls: [
        call('POST', '/api/v1/registry/models/{name}/versions', 'Register, with an Idempotency-Key.'),
        call('PUT', '/api/v1/registry/models/{name}/aliases/{alias}', 'When the version existed already without an alias asked for.'),
        call('PATCH', '/api/v1/registry/models/{name}/versions/{version}', 'When the version existed already: merge the tags and description asked for.'),
        call('GET', '/api/v1/registry/models/{name}/versions/{version}/lineage', 'OpenLineage, on complete: the dataset and run the version came from.'),
      ],
    }),
    operator({
      name: 'GriffinPromoteModelVersionOperator',
      module: 'griffin_provider.operators',
      baseClass: 'BaseOperator',
      summary:
        'Move an alias to a candidate version only if it beats the holder on a metric (a missing holder promotes), with compare-and-set: a lost race fails on the 409, never overwrites. Pushes the decision (promoted or kept, and why).',
      parameters: [
        { name: 'model_name', type: 'str', required: true, templated: true, description: 'The registered model.' },
        { name: 'version', type: 'int | str', required: true, templated: true, description: 'The candidate version.' },
        { name: 'metric', type: 'str', required: true, templated: true, description: "The metric to compare, from the versions' metrics snapshots (e.g. val_auc)." },
        { name: 'alias', type: 'str', default: 'production', templated: true, description: 'The alias to move.' },
        { name: 'mode', type: 'str', default: 'max', description: 'max (higher is better) or min (lower is better).' },
        { name: 'min_improvement', type: 'float', default: 0.0, description: 'How much better than the holder the candidate must be.' },
        { name: 'reason', type: 'str | None', default: null, templated: true, description: 'Recorded in the alias history with the comparison.' },
        CONN_ID,
      ],
      extraLinks: ['Griffin Model Version'],
      xcomKeys: ['griffin_promotion', 'griffin_model_version_url'],
      returnKeys: ['decision', 'reason', 'model', 'alias', 'metric', 'mode', 'candidate_version', 'candidate_value', 'holder_version', 'holder_value', 'url'],
      calls: [
        call('GET', '/api/v1/registry/models/{name}/versions/{version}', 'The candidate and its metrics.'),
        call('GET', '/api/v1/registry/models/{name}/aliases/{alias}', 'The holder and its metrics.'),
        call('PUT', '/api/v1/registry/models/{name}/aliases/{alias}', 'When the rule holds: with expectedVersion (the holder compared against, null when unset) and the comparison as reason.'),
        call('GET', '/api/v1/registry/models/{name}/aliases/{alias}/history', "After a 409: whether the newest move is this try's own (a retried PUT whose first answer was lost)."),
      ],
    }),
    operator({
      name: 'GriffinCancelTrainingRunOperator',
      module: 'griffin_provider.operators',
      baseClass: 'BaseOperator',
      summary: 'Cancel a run; a run that already ended is left as it is.',
      parameters: [
        { name: 'run_id', type: 'str', required: true, templated: true, description: 'The Griffin run to cancel.' },
        { name: 'reason', type: 'str | None', default: null, templated: true, description: 'Why, recorded on the run.' },
        { name: 'wait_for_termination', type: 'bool', default: false, description: 'Wait until the run has ended.' },
        { name: 'poll_interval', type: 'float', default: 10.0, description: 'Seconds between two status checks while waiting.' },
        CONN_ID,
      ],
      extraLinks: ['Griffin Run'],
      xcomKeys: ['griffin_run_url'],
      returnKeys: RUN_SUMMARY_KEYS,
      calls: [CANCEL_RUN('Always.'), GET_RUN('When the run had already ended (409), and while waiting for termination.')],
    }),
  ],
  triggers: [
    {
      name: 'GriffinTrainingRunTrigger',
      module: 'griffin_provider.triggers',
      summary: 'Poll a run in the triggerer until it reaches a success or failure state or the deadline passes, then yield one event.',
      parameters: parameters([
        { name: 'run_id', type: 'str', required: true, description: 'The Griffin run id.' },
        CONN_ID,
        { name: 'poll_interval', type: 'float', default: 30.0, description: 'Seconds between two polls.' },
        { name: 'deadline', type: 'float | None', default: null, description: 'Absolute epoch seconds after which a timeout event is yielded.' },
        { name: 'success_states', type: 'Sequence[str]', default: ['succeeded'], description: 'Run states that end the wait successfully.' },
        { name: 'failure_states', type: 'Sequence[str]', default: ['failed', 'cancelled'], description: 'Run states that end the wait with a failure.' },
        { name: 'log_cursor', type: 'int | None', default: null, description: 'Copy the run log from this cursor while waiting; null copies nothing.' },
        { name: 'cancel_on_kill', type: 'bool', default: false, description: 'Cancel the run when a user kills the deferred task.' },
        { name: 'try_number', type: 'int | None', default: null, description: "The Airflow try that deferred: sent with a cancel, and used to tell an earlier try's cancel (a clear) from a user's." },
        { name: 'deadline_limit', type: 'str | None', default: null, description: 'What the deadline stands for, named in the timeout event, e.g. "execution_timeout (25s)".' },
        { name: 'unreachable_timeout', type: 'float | None', default: null, description: 'Seconds of continuous Griffin outage tolerated before an error event (null: 600).' },
        { name: 'log_reader', type: 'str | None', default: null, description: 'A name for this copy of the log (one per try): the trigger records how far it copied, so a triggerer restart does not copy the log again.' },
      ]).map(({ templated: _notTemplated, ...p }) => p),
      eventKeys: ['status', 'run_id', 'state', 'message', 'run', 'log_cursor', 'limit', 'cancelled_by_try'],
      eventStatuses: ['success', 'failed', 'timeout', 'superseded', 'error'],
      calls: [
        GET_RUN('Every poll.'),
        GET_LOGS('Every poll, when log_cursor is set.'),
        call('GET', '/api/v1/runs/{id}/log-cursors/{reader}', 'On start, with log_reader: where an earlier copy of the trigger stopped.'),
        call('PUT', '/api/v1/runs/{id}/log-cursors/{reader}', 'With log_reader, after copying new log lines.'),
        CANCEL_RUN('on_kill, when cancel_on_kill is set, with try_number.'),
      ],
    },
    {
      name: 'GriffinModelChangesTrigger',
      module: 'griffin_provider.triggers',
      summary:
        'For an AssetWatcher: poll the registry changes feed of one model and yield an event per change (a version registered, an alias moved or removed), for ever; the cursor is kept in the watched Asset\'s state store.',
      parameters: parameters([
        { name: 'model_name', type: 'str', required: true, description: 'The registered model to watch.' },
        { name: 'alias', type: 'str | None', default: null, description: 'Only changes of this alias; null: every change of the model.' },
        { name: 'kinds', type: 'Sequence[str] | None', default: null, description: 'version_registered, alias_moved, alias_removed; defaults to alias_moved with an alias, else all.' },
        CONN_ID,
        { name: 'poll_interval', type: 'float', default: 30.0, description: 'Seconds between two polls of the changes feed.' },
        { name: 'after', type: 'int | None', default: null, description: 'The cursor to start after; null: at the newest change when first started.' },
      ]).map(({ templated: _notTemplated, ...p }) => p),
      eventKeys: ['change', 'model', 'version', 'alias', 'previous_version', 'aliases', 'run_id', 'metrics', 'url', 'cursor', 'actor', 'reason', 'at'],
      eventStatuses: [],
      calls: [
        call('GET', '/api/v1/registry/changes', 'Every poll, after the cursor.'),
        call('GET', '/api/v1/registry/models/{name}/versions/{version}', "For each change: the version's run and metrics."),
      ],
    },
  ],
};
