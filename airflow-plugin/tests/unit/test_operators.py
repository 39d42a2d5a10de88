"""
Unit tests of the Griffin operators: submit (execute, defer, execute_complete, on_kill, reattach across
try numbers, run_timeout, XCom and links, log copying), register a model version, and cancel.

They run against ``FakeGriffin``, an in-process stand-in for the live Griffin service used only at
the unit tier; ``dag.test()`` against the real service belongs to the system tier.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from datetime import timedelta

import pytest

from griffin_provider import operators as ops
from griffin_provider._compat import AirflowException, AirflowFailException, TaskDeferralError
from griffin_provider.operators import (
    GriffinCancelTrainingRunOperator,
    GriffinModelVersionLink,
    GriffinRegisterModelVersionOperator,
    GriffinRunLink,
    GriffinSubmitTrainingRunOperator,
    default_idempotency_key,
)
from griffin_provider.hooks import GriffinHook
from griffin_provider.sensors import GriffinTrainingRunSensor
from griffin_provider.triggers import GriffinTrainingRunTrigger

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 2
    from airflow.exceptions import TaskDeferred


def submit_op(**kwargs) -> GriffinSubmitTrainingRunOperator:
    kwargs.setdefault("task_id", "submit")
    kwargs.setdefault("workflow", "grocery-reorder")
    kwargs.setdefault("poll_interval", 0.01)
    return GriffinSubmitTrainingRunOperator(**kwargs)


def run_trigger(trigger: GriffinTrainingRunTrigger) -> dict:
    async def _all():
        return [event async for event in trigger.run()]

    events = asyncio.run(asyncio.wait_for(_all(), timeout=10))
    assert len(events) == 1
    return events[0].payload


def defer_and_resume(op, context) -> dict:
    """execute -> TaskDeferred -> the trigger's single event -> execute_complete, as Airflow does it."""
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    assert deferred.value.method_name == "execute_complete"
    kind, kwargs = deferred.value.trigger.serialize()
    trigger = GriffinTrainingRunTrigger(**kwargs)  # the triggerer rebuilds it from serialize()
    return getattr(op, deferred.value.method_name)(context, event=run_trigger(trigger))


# -- the operator contract (compared later to the TypeScript definitions) -----------------------


@pytest.mark.parametrize(
    ("cls", "templated"),
    [
        (GriffinSubmitTrainingRunOperator, ("workflow", "overrides", "idempotency_key")),
        (
            GriffinRegisterModelVersionOperator,
            ("model_name", "run_id", "artifact_uri", "aliases", "tags", "description", "idempotency_key"),
        ),
        (GriffinCancelTrainingRunOperator, ("run_id", "reason")),
        (GriffinTrainingRunSensor, ("run_id",)),
    ],
)
def test_operator_classes_declare_template_fields_and_keyword_parameters(cls, templated):
    assert tuple(cls.__dict__["template_fields"]) == templated
    params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    assert params[-1].kind is inspect.Parameter.VAR_KEYWORD
    for p in params[:-1]:
        assert p.kind is inspect.Parameter.KEYWORD_ONLY, p.name
    required = {p.name for p in params[:-1] if p.default is inspect.Parameter.empty}
    assert required <= {"workflow", "model_name", "run_id"}
    for name in templated:
        assert name in {p.name for p in params}
    doc = inspect.getdoc(cls)
    for p in params[:-1]:
        assert f":param {p.name}:" in doc, f"{cls.__name__} lacks a :param {p.name}: line"


def test_submit_defaults():
    op = GriffinSubmitTrainingRunOperator(task_id="t", workflow="w")
    assert (op.griffin_conn_id, op.if_run_exists, op.wait_for_completion, op.deferrable) == (
        "griffin_default", "reattach", True, False,
    )
    assert (op.poll_interval, op.run_timeout, op.cancel_on_kill, op.copy_logs) == (30.0, None, True, True)
    with pytest.raises(ValueError):
        GriffinSubmitTrainingRunOperator(task_id="t", workflow="w", if_run_exists="maybe")


