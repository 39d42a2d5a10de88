"""What the SDK asks of a run state. The states themselves, and their sets, are generated from the
service's lifecycle into ``_states.py``, whose ``GriffinRunState`` adds them to this base."""

from __future__ import annotations

import enum
from types import ModuleType


def _lifecycle() -> ModuleType:
    # Imported when asked, not at import time: _states.py imports this module for its base class.
    from griffin_sdk import _states

    return _states


class RunStateQueries(str, enum.Enum):
    """The class methods of ``GriffinRunState``; no states of its own."""

    @classmethod
    def terminal_states(cls) -> frozenset[str]:
        return _lifecycle().TERMINAL_STATES

    @classmethod
    def failure_states(cls) -> tuple[str, ...]:
        """The terminal states other than success, in lifecycle order."""
        states = _lifecycle()
        return tuple(s for s in states.RUN_STATES if s in states.TERMINAL_STATES and s != states.SUCCESS_STATE)

    @classmethod
    def is_terminal(cls, state: str | RunStateQueries) -> bool:
        """Whether ``state`` is final: the run will not change state again."""
        return str(getattr(state, "value", state)) in _lifecycle().TERMINAL_STATES

    @classmethod
    def is_success(cls, state: str | RunStateQueries) -> bool:
        return str(getattr(state, "value", state)) == _lifecycle().SUCCESS_STATE
