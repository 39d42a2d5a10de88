"""
Fixtures of the deployment tier: one Griffin service and one Airflow 3 deployment for the whole session.

The Airflow processes get the connection ``griffin_default`` from ``AIRFLOW_CONN_GRIFFIN_DEFAULT``
(an editor token), ``[operators] default_deferrable = True``, and the DAGs of
``dags/griffin_deployment_dags.py``. Everything is stopped at the end, also when a test fails; the
processes' logs are kept (and their directory printed) when one did.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import AirflowDeployment, GriffinService, free_port

DAG_FILE = Path(__file__).resolve().parent / "dags" / "griffin_deployment_dags.py"
ASSET_DAG_FILE = Path(__file__).resolve().parent / "dags" / "griffin_asset_dags.py"
DAG_IDS = [
    "griffin_deploy_outage",
    "griffin_deploy_clear_running",
    "griffin_deploy_clear_succeeded",
    "griffin_deploy_sigterm",
    "griffin_deploy_mark_failed",
    "griffin_deploy_execution_timeout",
    "griffin_deploy_default_deferrable",
    "griffin_deploy_register_tags",
    "griffin_assets_retrain",
    "griffin_assets_score",
    "griffin_assets_daily",
]


@dataclass
class Stack:
    airflow: AirflowDeployment
    griffin: GriffinService
    work_dir: Path


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: run the tier through `npm test`, or `source ~/.cache/griffin-test/env` first "
            "(tests/setup/ensure.sh sets up PostgreSQL and the Airflow venv)"
        )
    return value


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    python = _required("GRIFFIN_AIRFLOW_PYTHON")
    pg_url = _required("GRIFFIN_TEST_PG_URL")
    work_dir = Path(tempfile.mkdtemp(prefix="griffin-airflow-deployment-"))
    (work_dir / "griffin").mkdir()
    (work_dir / "airflow").mkdir()
    airflow_port = free_port()
    griffin = GriffinService(work_dir / "griffin", airflow_base_url=f"http://127.0.0.1:{airflow_port}")
    airflow: AirflowDeployment | None = None
    try:
        griffin.start()
        editor_token = griffin.create_token("editor")
        connection = {"conn_type": "griffin", "host": griffin.base_url, "password": editor_token}
        airflow = AirflowDeployment(
            python,
            work_dir / "airflow",
            pg_url,
            [DAG_FILE, ASSET_DAG_FILE],
            {
                "AIRFLOW_CONN_GRIFFIN_DEFAULT": json.dumps(connection),
                "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
            },
            port=airflow_port,
        )
        location = airflow.provider_location()
        assert Path(location).is_relative_to(Path(__file__).resolve().parents[2]), (
            f"the Airflow processes import griffin_provider from {location}, not from this checkout"
        )
        airflow.start()
        airflow.wait_for_dags(DAG_IDS)
        yield Stack(airflow, griffin, work_dir)
    finally:
        failed = request.session.testsfailed > 0
        try:
            if airflow is not None:
                airflow.stop()
        finally:
            try:
                if griffin.process.alive():
                    griffin.cancel_active_runs()
            finally:
                griffin.kill_everything()
                if airflow is not None:
                    airflow.drop_database()
                if failed or os.environ.get("GRIFFIN_TEST_KEEP_LOGS") == "1":
                    print(f"\nthe deployment's logs (Airflow, Griffin) are in {work_dir}")
                else:
                    shutil.rmtree(work_dir, ignore_errors=True)
