"""
A DAG pair chained by the model itself, not by hand: retrain, then score.

``griffin_retrain_and_promote`` trains ``grocery-reorder`` for the DAG run's data interval (a
backfill trains each past day on that day), registers the version, and promotes it to
``production`` only if its ``val_auc`` beats the current holder by 0.002 (compare-and-set: a
concurrent promotion elsewhere makes this task fail rather than overwrite it).

``griffin_score_with_production`` is scheduled on the model's Asset ``griffin://models/grocery-reorder``.
Its watcher fires when ``production`` moves, wherever that happens: the promotion above, the
Griffin UI, the API or another team's DAG. The scoring task reads the version from the event.

Needs the connection ``griffin_default`` (see the provider's README).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, AssetWatcher, task

from griffin_provider.assets import griffin_change, model_asset
from griffin_provider.operators import (
    GriffinPromoteModelVersionOperator,
    GriffinRegisterModelVersionOperator,
    GriffinSubmitTrainingRunOperator,
)
from griffin_provider.triggers import GriffinModelChangesTrigger

MODEL = "grocery-reorder"

with DAG(
    dag_id="griffin_retrain_and_promote",
    schedule="0 3 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["griffin", "training"],
) as retrain_dag:
    train = GriffinSubmitTrainingRunOperator(task_id="train", workflow="grocery-reorder", deferrable=True)
    register = GriffinRegisterModelVersionOperator(
        task_id="register",
        model_name=MODEL,
        run_id="{{ ti.xcom_pull(task_ids='train')['run_id'] }}",
        aliases=["candidate"],
        # Scoring follows production only, so registering a candidate is not an event here; by
        # default the register and promote operators emit one on the model's Asset.
        outlets=[],
    )
    promote = GriffinPromoteModelVersionOperator(
        task_id="promote",
        model_name=MODEL,
        version="{{ ti.xcom_pull(task_ids='register')['version'] }}",
        alias="production",
        metric="val_auc",
        mode="max",
        min_improvement=0.002,
        reason="nightly retrain",
        # The watcher below reports the move, wherever it was made; no second event from this task.
        outlets=[],
    )
    train >> register >> promote

with DAG(
    dag_id="griffin_score_with_production",
    schedule=[
        model_asset(
            MODEL,
            watchers=[
                AssetWatcher(
                    name="grocery_reorder_production",
                    trigger=GriffinModelChangesTrigger(model_name=MODEL, alias="production", poll_interval=30),
                )
            ],
        )
    ],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["griffin", "scoring"],
) as score_dag:

    @task
    def score(triggering_asset_events: Any = None) -> dict[str, Any]:
        # The newest event wins when several arrived between two runs.
        change = [griffin_change(e) for events in triggering_asset_events.values() for e in events][-1]
        print(f"scoring today's baskets with {change['model']} v{change['version']} ({change['url']})")
        return {"model": change["model"], "version": change["version"]}

    score()
