# Generated from server/domain/lifecycle.ts by `npm run gen:sdk-states`: do not edit by hand.
"""The run states of Griffin's lifecycle, and the sets of them the SDK and the provider ask about."""

from __future__ import annotations

from griffin_sdk._state_queries import RunStateQueries

#: Every state a run can be in, in lifecycle order.
RUN_STATES: tuple[str, ...] = ("queued", "launching", "running", "cancelling", "succeeded", "failed", "cancelled")
#: A run in one of these has ended for good.
TERMINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
#: The one way a run ends well.
SUCCESS_STATE: str = "succeeded"
#: Claimed and not yet ended.
IN_FLIGHT_STATES: frozenset[str] = frozenset({"launching", "running", "cancelling"})
#: Not ended: queued or in flight.
ACTIVE_STATES: frozenset[str] = frozenset({"queued", "launching", "running", "cancelling"})
#: A resubmission with rerunIfFailed replaces a run in one of these: it will not succeed.
RERUNNABLE_STATES: frozenset[str] = frozenset({"failed", "cancelled", "cancelling"})


class GriffinRunState(RunStateQueries):
    """States of a Griffin training run (the service's run state machine)."""

    QUEUED = "queued"
    LAUNCHING = "launching"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
