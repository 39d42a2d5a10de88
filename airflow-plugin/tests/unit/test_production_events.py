"""
What production does to a waiting task, at the unit tier (against ``fake_griffin``): Griffin
unreachable for a while, limits that pass while deferred, clears while deferred, the defaults an
Airflow deployment sets, and registration into an existing version. The deployment tier
(tests/deployment) runs the same cases in a real Airflow against the real service.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from griffin_provider import client as client_module
from griffin_provider._compat import AirflowTaskTimeout
from griffin_provider.client import GriffinUnreachableError, OutageTracker
from griffin_provider.hooks import GriffinHook
from griffin_provider.operators import GriffinRegisterModelVersionOperator, GriffinSubmitTrainingRunOperator
from griffin_provider.sensors import GriffinTrainingRunSensor
from griffin_provider.triggers import GriffinTrainingRunTrigger

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 2.10
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

RUN_PATH = r"/api/v1/runs/[a-z0-9]+"


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    """The HTTP retries inside one request wait milliseconds here, so an outage is counted in polls."""
    monkeypatch.setattr(client_module.RetryPolicy, "delay", lambda self, attempt, retry_after=None: 0.001)


def submit_op(**kwargs) -> GriffinSubmitTrainingRunOperator:
    kwargs.setdefault("task_id", "submit")
    kwargs.setdefault("workflow", "grocery-reorder")
    kwargs.setdefault("poll_interval", 0.01)
    return GriffinSubmitTrainingRunOperator(**kwargs)


def run_trigger(trigger: GriffinTrainingRunTrigger, timeout: float = 20) -> dict:
    async def _all():
        return [event async for event in trigger.run()]

    events = asyncio.run(asyncio.wait_for(_all(), timeout=timeout))
    assert len(events) == 1
    return events[0].payload


# -- Griffin unreachable while waiting ----------------------------------------------------------


def test_worker_wait_outlasts_an_outage_and_logs_it(fake, griffin_conn, make_context, logs):
    fake.next_plans.append(["queued", "running", "running", "succeeded"])
    op = submit_op()
    ctx = make_context()
    fake.fail("GET", RUN_PATH + "$", status=503, times=40)
    fake.fail("GET", RUN_PATH + "$", drop=True, times=20)
    result = op.execute(ctx)
    assert result["state"] == "succeeded"
    assert len(fake.calls("POST", "/api/v1/runs")) == 1
    text = logs()
    assert "Griffin unreachable for" in text and "still waiting" in text
    assert "Griffin is reachable again" in text


def test_worker_wait_fails_clearly_after_the_outage_budget(fake, griffin_conn, make_context):
    fake.next_plans.append(["queued"] + ["running"] * 1000)
    op = submit_op(griffin_unreachable_timeout=0.3)
    fake.fail("GET", RUN_PATH + "$", status=502, times=100000)
    started = time.monotonic()
    with pytest.raises(GriffinUnreachableError, match="griffin_unreachable_timeout"):
        op.execute(make_context())
    assert time.monotonic() - started < 10
    # The run was not cancelled: only Griffin was away.
    assert fake.calls("POST", r"/api/v1/runs/.*/cancel") == []


def test_submission_during_an_outage_is_retried_with_one_key_and_creates_one_run(fake, griffin_conn, make_context):
    fake.fail("POST", "/api/v1/runs$", drop=True, times=12)
    fake.fail("POST", "/api/v1/runs$", status=503, times=12, after=True)  # answers lost after the run was stored
    result = submit_op().execute(make_context())
    assert result["state"] == "succeeded"
    posts = fake.calls("POST", "/api/v1/runs")
    assert len({p.headers["idempotency-key"] for p in posts}) == 1
    assert len(fake.runs) == 1


def test_client_errors_are_not_outages(fake, griffin_conn, make_context):
    """A 404 or 403 while waiting is a real answer: it fails at once, whatever the outage budget."""
    fake.fail("GET", RUN_PATH + "$", status=404, times=1)
    with pytest.raises(Exception, match="404"):
        submit_op(griffin_unreachable_timeout=600).execute(make_context())


def test_the_connection_extra_sets_the_budget_and_a_bad_value_is_named(fake, monkeypatch):
    conn = {"conn_type": "griffin", "host": fake.base_url, "password": fake.token, "extra": {"unreachable_timeout": "45"}}
    monkeypatch.setenv("AIRFLOW_CONN_GRIFFIN_DEFAULT", json.dumps(conn))
    assert GriffinHook().unreachable_timeout() == 45.0
    assert GriffinHook().unreachable_timeout(5) == 5.0
    conn["extra"] = {"unreachable_timeout": "ten minutes"}
    monkeypatch.setenv("AIRFLOW_CONN_GRIFFIN_DEFAULT", json.dumps(conn))
    with pytest.raises(ValueError, match="unreachable_timeout"):
        GriffinHook().unreachable_timeout()
    conn["extra"] = {}
    monkeypatch.setenv("AIRFLOW_CONN_GRIFFIN_DEFAULT", json.dumps(conn))
    assert GriffinHook().unreachable_timeout() == 600.0


def test_trigger_outlasts_an_outage_then_reports_success(fake, griffin_conn):
    fake.next_plans.append(["queued", "running", "succeeded"])
    run = GriffinHook().submit_run("grocery-reorder")
    fake.fail("GET", RUN_PATH + "$", status=503, times=30)
    event = run_trigger(GriffinTrainingRunTrigger(run_id=run["id"], poll_interval=0.01))
    assert event["status"] == "success"


def test_trigger_gives_up_after_the_budget_with_an_error_naming_it(fake, griffin_conn):
    run = GriffinHook().submit_run("grocery-reorder")
    fake.fail("GET", RUN_PATH + "$", drop=True, times=100000)
    event = run_trigger(GriffinTrainingRunTrigger(run_id=run["id"], poll_interval=0.01, unreachable_timeout=0.3))
    assert event["status"] == "error" and "griffin_unreachable_timeout" in event["message"]


def test_sensor_poke_treats_an_outage_as_not_yet_until_the_budget(fake, griffin_conn, make_context):
    run = GriffinHook().submit_run("grocery-reorder")
    sensor = GriffinTrainingRunSensor(task_id="wait", run_id=run["id"], poke_interval=0.01, griffin_unreachable_timeout=0.5)
    fake.fail("GET", RUN_PATH + "$", status=503, times=100000)
    assert sensor.poke(make_context()).is_done is False
    time.sleep(0.6)
    with pytest.raises(GriffinUnreachableError):
        sensor.poke(make_context())


def test_outage_tracker_counts_one_continuous_outage():
    now = [100.0]
    lines: list[str] = []
    tracker = OutageTracker(10, log=lines.append, clock=lambda: now[0])
    err = client_module.GriffinConnectionError("refused")
    tracker.failed(err, "waiting")
    now[0] = 105.0
    tracker.failed(err, "waiting")
    tracker.recovered()
    now[0] = 200.0
    tracker.failed(err, "waiting")  # a new outage starts its own count
    now[0] = 211.0
    with pytest.raises(GriffinUnreachableError, match="11s"):
        tracker.failed(err, "waiting")
    assert len([line for line in lines if "unreachable" in line]) == 3
    with pytest.raises(client_module.GriffinAPIError):
        tracker.failed(client_module.GriffinAPIError(400, "invalid_argument", "bad"), "waiting")


# -- deadlines while deferred -------------------------------------------------------------------


def test_execution_timeout_becomes_the_triggers_deadline_and_cancels_the_run(fake, griffin_conn, make_context):
    fake.next_plans.append(["queued"] + ["running"] * 1000)
    op = submit_op(deferrable=True, execution_timeout=timedelta(seconds=25), run_timeout=timedelta(hours=1))
    ctx = make_context()
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ctx)
    trigger = deferred.value.trigger
    assert before + 24 <= trigger.deadline <= time.time() + 26
    assert trigger.deadline_limit == "execution_timeout (25s)"

    # The deadline passes: the trigger names the limit, execute_complete cancels and fails with it.
    _, kwargs = trigger.serialize()
    event = run_trigger(GriffinTrainingRunTrigger(**{**kwargs, "deadline": time.time()}))
    assert event["status"] == "timeout" and event["limit"] == "execution_timeout (25s)"
    with pytest.raises(AirflowTaskTimeout, match="execution_timeout"):
        op.execute_complete(ctx, event=event)
    run = fake.runs[op.griffin_run_id]
    assert run["state"] == "cancelled" and "execution_timeout" in run["reason"]


def test_run_timeout_is_the_deadline_when_it_comes_first(fake, griffin_conn, make_context):
    fake.next_plans.append(["queued"] + ["running"] * 1000)
    op = submit_op(deferrable=True, execution_timeout=timedelta(hours=2), run_timeout=60)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context())
    assert deferred.value.trigger.deadline_limit == "run_timeout (60s)"


def test_execution_timeout_in_the_worker_cancels_the_run(fake, griffin_conn, make_context, monkeypatch):
    """Airflow's own alarm raises AirflowTaskTimeout into the wait: the run is cancelled, the timeout re-raised."""
    fake.next_plans.append(["queued"] + ["running"] * 1000)
    op = submit_op()

    def wait_then_time_out(self, run_id, **kwargs):
        raise AirflowTaskTimeout("Timeout, PID: 1")

    monkeypatch.setattr(GriffinHook, "wait_for_run", wait_then_time_out)
    ctx = make_context()
    with pytest.raises(AirflowTaskTimeout):
        op.execute(ctx)
    run = fake.runs[op.griffin_run_id]
    assert run["state"] == "cancelled" and "execution_timeout" in run["reason"]
    ctx["ti"].state = "failed"
    op.on_kill()  # Airflow calls it after the timeout: the run is not cancelled twice
    assert len(fake.calls("POST", r"/api/v1/runs/.*/cancel")) == 1


