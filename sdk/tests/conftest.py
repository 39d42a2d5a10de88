"""
A real Griffin service for the SDK's tests (tests/helpers/griffin_service.py, shared with the
provider's system tier): the service from the repository on SQLite in a fresh data directory, with
the local executor. The tests' own code lives in temporary directories outside the service's code
root, so it can only reach Griffin by upload.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "helpers"))
from griffin_service import LiveGriffin, running_griffin  # noqa: E402


@pytest.fixture(scope="session")
def griffin() -> Iterator[LiveGriffin]:
    with running_griffin("sdk") as service:
        yield service


@pytest.fixture
def client(griffin: LiveGriffin):
    from griffin_sdk import Client

    return Client(griffin.base_url, griffin.token)
