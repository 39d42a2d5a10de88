"""Operators that submit, register and cancel Griffin training runs, and their extra links."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from griffin_provider._compat import (
    AirflowException,
    AirflowFailException,
    AirflowTaskTimeout,
    BaseOperator,
    BaseOperatorLink,
    RuntimeTaskInstance,
    TaskDeferralError,
    XCom,
    default_deferrable,
)
from griffin_sdk.client import (
    GriffinConflictError,
    GriffinError,
    GriffinRunState,
    GriffinWaitTimeoutError,
    OutageTracker,
    cancelled_by_earlier_try,
    ceil_seconds,
    griffin_log_line,
    parse_timestamp,
    run_summary,
)
from griffin_provider.assets import default_model_outlets, emit_model_event, model_event_extra, withhold_model_event
from griffin_provider._waiting import QueuedReasonLog
from griffin_provider.hooks import GriffinHook
from griffin_provider.triggers import GriffinTrainingRunTrigger

if TYPE_CHECKING:
    try:
        from airflow.sdk import Context
    except ImportError:
        from airflow.utils.context import Context  # type: ignore[no-redef]

XCOM_RUN_ID_KEY = "griffin_run_id"
XCOM_RUN_URL_KEY = "griffin_run_url"
XCOM_MODEL_VERSION_URL_KEY = "griffin_model_version_url"
XCOM_PROMOTION_KEY = "griffin_promotion"
PROMOTION_MODES = ("max", "min")
IF_RUN_EXISTS_CHOICES = ("reattach", "new", "fail")
# The service enforces the run deadline itself; the trigger waits this much longer so the service's
# own verdict (a failed run with its reason) normally arrives before the Airflow-side timeout.
DEADLINE_GRACE_SECONDS = 30.0
MAX_IDEMPOTENCY_KEY_LENGTH = 255


# ---------------------------------------------------------------------------------------------
# Extra links
# ---------------------------------------------------------------------------------------------


class GriffinRunLink(BaseOperatorLink):
    """Extra link to the Griffin UI page of the run a task submitted or waited on."""

    name = "Griffin Run"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return XCom.get_value(ti_key=ti_key, key=XCOM_RUN_URL_KEY) or ""


class GriffinModelVersionLink(BaseOperatorLink):
    """Extra link to the Griffin registry page of the model version a task registered."""

    name = "Griffin Model Version"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return XCom.get_value(ti_key=ti_key, key=XCOM_MODEL_VERSION_URL_KEY) or ""


def _push_link(task: BaseOperator, context: Context, link: BaseOperatorLink, xcom_key: str, url: str | None) -> None:
    """Push a URL for an extra link now, so the UI shows it while the task is still waiting (unless do_xcom_push=False)."""
    if not url or not getattr(task, "do_xcom_push", True):
        return
    ti = context["ti"]
    ti.xcom_push(key=xcom_key, value=url)
    # Airflow 3 serves extra links from XCom under the link's own key; it fills it when the task
    # finishes, but a training run can take hours, so fill it as soon as the URL is known.
    link_key = getattr(link, "xcom_key", None)
    if link_key:
        ti.xcom_push(key=link_key, value=url)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _map_index(ti: Any) -> int:
    value = getattr(ti, "map_index", -1)
    return -1 if value is None else int(value)


def default_idempotency_key(context: Context, suffix: str | None = None) -> str:
    """
    ``airflow/<dag_id>/<task_id>/<run_id>/<map_index>``: the same for every try of one task instance.

    The try number is deliberately absent: a retry must find the run the previous try started.
    Keys longer than the service accepts, or with characters a header cannot carry, are hashed.
    """
    ti = context["ti"]
    key = "/".join(["airflow", str(ti.dag_id), str(ti.task_id), str(ti.run_id), str(_map_index(ti))])
    if suffix:
        key = f"{key}/{suffix}"
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isascii() or not key.isprintable():
        key = "airflow-sha256-" + hashlib.sha256(key.encode("utf-8")).hexdigest()
    return key


def _try_number(ti: Any) -> int:
    return int(getattr(ti, "try_number", 1) or 1)


def _task_started_at(context: Context) -> float:
    """When this try started (epoch seconds): what ``execution_timeout`` counts from."""
    started = getattr(context["ti"], "start_date", None)
    return started.timestamp() if started is not None else time.time()


def task_state_now(ti: Any) -> tuple[bool, str | None]:
    """
    ``(known, state)``: this task instance's state as Airflow has it now, asked from ``on_kill``.

    A user's action (mark failed or success, clear, stopping the DAG run) changes the state before
    Airflow signals the task process; a worker shutdown or an eviction does not, so the state is
    still ``running``. Airflow 3 answers through the task SDK's supervisor, Airflow 2 from its
    database. ``known`` is False when Airflow could not be asked.
    """
    if ti is None:
        return False, None
    try:
        if RuntimeTaskInstance is not None and isinstance(ti, RuntimeTaskInstance):
            map_index = _map_index(ti)
            states = RuntimeTaskInstance.get_task_states(
                dag_id=ti.dag_id,
                task_ids=[ti.task_id],
                run_ids=[ti.run_id],
                map_index=map_index if map_index >= 0 else None,
            )
            key = ti.task_id if map_index < 0 else f"{ti.task_id}_{map_index}"
            state = (states.get(ti.run_id) or {}).get(key)
        elif hasattr(ti, "current_state"):
            state = ti.current_state()
        else:
            return False, None
    except Exception:  # on_kill must never raise; an unknown state keeps the run
        return False, None
    return True, None if state is None else str(getattr(state, "value", state))


def airflow_run_context(context: Context) -> dict[str, Any]:
    """The contract's ``airflow`` object recorded on a run."""
    ti = context["ti"]
    return {
        "dagId": ti.dag_id,
        "dagRunId": ti.run_id,
        "taskId": ti.task_id,
        "tryNumber": _try_number(ti),
        "mapIndex": _map_index(ti),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value else None)


