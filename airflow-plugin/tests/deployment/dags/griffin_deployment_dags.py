"""
DAGs of the deployment tier (tests/deployment/test_deployment.py copies this file into the DAGs folder
of a real Airflow deployment). Every run trains the example workflow ``grocery-reorder`` for a set
time (``epochs`` x ``sleep_per_epoch``), and every task polls Griffin every second or two.

The deployment sets ``[operators] default_deferrable = True``, so every task here except those of
``griffin_deploy_default_deferrable`` says ``deferrable=`` explicitly.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from griffin_provider.operators import GriffinRegisterModelVersionOperator, GriffinSubmitTrainingRunOperator
from griffin_provider.sensors import GriffinTrainingRunSensor

START = datetime(2025, 1, 1)
WORKFLOW = "grocery-reorder"
POLL = 1.0


def training(seconds: float) -> dict[str, Any]:
    """Overrides that make the example workflow train for about ``seconds``."""
    epochs = max(2, round(seconds / 5))
    return {"hyperparameters": {"epochs": epochs, "sleep_per_epoch": round(seconds / epochs, 2)}}


def deployment_dag(dag_id: str) -> DAG:
    return DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False, max_active_runs=1, is_paused_upon_creation=False)


# a. Griffin is stopped for 40 s while three tasks wait on 75 s runs, in the three ways a task can wait.
with deployment_dag("griffin_deploy_outage") as outage_dag:
    GriffinSubmitTrainingRunOperator(
        task_id="worker_wait", workflow=WORKFLOW, overrides=training(75), poll_interval=POLL, deferrable=False
    )
    GriffinSubmitTrainingRunOperator(
        task_id="deferred_wait", workflow=WORKFLOW, overrides=training(75), poll_interval=POLL, deferrable=True
    )
    submitted = GriffinSubmitTrainingRunOperator(
        task_id="submit_only", workflow=WORKFLOW, overrides=training(75), wait_for_completion=False, deferrable=False
    )
    submitted >> GriffinTrainingRunSensor(
        task_id="sensor_reschedule",
        run_id="{{ ti.xcom_pull(task_ids='submit_only', key='griffin_run_id') }}",
        mode="reschedule",
        poke_interval=3,
        timeout=600,
        deferrable=False,
    )

# b. Clear deferred tasks (three map indexes, cleared half a second apart) and a worker-mode task while their runs train.
with deployment_dag("griffin_deploy_clear_running") as clear_running_dag:
    GriffinSubmitTrainingRunOperator.partial(
        task_id="deferred", workflow=WORKFLOW, poll_interval=POLL, deferrable=True
    ).expand(overrides=[training(30), training(30), training(30)])
    GriffinSubmitTrainingRunOperator(
        task_id="worker", workflow=WORKFLOW, overrides=training(30), poll_interval=POLL, deferrable=False
    )

# c. Clear a task whose run succeeded: it trains again.
with deployment_dag("griffin_deploy_clear_succeeded") as clear_succeeded_dag:
    GriffinSubmitTrainingRunOperator(
        task_id="train", workflow=WORKFLOW, overrides=training(8), poll_interval=POLL, deferrable=False
    )

# d. SIGTERM to the process of a worker-mode task (a worker shutdown, a deploy, an eviction), with a retry.
with deployment_dag("griffin_deploy_sigterm") as sigterm_dag:
    GriffinSubmitTrainingRunOperator(
        task_id="train",
        workflow=WORKFLOW,
        overrides=training(30),
        poll_interval=POLL,
        deferrable=False,
        retries=1,
        retry_delay=timedelta(seconds=2),
    )

# e. Mark failed through the REST API while the task waits, in a worker and deferred.
with deployment_dag("griffin_deploy_mark_failed") as mark_failed_dag:
    GriffinSubmitTrainingRunOperator(
        task_id="worker", workflow=WORKFLOW, overrides=training(60), poll_interval=POLL, deferrable=False
    )
    GriffinSubmitTrainingRunOperator(
        task_id="deferred", workflow=WORKFLOW, overrides=training(60), poll_interval=POLL, deferrable=True
    )

# f. execution_timeout while deferred: 25 s on a 150 s run.
with deployment_dag("griffin_deploy_execution_timeout") as execution_timeout_dag:
    GriffinSubmitTrainingRunOperator(
        task_id="train",
        workflow=WORKFLOW,
        overrides=training(150),
        poll_interval=POLL,
        deferrable=True,
        execution_timeout=timedelta(seconds=25),
    )

# g. [operators] default_deferrable = True: a submit and a sensor that do not say `deferrable` defer.
with deployment_dag("griffin_deploy_default_deferrable") as default_deferrable_dag:
    GriffinSubmitTrainingRunOperator(task_id="train", workflow=WORKFLOW, overrides=training(20), poll_interval=POLL)
    started = GriffinSubmitTrainingRunOperator(
        task_id="submit_only", workflow=WORKFLOW, overrides=training(20), wait_for_completion=False, deferrable=False
    )
    started >> GriffinTrainingRunSensor(
        task_id="sensor",
        run_id="{{ ti.xcom_pull(task_ids='submit_only', key='griffin_run_id') }}",
        poke_interval=POLL,
        timeout=600,
    )

# h. Register with tags a version that the workflow's own `register` block already created.
with deployment_dag("griffin_deploy_register_tags") as register_tags_dag:
    trained = GriffinSubmitTrainingRunOperator(
        task_id="train", workflow=WORKFLOW, overrides=training(4), poll_interval=POLL, deferrable=False
    )
    trained >> GriffinRegisterModelVersionOperator(
        task_id="register",
        model_name="grocery-reorder",
        run_id="{{ ti.xcom_pull(task_ids='train', key='griffin_run_id') }}",
        aliases=["deployment-tier"],
        tags={"registered_by": "airflow", "dag_run": "{{ run_id }}"},
        description="registered by the deployment tier",
    )