def test_templated_fields_render(make_context):
    op = submit_op(
        workflow="{{ params.wf }}@2",
        overrides={"hyperparameters": {"lr": "{{ params.lr }}"}, "backend": "local"},
        idempotency_key="nightly-{{ ds }}",
    )
    op.render_template_fields({"params": {"wf": "grocery-reorder", "lr": 0.1}, "ds": "2025-01-01"})
    assert op.workflow == "grocery-reorder@2"
    assert op.overrides == {"hyperparameters": {"lr": "0.1"}, "backend": "local"}
    assert op.idempotency_key == "nightly-2025-01-01"


def test_default_idempotency_key(make_context):
    ctx = make_context(dag_id="d", task_id="t", run_id="scheduled__2025-01-01T00:00:00+00:00", map_index=3)
    assert default_idempotency_key(ctx) == "airflow/d/t/scheduled__2025-01-01T00:00:00+00:00/3"
    assert default_idempotency_key(make_context(try_number=1)) == default_idempotency_key(make_context(try_number=7))
    long = default_idempotency_key(make_context(run_id="r" * 300))
    assert long.startswith("airflow-sha256-") and len(long) <= 255
    assert default_idempotency_key(make_context(run_id="ünïcode")).startswith("airflow-sha256-")


# -- submit: the request ----------------------------------------------------------------------


def test_submit_sends_the_airflow_context_and_the_timeout(fake, griffin_conn, make_context):
    ctx = make_context(dag_id="retrain", task_id="submit", run_id="manual__1", try_number=2, map_index=-1)
    op = submit_op(
        workflow="grocery-reorder@1",
        overrides={"hyperparameters": {"lr": 0.1}, "datasetVersion": 2, "resources": {"cpu": 1}, "backend": "local"},
        run_timeout=timedelta(minutes=10),
    )
    op.execute(ctx)
    post = fake.calls("POST", "/api/v1/runs")[0]
    assert post.headers["idempotency-key"] == "airflow/retrain/submit/manual__1/-1"
    assert post.body == {
        "workflow": "grocery-reorder@1",
        "overrides": {
            "hyperparameters": {"lr": 0.1},
            "datasetVersion": 2,
            "resources": {"cpu": 1},
            "backend": "local",
            "timeoutSeconds": 600,
        },
        "trigger": "airflow",
        "airflow": {"dagId": "retrain", "dagRunId": "manual__1", "taskId": "submit", "tryNumber": 2, "mapIndex": -1},
        "rerunIfFailed": True,
    }
    assert op.overrides == {  # the operator's own field is not mutated
        "hyperparameters": {"lr": 0.1}, "datasetVersion": 2, "resources": {"cpu": 1}, "backend": "local",
    }


def test_submit_waits_in_the_worker_and_returns_the_summary(fake, griffin_conn, make_context, logs):
    fake.next_plans.append(["queued", "launching", "running", "running", "succeeded"])
    ctx = make_context()
    result = submit_op().execute(ctx)
    run_id = result["run_id"]
    assert result == {
        "run_id": run_id,
        "state": "succeeded",
        "url": f"{fake.base_url}/runs/{run_id}",
        "workflow": "grocery-reorder@1",
        "attempt": 1,
        "reason": None,
        "metrics": {"auc": 0.81},
        "model_version": {"name": "grocery-reorder", "version": 1},
        "artifact_uri": f"{fake.base_url}/api/v1/runs/{run_id}/artifacts/",
        "idempotency_key": default_idempotency_key(ctx),
    }
    ti = ctx["ti"]
    assert ti.xcom["griffin_run_id"] == run_id
    assert ti.xcom["griffin_run_url"] == result["url"]
    if hasattr(GriffinRunLink(), "xcom_key"):  # Airflow 3 serves links from this key
        assert ti.xcom[GriffinRunLink().xcom_key] == result["url"]
    text = logs()
    for line in ("starting training", "epoch 1 loss=0.9", "epoch 2 loss=0.4", "saved model"):
        assert f"[griffin] {line}" in text
    assert logs.count("[griffin] starting training") == 1


def test_xcom_is_pushed_before_waiting(fake, griffin_conn, make_context, monkeypatch):
    ctx = make_context()
    op = submit_op()
    seen = {}
    original = op.hook.wait_for_run

    def spy(run_id, **kwargs):
        seen.update(ctx["ti"].xcom)
        return original(run_id, **kwargs)

    monkeypatch.setattr(op.hook, "wait_for_run", spy)
    result = op.execute(ctx)
    assert seen["griffin_run_id"] == result["run_id"] and seen["griffin_run_url"] == result["url"]