def airflow_time_context(context: Context) -> dict[str, Any] | None:
    """
    The DAG run's logical date and data interval, as the service's ``timeContext``: what a
    backfilled or scheduled DAG run trains for. None when the DAG run has none (a manual
    Airflow 3 run without a logical date).
    """
    get = context.get if hasattr(context, "get") else (lambda key: None)
    values = {
        "logicalDate": _iso(get("logical_date")),
        "dataIntervalStart": _iso(get("data_interval_start")),
        "dataIntervalEnd": _iso(get("data_interval_end")),
    }
    if values["dataIntervalStart"] is None or values["dataIntervalEnd"] is None:
        values["dataIntervalStart"] = values["dataIntervalEnd"] = None
    return values if any(values.values()) else None


def _lineage_safely(task: BaseOperator, build: Any) -> Any:
    """OpenLineage facets must never fail a task: a failure is logged and yields no facets."""
    try:
        return build()
    except Exception as err:
        task.log.warning("Could not build the OpenLineage facets of %s: %s", task.task_id, err)
        from griffin_provider.openlineage import operator_lineage

        return operator_lineage([], [])


def _seconds(value: timedelta | float | int | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


# ---------------------------------------------------------------------------------------------
# Submit
# ---------------------------------------------------------------------------------------------


class GriffinSubmitTrainingRunOperator(BaseOperator):
    """
    Submit a Griffin training run, optionally wait for it, and return its summary.

    What each event in the task's life does to its run (worker and deferred modes alike):

    - A retry after the worker died (SIGKILL, OOM) re-attaches to the run its earlier try started
      (the default idempotency key has no try number): an active run is waited on, a succeeded run
      is returned. A retry after the run failed starts a new run.
    - SIGTERM while Airflow still has the task running (a worker shutdown, a deploy, an eviction)
      leaves the run training; the retry re-attaches. A user's kill (mark failed or success, clear,
      stopping the DAG run) cancels it: ``on_kill`` asks Airflow for the task's state to tell the two
      apart (Airflow 3 through the task SDK, Airflow 2 from the database).
    - Clearing a task retrains: the old try's kill cancels its run, and a try that finds its run
      cancelled by an earlier try starts a new one instead of failing. Clearing a succeeded task also
      retrains: every try that finishes with a run tells Griffin (the run is consumed), and a later
      try under the same key starts a new run after a consumed one.
    - Griffin unreachable while waiting (a deploy, a restart) is waited out for up to
      ``griffin_unreachable_timeout``; submissions keep their idempotency key, so none is duplicated.
    - ``run_timeout`` and ``execution_timeout`` cancel the run and fail the task naming the limit, in
      deferrable mode too (the trigger's deadline is the earlier of the two).

    The run id and URL are pushed to XCom (keys ``griffin_run_id`` and ``griffin_run_url``) before
    waiting, unless ``do_xcom_push`` is False. The return value is ``{"run_id", "state", "url",
    "workflow", "attempt", "reason", "metrics", "model_version", "artifact_uri", "idempotency_key"}``.

    :param workflow: The workflow to run: ``name`` or ``name@version``. (templated)
    :param overrides: Run overrides: ``hyperparameters``, ``datasetVersion``, ``resources``, ``backend``,
        ``timeoutSeconds``, ``queue``, ``priority``. (templated)
    :param griffin_conn_id: The Airflow connection id of the Griffin service.
    :param idempotency_key: The Idempotency-Key sent with the submission. Defaults to one built from
        dag_id, task_id, run_id and map_index. (templated)
    :param if_run_exists: What to do when a run already exists for the key: ``reattach`` (default: wait
        on an active run, return a succeeded one, start a new one after a failure or a clear), ``new``
        (start a new run on every try), or ``fail``.
    :param wait_for_completion: Wait until the run finishes; otherwise return right after submission.
    :param poll_interval: Seconds between two status checks while waiting.
    :param deferrable: Wait in the triggerer instead of occupying a worker slot. Defaults to
        ``[operators] default_deferrable``.
    :param run_timeout: Maximum run time (seconds or timedelta), enforced by the service (sent as
        ``overrides.timeoutSeconds``) and by the wait, as an absolute deadline.
    :param cancel_on_kill: Cancel the run when a user kills the task (in the worker, and in the
        triggerer on Airflow versions that call ``BaseTrigger.on_kill``).
    :param copy_logs: Copy the run's log lines into the Airflow task log while waiting.
    :param griffin_unreachable_timeout: How long (seconds or timedelta) a wait tolerates Griffin being
        unreachable before the task fails; defaults to the connection's extra ``unreachable_timeout``,
        else 10 minutes.
    """

    template_fields: Sequence[str] = ("workflow", "overrides", "idempotency_key")
    template_fields_renderers = {"overrides": "json"}
    operator_extra_links = (GriffinRunLink(),)
    ui_color = "#f4d35e"

    def __init__(
        self,
        *,
        workflow: str,
        overrides: dict[str, Any] | None = None,
        griffin_conn_id: str = GriffinHook.default_conn_name,
        idempotency_key: str | None = None,
        if_run_exists: str = "reattach",
        wait_for_completion: bool = True,
        poll_interval: float = 30.0,
        deferrable: bool = default_deferrable(),
        run_timeout: timedelta | float | None = None,
        cancel_on_kill: bool = True,
        copy_logs: bool = True,
        griffin_unreachable_timeout: timedelta | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if if_run_exists not in IF_RUN_EXISTS_CHOICES:
            raise ValueError(f"if_run_exists must be one of {IF_RUN_EXISTS_CHOICES}, not {if_run_exists!r}")
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        unreachable = _seconds(griffin_unreachable_timeout)
        if unreachable is not None and unreachable < 0:
            raise ValueError("griffin_unreachable_timeout must be zero or more seconds")
        self.workflow = workflow
        self.overrides = overrides
        self.griffin_conn_id = griffin_conn_id
        self.idempotency_key = idempotency_key
        self.if_run_exists = if_run_exists
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.deferrable = deferrable
        self.run_timeout = run_timeout
        self.cancel_on_kill = cancel_on_kill
        self.copy_logs = copy_logs
        self.griffin_unreachable_timeout = griffin_unreachable_timeout
        self.griffin_run_id: str | None = None
        self._ti: Any = None
        self._run_cancelled = False

    @property
    def hook(self) -> GriffinHook:
        if getattr(self, "_hook", None) is None:
            self._hook = GriffinHook(griffin_conn_id=self.griffin_conn_id)
        return self._hook

    def _outage(self) -> OutageTracker:
        budget = self.hook.unreachable_timeout(_seconds(self.griffin_unreachable_timeout))
        return OutageTracker(budget, log=self.log.warning)

    @property
    def _try_number(self) -> int | None:
        return _try_number(self._ti) if self._ti is not None else None

    # -- submission -----------------------------------------------------------------------------

    def _request_overrides(self) -> dict[str, Any] | None:
        overrides = dict(self.overrides or {})
        timeout = _seconds(self.run_timeout)
        if timeout is not None:
            overrides["timeoutSeconds"] = ceil_seconds(timeout)
        return overrides or None

    def _key(self, context: Context) -> str:
        base = self.idempotency_key or default_idempotency_key(context)
        if self.if_run_exists == "new":
            # One run per try: retries of the POST within a try stay safe, a new try starts anew.
            return f"{base}/try-{_try_number(context['ti'])}"
        return base

    def _submit_once(self, context: Context) -> tuple[dict[str, Any], bool]:
        key = self._key(context)
        if self.if_run_exists == "fail":
            existing = self.hook.list_runs(idempotencyKey=key, limit=1).get("items") or []
            if existing:
                raise AirflowFailException(
                    f"Griffin run {existing[0]['id']} already exists for idempotency key {key!r} "
                    "and if_run_exists='fail'"
                )
        try:
            return self.hook.create_run(
                self.workflow,
                overrides=self._request_overrides(),
                idempotency_key=key,
                trigger="airflow",
                airflow=airflow_run_context(context),
                time_context=airflow_time_context(context),
                rerun_if_failed=self.if_run_exists == "reattach",
            )
        except GriffinConflictError as err:
            raise AirflowFailException(
                f"The Griffin service refused idempotency key {key!r}: it was used before with a different "
                f"request ({err.message}). Set idempotency_key explicitly, or if_run_exists='new'."
            ) from err

    def _submit(self, context: Context) -> dict[str, Any]:
        """Submit (or re-attach), waiting out a Griffin outage: the fixed key makes every repeat safe."""
        run, created = self.hook.get_conn().call_through_outage(
            lambda: self._submit_once(context), self._outage(), "submitting the run", pause=min(self.poll_interval, 10.0)
        )
        self.griffin_run_id = run["id"]
        if created:
            self.log.info("Submitted Griffin run %s (%s): %s", run["id"], self.workflow, run.get("url"))
        else:
            self.log.info("Re-attached to Griffin run %s, state %s: %s", run["id"], run["state"], run.get("url"))
        if self.do_xcom_push:
            context["ti"].xcom_push(key=XCOM_RUN_ID_KEY, value=run["id"])
        _push_link(self, context, GriffinRunLink(), XCOM_RUN_URL_KEY, run.get("url"))
        return run

    def execute(self, context: Context) -> dict[str, Any]:
        self._ti = context["ti"]
        run = self._submit(context)
        if GriffinRunState.is_terminal(run["state"]):
            if self.copy_logs:
                self.hook.copy_logs(run["id"], 0, self._emit_log_line)
            return self._finish(run)
        if not self.wait_for_completion:
            # This try hands the run on (to a sensor, say): clearing this task later means "train again".
            self._consume(run["id"])
            return run_summary(run)
        if self.deferrable:
            self._defer(run, context)
        return self._wait_in_worker(run, context)

    # -- waiting ----------------------------------------------------------------------------------

    def _run_deadline(self, run: Mapping[str, Any]) -> float | None:
        deadline_at = parse_timestamp(run.get("deadlineAt"))
        if deadline_at is None:
            timeout = _seconds(self.run_timeout)
            if timeout is None:
                return None
            deadline_at = (parse_timestamp(run.get("createdAt")) or time.time()) + timeout
        return deadline_at + DEADLINE_GRACE_SECONDS

    def _trigger_deadline(self, run: Mapping[str, Any], context: Context) -> tuple[float | None, str | None]:
        """
        The earliest of the run's deadline and the task's start + ``execution_timeout``, and its name.

        Airflow does not enforce ``execution_timeout`` while a task is deferred, so the trigger does.
        """
        candidates: list[tuple[float, str]] = []
        run_deadline = self._run_deadline(run)
        if run_deadline is not None:
            timeout = _seconds(self.run_timeout)
            candidates.append((run_deadline, f"run_timeout ({timeout:.0f}s)" if timeout else "the run's timeoutSeconds"))
        execution_timeout = _seconds(self.execution_timeout)
        if execution_timeout is not None:
            candidates.append((_task_started_at(context) + execution_timeout, f"execution_timeout ({execution_timeout:.0f}s)"))
        if not candidates:
            return None, None
        return min(candidates)

    def _emit_log_line(self, line: str) -> None:
        self.log.info("%s", griffin_log_line(line))

    def _defer(self, run: Mapping[str, Any], context: Context) -> None:
        deadline, limit = self._trigger_deadline(run, context)
        timeout = None
        if deadline is not None:
            # A backstop in case the triggerer itself is lost; the trigger's own deadline fires first.
            timeout = timedelta(seconds=max(0.0, deadline - time.time()) + max(300.0, 2 * self.poll_interval))
        self.defer(
            trigger=GriffinTrainingRunTrigger(
                run_id=run["id"],
                griffin_conn_id=self.griffin_conn_id,
                poll_interval=self.poll_interval,
                deadline=deadline,
                log_cursor=0 if self.copy_logs else None,
                cancel_on_kill=self.cancel_on_kill,
                try_number=self._try_number,
                deadline_limit=limit,
                unreachable_timeout=self.hook.unreachable_timeout(_seconds(self.griffin_unreachable_timeout)),
                log_reader=default_idempotency_key(context, f"try-{self._try_number}") if self.copy_logs else None,
            ),
            method_name="execute_complete",
            timeout=timeout,
        )

    def _wait_in_worker(self, run: Mapping[str, Any], context: Context) -> dict[str, Any]:
        outage = self._outage()
        waiting = QueuedReasonLog(self.log.info)
        while True:
            try:
                final = self.hook.wait_for_run(
                    run["id"],
                    poll_interval=self.poll_interval,
                    deadline=self._run_deadline(run),
                    log_callback=self._emit_log_line if self.copy_logs else None,
                    outage=outage,
                    status_callback=waiting.observe,
                )
            except GriffinWaitTimeoutError as err:
                self._cancel_quietly(run["id"], "run_timeout reached in Airflow")
                self._consume(run["id"])
                raise AirflowException(f"Griffin run {run['id']} exceeded run_timeout: {err}") from err
            except AirflowTaskTimeout:
                # Raised into the wait by Airflow's own execution_timeout alarm.
                self._cancel_quietly(run["id"], "execution_timeout reached in Airflow")
                self._consume(run["id"])
                raise
            if not cancelled_by_earlier_try(final, self._try_number):
                return self._finish(final)
            run = self._after_superseded(final, context)
            if GriffinRunState.is_terminal(run["state"]):
                return self._finish(run)

    def _after_superseded(self, old: Mapping[str, Any], context: Context) -> dict[str, Any]:
        """An earlier try's kill cancelled the run this try waits on (a clear): start a new run."""
        self.log.info(
            "Griffin run %s was cancelled by try %s of this task (the task was cleared); try %s trains again",
            old["id"], old.get("cancelRequestedByTry"), self._try_number,
        )
        return self._submit(context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired: copy the rest of the log, then succeed, fail, or wait on a new run."""
        if not event:
            raise TaskDeferralError("The Griffin trigger fired without an event")
        self._ti = context["ti"]
        self.griffin_run_id = event.get("run_id")
        status = event.get("status")
        cursor = event.get("log_cursor")
        if self.copy_logs and cursor is not None and status in ("success", "failed"):
            try:
                self.hook.copy_logs(self.griffin_run_id, int(cursor), self._emit_log_line)
            except GriffinError as err:
                self.log.warning("Could not copy the rest of the Griffin log: %s", err)
        if status == "superseded":
            old = {"id": self.griffin_run_id, **(event.get("run") or {}), "cancelRequestedByTry": event.get("cancelled_by_try")}
            run = self._after_superseded(old, context)
            if GriffinRunState.is_terminal(run["state"]):
                return self._finish(run)
            self._defer(run, context)
        if status in ("success", "failed"):
            self._consume(self.griffin_run_id)
        if status == "success":
            summary = event["run"]
            self.log.info("Griffin run %s succeeded: %s", self.griffin_run_id, summary.get("url"))
            return summary
        if status == "failed":
            raise AirflowException(event.get("message") or f"Griffin run {self.griffin_run_id} failed")
        if status == "timeout":
            limit = event.get("limit") or "run_timeout"
            self._cancel_quietly(self.griffin_run_id, f"{limit} reached in Airflow")
            self._consume(self.griffin_run_id)
            message = f"Griffin run {self.griffin_run_id} exceeded {limit}: {event.get('message')}"
            if limit.startswith("execution_timeout"):
                raise AirflowTaskTimeout(message)
            raise AirflowException(message)
        raise AirflowException(event.get("message") or f"Unexpected Griffin trigger event: {event!r}")

    def _finish(self, run: Mapping[str, Any]) -> dict[str, Any]:
        self._consume(run["id"])
        if GriffinRunState.is_success(run["state"]):
            self.log.info("Griffin run %s succeeded: %s", run["id"], run.get("url"))
            return run_summary(run)
        # Not AirflowFailException: a retry is useful, it starts a new run (if_run_exists='reattach').
        raise AirflowException(
            f"Griffin run {run['id']} {run['state']}: {run.get('reason') or 'no reason given'} ({run.get('url')})"
        )

    def _consume(self, run_id: str | None) -> None:
        """Tell Griffin this try has finished with the run, so a later clear of the task trains again."""
        if not run_id:
            return
        try:
            self.hook.consume_run(run_id, self._try_number)
        except GriffinError as err:
            self.log.warning(
                "Could not tell Griffin that this try finished with run %s (%s); clearing this task later "
                "would re-attach to it instead of training again", run_id, err,
            )

    # -- OpenLineage ----------------------------------------------------------------------------

    def get_openlineage_facets_on_start(self) -> Any:
        """Before the run: the workflow's dataset as input (its version from ``overrides.datasetVersion``)."""

        def build() -> Any:
            from griffin_provider.openlineage import dataset_input, operator_lineage

            client = self.hook.get_conn()
            spec = client.get_workflow(self.workflow).get("spec") or {}
            ref = spec.get("dataset")
            name, _, version = (ref if isinstance(ref, str) else f"{(ref or {}).get('name')}@{(ref or {}).get('version')}").partition("@")
            version = (self.overrides or {}).get("datasetVersion") or version
            return operator_lineage([dataset_input(client.base_url, {"name": name, "version": version})] if name else [], [])

        return _lineage_safely(self, build)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """After the run: its dataset@version (URI, schema from the features) in, the model version it registered out, and the run."""

        def build() -> Any:
            from griffin_provider.openlineage import operator_lineage, run_lineage

            if not self.griffin_run_id:
                return operator_lineage([], [])
            client = self.hook.get_conn()
            return run_lineage(client, client.get_run(self.griffin_run_id))

        return _lineage_safely(self, build)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        return self.get_openlineage_facets_on_complete(task_instance)

    # -- killing ----------------------------------------------------------------------------------

    def _cancel_quietly(self, run_id: str | None, reason: str) -> None:
        if not run_id:
            return
        try:
            self.hook.cancel_run(run_id, reason=reason, try_number=self._try_number)
            self._run_cancelled = True
            self.log.info("Cancelled Griffin run %s", run_id)
        except GriffinConflictError:
            self.log.info("Griffin run %s had already finished", run_id)
        except GriffinError as err:
            self.log.warning("Could not cancel Griffin run %s: %s", run_id, err)

    def on_kill(self) -> None:
        if not (self.cancel_on_kill and self.griffin_run_id) or self._run_cancelled:
            return
        known, state = task_state_now(self._ti)
        if not known or state == "running":
            # SIGTERM while Airflow still runs the task: a worker shutdown, a deploy or an eviction.
            self.log.warning(
                "The task process is being stopped while Airflow %s; Griffin run %s keeps training, "
                "and the next try of this task re-attaches to it",
                "still has it running" if known else "could not be asked for its state",
                self.griffin_run_id,
            )
            return
        self._cancel_quietly(self.griffin_run_id, f"Airflow task was killed (task {state or 'cleared'})")


# ---------------------------------------------------------------------------------------------
# Register a model version
# ---------------------------------------------------------------------------------------------


def version_summary(version: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": version.get("name"),
        "version": version.get("version"),
        "artifact_uri": version.get("artifactUri"),
        "run_id": version.get("runId"),
        "aliases": list(version.get("aliases") or []),
        "tags": dict(version.get("tags") or {}),
        "metrics": dict(version.get("metrics") or {}),
        "url": version.get("url"),
    }


class GriffinRegisterModelVersionOperator(BaseOperator):
    """
    Register a model version in the Griffin registry from a run or an artifact URI, and set aliases.

    Registration is idempotent on (model, run): registering the same run twice returns the same
    version. Aliases are (re)pointed at the version even when it existed before. Returns
    ``{"name", "version", "artifact_uri", "run_id", "aliases", "tags", "metrics", "url"}``.

    :param model_name: The registered model's name. (templated)
    :param run_id: The Griffin run whose artifacts become the version; or use ``artifact_uri``. (templated)
    :param artifact_uri: An artifact URI to register instead of a run. (templated)
    :param aliases: Aliases to point at the new version, e.g. ``["production"]``. (templated)
    :param tags: Tags of the version. (templated)
    :param description: Description of the version. (templated)
    :param idempotency_key: The Idempotency-Key of the registration; defaults to one built from
        dag_id, task_id, run_id and map_index. (templated)
    :param griffin_conn_id: The Airflow connection id of the Griffin service.
    """

    template_fields: Sequence[str] = (
        "model_name",
        "run_id",
        "artifact_uri",
        "aliases",
        "tags",
        "description",
        "idempotency_key",
    )
    template_fields_renderers = {"tags": "json"}
    operator_extra_links = (GriffinModelVersionLink(),)
    ui_color = "#f4d35e"

    def __init__(
        self,
        *,
        model_name: str,
        run_id: str | None = None,
        artifact_uri: str | None = None,
        aliases: list[str] | None = None,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        idempotency_key: str | None = None,
        griffin_conn_id: str = GriffinHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if run_id is None and artifact_uri is None:
            raise ValueError("one of run_id and artifact_uri is required")
        if run_id is not None and artifact_uri is not None:
            raise ValueError("run_id and artifact_uri are mutually exclusive")
        self.model_name = model_name
        self.run_id = run_id
        self.artifact_uri = artifact_uri
        self.aliases = aliases
        self.tags = tags
        self.description = description
        self.idempotency_key = idempotency_key
        self.griffin_conn_id = griffin_conn_id
        # An Asset event on griffin://models/<name> when the version is registered; Airflow needs
        # the outlet at parse time, so a templated model_name needs outlets=[model_asset(...)].
        if "outlets" not in kwargs:
            self.outlets = default_model_outlets(model_name)
        self._registered: dict[str, Any] | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        hook = GriffinHook(griffin_conn_id=self.griffin_conn_id)
        aliases = [self.aliases] if isinstance(self.aliases, str) else list(self.aliases or [])
        # The source is part of the default key: after a cleared training task trained again, this
        # task registers another run under the same task instance, which is a new registration.
        source = self.run_id or "uri-" + hashlib.sha256(str(self.artifact_uri).encode("utf-8")).hexdigest()[:16]
        key = self.idempotency_key or default_idempotency_key(context, f"register/{source}")
        try:
            version = hook.register_model_version(
                self.model_name,
                run_id=self.run_id or None,
                artifact_uri=self.artifact_uri or None,
                aliases=aliases or None,
                tags=self.tags or None,
                description=self.description or None,
                idempotency_key=key,
            )
        except GriffinConflictError as err:
            raise AirflowFailException(
                f"The Griffin service refused idempotency key {key!r}: it was used before with a different "
                f"registration ({err.message}). Set idempotency_key explicitly."
            ) from err
        # When the version existed already (same model and run), the service returns it as it was;
        # the aliases asked for now must still point at it.
        for alias in aliases:
            if alias not in (version.get("aliases") or []):
                hook.set_model_alias(self.model_name, alias, version["version"])
                version.setdefault("aliases", []).append(alias)
        version = self._merge_into_existing(hook, version)
        self.log.info(
            "Registered %s version %s (aliases %s): %s",
            version.get("name", self.model_name), version.get("version"), version.get("aliases"), version.get("url"),
        )
        _push_link(self, context, GriffinModelVersionLink(), XCOM_MODEL_VERSION_URL_KEY, version.get("url"))
        self._registered = version
        emit_model_event(
            self, context, self.model_name,
            model_event_extra(version, change="version_registered", alias=aliases[0] if aliases else None),
        )
        return version_summary(version)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The run's dataset@version (URI, schema from the features) in, the model@version out, and the run."""

        def build() -> Any:
            from griffin_provider.openlineage import operator_lineage, version_lineage

            if not self._registered:
                return operator_lineage([], [])
            client = GriffinHook(griffin_conn_id=self.griffin_conn_id).get_conn()
            return version_lineage(client, self.model_name, self._registered)

        return _lineage_safely(self, build)

    def get_openlineage_facets_on_start(self) -> Any:
        """Nothing is known before the registration but the model it writes."""

        def build() -> Any:
            from griffin_provider.openlineage import model_output, operator_lineage

            client = GriffinHook(griffin_conn_id=self.griffin_conn_id).get_conn()
            return operator_lineage([], [model_output(client.base_url, self.model_name, None)])

        return _lineage_safely(self, build)

    def _merge_into_existing(self, hook: GriffinHook, version: dict[str, Any]) -> dict[str, Any]:
        """
        A version registered before (by the workflow's ``register`` block, say) comes back as it was:
        merge this task's tags and description into it, and say what changed.
        """
        current = version.get("tags") or {}
        tags = {str(k): str(v) for k, v in (self.tags or {}).items() if current.get(str(k)) != str(v)}
        description = self.description if self.description and self.description != version.get("description") else None
        if not tags and description is None:
            return version
        aliases = version.get("aliases")
        version = hook.update_model_version(self.model_name, version["version"], tags=tags or None, description=description)
        version.setdefault("aliases", aliases or [])
        changes = [f"tags {tags}"] if tags else []
        if description is not None:
            changes.append("the description")
        self.log.info("Version %s existed already; merged %s into it", version.get("version"), " and ".join(changes))
        return version


# ---------------------------------------------------------------------------------------------
# Promote a model version (metric-gated, compare-and-set)
# ---------------------------------------------------------------------------------------------


def _metric_value(version: Mapping[str, Any] | None, metric: str) -> float | None:
    value = ((version or {}).get("metrics") or {}).get(metric)
    return float(value) if isinstance(value, (int, float)) else None


class GriffinPromoteModelVersionOperator(BaseOperator):
    """
    Move an alias (``production``) to a candidate version only if it is better on a metric, race-free.

    The candidate is compared with the version the alias holds now: with ``mode="max"`` it must be
    higher by at least ``min_improvement`` (``"min"``: lower, for losses), and strictly better. An
    unset alias, or a holder without the metric, promotes. The move is a compare-and-set on the
    holder the comparison saw (``expectedVersion``): if someone moved the alias in between, the
    service answers 409 and the task fails saying where the alias is now, rather than overwriting a
    promotion it never compared against. A retry of the task compares again, with the new holder.

    Both values are logged. The decision goes to XCom (``griffin_promotion``, and the return
    value): ``{"decision": "promoted" | "kept", "reason", "model", "alias", "metric", "mode",
    "candidate_version", "candidate_value", "holder_version", "holder_value", "url"}``. A promotion
    emits an Asset event on ``griffin://models/<name>`` (an outlet by default); keeping the holder
    emits none, so DAGs scheduled on the model run only when it changed.

    :param model_name: The registered model. (templated)
    :param version: The candidate version, e.g. ``"{{ ti.xcom_pull(task_ids='register')['version'] }}"``. (templated)
    :param alias: The alias to move. (templated)
    :param metric: The metric to compare, from the versions' metrics snapshots, e.g. ``val_auc``. (templated)
    :param mode: ``max`` (higher is better) or ``min`` (lower is better).
    :param min_improvement: How much better the candidate must be (in the metric's units).
    :param reason: Recorded in the alias history with the comparison. (templated)
    :param griffin_conn_id: The Airflow connection id of the Griffin service.
    """

    template_fields: Sequence[str] = ("model_name", "version", "alias", "metric", "reason")
    operator_extra_links = (GriffinModelVersionLink(),)
    ui_color = "#f4d35e"

    def __init__(
        self,
        *,
        model_name: str,
        version: int | str,
        metric: str,
        alias: str = "production",
        mode: str = "max",
        min_improvement: float = 0.0,
        reason: str | None = None,
        griffin_conn_id: str = GriffinHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in PROMOTION_MODES:
            raise ValueError(f"mode must be one of {PROMOTION_MODES}, not {mode!r}")
        if float(min_improvement) < 0:
            raise ValueError(f"min_improvement must be zero or more, not {min_improvement!r}")
        self.model_name = model_name
        self.version = version
        self.metric = metric
        self.alias = alias
        self.mode = mode
        self.min_improvement = float(min_improvement)
        self.reason = reason
        self.griffin_conn_id = griffin_conn_id
        if "outlets" not in kwargs:
            self.outlets = default_model_outlets(model_name)

    def _candidate_version(self) -> int:
        try:
            return int(str(self.version).strip())
        except ValueError:
            raise AirflowFailException(f"version must be a model version number, not {self.version!r}") from None

    def _decide(self, candidate: Mapping[str, Any], holder: Mapping[str, Any] | None) -> tuple[bool, str]:
        cand = _metric_value(candidate, self.metric)
        if cand is None:
            raise AirflowFailException(
                f"{self.model_name} v{candidate.get('version')} has no metric {self.metric!r} "
                f"(it has {sorted((candidate.get('metrics') or {}).keys())}); nothing to compare"
            )
        if holder is None:
            return True, f"{self.alias} was unset; v{candidate['version']} has {self.metric}={cand:g}"
        if holder.get("version") == candidate.get("version"):
            return False, f"v{candidate['version']} already holds {self.alias}"
        held = _metric_value(holder, self.metric)
        if held is None:
            return True, f"the holder v{holder['version']} has no {self.metric}; v{candidate['version']} has {cand:g}"
        improvement = cand - held if self.mode == "max" else held - cand
        comparison = (
            f"{self.metric} {cand:g} (v{candidate['version']}) vs {held:g} (v{holder['version']}, {self.alias}): "
            f"{'+' if improvement >= 0 else ''}{improvement:g} ({'higher' if self.mode == 'max' else 'lower'} is better, "
            f"min_improvement {self.min_improvement:g})"
        )
        if improvement > 0 and improvement >= self.min_improvement:
            return True, comparison
        return False, comparison

    def _own_earlier_move(self, hook: GriffinHook, holder: int | None, target: int, reason: str) -> dict[str, Any] | None:
        """
        A 409 can answer this try's own move: the client retries a PUT whose answer was lost, and
        the retry finds the alias already moved. The alias history tells: the newest move is ours
        (same from, to and reason, which names this DAG run and try). Then the promotion happened.
        """
        try:
            latest = (hook.get_conn().get_alias_history(self.model_name, self.alias, limit=1) or [None])[0]
        except GriffinError:
            return None
        if latest and (latest.get("fromVersion"), latest.get("toVersion"), latest.get("reason")) == (holder, target, reason):
            self.log.info("The 409 answered a retry of this try's own move (the first answer was lost): promoted")
            return hook.get_model_version(self.model_name, target)
        return None

    def _lost_race(self, candidate: Mapping[str, Any], holder_version: int | None, err: GriffinConflictError) -> AirflowException:
        return AirflowException(
            f"Lost the race for {self.model_name}:{self.alias}: it moved after this task compared "
            f"v{candidate.get('version')} with {f'v{holder_version}' if holder_version else 'no holder'}, "
            f"and Griffin refused to overwrite it (409: {err.message}). Nothing was changed; a retry compares again."
        )

    def execute(self, context: Context) -> dict[str, Any]:
        hook = GriffinHook(griffin_conn_id=self.griffin_conn_id)
        candidate = hook.get_model_version(self.model_name, self._candidate_version())
        holder = hook.get_model_alias(self.model_name, self.alias)
        promote, reason = self._decide(candidate, holder)
        holder_version = holder.get("version") if holder else None
        self.log.info(
            "Candidate %s v%s: %s=%s; %s holder: %s",
            self.model_name, candidate.get("version"), self.metric, _metric_value(candidate, self.metric), self.alias,
            f"v{holder_version} with {self.metric}={_metric_value(holder, self.metric)}" if holder else "none",
        )
        decision = {
            "decision": "promoted" if promote else "kept",
            "reason": reason,
            "model": self.model_name,
            "alias": self.alias,
            "metric": self.metric,
            "mode": self.mode,
            "candidate_version": candidate.get("version"),
            "candidate_value": _metric_value(candidate, self.metric),
            "holder_version": holder_version,
            "holder_value": _metric_value(holder, self.metric),
            "url": candidate.get("url"),
        }
        if promote:
            note = f"{self.reason}: {reason}" if self.reason else reason
            ti = context["ti"]
            history_reason = f"promoted from Airflow ({ti.dag_id}.{ti.task_id}, {ti.run_id}, try {_try_number(ti)}): {note}"
            try:
                moved = hook.move_model_alias(
                    self.model_name, self.alias, int(candidate["version"]), expected_version=holder_version, reason=history_reason,
                )
            except GriffinConflictError as err:
                moved = self._own_earlier_move(hook, holder_version, int(candidate["version"]), history_reason)
                if moved is None:
                    raise self._lost_race(candidate, holder_version, err) from err
            self.log.info("Promoted %s v%s to %s: %s", self.model_name, candidate.get("version"), self.alias, reason)
            emit_model_event(
                self, context, self.model_name,
                model_event_extra(moved, change="alias_moved", alias=self.alias, previous_version=holder_version),
            )
        else:
            self.log.info("Kept %s at %s: %s", self.alias, f"v{holder_version}" if holder_version else "unset", reason)
            withhold_model_event(self, self.model_name)
        if getattr(self, "do_xcom_push", True):
            context["ti"].xcom_push(key=XCOM_PROMOTION_KEY, value=decision)
        _push_link(self, context, GriffinModelVersionLink(), XCOM_MODEL_VERSION_URL_KEY, candidate.get("url"))
        return decision


# ---------------------------------------------------------------------------------------------
# Cancel
# ---------------------------------------------------------------------------------------------


class GriffinCancelTrainingRunOperator(BaseOperator):
    """
    Cancel a Griffin training run; a run that already finished is left as it is (not an error).

    Returns the run summary.

    :param run_id: The Griffin run to cancel. (templated)
    :param reason: Why, recorded on the run. (templated)
    :param wait_for_termination: Wait until the backend confirmed (the run is ``cancelled`` or finished).
    :param poll_interval: Seconds between two status checks while waiting.
    :param griffin_conn_id: The Airflow connection id of the Griffin service.
    """

    template_fields: Sequence[str] = ("run_id", "reason")
    operator_extra_links = (GriffinRunLink(),)
    ui_color = "#f4d35e"

    def __init__(
        self,
        *,
        run_id: str,
        reason: str | None = None,
        wait_for_termination: bool = False,
        poll_interval: float = 10.0,
        griffin_conn_id: str = GriffinHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        self.reason = reason
        self.wait_for_termination = wait_for_termination
        self.poll_interval = poll_interval
        self.griffin_conn_id = griffin_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        hook = GriffinHook(griffin_conn_id=self.griffin_conn_id)
        try:
            run = hook.cancel_run(self.run_id, reason=self.reason or "cancelled from Airflow")
            self.log.info("Asked Griffin to cancel run %s: now %s", self.run_id, run.get("state"))
        except GriffinConflictError:
            run = hook.get_run(self.run_id)
            self.log.info("Griffin run %s had already finished: %s", self.run_id, run.get("state"))
        _push_link(self, context, GriffinRunLink(), XCOM_RUN_URL_KEY, run.get("url"))
        if self.wait_for_termination and not GriffinRunState.is_terminal(run["state"]):
            run = hook.wait_for_run(self.run_id, poll_interval=self.poll_interval)
        return run_summary(run)
