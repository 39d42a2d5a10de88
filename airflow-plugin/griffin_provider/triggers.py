"""Trigger that waits asynchronously (in the triggerer) for a Griffin training run to finish."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from griffin_provider._compat import BaseEventTrigger, BaseTrigger, TriggerEvent
from griffin_sdk.client import (
    GriffinError,
    GriffinRunState,
    LogLineBuffer,
    OutageTracker,
    cancelled_by_earlier_try,
    griffin_log_line,
    run_summary,
)
from griffin_provider._waiting import QueuedReasonLog
from griffin_provider.hooks import GriffinHook

# An event is not fired sooner than this after the trigger starts. When a task defers, its worker
# exits and the executor reports that exit as a success; an Airflow scheduler that takes that report
# after the trigger fired, with the task queued or running again to resume, marks the task failed
# ("state mismatch", apache/airflow#67287; Airflow 3.3.2 guards only a task back in "scheduled").
# A run that ends (or is superseded by a clear) while its task defers would hit that window.
# Training runs last minutes, so waiting out the scheduler's lag costs nothing that matters. The
# triggerer's environment may change it.
MIN_SECONDS_BEFORE_EVENT_ENV = "GRIFFIN_TRIGGER_MIN_SECONDS_BEFORE_EVENT"
DEFAULT_MIN_SECONDS_BEFORE_EVENT = 10.0


def min_seconds_before_event() -> float:
    try:
        return max(0.0, float(os.environ.get(MIN_SECONDS_BEFORE_EVENT_ENV, DEFAULT_MIN_SECONDS_BEFORE_EVENT)))
    except ValueError:
        return DEFAULT_MIN_SECONDS_BEFORE_EVENT

DEFAULT_SUCCESS_STATES = (GriffinRunState.SUCCEEDED.value,)
# Every other way a run ends (the SDK's states come from the service's lifecycle).
DEFAULT_FAILURE_STATES = GriffinRunState.failure_states()


class GriffinTrainingRunTrigger(BaseTrigger):
    """
    Poll a Griffin run until it reaches a success or failure state, or the deadline passes; yield one event.

    The event payload is ``{"status", "run_id", "state", "message", "run", "log_cursor", "limit",
    "cancelled_by_try"}``
    where ``status`` is ``success``, ``failed``, ``timeout``, ``superseded`` (an earlier try of the
    same task cancelled the run: a user cleared the task) or ``error``; ``run`` is the run summary,
    ``limit`` names the deadline that was reached (for ``timeout``) and ``cancelled_by_try`` is the
    Airflow try that asked to cancel the run, if one did. The event fires no sooner than
    ``GRIFFIN_TRIGGER_MIN_SECONDS_BEFORE_EVENT`` (10 s) after the trigger starts; see
    :data:`DEFAULT_MIN_SECONDS_BEFORE_EVENT`.

    Griffin being unreachable (a deploy, a restart) is waited out for up to ``unreachable_timeout``
    seconds of continuous outage, each failed poll logged once with how long it has lasted; only a
    longer outage yields ``error``. The kwargs cross Airflow's serialization boundary, so they are
    checked here, where a bad value fails the task that defers rather than the triggerer.

    :param run_id: The Griffin run id.
    :param griffin_conn_id: The Airflow connection id.
    :param poll_interval: Seconds between two polls.
    :param deadline: Absolute epoch time (seconds) after which a ``timeout`` event is yielded; None for none.
    :param success_states: Run states that end the wait successfully.
    :param failure_states: Run states that end the wait with a failure.
    :param log_cursor: If not None, copy the run's log from this cursor into the task log while waiting
        (the event carries the cursor reached); None copies nothing.
    :param cancel_on_kill: Cancel the run when a user kills the deferred task (Airflow versions whose
        triggerer calls ``BaseTrigger.on_kill``, 3.3 and later, and only on a user's action; older
        versions never call it).
    :param try_number: The Airflow try that deferred; recorded with a cancel, and used to tell an
        earlier try's cancel (a clear) from a user's.
    :param deadline_limit: What ``deadline`` stands for, named in the timeout event, e.g.
        ``execution_timeout (25s)``.
    :param unreachable_timeout: Seconds of continuous Griffin outage tolerated (default 600).
    :param log_reader: A name for this copy of the log (one per task try). When set, the trigger
        records in Griffin how far it copied, so that after a triggerer restart, which re-creates the
        trigger from these kwargs, it goes on from there instead of copying the log again.
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
        try_number: int | None = None,
        deadline_limit: str | None = None,
        unreachable_timeout: float | None = None,
        log_reader: str | None = None,
    ) -> None:
        super().__init__()
        if not run_id or not isinstance(run_id, str):
            raise ValueError(f"run_id must be a Griffin run id, not {run_id!r}")
        if float(poll_interval) <= 0:
            raise ValueError(f"poll_interval must be positive, not {poll_interval!r}")
        if unreachable_timeout is not None and float(unreachable_timeout) < 0:
            raise ValueError(f"unreachable_timeout must be >= 0 seconds, not {unreachable_timeout!r}")
        self.run_id = run_id
        self.griffin_conn_id = griffin_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = float(deadline) if deadline is not None else None
        self.success_states = list(success_states)
        self.failure_states = list(failure_states)
        self.log_cursor = log_cursor
        self.cancel_on_kill = cancel_on_kill
        self.try_number = int(try_number) if try_number is not None else None
        self.deadline_limit = deadline_limit
        self.unreachable_timeout = float(unreachable_timeout) if unreachable_timeout is not None else None
        self.log_reader = log_reader

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
                "try_number": self.try_number,
                "deadline_limit": self.deadline_limit,
                "unreachable_timeout": self.unreachable_timeout,
                "log_reader": self.log_reader,
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
                "limit": self.deadline_limit if status == "timeout" else None,
                # Which try asked for the cancel: the resumed task names it in its log.
                "cancelled_by_try": run.get("cancelRequestedByTry") if run else None,
            }
        )

    def _classify(self, run: dict[str, Any]) -> TriggerEvent | None:
        state = run.get("state")
        if cancelled_by_earlier_try(run, self.try_number):
            return self._event(
                "superseded", run,
                f"Griffin run {self.run_id} was cancelled by try {run.get('cancelRequestedByTry')} of this task "
                f"(the task was cleared); try {self.try_number} starts a new run",
            )
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

    async def _resume_log_cursor(self, client: Any) -> None:
        """After a triggerer restart, go on where an earlier copy of this trigger stopped copying."""
        if self.log_cursor is None or not self.log_reader:
            return
        try:
            self.log_cursor = max(self.log_cursor, await client.get_log_cursor(self.run_id, self.log_reader))
        except GriffinError as err:  # logs are a convenience; never fail the wait for them
            self.log.warning("Could not read where the log copy of Griffin run %s stopped: %s", self.run_id, err)

    async def _copy_new_logs(self, client: Any, buffer: LogLineBuffer) -> None:
        if self.log_cursor is None:
            return
        try:
            text, self.log_cursor = await client.read_new_logs(self.run_id, self.log_cursor)
        except GriffinError as err:  # logs are a convenience; never fail the wait for them
            self.log.warning("Could not read the logs of Griffin run %s: %s", self.run_id, err)
            return
        lines = buffer.feed(text)
        for line in lines:
            self.log.info("%s", griffin_log_line(line))
        if lines and self.log_reader:
            try:
                # The start of the line not yet shown, so a restarted trigger shows it whole.
                await client.set_log_cursor(self.run_id, self.log_reader, self.log_cursor - buffer.pending_bytes())
            except GriffinError as err:
                self.log.warning("Could not record where the log copy of Griffin run %s is: %s", self.run_id, err)

    def _deadline_event(self, run: dict[str, Any] | None) -> TriggerEvent | None:
        if self.deadline is None or time.time() < self.deadline:
            return None
        state = run.get("state") if run else "in an unknown state (Griffin unreachable)"
        limit = f" ({self.deadline_limit})" if self.deadline_limit else ""
        return self._event("timeout", run, f"Griffin run {self.run_id} still {state} at the deadline{limit}")

    async def run(self) -> AsyncIterator[TriggerEvent]:
        started = time.monotonic()
        buffer = LogLineBuffer()
        event: TriggerEvent | None = None
        outage = OutageTracker(self.unreachable_timeout, log=self.log.warning)
        waiting = QueuedReasonLog(self.log.info)
        run: dict[str, Any] | None = None
        try:
            async with await self._hook().aget_conn() as client:
                await self._resume_log_cursor(client)
                while event is None:
                    try:
                        run = await client.get_run(self.run_id)
                    except GriffinError as err:
                        outage.failed(err, f"waiting for run {self.run_id}")
                        event = self._deadline_event(run)
                        if event is None:
                            await asyncio.sleep(self._sleep_for(outage.pause(self.poll_interval)))
                        continue
                    outage.recovered()
                    waiting.observe(run)
                    await self._copy_new_logs(client, buffer)
                    event = self._classify(run) or self._deadline_event(run)
                    if event is None:
                        await asyncio.sleep(self._sleep_for(self.poll_interval))
        except GriffinError as err:
            event = self._event("error", run, f"Error while waiting for Griffin run {self.run_id}: {err}")
        for line in buffer.flush():
            self.log.info("%s", griffin_log_line(line))
        await asyncio.sleep(max(0.0, min_seconds_before_event() - (time.monotonic() - started)))
        yield event

    def _sleep_for(self, wait: float) -> float:
        if self.deadline is not None:
            wait = min(wait, self.deadline - time.time())
        return max(0.0, wait)

    async def on_kill(self) -> None:
        """Called by the triggerer when a user kills the deferred task (mark failed / success, clear)."""
        if not self.cancel_on_kill:
            return
        try:
            await self._hook().async_cancel_run(
                self.run_id, reason="Airflow task was killed while deferred", try_number=self.try_number
            )
            self.log.info("Cancelled Griffin run %s", self.run_id)
        except GriffinError as err:
            self.log.warning("Could not cancel Griffin run %s: %s", self.run_id, err)


