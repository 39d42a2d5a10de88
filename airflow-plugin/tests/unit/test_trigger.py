"""
Unit tests of ``GriffinTrainingRunTrigger``: serialize round-trip, async polling, exactly one event,
the deadline, and on_kill.

They run against ``FakeGriffin``, an in-process stand-in for the live Griffin service used only at
the unit tier.
"""

from __future__ import annotations

import asyncio
import importlib
import time

import pytest

from griffin_provider.hooks import GriffinHook
from griffin_provider.triggers import GriffinTrainingRunTrigger


async def collect(trigger: GriffinTrainingRunTrigger, limit: float = 10.0) -> list:
    """All events the trigger yields before its generator ends (it must end by itself)."""
    async def _all():
        return [event async for event in trigger.run()]

    return await asyncio.wait_for(_all(), timeout=limit)


def submit(fake, plan: list[str] | None = None, **kwargs) -> dict:
    if plan is not None:
        fake.next_plans.append(plan)
    return GriffinHook().submit_run("grocery-reorder", **kwargs)


def test_serialize_round_trips():
    trigger = GriffinTrainingRunTrigger(
        run_id="abc",
        griffin_conn_id="my_griffin",
        poll_interval=5,
        deadline=1_700_000_000.5,
        success_states=["succeeded"],
        failure_states=["failed"],
        log_cursor=42,
        cancel_on_kill=True,
        try_number=3,
        deadline_limit="execution_timeout (25s)",
        unreachable_timeout=120,
        log_reader="airflow/d/t/r/-1/try-3",
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "griffin_provider.triggers.GriffinTrainingRunTrigger"
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs == {
        "run_id": "abc",
        "griffin_conn_id": "my_griffin",
        "poll_interval": 5.0,
        "deadline": 1_700_000_000.5,
        "success_states": ["succeeded"],
        "failure_states": ["failed"],
        "log_cursor": 42,
        "cancel_on_kill": True,
        "try_number": 3,
        "deadline_limit": "execution_timeout (25s)",
        "unreachable_timeout": 120.0,
        "log_reader": "airflow/d/t/r/-1/try-3",
    }


@pytest.mark.parametrize(
    "kwargs, field",
    [({"run_id": ""}, "run_id"), ({"poll_interval": 0}, "poll_interval"), ({"unreachable_timeout": -1}, "unreachable_timeout")],
)
def test_bad_kwargs_fail_where_the_task_defers(kwargs, field):
    with pytest.raises(ValueError, match=field):
        GriffinTrainingRunTrigger(**{"run_id": "abc", **kwargs})


def test_serialized_kwargs_survive_airflow_serialization():
    from airflow.serialization.serialized_objects import BaseSerialization

    _, kwargs = GriffinTrainingRunTrigger(run_id="abc", deadline=time.time()).serialize()
    assert BaseSerialization.deserialize(BaseSerialization.serialize(kwargs)) == kwargs


async def test_yields_one_success_event(fake, griffin_conn):
    run = submit(fake, ["queued", "launching", "running", "succeeded"])
    events = await collect(GriffinTrainingRunTrigger(run_id=run["id"], poll_interval=0.01))
    assert len(events) == 1
    payload = events[0].payload
    assert payload["status"] == "success" and payload["state"] == "succeeded" and payload["run_id"] == run["id"]
    assert payload["run"]["metrics"] == {"auc": 0.81} and payload["run"]["url"] == run["url"]
    assert payload["log_cursor"] is None
    assert len(fake.calls("GET", rf"/api/v1/runs/{run['id']}")) == 3


async def test_an_event_waits_until_the_trigger_has_run_for_the_hold(fake, griffin_conn, monkeypatch):
    # A run already over when its task defers: Airflow's scheduler could still be about to take the
    # defer-exit, so the event waits out the hold (the triggerer's GRIFFIN_TRIGGER_MIN_SECONDS_BEFORE_EVENT).
    run = submit(fake, ["succeeded"])
    monkeypatch.setenv("GRIFFIN_TRIGGER_MIN_SECONDS_BEFORE_EVENT", "0.8")
    started = time.monotonic()
    events = await collect(GriffinTrainingRunTrigger(run_id=run["id"], poll_interval=0.01))
    assert time.monotonic() - started >= 0.8
    assert [e.payload["status"] for e in events] == ["success"]
    assert len(fake.calls("GET", rf"/api/v1/runs/{run['id']}")) == 1  # one look, then the hold
    monkeypatch.setenv("GRIFFIN_TRIGGER_MIN_SECONDS_BEFORE_EVENT", "not a number")
    from griffin_provider.triggers import DEFAULT_MIN_SECONDS_BEFORE_EVENT, min_seconds_before_event

    assert min_seconds_before_event() == DEFAULT_MIN_SECONDS_BEFORE_EVENT


async def test_a_run_griffin_retries_is_one_run_until_its_last_attempt_ends(fake, griffin_conn):
    # A service-side retry moves the run from running back to queued (its next attempt): not an end.
    run = submit(fake, ["queued", "launching", "running", "queued", "launching", "running", "succeeded"])
    events = await collect(GriffinTrainingRunTrigger(run_id=run["id"], poll_interval=0.01))
    assert len(events) == 1
    assert events[0].payload["status"] == "success" and events[0].payload["run_id"] == run["id"]
    assert [e["to"] for e in fake.runs[run["id"]]["events"]][-4:] == ["queued", "launching", "running", "succeeded"]


@pytest.mark.parametrize("final", ["failed", "cancelled"])
async def test_yields_one_failure_event_with_the_reason(fake, griffin_conn, final):
    run = submit(fake, ["queued", "running", final])
    events = await collect(GriffinTrainingRunTrigger(run_id=run["id"], poll_interval=0.01))
    assert len(events) == 1 and events[0].payload["status"] == "failed"
    if final == "failed":
        assert fake.failure_reason in events[0].payload["message"]


async def test_custom_success_states(fake, griffin_conn):
    run = submit(fake, ["queued", "running", "succeeded"])
    events = await collect(
        GriffinTrainingRunTrigger(run_id=run["id"], poll_interval=0.01, success_states=["running"])
    )
    assert [e.payload["state"] for e in events] == ["running"]


async def test_honours_the_deadline(fake, griffin_conn):
    run = submit(fake, ["queued"] + ["running"] * 1000)
    started = time.monotonic()
    events = await collect(
        GriffinTrainingRunTrigger(run_id=run["id"], poll_interval=60, deadline=time.time() + 0.3)
    )
    assert time.monotonic() - started < 5  # slept until the deadline, not a whole poll interval
    assert len(events) == 1 and events[0].payload["status"] == "timeout"
    assert events[0].payload["state"] == "running"


async def test_deadline_in_the_past_still_checks_once(fake, griffin_conn):
    run = submit(fake, ["queued", "succeeded"])
    events = await collect(GriffinTrainingRunTrigger(run_id=run["id"], deadline=time.time() - 10))
    assert [e.payload["status"] for e in events] == ["success"]


async def test_api_errors_become_one_error_event(fake, griffin_conn):
    events = await collect(GriffinTrainingRunTrigger(run_id="does-not-exist", poll_interval=0.01))
    assert len(events) == 1 and events[0].payload["status"] == "error"
    assert "404" in events[0].payload["message"]


async def test_transient_errors_are_retried_inside_the_trigger(fake, griffin_conn):
    run = submit(fake, ["queued", "succeeded"])
    fake.fail("GET", rf"/api/v1/runs/{run['id']}", status=503, times=2, headers={"Retry-After": "0"})
    events = await collect(GriffinTrainingRunTrigger(run_id=run["id"], poll_interval=0.01))
    assert [e.payload["status"] for e in events] == ["success"]


async def test_copies_logs_and_reports_the_cursor(fake, griffin_conn, logs):
    run = submit(fake, ["queued", "running", "running", "succeeded"])
    events = await collect(GriffinTrainingRunTrigger(run_id=run["id"], poll_interval=0.01, log_cursor=0))
    assert events[0].payload["log_cursor"] == len(fake.logs[run["id"]])
    text = logs()
    assert "[griffin] epoch 1 loss=0.9" in text and "[griffin] saved model" in text


async def test_on_kill_cancels_the_run(fake, griffin_conn):
    run = submit(fake, ["queued"] + ["running"] * 1000)
    trigger = GriffinTrainingRunTrigger(run_id=run["id"], poll_interval=0.05, cancel_on_kill=True)
    task = asyncio.ensure_future(collect(trigger))
    await asyncio.sleep(0.2)
    task.cancel()  # what the triggerer does to a trigger whose task a user killed ...
    with pytest.raises(asyncio.CancelledError):
        await task
    await trigger.on_kill()  # ... before calling on_kill()
    assert fake.runs[run["id"]]["state"] == "cancelled"
    assert fake.calls("POST", rf"/api/v1/runs/{run['id']}/cancel")[0].body == {
        "reason": "Airflow task was killed while deferred"
    }


async def test_on_kill_leaves_the_run_alone_unless_asked(fake, griffin_conn):
    run = submit(fake, ["queued"] + ["running"] * 1000)
    await GriffinTrainingRunTrigger(run_id=run["id"], cancel_on_kill=False).on_kill()
    assert fake.calls("POST", rf"/api/v1/runs/{run['id']}/cancel") == []
    # An already finished run: on_kill must not raise.
    fake.set_state(run["id"], "succeeded")
    await GriffinTrainingRunTrigger(run_id=run["id"], cancel_on_kill=True).on_kill()
