"""
DAGs of the deployment tier's model-event tests (tests/deployment/test_model_assets.py).

``griffin_assets_retrain`` trains and registers a version of model ``asset-model`` (alias
``staging``); its register task emits an Asset event on ``griffin://models/asset-model``.
``griffin_assets_score`` is scheduled on that Asset, which also has a watcher on ``production``:
it starts after every registration by a DAG and every move of ``production``, wherever it was made,
and returns the Griffin fields of the events that started it. ``griffin_assets_daily`` trains for
each day's data interval (the backfill test).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, AssetWatcher, task
from airflow.timetables.interval import CronDataIntervalTimetable

from griffin_provider.assets import griffin_change, model_asset
from griffin_provider.operators import GriffinRegisterModelVersionOperator, GriffinSubmitTrainingRunOperator
from griffin_provider.triggers import GriffinModelChangesTrigger

START = datetime(2026, 11, 1)
MODEL = "asset-model"
FAST = {"hyperparameters": {"epochs": 2}}
# These DAGs are about Asset events and data intervals, so their training waits in the worker:
# a deferred wait on a one-second run meets Airflow's race between the deferral's executor event
# and the resumed try on a busy machine (the try is failed as "changed externally").
# tests/deployment/test_deployment.py covers deferral.
WAIT_IN_WORKER = {"deferrable": False, "poll_interval": 1}

with DAG(dag_id="griffin_assets_retrain", schedule=None, start_date=START, catchup=False):
    train = GriffinSubmitTrainingRunOperator(task_id="train", workflow="grocery-reorder", overrides=FAST, **WAIT_IN_WORKER)
    GriffinRegisterModelVersionOperator(
        task_id="register", model_name=MODEL, run_id="{{ ti.xcom_pull(task_ids='train')['run_id'] }}", aliases=["staging"]
    ).set_upstream(train)

# after=0: every move of production counts, also one made before the triggerer started the watcher.
production_moves = GriffinModelChangesTrigger(model_name=MODEL, alias="production", poll_interval=2, after=0)

with DAG(
    dag_id="griffin_assets_score",
    schedule=[model_asset(MODEL, watchers=[AssetWatcher(name="asset_model_production", trigger=production_moves)])],
    start_date=START,
    catchup=False,
):

    @task
    def score(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        changes = [griffin_change(e) for events in triggering_asset_events.values() for e in events]
        for change in changes:
            print(f"scoring with {change['model']} v{change['version']} ({change['change']}, alias {change['alias']})")
        return changes

    score()

with DAG(
    dag_id="griffin_assets_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=START,
    catchup=False,
):
    GriffinSubmitTrainingRunOperator(task_id="train", workflow="grocery-reorder", overrides=FAST, **WAIT_IN_WORKER)