def test_no_wait_returns_right_after_submission(fake, griffin_conn, make_context):
    result = submit_op(wait_for_completion=False).execute(make_context())
    assert result["state"] == "queued"
    assert fake.calls("GET", r"/api/v1/runs/.*") == []


def test_failed_run_fails_the_task_with_the_reason(fake, griffin_conn, make_context, logs):
    fake.next_plans.append(["queued", "running", "failed"])
    with pytest.raises(AirflowException) as info:
        submit_op().execute(make_context())
    assert not isinstance(info.value, AirflowFailException)  # a retry may help: it starts a new run
    assert fake.failure_reason in str(info.value) and "failed" in str(info.value)
    assert f"[griffin] {fake.failure_reason}" in logs()


def test_unknown_workflow_is_an_error(fake, griffin_conn, make_context):
    with pytest.raises(Exception) as info:
        submit_op(workflow="nope").execute(make_context())
    assert "404" in str(info.value) and "workflow" in str(info.value)


# -- submit: deferrable -------------------------------------------------------------------------


def test_execute_defer_execute_complete(fake, griffin_conn, make_context, logs):
    fake.next_plans.append(["queued", "launching", "running", "succeeded"])
    ctx = make_context()
    op = submit_op(deferrable=True, run_timeout=3600)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ctx)
    # run id and URL are in XCom before the task leaves the worker
    run_id = ctx["ti"].xcom["griffin_run_id"]
    trigger = deferred.value.trigger
    assert isinstance(trigger, GriffinTrainingRunTrigger)
    assert trigger.run_id == run_id and trigger.log_cursor == 0 and trigger.cancel_on_kill is True
    deadline_at = fake.runs[run_id]["deadlineAt"]
    from griffin_provider.client import parse_timestamp

    assert trigger.deadline == pytest.approx(parse_timestamp(deadline_at) + ops.DEADLINE_GRACE_SECONDS)
    assert deferred.value.timeout > timedelta(seconds=3600)

    event = run_trigger(GriffinTrainingRunTrigger(**trigger.serialize()[1]))
    result = submit_op(deferrable=True, run_timeout=3600).execute_complete(ctx, event=event)
    assert result["run_id"] == run_id and result["state"] == "succeeded" and result["metrics"] == {"auc": 0.81}
    text = logs()
    assert "[griffin] saved model" in text and logs.count("[griffin] starting training") == 1


def test_deferred_failure_and_error_events(fake, griffin_conn, make_context):
    fake.next_plans.append(["queued", "running", "failed"])
    with pytest.raises(AirflowException) as info:
        defer_and_resume(submit_op(deferrable=True), make_context())
    assert fake.failure_reason in str(info.value)

    op = submit_op(deferrable=True)
    with pytest.raises(TaskDeferralError):
        op.execute_complete(make_context(), event=None)
    with pytest.raises(AirflowException) as info:
        op.execute_complete(make_context(), event={"status": "error", "run_id": "x", "message": "boom"})
    assert "boom" in str(info.value)


def test_deferred_timeout_cancels_the_run(fake, griffin_conn, make_context, monkeypatch):
    monkeypatch.setattr(ops, "DEADLINE_GRACE_SECONDS", 0.0)
    fake.next_plans.append(["queued"] + ["running"] * 1000)
    ctx = make_context()
    with pytest.raises(AirflowException) as info:
        defer_and_resume(submit_op(deferrable=True, run_timeout=1, poll_interval=0.2), ctx)
    assert "run_timeout" in str(info.value)
    run_id = ctx["ti"].xcom["griffin_run_id"]
    assert fake.runs[run_id]["state"] == "cancelled"


def test_worker_wait_timeout_cancels_the_run(fake, griffin_conn, make_context, monkeypatch):
    monkeypatch.setattr(ops, "DEADLINE_GRACE_SECONDS", 0.0)
    fake.next_plans.append(["queued"] + ["running"] * 1000)
    ctx = make_context()
    started = time.monotonic()
    with pytest.raises(AirflowException) as info:
        submit_op(run_timeout=1, poll_interval=0.2).execute(ctx)
    assert time.monotonic() - started < 10 and "run_timeout" in str(info.value)
    assert fake.runs[ctx["ti"].xcom["griffin_run_id"]]["state"] == "cancelled"


