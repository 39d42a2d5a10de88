"""griffin-sdk: the Python client of Griffin, an ML training platform.

``Client`` (with ``Run`` and ``ModelVersion``) is what a notebook or script uses:
``Client.from_env().submit(code="./my_project", entrypoint="python train.py", dataset=...).wait()``.

``griffin_sdk.client`` holds the low-level HTTP clients (sync and asyncio), the retry policy, the
errors and the run states; the Airflow provider builds on it. Nothing here imports Airflow.
"""

from __future__ import annotations

from griffin_sdk.api import Client, ModelVersion, Run
from griffin_sdk.client import (
    AsyncGriffinClient,
    GriffinAPIError,
    GriffinAuthError,
    GriffinClient,
    GriffinConflictError,
    GriffinConnectionError,
    GriffinError,
    GriffinNotFoundError,
    GriffinRunState,
    GriffinUnreachableError,
    GriffinWaitTimeoutError,
    RetryPolicy,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncGriffinClient",
    "Client",
    "ModelVersion",
    "Run",
    "GriffinAPIError",
    "GriffinAuthError",
    "GriffinClient",
    "GriffinConflictError",
    "GriffinConnectionError",
    "GriffinError",
    "GriffinNotFoundError",
    "GriffinRunState",
    "GriffinUnreachableError",
    "GriffinWaitTimeoutError",
    "RetryPolicy",
    "__version__",
]
