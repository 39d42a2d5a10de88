"""
DAGs of the provider's system tests (tests/system/test_live_airflow.py copies this file into the
isolated DAGs folder). Runs train for 2 epochs and tasks poll every half second, to keep the tests
short; the kill DAG's run sleeps 5 s per epoch so that it is still training when its task is killed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from griffin_provider._compat import AirflowException
from griffin_provider.operators import GriffinSubmitTrainingRunOperator

START = datetime(2025, 1, 1)
FAST = {"hyperparameters": {"epochs": 2}}
POLL = 0.5


class LoseWorkerOnFirstTry(GriffinSubmitTrainingRunOperator):
    """Fails its first try right after submitting, as a worker lost mid-wait would; later tries are normal."""

    def execute(self, context: Any) -> Any:
        self._first_try = context["ti"].try_number == 1
        return super().execute(context)

    def _wait_in_worker(self, run: Any) -> Any:
        if self._first_try:
            raise AirflowException(f"worker lost while Griffin run {run['id']} was {run['state']}")
        return super()._wait_in_worker(run)


with DAG(dag_id="griffin_system_retry", schedule=None, start_date=START, catchup=False) as retry_dag:
    LoseWorkerOnFirstTry(
        task_id="train",
        workflow="grocery-reorder",
        overrides=FAST,
        poll_interval=POLL,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
    # Two map indexes are two task instances: two runs, each linked to its own mapped task.
    GriffinSubmitTrainingRunOperator.partial(
        task_id="train_mapped", workflow="grocery-reorder", wait_for_completion=False
    ).expand(overrides=[FAST, FAST])

with DAG(dag_id="griffin_system_kill", schedule=None, start_date=START, catchup=False) as kill_dag:
    GriffinSubmitTrainingRunOperator(
        task_id="train_slowly",
        workflow="grocery-reorder",
        overrides={"hyperparameters": {"sleep_per_epoch": 5}},
        poll_interval=POLL,
        retries=0,
    )

with DAG(dag_id="griffin_system_deferrable", schedule=None, start_date=START, catchup=False) as deferrable_dag:
    GriffinSubmitTrainingRunOperator(
        task_id="train_deferred",
        workflow="grocery-reorder",
        overrides=FAST,
        poll_interval=POLL,
        deferrable=True,
        retries=0,
    )
