"""
Airflow settings shared by every tier of the provider's tests.

Airflow reads its configuration once, when it is first imported, and the unit and system tiers may
run in one pytest process; so both get the same isolated Airflow here, before anything imports it:
a fresh AIRFLOW_HOME (never the user's), its own SQLite metadata database and DAGs folder, no
example DAGs. Unit-test mode stays on because the unit tier calls ``execute()`` outside Airflow's
task runner, which Airflow otherwise refuses.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_HOME = tempfile.mkdtemp(prefix="griffin-provider-airflow-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.makedirs(os.path.join(_HOME, "dags"))
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(_HOME, "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{os.path.join(_HOME, 'airflow.db')}"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
# The real OpenLineage provider's listener writes every event it emits to this file
# (tests/system/test_model_events.py reads it); nothing is sent anywhere.
OPENLINEAGE_EVENTS = os.path.join(_HOME, "openlineage-events.jsonl")
os.environ["AIRFLOW__OPENLINEAGE__TRANSPORT"] = f'{{"type": "file", "log_file_path": "{OPENLINEAGE_EVENTS}", "append": true}}'
os.environ["AIRFLOW__OPENLINEAGE__NAMESPACE"] = "griffin-tests"
