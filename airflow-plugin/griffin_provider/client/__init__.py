"""The Griffin client now lives in the ``griffin-sdk`` package (``griffin_sdk.client``).

This package re-exports it so that DAGs importing ``griffin_provider.client`` keep working. It is a
package rather than ``client.py`` so that git sees that file as moved to ``sdk/griffin_sdk/client.py``.
"""

from __future__ import annotations

from griffin_sdk import client as _client
from griffin_sdk.client import *  # noqa: F401,F403
from griffin_sdk.client import __all__  # noqa: F401

# Names outside __all__ that DAGs and older provider code imported from here.
DEFAULT_TIMEOUT = _client.DEFAULT_TIMEOUT
DEFAULT_UNREACHABLE_TIMEOUT = _client.DEFAULT_UNREACHABLE_TIMEOUT
LOG_CHUNK_LIMIT = _client.LOG_CHUNK_LIMIT
ceil_seconds = _client.ceil_seconds
griffin_log_line = _client.griffin_log_line
parse_retry_after = _client.parse_retry_after
