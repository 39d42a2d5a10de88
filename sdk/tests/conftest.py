"""
A real Griffin service for the SDK's tests: `node --import tsx server/index.ts` from the repository,
on SQLite in a fresh data directory, with the local executor. The tests' own code lives in
temporary directories outside the service's code root, so it can only reach Griffin by upload.
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
from pathlib import Path
from typing import Iterator

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]


class LiveGriffin:
    def __init__(self, base_url: str, token: str, log_path: Path) -> None:
        self.base_url = base_url
        self.token = token
        self.log_path = log_path
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params):
        response = self.http.get(f"{self.base_url}/api/v1{path}", params=params, timeout=30)
        assert response.status_code == 200, f"GET {path} -> {response.status_code} {response.text}"
        return response.json()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def griffin() -> Iterator[LiveGriffin]:
    node = shutil.which("node")
    assert node, "the SDK tests start the Griffin service with node (Node 20)"
    data_dir = Path(tempfile.mkdtemp(prefix="griffin-sdk-"))
    port = _free_port()
    token = f"gft_sdk_{secrets.token_hex(16)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIFFIN_")}
    env.update(
        GRIFFIN_DATA_DIR=str(data_dir),
        GRIFFIN_HOST="127.0.0.1",
        GRIFFIN_PORT=str(port),
        GRIFFIN_ADMIN_TOKEN=token,
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
    service = LiveGriffin(f"http://127.0.0.1:{port}", token, log_path)
    try:
        deadline = time.time() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"the Griffin service exited with {process.returncode}:\n{service.log_tail()}")
            try:
                if requests.get(f"{service.base_url}/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.time() > deadline:
                pytest.fail(f"the Griffin service did not get ready:\n{service.log_tail()}")
            time.sleep(0.5)
        yield service
    finally:
        try:
            for run in service.get("/runs", limit=500)["items"]:
                if run["state"] not in ("succeeded", "failed", "cancelled"):
                    service.http.post(f"{service.base_url}/api/v1/runs/{run['id']}/cancel", json={}, timeout=30)
        except Exception:
            pass
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def client(griffin: LiveGriffin):
    from griffin_sdk import Client

    return Client(griffin.base_url, griffin.token)
