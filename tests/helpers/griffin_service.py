"""
A real Griffin service for Python test tiers (the SDK's tests, the provider's system tier).

``running_griffin`` starts the service from this checkout as users do (``node --import tsx
server/index.ts``): embedded SQLite in a fresh data directory, the local executor and the example
workflows, on a free port with an admin token of its own, and waits for ``/readyz``. On the way out
it cancels what still trains (training processes outlive a service stop by design, to be
re-attached), stops the service and removes the data directory. The TypeScript tests' twin is
``tests/helpers/process.ts``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]


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

    def cancel_active_runs(self, reason: str = "tests ended") -> None:
        """Cancel every run that has not ended and wait until they have."""
        active = [r for r in self.runs() if not r["terminal"]]
        for run in active:
            self.http.post(f"{self.base_url}/api/v1/runs/{run['id']}/cancel", json={"reason": reason}, timeout=30)
        if active:
            wait_until(lambda: all(r["terminal"] for r in self.runs()), 60, "the cancelled runs to end")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_griffin(name: str, env: Mapping[str, str] | None = None) -> Iterator[LiveGriffin]:
    """The service for the tier ``name`` (in its data directory's and token's names), with ``env`` added."""
    node = shutil.which("node")
    assert node, f"the {name} tests start the Griffin service with node (Node 20)"
    data_dir = Path(tempfile.mkdtemp(prefix=f"griffin-{name}-"))
    port = _free_port()
    token = f"gft_{name}_{secrets.token_hex(16)}"
    # Only this service's settings: a GRIFFIN_DATABASE_URL (or any other) from the caller must not leak in.
    service_env = {k: v for k, v in os.environ.items() if not k.startswith("GRIFFIN_")}
    service_env.update(
        GRIFFIN_DATA_DIR=str(data_dir),
        GRIFFIN_HOST="127.0.0.1",
        GRIFFIN_PORT=str(port),
        GRIFFIN_ADMIN_TOKEN=token,
        GRIFFIN_LOG_LEVEL="warn",
        GRIFFIN_DISPATCH_INTERVAL_MS="200",
        GRIFFIN_RECONCILE_INTERVAL_MS="200",
    )
    service_env.update(env or {})
    log_path = data_dir / "service.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [node, "--import", "tsx", "server/index.ts"],
            cwd=REPO_ROOT, env=service_env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
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
                service.cancel_active_runs(f"{name} tests ended")
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            shutil.rmtree(data_dir, ignore_errors=True)
