"""
System tests: the provider in a real Airflow 3 (``dag.test()``, its task runner, XCom in the
metadata database, deferral through the serialized trigger) against the real Griffin service
started from this checkout. Nothing is faked.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import Any

import pytest
from griffin_live import AIRFLOW_BASE_URL, LiveAirflow, LiveGriffin, wait_until

from griffin_provider.hooks import GriffinHook
from griffin_provider.triggers import GriffinTrainingRunTrigger

EXAMPLE_DAG_FILE = "griffin_retrain_grocery_reorder.py"
SYSTEM_DAG_FILE = "griffin_system_dags.py"


def xcoms(dag_run: Any, task_id: str, map_index: int = -1) -> dict[str, Any]:
    """Every XCom a task instance left in Airflow's metadata database, by key."""
    from sqlalchemy import select

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_run.dag_id,
                XComModel.run_id == dag_run.run_id,
                XComModel.task_id == task_id,
                XComModel.map_index == map_index,
            )
        ).all()
        return {row.key: XComModel.deserialize_value(row) for row in rows}


def task_instance(dag_run: Any, task_id: str, map_index: int = -1) -> Any:
    ti = next((t for t in dag_run.get_task_instances() if t.task_id == task_id and t.map_index == map_index), None)
    assert ti is not None, f"no task instance {task_id}[{map_index}] in {dag_run.run_id}"
    return ti


def airflow_task_link(ti: Any) -> str:
    """The task page Airflow itself links to (TaskInstance.log_url), without its ?try_number=."""
    return ti.log_url.split("?", 1)[0]


def runs_of(griffin: LiveGriffin, dag_run: Any, task_id: str) -> list[dict[str, Any]]:
    """Griffin's runs for one task of one DAG run, found through the service's ?dagId= filter."""
    runs = griffin.runs(dagId=dag_run.dag_id)
    return [r for r in runs if r["airflow"]["dagRunId"] == dag_run.run_id and r["airflow"]["taskId"] == task_id]


def test_example_dag_trains_registers_production_and_leaves_the_run_in_xcom(griffin: LiveGriffin, airflow: LiveAirflow):
    dag = airflow.dag(EXAMPLE_DAG_FILE, "dag")
    # The example pokes every minute and retries after a minute; a test has no minutes to spare.
    dag.get_task("wait_for_training_run").poke_interval = 1
    for task in dag.tasks:
        task.retries = 0

    dag_run = dag.test()

    assert dag_run.state == "success"
    submitted = xcoms(dag_run, "submit_training_run")
    run = griffin.run(submitted["griffin_run_id"])
    assert run["state"] == "succeeded"
    assert submitted["griffin_run_url"] == run["url"] == f"{griffin.base_url}/runs/{run['id']}"
    assert run["trigger"] == "airflow"
    assert run["airflow"] == {
        "dagId": "griffin_retrain_grocery_reorder",
        "dagRunId": dag_run.run_id,
        "taskId": "submit_training_run",
        "tryNumber": 1,
        "mapIndex": -1,
    }
    assert run["idempotencyKey"] == f"airflow/griffin_retrain_grocery_reorder/submit_training_run/{dag_run.run_id}/-1"
    assert run["spec"]["hyperparameters"]["learning_rate"] == 0.1  # the DAG param, as a number
    assert run["airflowUrl"] == airflow_task_link(task_instance(dag_run, "submit_training_run"))
    assert run["airflowUrl"].startswith(f"{AIRFLOW_BASE_URL}/dags/griffin_retrain_grocery_reorder/runs/")

    production = griffin.get("/registry/models/grocery-reorder/aliases/production")
    assert production["runId"] == run["id"]
    registered = xcoms(dag_run, "register_model_version")
    assert registered["return_value"]["version"] == production["version"]
    assert registered["griffin_model_version_url"] == production["url"]
    assert xcoms(dag_run, "wait_for_training_run")["return_value"]["state"] == "succeeded"


@pytest.fixture(scope="module")
def retried_dag_run(airflow: LiveAirflow) -> Any:
    """One run of griffin_system_retry: task `train` fails its first try after submitting, then retries."""
    dag_run = airflow.dag(SYSTEM_DAG_FILE, "retry_dag").test()
    assert dag_run.state == "success"
    return dag_run


