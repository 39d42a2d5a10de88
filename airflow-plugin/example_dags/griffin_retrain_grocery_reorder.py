"""
Nightly retraining of the grocery reorder model on Griffin.

1. submit a run of the ``grocery-reorder`` workflow (a retry of this task re-attaches to the run
   instead of starting a second one);
2. wait for it with a sensor in ``reschedule`` mode (no worker slot held while training runs);
3. register the run's model into ``grocery-reorder`` and point the ``production`` alias at it.

Needs the connection ``griffin_default`` (see the provider's README).
"""

from __future__ import annotations

from datetime import datetime, timedelta

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.10
    from airflow import DAG

from griffin_provider.operators import GriffinRegisterModelVersionOperator, GriffinSubmitTrainingRunOperator
from griffin_provider.sensors import GriffinTrainingRunSensor

SUBMIT_TASK_ID = "submit_training_run"
RUN_ID = f"{{{{ ti.xcom_pull(task_ids='{SUBMIT_TASK_ID}', key='griffin_run_id') }}}}"

with DAG(
    dag_id="griffin_retrain_grocery_reorder",
    description="Retrain grocery-reorder on Griffin and promote it to production",
    schedule="0 3 * * *",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    params={"learning_rate": 0.1},
    # Templates render to strings unless rendered as native objects; Griffin checks hyperparameters
    # against the model's schema, where learning_rate is a number, not the string "0.1".
    render_template_as_native_obj=True,
    tags=["griffin", "training"],
) as dag:
    submit = GriffinSubmitTrainingRunOperator(
        task_id=SUBMIT_TASK_ID,
        workflow="grocery-reorder",
        overrides={"hyperparameters": {"learning_rate": "{{ params.learning_rate }}"}},
        run_timeout=timedelta(hours=2),
        wait_for_completion=False,
    )

    wait = GriffinTrainingRunSensor(
        task_id="wait_for_training_run",
        run_id=RUN_ID,
        mode="reschedule",
        poke_interval=60,
        timeout=3 * 60 * 60,
    )

    register = GriffinRegisterModelVersionOperator(
        task_id="register_model_version",
        model_name="grocery-reorder",
        run_id=RUN_ID,
        aliases=["production"],
        tags={"source": "airflow", "dag_run": "{{ run_id }}"},
    )

    submit >> wait >> register
