"""
Fixtures of the provider's system tier: the real Griffin service and a real Airflow 3.

``griffin`` starts the service from this checkout as users do (``node --import tsx server/index.ts``,
embedded SQLite, local executor, the example workflows) on a free port with its own data directory,
and waits for ``/readyz`` (tests/helpers/griffin_service.py, shared with the SDK's tests).
``airflow`` points the connection ``griffin_default`` at it (the JSON form of
``AIRFLOW_CONN_GRIFFIN_DEFAULT``), copies the DAGs into the isolated DAGs folder that
``tests/conftest.py`` set up, and creates the metadata database. Both live for one test module.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from griffin_live import AIRFLOW_BASE_URL, DAG_FILES, LiveAirflow, LiveGriffin, running_griffin

# dag.test() runs triggers in-process, with no scheduler whose race the trigger's hold before an
# event guards against (see griffin_provider.triggers); the deployment tier keeps the hold.
os.environ.setdefault("GRIFFIN_TRIGGER_MIN_SECONDS_BEFORE_EVENT", "0")


@pytest.fixture(scope="module")
def griffin() -> Iterator[LiveGriffin]:
    with running_griffin("system", {"GRIFFIN_AIRFLOW_BASE_URL": AIRFLOW_BASE_URL}) as service:
        yield service


@pytest.fixture(scope="module")
def airflow(griffin: LiveGriffin) -> Iterator[LiveAirflow]:
    env = pytest.MonkeyPatch()
    env.setenv(
        "AIRFLOW_CONN_GRIFFIN_DEFAULT",
        json.dumps({"conn_type": "griffin", "host": griffin.base_url, "password": griffin.token}),
    )
    # Airflow builds its own task links (TaskInstance.log_url) from this; the tests compare Griffin's to them.
    env.setenv("AIRFLOW__API__BASE_URL", AIRFLOW_BASE_URL)
    from airflow.configuration import conf
    from airflow.utils.db import upgradedb

    home = Path(os.environ["AIRFLOW_HOME"]).resolve()
    dags_folder = Path(conf.get("core", "dags_folder")).resolve()
    assert dags_folder.is_relative_to(home) and home.is_relative_to(Path(tempfile.gettempdir()).resolve()), (
        f"the system tier writes only into the isolated Airflow of tests/conftest.py, not {dags_folder}"
    )
    dags_folder.mkdir(parents=True, exist_ok=True)
    for dag_file in DAG_FILES:
        shutil.copy(dag_file, dags_folder)
    # On an empty SQLite database this creates the tables from Airflow's models and stamps the
    # latest revision (no migration scripts run): what `airflow db migrate` does, without a subprocess.
    upgradedb()
    try:
        yield LiveAirflow(dags_folder)
    finally:
        env.undo()