def test_already_finished_run_does_not_defer(fake, griffin_conn, make_context):
    ctx = make_context()
    fake.next_plans.append(["queued", "succeeded"])
    first_try = submit_op()
    first_try._consume = lambda run_id: None  # the worker died after the run succeeded, before the try ended
    first = first_try.execute(ctx)
    # a retry of the same task instance, deferrable this time: nothing to wait for
    again = submit_op(deferrable=True).execute(make_context(try_number=2))
    assert again["run_id"] == first["run_id"] and again["state"] == "succeeded"


def test_clearing_a_succeeded_task_trains_again(fake, griffin_conn, make_context):
    first = submit_op().execute(make_context())
    assert fake.runs[first["run_id"]]["consumedByTry"] == 1
    # A user clears the succeeded task: Airflow starts try 2 of the same task instance.
    cleared = submit_op().execute(make_context(try_number=2))
    assert cleared["run_id"] != first["run_id"] and cleared["state"] == "succeeded"
    assert len(fake.calls("POST", "/api/v1/runs")) == 2


def test_a_try_whose_run_an_earlier_try_cancelled_starts_a_new_run(fake, griffin_conn, make_context):
    """A clear while waiting: the old try's kill cancels the run the new try re-attached to; the new try trains again."""
    fake.next_plans.append(["queued"] + ["running"] * 100000)
    old_try = submit_op(wait_for_completion=False)
    old_try._consume = lambda run_id: None  # the old try is still waiting when the user clears it
    old_run = old_try.execute(make_context())["run_id"]
    new_try = submit_op(poll_interval=0.01)
    ctx = make_context(try_number=2)

    def old_try_is_killed():
        for _ in range(500):
            if new_try.griffin_run_id:
                break
            time.sleep(0.01)
        GriffinHook().cancel_run(old_run, reason="Airflow task was killed (task restarting)", try_number=1)

    killer = threading.Thread(target=old_try_is_killed)
    killer.start()
    result = new_try.execute(ctx)
    killer.join(10)
    assert fake.runs[old_run]["state"] == "cancelled"
    assert result["state"] == "succeeded" and result["run_id"] != old_run
    assert ctx["ti"].xcom["griffin_run_id"] == result["run_id"]


def test_a_users_cancel_of_the_run_still_fails_the_task(fake, griffin_conn, make_context):
    """Only an earlier try's cancel starts a new run; a user's cancel (no try number) fails the waiting try."""
    fake.next_plans.append(["queued", "running", "running", "running", "running"])
    op = submit_op(poll_interval=0.05)
    ctx = make_context(try_number=2)

    def user_cancels():
        for _ in range(500):
            if op.griffin_run_id:
                break
            time.sleep(0.01)
        GriffinHook().cancel_run(op.griffin_run_id, reason="from the UI")

    canceller = threading.Thread(target=user_cancels)
    canceller.start()
    with pytest.raises(AirflowException, match="cancelled: from the UI|cancelled"):
        op.execute(ctx)
    canceller.join(10)
    assert len(fake.calls("POST", "/api/v1/runs")) == 1


# -- submit: on_kill ----------------------------------------------------------------------------


def test_on_kill_in_the_worker_cancels_the_run(fake, griffin_conn, make_context):
    """A user kills the task while execute() waits: on_kill (Airflow calls it from a signal handler) cancels."""
    fake.next_plans.append(["queued"] + ["running"] * 100000)
    ctx = make_context()
    op = submit_op(poll_interval=0.05)

    def kill_when_submitted():
        for _ in range(500):
            if op.griffin_run_id:
                break
            time.sleep(0.01)
        ctx["ti"].state = "failed"  # mark failed: Airflow changes the state, then signals the task
        op.on_kill()

    killer = threading.Thread(target=kill_when_submitted)
    killer.start()
    with pytest.raises(AirflowException) as info:
        op.execute(ctx)
    killer.join(10)
    run = fake.runs[op.griffin_run_id]
    assert run["state"] == "cancelled" and run["reason"] == "Airflow task was killed (task failed)"
    assert run["cancelRequestedByTry"] == 1
    assert "cancelled" in str(info.value)


