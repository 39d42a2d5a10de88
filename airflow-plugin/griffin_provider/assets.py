"""
Airflow Assets of Griffin models: ``griffin://models/<name>``, and what their events carry.

An operator that registers a version or moves an alias emits an event on the model's Asset (when
the Asset is one of its outlets, which the operators declare by default), and
``GriffinModelChangesTrigger`` turns changes made outside Airflow into events through an
``AssetWatcher``. Both carry the same fields; :func:`griffin_change` reads them from either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ASSET_URI_PREFIX = "griffin://models/"


def model_asset_uri(model_name: str) -> str:
    return f"{ASSET_URI_PREFIX}{model_name}"


# The watchers declared for each model's Asset in this process (one DAG file, as the dag-processor
# parses each file in a process of its own), shared by every Asset object of that model.
_WATCHERS_BY_URI: dict[str, list[Any]] = {}


def _shared_watchers(uri: str, watchers: Any) -> list[Any]:
    shared = _WATCHERS_BY_URI.setdefault(uri, [])
    for watcher in watchers or []:
        names = [getattr(w, "name", None) for w in shared]
        name = getattr(watcher, "name", None)
        if name in names:
            shared[names.index(name)] = watcher
        else:
            shared.append(watcher)
    return shared


def model_asset(model_name: str, **kwargs: Any) -> Any:
    """
    The Airflow Asset of a registered model (``watchers=[...]`` and other Asset arguments pass through).

    Every Asset this returns for one model carries all the watchers declared for it so far and from
    then on (they share one list). Airflow re-derives an Asset's watchers from each reference to it
    whenever it parses a file, and the last reference it reads wins: an operator's outlet without
    the watchers would remove the watcher of the DAG scheduled on the same Asset.
    """
    try:
        from airflow.sdk import Asset
    except ImportError:  # Airflow 2.10: Datasets have no watchers
        from airflow.datasets import Dataset as Asset  # type: ignore[no-redef]

        return Asset(model_asset_uri(model_name), **kwargs)
    uri = model_asset_uri(model_name)
    return Asset(uri, watchers=_shared_watchers(uri, kwargs.pop("watchers", None)), **kwargs)


def is_templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def default_model_outlets(model_name: Any) -> list[Any]:
    """The model's Asset as a task's outlet; none when the name is rendered at run time (Airflow needs outlets at parse time)."""
    if not isinstance(model_name, str) or not model_name or is_templated(model_name):
        return []
    return [model_asset(model_name)]


def model_event_extra(version: Mapping[str, Any], *, change: str, alias: str | None = None, previous_version: int | None = None) -> dict[str, Any]:
    """
    What an event on the model's Asset says: the version, the alias that moved (if any), the run
    that trained it, its metrics snapshot and its Griffin URL.
    """
    return {
        "change": change,
        "model": version.get("name"),
        "version": version.get("version"),
        "alias": alias,
        "previous_version": previous_version,
        "aliases": list(version.get("aliases") or []),
        "run_id": version.get("runId"),
        "metrics": dict(version.get("metrics") or {}),
        "url": version.get("url"),
    }


def _asset_key(asset: Any) -> tuple[str | None, str | None]:
    return getattr(asset, "name", None), getattr(asset, "uri", None)


def task_emits_for(task: Any, model_name: str) -> bool:
    """Whether the model's Asset is one of the task's outlets (only then does Airflow record an event)."""
    uri = model_asset_uri(model_name)
    return any(getattr(o, "uri", None) == uri for o in (getattr(task, "outlets", None) or []))


def emit_model_event(task: Any, context: Any, model_name: str, extra: Mapping[str, Any]) -> bool:
    """Attach ``extra`` to the event Airflow records on the model's Asset when the task succeeds."""
    if not task_emits_for(task, model_name):
        task.log.info("%s is not an outlet of this task: no Asset event", model_asset_uri(model_name))
        return False
    outlet_events = context.get("outlet_events") if hasattr(context, "get") else None
    if outlet_events is None:
        return False
    outlet_events[model_asset(model_name)].extra = dict(extra)
    task.log.info("Asset event on %s: %s", model_asset_uri(model_name), dict(extra))
    return True


def withhold_model_event(task: Any, model_name: str) -> None:
    """
    Keep Airflow from recording an event on the model's Asset for this try.

    Airflow records an event for every outlet of a task that succeeds, and offers no way to cancel
    one; it reads the outlets from the task object when the try ends, so a task that decided
    nothing changed (a promotion that kept the holder) drops the model from them.
    """
    uri = model_asset_uri(model_name)
    task.outlets = [o for o in (getattr(task, "outlets", None) or []) if getattr(o, "uri", None) != uri]


def griffin_change(asset_event: Any) -> dict[str, Any]:
    """
    The Griffin fields of an Asset event (``triggering_asset_events[asset][0]``), whether an
    operator emitted it (the fields are its extra) or the watcher did (Airflow nests a trigger's
    payload under ``extra["payload"]``).
    """
    extra = getattr(asset_event, "extra", asset_event) or {}
    if isinstance(extra, Mapping) and extra.get("from_trigger") and isinstance(extra.get("payload"), Mapping):
        return dict(extra["payload"])
    return dict(extra) if isinstance(extra, Mapping) else {}
