"""Helpers of the provider's system tier: the live service and Airflow as the tests see them."""

from __future__ import annotations

import importlib.util
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[3]
PLUGIN_ROOT = REPO_ROOT / "airflow-plugin"
DAG_FILES = [
    PLUGIN_ROOT / "example_dags" / "griffin_retrain_grocery_reorder.py",
    Path(__file__).resolve().parent / "dags" / "griffin_system_dags.py",
    Path(__file__).resolve().parent / "dags" / "griffin_model_event_dags.py",
]
AIRFLOW_BASE_URL = "http://airflow.example:8080"
TERMINAL = {"succeeded", "failed", "cancelled"}


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class LiveGriffin:
    """The running service: its URL, admin token, and a few API calls for assertions."""

    def __init__(self, base_url: str, token: str, process: subprocess.Popen, log_path: Path) -> None:
        self.base_url = base_url
        self.token = token
        self.process = process
        self.log_path = log_path
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(f"{self.base_url}/api/v1{path}", params=params, timeout=30)
        assert response.status_code == 200, f"GET {path} -> {response.status_code} {response.text}"
        return response.json()

    def runs(self, **filters: Any) -> list[dict[str, Any]]:
        return self.get("/runs", limit=500, **filters)["items"]

    def run(self, run_id: str) -> dict[str, Any]:
        return self.get(f"/runs/{run_id}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def cancel_active_runs(self) -> None:
        """Training processes outlive a service stop by design (they are re-attached); stop them first."""
        active = [r for r in self.runs() if r["state"] not in TERMINAL]
        for run in active:
            self.http.post(f"{self.base_url}/api/v1/runs/{run['id']}/cancel", json={"reason": "system tests ended"}, timeout=30)
        if active:
            wait_until(lambda: all(r["state"] in TERMINAL for r in self.runs()), 60, "the cancelled runs to end")


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
