"""griffin-sdk: the Python client of Griffin, an ML training platform.

``Client`` (with ``Run`` and ``ModelVersion``) is what a notebook or script uses:
``Client.from_env().submit(code="./my_project", entrypoint="python train.py", dataset=...).wait()``.

``griffin_sdk.client`` holds the low-level HTTP clients (sync and asyncio), the retry policy, the
errors, the run states and the helpers the Airflow provider builds on; the package exports what
``griffin_sdk.api`` and ``griffin_sdk.client`` export. Nothing here imports Airflow.
"""

from __future__ import annotations

from griffin_sdk import api, client
from griffin_sdk.api import *  # noqa: F403
from griffin_sdk.client import *  # noqa: F403

__version__ = "0.1.0"

__all__ = ["__version__"]
__all__ += api.__all__
__all__ += client.__all__
