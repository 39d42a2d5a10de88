"""
Fixtures of the provider's unit tier.

Every test here talks HTTP to ``fake_griffin.FakeGriffin``, an in-process stand-in for the live
Griffin service used only at the unit tier; system tests run against the real service.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

# Airflow reads its home at import time: keep it away from ~/airflow and quiet.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="griffin-provider-unit-")
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
# The trigger holds its event a while after it starts, against a race in Airflow's scheduler that
# this tier has no scheduler for; test_trigger.py checks the hold itself.
os.environ.setdefault("GRIFFIN_TRIGGER_MIN_SECONDS_BEFORE_EVENT", "0")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402
from fake_griffin import FakeGriffin  # noqa: E402


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run ``async def`` tests with asyncio.run, so the suite needs no pytest plugin beyond pytest."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**args))
        return True
    return None


@pytest.fixture
def fake():
    server = FakeGriffin()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def griffin_conn(fake, monkeypatch):
    """``griffin_default`` points at the fake, the way the README tells users to configure it."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_GRIFFIN_DEFAULT",
        json.dumps({"conn_type": "griffin", "host": fake.base_url, "password": fake.token}),
    )
    return "griffin_default"


class FakeTaskInstance:
    """The parts of a task instance the provider uses: identity and XCom push."""

    def __init__(
        self,
        dag_id: str = "griffin_retrain_grocery_reorder",
        task_id: str = "submit",
        run_id: str = "manual__2025-01-01T00:00:00+00:00",
        map_index: int = -1,
        try_number: int = 1,
        state: str | None = "running",
    ) -> None:
        self.dag_id = dag_id
        self.task_id = task_id
        self.run_id = run_id
        self.map_index = map_index
        self.try_number = try_number
        # What Airflow says of the task while it runs; a test sets "failed" (say) to play a user's kill.
        self.state = state
        self.xcom: dict[str, Any] = {}
        self.xcom_order: list[str] = []

    def current_state(self) -> str | None:
        """As Airflow 2's TaskInstance.current_state(): what the provider's on_kill asks."""
        return self.state

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.xcom[key] = value
        self.xcom_order.append(key)


@pytest.fixture
def make_context():
    def _make(**ti_kwargs: Any) -> dict[str, Any]:
        ti = FakeTaskInstance(**ti_kwargs)
        return {"ti": ti, "task_instance": ti, "run_id": ti.run_id}

    return _make


class _Logs:
    """What the code under test logged: stdlib logging (caplog; Airflow 2) and structlog on stdout (Airflow 3)."""

    def __init__(self, caplog, capsys) -> None:
        self._caplog = caplog
        self._capsys = capsys
        self._out: list[str] = []

    def _sources(self) -> tuple[str, str]:
        out = self._capsys.readouterr()
        self._out.append(out.out + out.err)
        return self._caplog.text, "".join(self._out)

    def __call__(self) -> str:
        return "\n".join(self._sources())

    def count(self, text: str) -> int:
        """Occurrences of ``text`` in one source (Airflow 2 may write the same record to both)."""
        return max(source.count(text) for source in self._sources())


@pytest.fixture
def logs(caplog, capsys):
    caplog.set_level("DEBUG")
    return _Logs(caplog, capsys)