def test_a_retried_task_reattaches_to_the_run_its_first_try_started(griffin: LiveGriffin, retried_dag_run: Any):
    ti = task_instance(retried_dag_run, "train")
    assert (ti.state, ti.try_number) == ("success", 2)
    runs = runs_of(griffin, retried_dag_run, "train")
    assert len(runs) == 1, f"one Griffin run per task instance, found {[(r['id'], r['airflow']) for r in runs]}"
    assert runs[0]["state"] == "succeeded"
    assert runs[0]["airflow"]["tryNumber"] == 1  # started by the first try, re-attached by the second
    assert xcoms(retried_dag_run, "train")["return_value"]["run_id"] == runs[0]["id"]


def test_mapped_tasks_get_a_run_each_linked_to_their_airflow_task_page(griffin: LiveGriffin, retried_dag_run: Any):
    runs = sorted(runs_of(griffin, retried_dag_run, "train_mapped"), key=lambda r: r["airflow"]["mapIndex"])
    assert [r["airflow"]["mapIndex"] for r in runs] == [0, 1]
    for run in runs:
        map_index = run["airflow"]["mapIndex"]
        assert run["airflowUrl"].endswith(f"/tasks/train_mapped/mapped/{map_index}")
        assert run["airflowUrl"] == airflow_task_link(task_instance(retried_dag_run, "train_mapped", map_index))
        assert xcoms(retried_dag_run, "train_mapped", map_index)["griffin_run_id"] == run["id"]


def test_sigterm_while_airflow_still_runs_the_task_keeps_its_griffin_run_training(
    griffin: LiveGriffin, airflow: LiveAirflow, capsys
):
    """
    SIGTERM with the task still ``running`` in Airflow is a worker shutdown, a deploy or an eviction,
    not a user's kill: on_kill asks Airflow for the task's state and leaves the run training. (A
    user's kill, which changes the state first, is in the deployment tier, with a real scheduler.)
    """
    dag = airflow.dag(SYSTEM_DAG_FILE, "kill_dag")
    seen: dict[str, Any] = {}

    def signal_the_task_once_its_run_trains() -> None:
        try:
            running = wait_until(
                lambda: next((r for r in griffin.runs(dagId=dag.dag_id) if r["state"] == "running"), None),
                90, "the slow run to start training",
            )
            seen["run_id"] = running["id"]
            # Airflow's task runner answers SIGTERM with the operator's on_kill, in the main thread.
            os.kill(os.getpid(), signal.SIGTERM)
        except BaseException as err:  # reported by the main thread below
            seen["error"] = err

    # Until the task runner installs its own handler, a SIGTERM must not end pytest.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    killer = threading.Thread(target=signal_the_task_once_its_run_trains, daemon=True)
    killer.start()
    try:
        dag_run = dag.test()
    finally:
        killer.join(timeout=100)
        signal.signal(signal.SIGTERM, previous)

    assert "error" not in seen, seen.get("error")
    assert "keeps training" in capsys.readouterr().out
    assert dag_run.state == "success"
    run = griffin.run(seen["run_id"])
    assert run["state"] == "succeeded" and run["cancelRequestedAt"] is None
    assert [r["id"] for r in griffin.runs(dagId=dag.dag_id)] == [seen["run_id"]]


def test_a_deferred_task_resumes_from_the_trigger_with_the_succeeded_run(griffin: LiveGriffin, airflow: LiveAirflow):
    dag_run = airflow.dag(SYSTEM_DAG_FILE, "deferrable_dag").test()

    assert dag_run.state == "success"
    result = xcoms(dag_run, "train_deferred")["return_value"]
    assert result["state"] == "succeeded"
    assert griffin.run(result["run_id"])["state"] == "succeeded"
    assert runs_of(griffin, dag_run, "train_deferred")[0]["id"] == result["run_id"]


def test_the_trigger_yields_exactly_one_success_event(griffin: LiveGriffin, airflow: LiveAirflow):
    run = GriffinHook().submit_run("grocery-reorder", overrides={"hyperparameters": {"epochs": 2}})
    trigger = GriffinTrainingRunTrigger(run_id=run["id"], poll_interval=0.2, log_cursor=0)

    async def every_event() -> list[Any]:
        return [event async for event in trigger.run()]

    events = asyncio.run(asyncio.wait_for(every_event(), timeout=120))

    assert len(events) == 1
    payload = events[0].payload
    assert (payload["status"], payload["run_id"], payload["state"]) == ("success", run["id"], "succeeded")
    assert payload["run"]["url"] == f"{griffin.base_url}/runs/{run['id']}"
    assert payload["log_cursor"] > 0  # the run's log was copied into the trigger's log on the way
    assert griffin.run(run["id"])["state"] == "succeeded"
