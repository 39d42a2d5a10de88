"""Sensor that waits for a Griffin training run to finish (poke, reschedule or deferrable)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from griffin_provider._compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    TaskDeferralError,
    default_deferrable,
)
from griffin_sdk.client import GriffinError, GriffinRunState, OutageTracker, griffin_log_line, run_summary
from griffin_provider.hooks import GriffinHook
from griffin_provider.operators import XCOM_RUN_URL_KEY, GriffinRunLink, _push_link, _seconds
from griffin_provider.triggers import DEFAULT_FAILURE_STATES, DEFAULT_SUCCESS_STATES, GriffinTrainingRunTrigger

if TYPE_CHECKING:
    try:
        from airflow.sdk import Context
    except ImportError:
        from airflow.utils.context import Context  # type: ignore[no-redef]


class GriffinTrainingRunSensor(BaseSensorOperator):
    """
    Wait until a Griffin training run reaches a success state; fail with the run's reason otherwise.

    Works in ``poke`` and ``reschedule`` modes (``mode=...``) and, with ``deferrable=True``, in the
    triggerer. A run in a failure state fails the task without retries (the run will not change),
    or skips it with ``soft_fail=True``. Returns the run summary (XCom ``return_value``).

    Griffin being unreachable (a deploy, a restart) is "not yet", not a failure. In poke mode and in
    the triggerer an outage longer than ``griffin_unreachable_timeout`` fails the task. In reschedule
    mode each poke is a new process and Airflow clears the task's XComs between pokes, so nothing
    carries the outage's start over: every poke that finds Griffin unreachable logs it and
    reschedules, and the sensor's own ``timeout`` bounds the wait.

    :param run_id: The Griffin run to wait on. (templated)
    :param griffin_conn_id: The Airflow connection id of the Griffin service.
    :param success_states: Run states that end the wait successfully.
    :param failure_states: Run states that fail the task.
    :param deferrable: Wait in the triggerer, polling every ``poke_interval`` until ``timeout``.
    :param copy_logs: Copy the run's log into the task log once the run succeeded or failed.
    :param griffin_unreachable_timeout: How long (seconds or timedelta) Griffin may stay unreachable
        before the task fails; defaults to the connection's extra ``unreachable_timeout``, else 10 minutes.
    """

    template_fields: Sequence[str] = ("run_id",)
    operator_extra_links = (GriffinRunLink(),)
    ui_color = "#f4d35e"

    def __init__(
        self,
        *,
        run_id: str,
        griffin_conn_id: str = GriffinHook.default_conn_name,
        success_states: Sequence[str] = DEFAULT_SUCCESS_STATES,
        failure_states: Sequence[str] = DEFAULT_FAILURE_STATES,
        deferrable: bool = default_deferrable(),
        copy_logs: bool = True,
        griffin_unreachable_timeout: timedelta | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        overlap = set(success_states) & set(failure_states)
        if overlap:
            raise ValueError(f"states cannot be both success and failure states: {sorted(overlap)}")
        self.run_id = run_id
        self.griffin_conn_id = griffin_conn_id
        self.success_states = list(success_states)
        self.failure_states = list(failure_states)
        self.deferrable = deferrable
        self.copy_logs = copy_logs
        self.griffin_unreachable_timeout = griffin_unreachable_timeout
        self._outage: OutageTracker | None = None

    @property
    def hook(self) -> GriffinHook:
        if getattr(self, "_hook", None) is None:
            self._hook = GriffinHook(griffin_conn_id=self.griffin_conn_id)
        return self._hook

    def _copy_logs(self) -> None:
        if not self.copy_logs:
            return
        try:
            self.hook.copy_logs(self.run_id, 0, lambda line: self.log.info("%s", griffin_log_line(line)))
        except GriffinError as err:
            self.log.warning("Could not copy the Griffin log: %s", err)

    def _fail(self, message: str) -> None:
        # AirflowFailException: a failed run stays failed, so retrying the sensor cannot help.
        # With soft_fail the base class turns it into a skip (we do the same in deferrable mode).
        if self.soft_fail:
            raise AirflowSkipException(message)
        raise AirflowFailException(message)

    def _check(self, run: dict[str, Any]) -> dict[str, Any] | None:
        """The summary if the run succeeded, None if it is still going; raises if it failed."""
        state = run["state"]
        if state in self.success_states:
            self._copy_logs()
            return run_summary(run)
        if state in self.failure_states or GriffinRunState.is_terminal(state):
            self._copy_logs()
            self._fail(f"Griffin run {run['id']} {state}: {run.get('reason') or 'no reason given'} ({run.get('url')})")
        return None

    def _unreachable_timeout(self) -> float:
        return self.hook.unreachable_timeout(_seconds(self.griffin_unreachable_timeout))

    def poke(self, context: Context) -> PokeReturnValue:
        if self._outage is None:
            self._outage = OutageTracker(self._unreachable_timeout(), log=self.log.warning)
        try:
            run = self.hook.get_run(self.run_id)
        except GriffinError as err:
            self._outage.failed(err, f"waiting for run {self.run_id}")
            return PokeReturnValue(is_done=False)
        self._outage.recovered()
        if not getattr(self, "_link_pushed", False):
            _push_link(self, context, GriffinRunLink(), XCOM_RUN_URL_KEY, run.get("url"))
            self._link_pushed = True
        if run["state"] == "queued" and run.get("reason"):
            self.log.info("Griffin run %s is queued: %s", self.run_id, run["reason"])
        else:
            self.log.info("Griffin run %s is %s", self.run_id, run["state"])
        summary = self._check(run)
        return PokeReturnValue(is_done=summary is not None, xcom_value=summary)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        result = self.poke(context)
        if result.is_done:
            return result.xcom_value
        self.defer(
            trigger=GriffinTrainingRunTrigger(
                run_id=self.run_id,
                griffin_conn_id=self.griffin_conn_id,
                poll_interval=self.poke_interval,
                deadline=time.time() + self.timeout,
                success_states=self.success_states,
                failure_states=self.failure_states,
                unreachable_timeout=self._unreachable_timeout(),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + max(60.0, 2 * self.poke_interval)),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired."""
        if not event:
            raise TaskDeferralError("The Griffin trigger fired without an event")
        status = event.get("status")
        if status in ("success", "failed"):
            self._copy_logs()
        if status == "success":
            return event["run"]
        if status == "failed":
            self._fail(event.get("message") or f"Griffin run {self.run_id} failed")
        if status == "timeout":
            message = f"Sensor timed out waiting for Griffin run {self.run_id}: {event.get('message')}"
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowSensorTimeout(message)
        raise AirflowException(event.get("message") or f"Unexpected Griffin trigger event: {event!r}")
