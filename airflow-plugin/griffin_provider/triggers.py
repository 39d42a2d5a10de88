"""Trigger that waits asynchronously (in the triggerer) for a Griffin training run to finish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from griffin_provider._compat import BaseTrigger, TriggerEvent
from griffin_provider.client import GriffinError, GriffinRunState, LogLineBuffer, run_summary
from griffin_provider.hooks import GriffinHook

DEFAULT_SUCCESS_STATES = (GriffinRunState.SUCCEEDED.value,)
DEFAULT_FAILURE_STATES = (GriffinRunState.FAILED.value, GriffinRunState.CANCELLED.value)


class GriffinTrainingRunTrigger(BaseTrigger):
    """
    Poll a Griffin run until it reaches a success or failure state, or the deadline passes; yield one event.

    The event payload is ``{"status", "run_id", "state", "message", "run", "log_cursor"}`` where
    ``status`` is ``success``, ``failed``, ``timeout`` or ``error`` and ``run`` is the run summary.

    :param run_id: The Griffin run id.
    :param griffin_conn_id: The Airflow connection id.
    :param poll_interval: Seconds between two polls.
    :param deadline: Absolute epoch time (seconds) after which a ``timeout`` event is yielded; None for none.
    :param success_states: Run states that end the wait successfully.
    :param failure_states: Run states that end the wait with a failure.
    :param log_cursor: If not None, copy the run's log from this cursor into the task log while waiting
        (the event carries the cursor reached); None copies nothing.
    :param cancel_on_kill: Cancel the run when a user kills the deferred task (Airflow versions whose
        triggerer calls ``BaseTrigger.on_kill``; older versions never call it).
    """

    def __init__(
        self,
        run_id: str,
        griffin_conn_id: str = GriffinHook.default_conn_name,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        success_states: Sequence[str] = DEFAULT_SUCCESS_STATES,
        failure_states: Sequence[str] = DEFAULT_FAILURE_STATES,
        log_cursor: int | None = None,
        cancel_on_kill: bool = False,
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.griffin_conn_id = griffin_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = float(deadline) if deadline is not None else None
        self.success_states = list(success_states)
        self.failure_states = list(failure_states)
        self.log_cursor = log_cursor
        self.cancel_on_kill = cancel_on_kill

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "run_id": self.run_id,
                "griffin_conn_id": self.griffin_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "success_states": list(self.success_states),
                "failure_states": list(self.failure_states),
                "log_cursor": self.log_cursor,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    def _hook(self) -> GriffinHook:
        return GriffinHook(griffin_conn_id=self.griffin_conn_id)

    def _event(self, status: str, run: dict[str, Any] | None, message: str) -> TriggerEvent:
        return TriggerEvent(
            {
                "status": status,
                "run_id": self.run_id,
                "state": run.get("state") if run else None,
                "message": message,
                "run": run_summary(run) if run else None,
                "log_cursor": self.log_cursor,
            }
        )

    def _classify(self, run: dict[str, Any]) -> TriggerEvent | None:
        state = run.get("state")
        if state in self.success_states:
            return self._event("success", run, f"Griffin run {self.run_id} {state}")
        if state in self.failure_states:
            reason = run.get("reason") or "no reason given"
            return self._event("failed", run, f"Griffin run {self.run_id} {state}: {reason}")
        if GriffinRunState.is_terminal(state):
            return self._event(
                "failed", run, f"Griffin run {self.run_id} ended {state}, which is not a success state"
            )
        return None

    async def _copy_new_logs(self, client: Any, buffer: LogLineBuffer) -> None:
        if self.log_cursor is None:
            return
        try:
            text, self.log_cursor = await client.read_new_logs(self.run_id, self.log_cursor)
        except GriffinError as err:  # logs are a convenience; never fail the wait for them
            self.log.warning("Could not read the logs of Griffin run %s: %s", self.run_id, err)
            return
        for line in buffer.feed(text):
            self.log.info("[griffin] %s", line)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        buffer = LogLineBuffer()
        event: TriggerEvent | None = None
        try:
            async with await self._hook().aget_conn() as client:
                while event is None:
                    run = await client.get_run(self.run_id)
                    await self._copy_new_logs(client, buffer)
                    event = self._classify(run)
                    if event is not None:
                        break
                    now = time.time()
                    if self.deadline is not None and now >= self.deadline:
                        event = self._event(
                            "timeout", run, f"Griffin run {self.run_id} still {run.get('state')} at the deadline"
                        )
                        break
                    wait = self.poll_interval if self.deadline is None else min(self.poll_interval, self.deadline - now)
                    await asyncio.sleep(max(0.0, wait))
        except GriffinError as err:
            event = self._event("error", None, f"Error while waiting for Griffin run {self.run_id}: {err}")
        for line in buffer.flush():
            self.log.info("[griffin] %s", line)
        yield event

    async def on_kill(self) -> None:
        """Called by the triggerer when a user kills the deferred task (mark failed / success, clear)."""
        if not self.cancel_on_kill:
            return
        try:
            await self._hook().async_cancel_run(self.run_id, reason="Airflow task was killed while deferred")
            self.log.info("Cancelled Griffin run %s", self.run_id)
        except GriffinError as err:
            self.log.warning("Could not cancel Griffin run %s: %s", self.run_id, err)
