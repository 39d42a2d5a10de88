"""
Fixtures of the provider's system tier: the real Griffin service and a real Airflow 3.

``griffin`` starts the service from this checkout as users do (``node --import tsx server/index.ts``,
embedded SQLite, local executor, the example workflows) on a free port with its own data directory,
and waits for ``/readyz``. ``airflow`` points the connection ``griffin_default`` at it (the JSON
form of ``AIRFLOW_CONN_GRIFFIN_DEFAULT``), copies the DAGs into the isolated DAGs folder that
``tests/conftest.py`` set up, and creates the metadata database. Both live for one test module.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from griffin_live import AIRFLOW_BASE_URL, DAG_FILES, REPO_ROOT, LiveAirflow, LiveGriffin, wait_until


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def griffin() -> Iterator[LiveGriffin]:
    node = shutil.which("node")
    assert node, "the system tier starts the Griffin service with node (Node 20)"
    data_dir = Path(tempfile.mkdtemp(prefix="griffin-system-"))
    port = _free_port()
    token = f"gft_system_{secrets.token_hex(16)}"
    # Only this service's settings: a GRIFFIN_DATABASE_URL (or any other) from the caller must not leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIFFIN_")}
    env.update(
        GRIFFIN_DATA_DIR=str(data_dir),
        GRIFFIN_HOST="127.0.0.1",
        GRIFFIN_PORT=str(port),
        GRIFFIN_ADMIN_TOKEN=token,
        GRIFFIN_AIRFLOW_BASE_URL=AIRFLOW_BASE_URL,
        GRIFFIN_LOG_LEVEL="warn",
        GRIFFIN_DISPATCH_INTERVAL_MS="200",
        GRIFFIN_RECONCILE_INTERVAL_MS="200",
    )
    log_path = data_dir / "service.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [node, "--import", "tsx", "server/index.ts"],
            cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    service = LiveGriffin(f"http://127.0.0.1:{port}", token, process, log_path)

    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"the Griffin service exited with {process.returncode}:\n{service.log_tail()}")
        try:
            return requests.get(f"{service.base_url}/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(ready, 120, "the Griffin service to answer /readyz")
        yield service
    finally:
        try:
            if process.poll() is None:
                service.cancel_active_runs()
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            shutil.rmtree(data_dir, ignore_errors=True)


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
