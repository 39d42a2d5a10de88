"""What a waiting task says in its log while its Griffin run is queued."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class QueuedReasonLog:
    """
    Logs why a queued run waits (its ``reason``, e.g. "waiting for queue gpu: 2 of 2 running"),
    once per change: the same text the run page shows, without a line at every poll.
    """

    def __init__(self, log: Callable[..., None]) -> None:
        self._log = log
        self._last: str | None = None

    def observe(self, run: Mapping[str, Any]) -> None:
        if run.get("state") != "queued":
            # Launched: a later wait in the queue (a new attempt) is logged afresh.
            self._last = None
            return
        reason = run.get("reason")
        if reason and reason != self._last:
            self._log("Griffin run %s is queued: %s", run.get("id"), reason)
        self._last = reason