# -- a clear while deferred ---------------------------------------------------------------------


def test_a_deferred_try_whose_run_an_earlier_try_cancelled_defers_on_a_new_run(fake, griffin_conn, make_context):
    fake.next_plans.append(["queued"] + ["running"] * 1000)
    old_try = submit_op(wait_for_completion=False)
    old_try._consume = lambda run_id: None  # still waiting when the user clears it
    old_run = old_try.execute(make_context())["run_id"]

    new_try = submit_op(deferrable=True)
    ctx = make_context(try_number=2)
    with pytest.raises(TaskDeferred) as deferred:
        new_try.execute(ctx)
    assert deferred.value.trigger.run_id == old_run  # re-attached before the old trigger's kill arrived
    assert deferred.value.trigger.try_number == 2

    # The old try's trigger on_kill (try 1) cancels the run; the new try's trigger sees who asked.
    asyncio.run(GriffinTrainingRunTrigger(run_id=old_run, cancel_on_kill=True, try_number=1).on_kill())
    _, kwargs = deferred.value.trigger.serialize()
    event = run_trigger(GriffinTrainingRunTrigger(**kwargs))
    assert (event["status"], event["cancelled_by_try"]) == ("superseded", 1)
    with pytest.raises(TaskDeferred) as again:
        new_try.execute_complete(ctx, event=event)
    new_run = again.value.trigger.run_id
    assert new_run != old_run and fake.runs[old_run]["state"] == "cancelled"
    assert ctx["ti"].xcom["griffin_run_id"] == new_run
    event = run_trigger(GriffinTrainingRunTrigger(**again.value.trigger.serialize()[1]))
    assert event["status"] == "success"
    assert new_try.execute_complete(ctx, event=event)["run_id"] == new_run


