"""
Unit tests of ``GriffinTrainingRunSensor``: poke, the poke-mode loop, deferrable mode, success and
failure states, soft_fail, and the run summary as return value.

They run against ``FakeGriffin``, an in-process stand-in for the live Griffin service used only at
the unit tier.
"""

from __future__ import annotations

import asyncio

import pytest

from griffin_provider._compat import AirflowFailException, AirflowSensorTimeout, AirflowSkipException
from griffin_provider.hooks import GriffinHook
from griffin_provider.sensors import GriffinTrainingRunSensor
from griffin_provider.triggers import GriffinTrainingRunTrigger

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 2
    from airflow.exceptions import TaskDeferred


def start_run(fake, plan: list[str]) -> dict:
    fake.next_plans.append(plan)
    return GriffinHook().submit_run("grocery-reorder")


def sensor(run_id: str, **kwargs) -> GriffinTrainingRunSensor:
    kwargs.setdefault("task_id", "wait")
    kwargs.setdefault("poke_interval", 0.01)
    kwargs.setdefault("timeout", 30)
    return GriffinTrainingRunSensor(run_id=run_id, **kwargs)


def test_defaults_and_validation():
    s = GriffinTrainingRunSensor(task_id="w", run_id="r")
    assert (s.griffin_conn_id, s.success_states, s.failure_states, s.deferrable, s.mode) == (
        "griffin_default", ["succeeded"], ["failed", "cancelled"], False, "poke",
    )
    with pytest.raises(ValueError):
        GriffinTrainingRunSensor(task_id="w", run_id="r", success_states=["failed"])


def test_run_id_is_templated():
    s = sensor("{{ ti_run }}")
    s.render_template_fields({"ti_run": "abc123"})
    assert s.run_id == "abc123"


def test_poke_until_success_returns_the_summary(fake, griffin_conn, make_context, logs):
    run = start_run(fake, ["queued", "running", "succeeded"])
    s = sensor(run["id"])
    ctx = make_context(task_id="wait")
    first = s.poke(ctx)
    assert not first.is_done and first.xcom_value is None
    done = s.poke(ctx)
    assert done.is_done and done.xcom_value["state"] == "succeeded"
    assert done.xcom_value["run_id"] == run["id"] and done.xcom_value["metrics"] == {"auc": 0.81}
    assert ctx["ti"].xcom["griffin_run_url"] == run["url"]
    assert "[griffin] saved model" in logs()


def test_a_run_griffin_retries_is_waited_on_as_one_run(fake, griffin_conn, make_context):
    # running -> queued is Griffin queueing the run's next attempt: the sensor keeps waiting on it.
    run = start_run(fake, ["queued", "running", "queued", "running", "succeeded"])
    s = sensor(run["id"])
    ctx = make_context(task_id="wait")
    seen = []
    for _ in range(10):
        result = s.poke(ctx)
        seen.append(fake.runs[run["id"]]["state"])
        if result.is_done:
            break
    assert seen == ["running", "queued", "running", "succeeded"]
    assert result.xcom_value["state"] == "succeeded" and result.xcom_value["run_id"] == run["id"]


@pytest.mark.parametrize("final", ["failed", "cancelled"])
def test_failure_state_fails_with_the_runs_reason(fake, griffin_conn, make_context, final):
    run = start_run(fake, ["queued", final])
    with pytest.raises(AirflowFailException) as info:
        sensor(run["id"]).poke(make_context())
    assert final in str(info.value)
    if final == "failed":
        assert fake.failure_reason in str(info.value)


def test_soft_fail_skips(fake, griffin_conn, make_context):
    run = start_run(fake, ["queued", "failed"])
    with pytest.raises(AirflowSkipException):
        sensor(run["id"], soft_fail=True).poke(make_context())


def test_custom_states(fake, griffin_conn, make_context):
    run = start_run(fake, ["queued", "running", "succeeded"])
    assert sensor(run["id"], success_states=["running"]).poke(make_context()).is_done
    run = start_run(fake, ["queued", "cancelled"])
    # cancelled is terminal: even outside failure_states the sensor must not wait for ever
    with pytest.raises(AirflowFailException):
        sensor(run["id"], failure_states=["failed"]).poke(make_context())


def test_execute_in_poke_mode(fake, griffin_conn, make_context):
    run = start_run(fake, ["queued", "launching", "running", "running", "succeeded"])
    result = sensor(run["id"]).execute(make_context(task_id="wait"))
    assert result["state"] == "succeeded" and result["run_id"] == run["id"]


def test_deferrable_execute_defer_execute_complete(fake, griffin_conn, make_context):
    run = start_run(fake, ["queued", "running", "running", "succeeded"])
    s = sensor(run["id"], deferrable=True, poke_interval=0.01, timeout=600)
    ctx = make_context(task_id="wait")
    with pytest.raises(TaskDeferred) as deferred:
        s.execute(ctx)
    trigger = deferred.value.trigger
    assert isinstance(trigger, GriffinTrainingRunTrigger) and trigger.cancel_on_kill is False
    assert trigger.deadline is not None

    async def _one():
        return [e async for e in GriffinTrainingRunTrigger(**trigger.serialize()[1]).run()]

    events = asyncio.run(_one())
    assert len(events) == 1
    result = s.execute_complete(ctx, event=events[0].payload)
    assert result["state"] == "succeeded"


def test_deferrable_returns_at_once_when_already_done(fake, griffin_conn, make_context):
    run = start_run(fake, ["queued", "succeeded"])
    assert sensor(run["id"], deferrable=True).execute(make_context())["state"] == "succeeded"


def test_deferred_failure_and_timeout_events(fake, griffin_conn, make_context):
    s = sensor("r1", deferrable=True)
    with pytest.raises(AirflowFailException):
        s.execute_complete(make_context(), event={"status": "failed", "run_id": "r1", "message": "r1 failed: OOM"})
    with pytest.raises(AirflowSensorTimeout):
        s.execute_complete(make_context(), event={"status": "timeout", "run_id": "r1", "message": "still running"})
    with pytest.raises(AirflowSkipException):
        sensor("r1", deferrable=True, soft_fail=True).execute_complete(
            make_context(), event={"status": "timeout", "run_id": "r1", "message": "still running"}
        )