CHANGE_KINDS = ("version_registered", "alias_moved", "alias_removed", "version_updated")
# What a watch of a whole model fires on unless told otherwise: not tag and description edits.
DEFAULT_KINDS = ("version_registered", "alias_moved", "alias_removed")
CURSOR_STATE_KEY_PREFIX = "griffin_changes_cursor"


class CursorUnreadable(Exception):
    """Airflow's asset state store holds the watch's cursor but could not be read just now."""


class GriffinModelChangesTrigger(BaseEventTrigger):
    """
    Watch a registered model's changes in Griffin and yield one event per change, for an ``AssetWatcher``.

    ``schedule=[model_asset("grocery-reorder", watchers=[AssetWatcher(name=...,
    trigger=GriffinModelChangesTrigger(model_name="grocery-reorder", alias="production"))])]``
    starts the DAG whenever ``production`` moves, whoever moved it: the UI, the API, another
    team's DAG. The trigger polls ``GET /api/v1/registry/changes?after=<cursor>``, a cheap keyset
    read, every ``poll_interval`` seconds, and never ends (a watcher's trigger runs for as long as
    the DAG is scheduled on the Asset).

    Each event's payload (``triggering_asset_events[asset][0].extra["payload"]``, or
    ``griffin_provider.assets.griffin_change(event)``) is ``{"change", "model", "version", "alias",
    "previous_version", "aliases", "run_id", "metrics", "url", "cursor", "actor", "reason", "at"}``.

    The kwargs are the watcher's identity: Airflow compares them at every parse of the DAG file and
    replaces the trigger when they differ, so nothing in them depends on when the file is parsed.
    The cursor lives outside them. ``after`` starts it (None: at the newest change when the
    trigger first starts, so only changes from then on fire). On Airflow 3.3+ the trigger keeps its
    cursor in the watched Asset's state store (under :attr:`cursor_state_key`): from its first
    start, and after each event once the next poll begins. A trigger re-created by Airflow (a
    triggerer restart, a watcher removed and added again) goes on from there, so changes made
    while no trigger ran fire when it starts again; an event fired just before the triggerer died
    may fire a second time, none is lost. Older versions start again from ``after``. Griffin being
    unreachable is logged and waited out, never fatal.

    :param model_name: The registered model to watch.
    :param alias: Only moves of this alias (e.g. ``production``); None: every change of the model.
    :param kinds: Which changes fire: ``version_registered``, ``alias_moved``, ``alias_removed``,
        ``version_updated`` (a version's tags or description edited). Defaults to ``alias_moved``
        when ``alias`` is given, else the first three.
    :param griffin_conn_id: The Airflow connection id.
    :param poll_interval: Seconds between two polls of the changes feed.
    :param after: The cursor to start after the first time; None starts at the newest change.
    """

    def __init__(
        self,
        model_name: str,
        alias: str | None = None,
        kinds: Sequence[str] | None = None,
        griffin_conn_id: str = GriffinHook.default_conn_name,
        poll_interval: float = 30.0,
        after: int | None = None,
    ) -> None:
        super().__init__()
        if not model_name or not isinstance(model_name, str):
            raise ValueError(f"model_name must be a registered model's name, not {model_name!r}")
        if float(poll_interval) <= 0:
            raise ValueError(f"poll_interval must be positive, not {poll_interval!r}")
        chosen = list(kinds) if kinds else (["alias_moved"] if alias else list(DEFAULT_KINDS))
        unknown = [k for k in chosen if k not in CHANGE_KINDS]
        if unknown:
            raise ValueError(f"kinds: {unknown} are not Griffin change kinds; use {list(CHANGE_KINDS)}")
        if after is not None and int(after) < 0:
            raise ValueError(f"after must be a cursor (>= 0), not {after!r}")
        self.model_name = model_name
        self.alias = alias
        # Sorted: two spellings of one watch are one trigger to Airflow, and one stored cursor.
        self.kinds = sorted(set(chosen))
        self.griffin_conn_id = griffin_conn_id
        self.poll_interval = float(poll_interval)
        self.after = int(after) if after is not None else None

    @property
    def cursor_state_key(self) -> str:
        """Where the cursor is kept in the Asset's state store: one per watch, as an Asset may have several watchers."""
        return f"{CURSOR_STATE_KEY_PREFIX}:{self.model_name}:{self.alias or '*'}:{','.join(self.kinds)}"

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "model_name": self.model_name,
                "alias": self.alias,
                "kinds": list(self.kinds),
                "griffin_conn_id": self.griffin_conn_id,
                "poll_interval": self.poll_interval,
                "after": self.after,
            },
        )

    def _state(self) -> Any:
        """The watched Asset's state store (Airflow 3.3+, set by the triggerer), or None."""
        store = getattr(self, "asset_state_store", None)
        if store is None:
            return None
        try:
            return store._single_accessor()  # one watched Asset per watcher
        except Exception:
            return None

    async def _stored_cursor(self) -> int | None:
        """The stored cursor; None when nothing is stored or Airflow has no state store for the watch."""
        state = self._state()
        if state is None:
            return None
        try:
            value = await state.aget(self.cursor_state_key)
        except Exception as err:
            # Starting over from ``after`` would fire again every change since: wait for the store.
            raise CursorUnreadable(str(err)) from err
        return int(value) if value is not None else None

    async def _store_cursor(self, cursor: int) -> bool:
        state = self._state()
        if state is None:
            return False
        try:
            await state.aset(self.cursor_state_key, int(cursor))
        except Exception as err:
            self.log.warning("Could not store the Griffin changes cursor %s: %s", cursor, err)
            return False
        return True

    async def _start_cursor(self, client: Any) -> tuple[int, bool]:
        """Where to start, and whether it is already stored."""
        stored = await self._stored_cursor()
        if stored is not None:
            self.log.info("Watching %s from the stored cursor %s", self.model_name, stored)
            return stored, True
        if self.after is not None:
            self.log.info("Watching %s for changes after cursor %s", self.model_name, self.after)
            return self.after, False
        head = int((await client.get_registry_changes(after=0, limit=1)).get("head") or 0)
        self.log.info("Watching %s for changes after the newest one (cursor %s)", self.model_name, head)
        return head, False

    async def _payload(self, client: Any, change: dict[str, Any]) -> dict[str, Any]:
        version: dict[str, Any] = {"name": change.get("model"), "version": change.get("toVersion")}
        if change.get("toVersion") is not None:
            try:
                version = await client.get_model_version(self.model_name, change["toVersion"])
            except GriffinError as err:  # the change itself is what fires; details are a bonus
                self.log.warning("Could not read %s version %s: %s", self.model_name, change["toVersion"], err)
        from griffin_provider.assets import model_event_extra

        kind = str(change.get("kind"))
        payload = model_event_extra(version, change=kind, alias=change.get("alias"), previous_version=change.get("fromVersion"))
        payload.update({"cursor": change.get("id"), "actor": change.get("actor"), "reason": change.get("reason"), "at": change.get("at")})
        return payload

    async def run(self) -> AsyncIterator[TriggerEvent]:
        cursor: int | None = None
        stored: int | None = None
        # Whether the triggerer has had a poll interval to hand the events fired so far to Airflow:
        # it does so after the trigger moved on, so a cursor stored right after a yield could
        # cover an event lost with a triggerer that died in between.
        settled = True
        failing_since: float | None = None
        async with await self._hook().aget_conn() as client:
            while True:
                try:
                    if cursor is None:
                        cursor, already = await self._start_cursor(client)
                        stored = cursor if already else None
                    if settled and cursor != stored and await self._store_cursor(cursor):
                        stored = cursor
                    page = await client.get_registry_changes(
                        after=cursor, model=self.model_name, alias=self.alias, kinds=self.kinds, limit=100
                    )
                except CursorUnreadable as err:
                    self.log.warning(
                        "Watching Griffin model %s: could not read the stored cursor (%s); retrying in %.0f s "
                        "rather than firing again the changes it covers", self.model_name, err, self.poll_interval,
                    )
                    await asyncio.sleep(self.poll_interval)
                    continue
                except GriffinError as err:
                    # A watcher has no task to fail: an outage, a model not registered yet or a
                    # revoked token are logged on every poll until they are fixed.
                    failing_since = failing_since or time.time()
                    self.log.warning(
                        "Watching Griffin model %s: %s (failing for %.0f s; retrying every %.0f s)",
                        self.model_name, err, time.time() - failing_since, self.poll_interval,
                    )
                    await asyncio.sleep(self.poll_interval)
                    settled = True
                    continue
                if failing_since is not None:
                    self.log.info("Watching Griffin model %s again", self.model_name)
                    failing_since = None
                for change in page.get("items") or []:
                    payload = await self._payload(client, change)
                    self.log.info("Griffin %s: %s", payload["change"], payload)
                    yield TriggerEvent(payload)
                    cursor = int(change["id"])
                    settled = False
                cursor = max(cursor, int(page.get("cursor") or cursor))
                if not page.get("hasMore"):
                    await asyncio.sleep(self.poll_interval)
                    settled = True

    def _hook(self) -> GriffinHook:
        return GriffinHook(griffin_conn_id=self.griffin_conn_id)
