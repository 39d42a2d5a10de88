"""Airflow imports in one place: Airflow 3 (``airflow.sdk``) first, Airflow 2.10 paths as a fallback."""

from __future__ import annotations

try:
    from airflow.sdk import BaseOperator, BaseOperatorLink, BaseSensorOperator, PokeReturnValue
except ImportError:  # Airflow 2.10
    from airflow.models import BaseOperator, BaseOperatorLink  # type: ignore[no-redef]
    from airflow.sensors.base import BaseSensorOperator, PokeReturnValue  # type: ignore[no-redef]

try:
    from airflow.sdk import BaseHook
except ImportError:  # Airflow 2.10 and 3.0
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef]

try:
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferralError,
    )
except ImportError:  # Airflow 2.10 and early 3.x
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferralError,
    )

try:
    from airflow.sdk.exceptions import AirflowTaskTimeout
except ImportError:  # Airflow 2.10 and early 3.x
    from airflow.exceptions import AirflowTaskTimeout  # type: ignore[no-redef]

try:
    from airflow.sdk.configuration import conf
except ImportError:  # Airflow 2.10 and 3.0
    from airflow.configuration import conf  # type: ignore[no-redef]

try:
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
except ImportError:  # Airflow 2.10: task instances read their state from the database
    RuntimeTaskInstance = None  # type: ignore[assignment,misc]

try:
    from airflow.sdk.execution_time.xcom import XCom
except ImportError:  # Airflow 2.10
    from airflow.models.xcom import XCom  # type: ignore[no-redef]

from airflow.triggers.base import BaseTrigger, TriggerEvent

try:
    from airflow.triggers.base import BaseEventTrigger
except ImportError:  # Airflow 2.10: no event-driven scheduling; the class still imports
    BaseEventTrigger = BaseTrigger  # type: ignore[misc,assignment]

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseEventTrigger",
    "BaseSensorOperator",
    "BaseTrigger",
    "PokeReturnValue",
    "RuntimeTaskInstance",
    "TaskDeferralError",
    "TriggerEvent",
    "XCom",
    "conf",
    "default_deferrable",
]


def default_deferrable() -> bool:
    """``[operators] default_deferrable``: what every major provider uses as its ``deferrable`` default."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)