# -- conventions --------------------------------------------------------------------------------


@pytest.mark.parametrize("setting, expected", [("True", True), ("False", False)])
def test_default_deferrable_comes_from_the_airflow_config(setting, expected):
    """A fresh interpreter, as a DAG processor or worker imports the DAG file."""
    code = (
        "from griffin_provider.operators import GriffinSubmitTrainingRunOperator as S\n"
        "from griffin_provider.sensors import GriffinTrainingRunSensor as W\n"
        "print(S(task_id='s', workflow='w').deferrable, W(task_id='w', run_id='r').deferrable)\n"
    )
    env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": setting}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == f"{expected} {expected}"


def test_register_merges_tags_and_description_into_a_version_the_workflow_registered(fake, griffin_conn, make_context, logs):
    hook = GriffinHook()
    finished = hook.wait_for_run(hook.submit_run("grocery-reorder")["id"], poll_interval=0.01)
    assert finished["modelVersion"], "the workflow registered the version itself"
    op = GriffinRegisterModelVersionOperator(
        task_id="register", model_name="grocery-reorder", run_id=finished["id"],
        tags={"approved_by": "nightly-dag"}, description="promoted by Airflow",
    )
    result = op.execute(make_context(task_id="register"))
    assert result["tags"]["approved_by"] == "nightly-dag"
    stored = fake.models["grocery-reorder"]["versions"][0]
    assert stored["tags"]["approved_by"] == "nightly-dag" and stored["description"] == "promoted by Airflow"
    assert "merged tags {'approved_by': 'nightly-dag'} and the description" in logs()
    # Nothing new to merge: no second PATCH.
    op.execute(make_context(task_id="register", try_number=2))
    assert len(fake.calls("PATCH")) == 1


