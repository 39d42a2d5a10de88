# Generated from server/domain/lifecycle.ts by `npm run gen:sdk-states`: do not edit by hand.
"""The run states of Griffin's lifecycle, and the sets of them the SDK and the provider ask about."""

from __future__ import annotations

import enum

#: Every state a run can be in, in lifecycle order.
RUN_STATES: tuple[str, ...] = ("queued", "launching", "running", "cancelling", "succeeded", "failed", "cancelled")
#: A run in one of these has ended for good.
TERMINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
#: Claimed and not yet ended.
IN_FLIGHT_STATES: frozenset[str] = frozenset({"launching", "running", "cancelling"})
#: Not ended: queued or in flight.
ACTIVE_STATES: frozenset[str] = frozenset({"queued", "launching", "running", "cancelling"})
#: A resubmission with rerunIfFailed replaces a run in one of these: it will not succeed.
RERUNNABLE_STATES: frozenset[str] = frozenset({"failed", "cancelled", "cancelling"})


class GriffinRunState(str, enum.Enum):
    """States of a Griffin training run (the service's run state machine)."""

    QUEUED = "queued"
    LAUNCHING = "launching"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def terminal_states(cls) -> frozenset[str]:
        return TERMINAL_STATES

    @classmethod
    def failure_states(cls) -> tuple[str, ...]:
        """The terminal states other than success, in lifecycle order."""
        return tuple(s for s in RUN_STATES if s in TERMINAL_STATES and s != cls.SUCCEEDED.value)

    @classmethod
    def is_terminal(cls, state: str | GriffinRunState) -> bool:
        """Whether ``state`` is final: the run will not change state again."""
        return str(getattr(state, "value", state)) in TERMINAL_STATES

    @classmethod
    def is_success(cls, state: str | GriffinRunState) -> bool:
        return str(getattr(state, "value", state)) == cls.SUCCEEDED.value