@pytest.mark.parametrize("state", ["running", "unknown"])
def test_sigterm_while_airflow_still_runs_the_task_keeps_the_run_training(fake, griffin_conn, make_context, logs, state):
    """A worker shutdown, deploy or eviction sends SIGTERM without changing the task's state: the run trains on."""
    fake.next_plans.append(["queued"] + ["running"] * 100000)
    ctx = make_context()
    op = submit_op(wait_for_completion=False)
    op._consume = lambda run_id: None  # the process is stopped while it waits: this try never finishes
    op.execute(ctx)
    if state == "unknown":
        def cannot_ask():
            raise RuntimeError("the supervisor is gone")
        ctx["ti"].current_state = cannot_ask
    op.on_kill()
    assert fake.calls("POST", r"/api/v1/runs/.*/cancel") == []
    assert fake.runs[op.griffin_run_id]["state"] not in ("cancelling", "cancelled")
    assert "keeps training" in logs()
    # The retry re-attaches to the same run.
    retry = submit_op(wait_for_completion=False).execute(make_context(try_number=2))
    assert retry["run_id"] == op.griffin_run_id


@pytest.mark.parametrize("state", ["failed", "success", "restarting", None])
def test_a_users_kill_cancels_whatever_state_it_left(fake, griffin_conn, make_context, state):
    fake.next_plans.append(["queued"] + ["running"] * 100000)
    ctx = make_context()
    op = submit_op(wait_for_completion=False)
    op.execute(ctx)
    ctx["ti"].state = state
    op.on_kill()
    assert fake.runs[op.griffin_run_id]["state"] == "cancelled"


def test_on_kill_respects_cancel_on_kill_and_finished_runs(fake, griffin_conn, make_context):
    op = submit_op(cancel_on_kill=False, wait_for_completion=False)
    op.execute(make_context())
    op.on_kill()
    assert fake.calls("POST", r"/api/v1/runs/.*/cancel") == []
    op = submit_op(wait_for_completion=True)
    op.on_kill()  # nothing submitted yet: nothing to do
    ctx = make_context(run_id="other")
    op.execute(ctx)
    ctx["ti"].state = "failed"
    op.on_kill()  # already succeeded: a 409 from the service is swallowed
    assert len(fake.calls("POST", r"/api/v1/runs/.*/cancel")) == 1


# -- submit: reattach across try numbers ----------------------------------------------------------


def test_retry_reattaches_to_an_active_run(fake, griffin_conn, make_context):
    fake.next_plans.append(["queued"] + ["running"] * 3 + ["succeeded"])
    with pytest.raises(TaskDeferred):  # try 1 submits and defers; then the worker dies
        submit_op(deferrable=True).execute(make_context(try_number=1))
    result = submit_op().execute(make_context(try_number=2))
    assert len(fake.runs) == 1 and result["state"] == "succeeded"
    posts = fake.calls("POST", "/api/v1/runs")
    assert len(posts) == 2 and len({p.headers["idempotency-key"] for p in posts}) == 1
    assert [p.body["airflow"]["tryNumber"] for p in posts] == [1, 2]


def test_retry_returns_a_succeeded_run_without_starting_another(fake, griffin_conn, make_context):
    first_try = submit_op()
    first_try._consume = lambda run_id: None  # the worker died after the run succeeded, before the try ended
    first = first_try.execute(make_context(try_number=1))
    again = submit_op().execute(make_context(try_number=2))
    assert len(fake.runs) == 1 and again == first


def test_retry_after_a_failed_run_starts_a_new_run(fake, griffin_conn, make_context):
    fake.next_plans.append(["queued", "running", "failed"])
    with pytest.raises(AirflowException):
        submit_op().execute(make_context(try_number=1))
    second_try = submit_op()
    second_try._consume = lambda run_id: None  # this try dies after its run succeeded
    result = second_try.execute(make_context(try_number=2))
    assert len(fake.runs) == 2 and result["state"] == "succeeded" and result["attempt"] == 2
    keys = {r["idempotencyKey"] for r in fake.runs.values()}
    assert keys == {result["idempotency_key"]}
    # and a third try re-attaches to the second run
    assert submit_op().execute(make_context(try_number=3))["run_id"] == result["run_id"]
    assert len(fake.runs) == 2


