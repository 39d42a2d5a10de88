"""
DAGs of the provider's model-event system tests (tests/system/test_model_events.py): Asset events
from registration and promotion, metric-gated promotion and its race, and the time context of a
past DAG run. Model ``events-model`` is this file's own, so the tests do not see other tests' versions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

from griffin_provider.operators import (
    GriffinPromoteModelVersionOperator,
    GriffinRegisterModelVersionOperator,
    GriffinSubmitTrainingRunOperator,
)

START = datetime(2026, 11, 1)
MODEL = "events-model"
FAST = {"hyperparameters": {"epochs": 2}}

with DAG(dag_id="griffin_events_register", schedule=None, start_date=START, catchup=False) as register_dag:
    train = GriffinSubmitTrainingRunOperator(task_id="train", workflow="grocery-reorder", overrides=FAST, poll_interval=0.5)
    GriffinRegisterModelVersionOperator(
        task_id="register", model_name=MODEL, run_id="{{ ti.xcom_pull(task_ids='train')['run_id'] }}", aliases=["staging"]
    ).set_upstream(train)

with DAG(
    dag_id="griffin_events_promote", schedule=None, start_date=START, catchup=False, params={"candidate": 1}
) as promote_dag:
    GriffinPromoteModelVersionOperator(
        task_id="promote", model_name=MODEL, version="{{ params.candidate }}", metric="val_loss", mode="min",
        min_improvement=0.002, reason="nightly evaluation",
    )


class RivalTaskInstance:
    """The rival's task instance: another task of the same DAG run (its XComs are not kept)."""

    task_id = "rival"

    def __init__(self, ti: Any) -> None:
        self._ti = ti

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ti, name)

    def xcom_push(self, key: str, value: Any) -> None:
        pass


class PromoteAgainstARival(GriffinPromoteModelVersionOperator):
    """
    Two promote operators racing: right after this one has read the holder, a rival promote
    operator (another DAG's task, say) runs to the end and moves the alias; then this one moves.
    """

    template_fields = (*GriffinPromoteModelVersionOperator.template_fields, "rival_version")

    def __init__(self, *, rival_version: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rival_version = rival_version

    def _decide(self, candidate: Any, holder: Any) -> Any:
        decision = super()._decide(candidate, holder)
        rival = GriffinPromoteModelVersionOperator(
            task_id="rival", model_name=self.model_name, version=self.rival_version, metric=self.metric, mode=self.mode
        )
        self.rival_decision = rival.execute({**self._context, "ti": RivalTaskInstance(self._context["ti"])})
        return decision

    def execute(self, context: Any) -> Any:
        self._context = context
        return super().execute(context)


with DAG(
    dag_id="griffin_events_race", schedule=None, start_date=START, catchup=False, params={"candidate": 1, "rival": 1}
) as race_dag:
    PromoteAgainstARival(
        task_id="promote", model_name=MODEL, version="{{ params.candidate }}", rival_version="{{ params.rival }}",
        metric="val_loss", mode="min", retries=0,
    )

# A daily DAG whose runs each train for their own day: [logical date, next day).
with DAG(
    dag_id="griffin_events_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=START,
    catchup=False,
) as daily_dag:
    GriffinSubmitTrainingRunOperator(task_id="train", workflow="grocery-reorder", overrides=FAST, poll_interval=0.5)
