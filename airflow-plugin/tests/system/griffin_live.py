"""Helpers of the provider's system tier: the live service and Airflow as the tests see them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
# The live service is the one the SDK's tests start too.
sys.path.insert(0, str(REPO_ROOT / "tests" / "helpers"))
from griffin_service import LiveGriffin, running_griffin, wait_until  # noqa: E402

__all__ = ["AIRFLOW_BASE_URL", "DAG_FILES", "REPO_ROOT", "LiveAirflow", "LiveGriffin", "running_griffin", "wait_until"]

PLUGIN_ROOT = REPO_ROOT / "airflow-plugin"
DAG_FILES = [
    PLUGIN_ROOT / "example_dags" / "griffin_retrain_grocery_reorder.py",
    Path(__file__).resolve().parent / "dags" / "griffin_system_dags.py",
    Path(__file__).resolve().parent / "dags" / "griffin_model_event_dags.py",
]
AIRFLOW_BASE_URL = "http://airflow.example:8080"


class LiveAirflow:
    def __init__(self, dags_folder: Path) -> None:
        self.dags_folder = dags_folder

    def dag(self, file_name: str, attribute: str) -> Any:
        """A DAG object from the copy of ``file_name`` in the DAGs folder (where dag.test() finds it too)."""
        path = self.dags_folder / file_name
        spec = importlib.util.spec_from_file_location(f"griffin_system_{path.stem}", path)
        module: ModuleType = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return getattr(module, attribute)