def test_mapped_task_instances_get_their_own_runs(fake, griffin_conn, make_context):
    a = submit_op().execute(make_context(map_index=0))
    b = submit_op().execute(make_context(map_index=1))
    assert a["run_id"] != b["run_id"]


def test_if_run_exists_new_and_fail(fake, griffin_conn, make_context):
    one = submit_op(if_run_exists="new").execute(make_context(try_number=1))
    two = submit_op(if_run_exists="new").execute(make_context(try_number=2))
    assert one["run_id"] != two["run_id"]
    assert all("rerunIfFailed" not in p.body for p in fake.calls("POST", "/api/v1/runs"))

    ctx = make_context(run_id="fail-run")
    submit_op(if_run_exists="fail").execute(ctx)
    with pytest.raises(AirflowFailException) as info:
        submit_op(if_run_exists="fail").execute(make_context(run_id="fail-run", try_number=2))
    assert "already exists" in str(info.value)


def test_same_key_with_another_request_fails_clearly(fake, griffin_conn, make_context):
    submit_op(overrides={"hyperparameters": {"lr": 0.1}}).execute(make_context())
    with pytest.raises(AirflowFailException) as info:
        submit_op(overrides={"hyperparameters": {"lr": 0.2}}).execute(make_context(try_number=2))
    assert "idempotency key" in str(info.value) and "different request" in str(info.value)


def test_explicit_idempotency_key(fake, griffin_conn, make_context):
    submit_op(idempotency_key="nightly-2025-01-01").execute(make_context())
    assert fake.calls("POST", "/api/v1/runs")[0].headers["idempotency-key"] == "nightly-2025-01-01"


# -- extra links --------------------------------------------------------------------------------


def test_extra_links_read_the_url_from_xcom(monkeypatch):
    calls = []

    def get_value(*, ti_key, key):
        calls.append((ti_key, key))
        return {"griffin_run_url": "http://g/runs/1", "griffin_model_version_url": "http://g/models/m/versions/2"}.get(key)

    monkeypatch.setattr(ops.XCom, "get_value", staticmethod(get_value))
    op = submit_op()
    assert [link.name for link in op.operator_extra_links] == ["Griffin Run"]
    assert GriffinRunLink().get_link(op, ti_key="k") == "http://g/runs/1"
    assert GriffinModelVersionLink().get_link(op, ti_key="k") == "http://g/models/m/versions/2"
    assert calls == [("k", "griffin_run_url"), ("k", "griffin_model_version_url")]


# -- register a model version ---------------------------------------------------------------------


def finished_run(fake, workflow: str = "churn") -> str:
    from griffin_provider.hooks import GriffinHook

    hook = GriffinHook()
    run = hook.submit_run(workflow)
    return hook.wait_for_run(run["id"], poll_interval=0)["id"]


def test_register_from_a_run_with_aliases_and_tags(fake, griffin_conn, make_context):
    run_id = finished_run(fake)
    ctx = make_context(task_id="register")
    op = GriffinRegisterModelVersionOperator(
        task_id="register", model_name="churn", run_id=run_id, aliases=["production"], tags={"source": "airflow"}
    )
    result = op.execute(ctx)
    assert result["name"] == "churn" and result["version"] == 1 and result["run_id"] == run_id
    assert result["aliases"] == ["production"] and result["tags"] == {"source": "airflow"}
    assert result["metrics"] == {"auc": 0.81}
    assert ctx["ti"].xcom["griffin_model_version_url"] == result["url"]
    if hasattr(GriffinModelVersionLink(), "xcom_key"):
        assert ctx["ti"].xcom[GriffinModelVersionLink().xcom_key] == result["url"]
    post = fake.calls("POST", "/api/v1/registry/models/churn/versions")[0]
    assert post.headers["idempotency-key"] == default_idempotency_key(ctx, f"register/{run_id}")
    # a retry (same key and body) gets the same version back
    assert op.execute(make_context(task_id="register", try_number=2)) == result
    assert len(fake.models["churn"]["versions"]) == 1