def test_do_xcom_push_false_pushes_nothing(fake, griffin_conn, make_context):
    ctx = make_context()
    submit_op(do_xcom_push=False).execute(ctx)
    assert ctx["ti"].xcom == {}


def test_log_lines_that_already_name_griffin_are_not_prefixed_twice(fake, griffin_conn, make_context, logs):
    fake.next_plans.append(["queued", "running", "succeeded"])
    submit_op().execute(make_context())
    run_id = next(iter(fake.runs))
    fake.logs[run_id] = "[griffin] attempt 1: started\nplain line\n"
    GriffinHook().copy_logs(run_id)
    text = logs()
    assert "[griffin] [griffin]" not in text and "[griffin] plain line" in text


def test_a_restarted_trigger_goes_on_copying_where_it_stopped(fake, griffin_conn, logs):
    """The triggerer re-creates a trigger from its kwargs (log_cursor 0); the recorded cursor avoids duplicates."""
    fake.next_plans.append(["queued", "running", "running", "succeeded"])
    run = GriffinHook().submit_run("grocery-reorder")
    fake.logs[run["id"]] = "line one\nline two\npartial li"
    kwargs = {"run_id": run["id"], "poll_interval": 0.01, "log_cursor": 0, "log_reader": "airflow/d/t/r/-1/try-1"}
    first = GriffinTrainingRunTrigger(**kwargs)

    async def copy_once():
        async with await first._hook().aget_conn() as client:
            await first._copy_new_logs(client, client_module.LogLineBuffer())

    asyncio.run(copy_once())
    # Recorded at the start of the unfinished line, so the restarted trigger shows it whole.
    assert fake.log_cursors[(run["id"], "airflow/d/t/r/-1/try-1")] == len("line one\nline two\n")
    fake.logs[run["id"]] += "ne\nline three\n"
    event = run_trigger(GriffinTrainingRunTrigger(**kwargs))  # the restart: same kwargs, log_cursor 0
    assert event["status"] == "success"
    text = logs()
    assert logs.count("[griffin] line one") == 1 and logs.count("[griffin] line two") == 1
    assert "[griffin] partial line" in text and "[griffin] line three" in text