def test_register_is_idempotent_on_model_and_run_and_still_sets_the_alias(fake, griffin_conn, make_context):
    """grocery-reorder registers its own version when the run succeeds; registering again reuses it."""
    run_id = finished_run(fake, "grocery-reorder")
    assert fake.runs[run_id]["modelVersion"] == {"name": "grocery-reorder", "version": 1}
    result = GriffinRegisterModelVersionOperator(
        task_id="register", model_name="grocery-reorder", run_id=run_id, aliases=["production"]
    ).execute(make_context(task_id="register"))
    assert result["version"] == 1 and result["aliases"] == ["production"]
    assert fake.models["grocery-reorder"]["aliases"] == {"production": 1}
    assert len(fake.calls("PUT", r"/api/v1/registry/models/grocery-reorder/aliases/production")) == 1


def test_register_from_an_artifact_uri(fake, griffin_conn, make_context):
    result = GriffinRegisterModelVersionOperator(
        task_id="register", model_name="imported", artifact_uri="s3://bucket/model/", description="{{ ds }}"
    ).execute(make_context(task_id="register"))
    assert result["artifact_uri"] == "s3://bucket/model/" and result["run_id"] is None


def test_register_validates_its_arguments():
    with pytest.raises(ValueError):
        GriffinRegisterModelVersionOperator(task_id="r", model_name="m")
    with pytest.raises(ValueError):
        GriffinRegisterModelVersionOperator(task_id="r", model_name="m", run_id="x", artifact_uri="y")


def test_register_an_unfinished_run_fails(fake, griffin_conn, make_context):
    fake.next_plans.append(["queued"] + ["running"] * 10)
    from griffin_provider.hooks import GriffinHook

    run = GriffinHook().submit_run("churn")
    with pytest.raises(Exception) as info:
        GriffinRegisterModelVersionOperator(task_id="r", model_name="churn", run_id=run["id"]).execute(make_context())
    assert "422" in str(info.value)


# -- cancel ---------------------------------------------------------------------------------------


def test_cancel_an_active_run(fake, griffin_conn, make_context):
    fake.next_plans.append(["queued"] + ["running"] * 10)
    from griffin_provider.hooks import GriffinHook

    run = GriffinHook().submit_run("churn")
    ctx = make_context(task_id="cancel")
    result = GriffinCancelTrainingRunOperator(
        task_id="cancel", run_id=run["id"], reason="superseded", wait_for_termination=True, poll_interval=0.01
    ).execute(ctx)
    assert result["state"] == "cancelled" and fake.runs[run["id"]]["reason"] == "superseded"
    assert ctx["ti"].xcom["griffin_run_url"] == run["url"]


def test_cancel_a_finished_run_is_not_an_error(fake, griffin_conn, make_context):
    run_id = finished_run(fake)
    result = GriffinCancelTrainingRunOperator(task_id="cancel", run_id=run_id).execute(make_context())
    assert result["state"] == "succeeded"


# -- a run held in its queue ---------------------------------------------------------------------

HELD = "waiting for queue gpu: 2 of 2 running"
HELD_GPUS = "waiting for queue gpu: 4 of 4 GPUs in use"
QUEUED_PLAN = [("queued", HELD), ("queued", HELD), ("queued", HELD_GPUS), "launching", "running", "succeeded"]


def test_the_task_log_says_what_holds_a_queued_run_once_per_change(fake, griffin_conn, make_context, logs):
    fake.next_plans.append(list(QUEUED_PLAN))
    result = submit_op().execute(make_context())
    assert result["state"] == "succeeded"
    assert logs.count(f"Griffin run {result['run_id']} is queued: {HELD}") == 1
    assert logs.count(f"Griffin run {result['run_id']} is queued: {HELD_GPUS}") == 1


def test_a_deferred_task_logs_the_queued_reason_from_the_trigger(fake, griffin_conn, make_context, logs):
    fake.next_plans.append(list(QUEUED_PLAN))
    result = defer_and_resume(submit_op(deferrable=True), make_context())
    assert result["state"] == "succeeded"
    assert logs.count(f"Griffin run {result['run_id']} is queued: {HELD}") == 1
    assert logs.count(f"Griffin run {result['run_id']} is queued: {HELD_GPUS}") == 1
