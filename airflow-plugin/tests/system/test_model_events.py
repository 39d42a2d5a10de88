"""
System tests of model events: a real Airflow 3 (``dag.test()``, its task runner, Asset events and
XCom in its metadata database, the real OpenLineage provider's listener with a file transport)
against the real Griffin service. Nothing is faked.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from griffin_live import LiveAirflow, LiveGriffin, wait_until
from test_live_airflow import task_instance, xcoms

from griffin_provider.client import GriffinClient

DAG_FILE = "griffin_model_event_dags.py"
MODEL = "events-model"
ASSET_URI = f"griffin://models/{MODEL}"


def asset_events(source_dag_id: str) -> list[Any]:
    from sqlalchemy import select

    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent).join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == ASSET_URI, AssetEvent.source_dag_id == source_dag_id)
            .order_by(AssetEvent.id)
        ).all()
        return [(row.source_task_id, dict(row.extra or {})) for row in rows]


@pytest.fixture(scope="module")
def client(griffin: LiveGriffin) -> GriffinClient:
    return GriffinClient(griffin.base_url, token=griffin.token)


@pytest.fixture(scope="module")
def versions(client: GriffinClient) -> dict[str, int]:
    """A well trained version and a barely trained one (higher val_loss) of events-model."""
    out = {}
    for name, hp in {"good": {"epochs": 4, "learning_rate": 0.1}, "bad": {"epochs": 1, "learning_rate": 0.000001}}.items():
        run = client.wait_for_run(client.submit_run("grocery-reorder", overrides={"hyperparameters": hp})["id"], poll_interval=0.3)
        assert run["state"] == "succeeded", run
        out[name] = client.register_model_version(MODEL, run_id=run["id"])["version"]
    good, bad = (client.get_model_version(MODEL, out[k])["metrics"]["val_loss"] for k in ("good", "bad"))
    assert good + 0.002 < bad, f"the barely trained version must have the higher loss: {good} vs {bad}"
    return out


def test_registering_emits_an_asset_event_with_the_version_run_metrics_and_url(griffin: LiveGriffin, airflow: LiveAirflow):
    dag_run = airflow.dag(DAG_FILE, "register_dag").test()
    assert dag_run.state == "success"
    registered = xcoms(dag_run, "register")["return_value"]
    events = asset_events("griffin_events_register")
    assert len(events) == 1
    task_id, extra = events[0]
    version = griffin.get(f"/registry/models/{MODEL}/versions/{registered['version']}")
    assert task_id == "register"
    assert extra == {
        "change": "version_registered",
        "model": MODEL,
        "version": version["version"],
        "alias": "staging",
        "previous_version": None,
        "aliases": ["staging"],
        "run_id": xcoms(dag_run, "train")["return_value"]["run_id"],
        "metrics": version["metrics"],
        "url": version["url"],
    }
    assert set(extra["metrics"]) >= {"val_auc", "val_loss"}


def test_a_worse_candidate_is_kept_out_and_xcom_says_why(griffin: LiveGriffin, airflow: LiveAirflow, client: GriffinClient, versions: dict[str, int]):
    client.set_model_alias(MODEL, "production", versions["good"])
    before = len(asset_events("griffin_events_promote"))
    dag_run = airflow.dag(DAG_FILE, "promote_dag").test(run_conf={"candidate": versions["bad"]})
    assert dag_run.state == "success"
    decision = xcoms(dag_run, "promote")
    assert decision["griffin_promotion"] == decision["return_value"]
    kept = decision["return_value"]
    assert kept["decision"] == "kept"
    assert (kept["candidate_version"], kept["holder_version"]) == (versions["bad"], versions["good"])
    assert kept["candidate_value"] > kept["holder_value"]
    assert f"val_loss {kept['candidate_value']:g} (v{versions['bad']}) vs {kept['holder_value']:g} (v{versions['good']}, production)" in kept["reason"]
    assert griffin.get(f"/registry/models/{MODEL}/aliases/production")["version"] == versions["good"]
    # Nothing changed, so nothing downstream is started.
    assert len(asset_events("griffin_events_promote")) == before


def test_a_better_candidate_is_promoted_with_compare_and_set_recorded_in_the_history(
    griffin: LiveGriffin, airflow: LiveAirflow, client: GriffinClient, versions: dict[str, int]
):
    client.set_model_alias(MODEL, "production", versions["bad"])
    dag_run = airflow.dag(DAG_FILE, "promote_dag").test(run_conf={"candidate": versions["good"]})
    assert dag_run.state == "success"
    promoted = xcoms(dag_run, "promote")["return_value"]
    assert promoted["decision"] == "promoted"
    assert griffin.get(f"/registry/models/{MODEL}/aliases/production")["version"] == versions["good"]
    latest = client.get_alias_history(MODEL, "production")[0]
    assert (latest["fromVersion"], latest["toVersion"]) == (versions["bad"], versions["good"])
    assert latest["reason"].startswith(f"promoted from Airflow (griffin_events_promote.promote, {dag_run.run_id}, try 1): nightly evaluation: val_loss")
    task_id, extra = asset_events("griffin_events_promote")[-1]
    assert (task_id, extra["change"], extra["alias"], extra["version"], extra["previous_version"]) == (
        "promote", "alias_moved", "production", versions["good"], versions["bad"],
    )


def test_two_promote_operators_racing_end_with_one_winner_and_one_409_failure(
    griffin: LiveGriffin, airflow: LiveAirflow, versions: dict[str, int], capfd: Any
):
    # Both compare against the same holder of "production"; the rival moves it first.
    holder = versions["bad"]
    GriffinClient(griffin.base_url, token=griffin.token).set_model_alias(MODEL, "production", holder)
    dag_run = airflow.dag(DAG_FILE, "race_dag").test(run_conf={"candidate": versions["good"], "rival": versions["good"]})
    assert dag_run.state == "failed"
    assert task_instance(dag_run, "promote").state == "failed"
    output = capfd.readouterr()
    text = output.out + output.err
    assert f"Lost the race for {MODEL}:production" in text
    assert "409" in text and f"it points at version {versions['good']}" in text
    # The rival won; the alias history has its move only, from the holder both compared against.
    assert griffin.get(f"/registry/models/{MODEL}/aliases/production")["version"] == versions["good"]
    latest = GriffinClient(griffin.base_url, token=griffin.token).get_alias_history(MODEL, "production")[:2]
    assert (latest[0]["fromVersion"], latest[0]["toVersion"]) == (holder, versions["good"])
    assert latest[0]["reason"].startswith(f"promoted from Airflow (griffin_events_race.rival, {dag_run.run_id}, try 1)")
    assert latest[1]["toVersion"] == holder


def test_a_past_dag_run_trains_on_its_own_data_interval(griffin: LiveGriffin, airflow: LiveAirflow):
    logical_date = datetime(2026, 11, 3, tzinfo=timezone.utc)
    dag_run = airflow.dag(DAG_FILE, "daily_dag").test(logical_date=logical_date)
    assert dag_run.state == "success"
    run = griffin.run(xcoms(dag_run, "train")["return_value"]["run_id"])
    iso = lambda d: d.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")  # noqa: E731
    # The interval Airflow gave this DAG run (a manual run at 11-03 of a daily interval DAG: the day before).
    expected = {"logicalDate": iso(dag_run.logical_date), "dataIntervalStart": iso(dag_run.data_interval_start), "dataIntervalEnd": iso(dag_run.data_interval_end)}
    assert expected["logicalDate"] == "2026-11-03T00:00:00.000Z"
    assert dag_run.data_interval_end - dag_run.data_interval_start == timedelta(days=1)
    assert run["timeContext"] == expected
    # What the training process itself saw (the example prints its data interval).
    log = griffin.get(f"/runs/{run['id']}/logs")["text"]
    assert f"data interval {expected['dataIntervalStart']} .. {expected['dataIntervalEnd']} (logical date {expected['logicalDate']})" in log


def openlineage_events() -> list[dict[str, Any]]:
    path = os.environ["AIRFLOW__OPENLINEAGE__TRANSPORT"]
    file = json.loads(path)["log_file_path"]
    if not os.path.exists(file):
        return []
    with open(file) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_openlineage_names_the_dataset_version_in_and_the_model_version_out(griffin: LiveGriffin, airflow: LiveAirflow):
    dag_run = airflow.dag(DAG_FILE, "register_dag").test()
    assert dag_run.state == "success"
    run_id = xcoms(dag_run, "train")["return_value"]["run_id"]
    version = xcoms(dag_run, "register")["return_value"]["version"]
    run = griffin.run(run_id)
    namespace = "griffin://" + griffin.base_url.split("://", 1)[1]

    def complete(task_id: str) -> dict[str, Any] | None:
        for event in openlineage_events():
            if event.get("eventType") == "COMPLETE" and event["job"]["name"] == f"griffin_events_register.{task_id}" and (
                event["run"]["facets"].get("griffin_run", {}).get("runId") == run_id
            ):
                return event
        return None

    for task_id in ("train", "register"):
        event = wait_until(lambda: complete(task_id), 60, f"the OpenLineage COMPLETE event of {task_id}")
        [dataset] = event["inputs"]
        assert (dataset["namespace"], dataset["name"]) == (namespace, "datasets/grocery-reorder")
        assert dataset["facets"]["version"]["datasetVersion"] == str(run["spec"]["dataset"]["version"])
        fields = {f["name"]: f.get("type") for f in dataset["facets"]["schema"]["fields"]}
        assert set(fields) == set(run["spec"]["dataset"]["features"]) and all(fields.values())
        [link] = dataset["facets"]["symlinks"]["identifiers"]
        assert run["spec"]["dataset"]["uri"].endswith(link["name"])
        facet = event["run"]["facets"]["griffin_run"]
        assert facet["url"] == run["url"] and facet["backend"] == "local"
        assert facet["hyperparameters"]["epochs"] == 2
        assert facet["metrics"]["val_auc"] == pytest.approx(run["latestMetrics"]["val_auc"]["value"])
    [model] = complete("register")["outputs"]
    assert (model["namespace"], model["name"], model["facets"]["version"]["datasetVersion"]) == (namespace, f"models/{MODEL}", str(version))


class MemoryAssetState:
    """
    Stands in for Airflow 3.3's asset state accessor (``trigger.asset_state_store``, set by the
    triggerer for a watcher's trigger), which needs the triggerer's supervisor: the same
    ``aget(key)`` / ``aset(key, value)`` calls, kept in a dict.
    """

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        # Reads to fail, as Airflow's accessor raises AirflowRuntimeError when the API server errs.
        self.failing_reads = 0

    async def aget(self, key: str, default: Any = None) -> Any:
        if self.failing_reads:
            self.failing_reads -= 1
            raise RuntimeError("API server answered 503 for the asset state store")
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = value


class OneAsset:
    def __init__(self, state: MemoryAssetState) -> None:
        self.state = state

    def _single_accessor(self) -> MemoryAssetState:
        return self.state


def collect(trigger: Any, count: int, timeout: float = 30, quiet_ok: bool = False) -> list[dict[str, Any]]:
    """
    The first ``count`` events of a trigger that never ends, then cancel it (as the triggerer
    would). With ``quiet_ok``, fewer events by ``timeout`` are what was expected, not a failure.
    """
    import asyncio

    async def take(out: list[dict[str, Any]]) -> None:
        agen = trigger.run()
        try:
            async for event in agen:
                out.append(event.payload)
                if len(out) == count:
                    # The triggerer asks for the next event right after taking one; the trigger
                    # stores its cursor at the poll after that. Let it, then stop it while it waits.
                    try:
                        await asyncio.wait_for(agen.__anext__(), 2.0)
                    except (asyncio.TimeoutError, StopAsyncIteration):
                        pass
                    return
        finally:
            await agen.aclose()

    async def main() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        try:
            await asyncio.wait_for(take(out), timeout)
        except asyncio.TimeoutError:
            if not quiet_ok:
                raise
        return out

    return asyncio.run(main())


def test_the_watcher_trigger_fires_on_alias_moves_made_through_the_api_and_resumes_from_its_stored_cursor(
    griffin: LiveGriffin, airflow: LiveAirflow, client: GriffinClient, versions: dict[str, int]
):
    import threading
    import time

    from griffin_provider.triggers import GriffinModelChangesTrigger

    with pytest.raises(ValueError, match="kinds"):
        GriffinModelChangesTrigger(model_name=MODEL, kinds=["deleted"])
    trigger = GriffinModelChangesTrigger(model_name=MODEL, alias="shadow", poll_interval=0.2)
    classpath, kwargs = trigger.serialize()
    assert classpath == "griffin_provider.triggers.GriffinModelChangesTrigger"
    assert GriffinModelChangesTrigger(**kwargs).serialize() == (classpath, kwargs)
    state = MemoryAssetState()
    trigger.asset_state_store = OneAsset(state)

    def move_soon() -> None:
        time.sleep(1.5)  # after the trigger has read the head cursor: only moves from then on fire
        client.register_model_version(MODEL, artifact_uri="s3://elsewhere/other")  # not an alias move
        client.move_model_alias(MODEL, "shadow", versions["bad"], expected_version=versions["good"], reason="shadow test")
        client.move_model_alias(MODEL, "shadow", versions["good"], expected_version=versions["bad"], reason="better")

    client.set_model_alias(MODEL, "shadow", versions["good"])  # before the trigger starts: not an event
    threading.Thread(target=move_soon, daemon=True).start()
    first, second = collect(trigger, 2)
    good = client.get_model_version(MODEL, versions["good"])
    assert (first["change"], first["alias"], first["previous_version"], first["version"]) == ("alias_moved", "shadow", versions["good"], versions["bad"])
    assert first["reason"] == "shadow test" and first["actor"].startswith("token:")
    assert (second["previous_version"], second["version"], second["run_id"], second["metrics"], second["url"]) == (
        versions["bad"], versions["good"], good["runId"], good["metrics"], good["url"],
    )
    assert state.values[trigger.cursor_state_key] == second["cursor"]

    # A triggerer restart re-creates the trigger from its kwargs: it goes on after the stored cursor.
    client.move_model_alias(MODEL, "shadow", versions["bad"], expected_version=versions["good"], reason="while restarting")
    restarted = GriffinModelChangesTrigger(**kwargs)
    restarted.asset_state_store = OneAsset(state)
    [third] = collect(restarted, 1)
    assert (third["reason"], third["version"]) == ("while restarting", versions["bad"])
    assert third["cursor"] > second["cursor"]


def test_a_watcher_re_created_before_it_fired_still_sees_the_moves_made_meanwhile(
    griffin: LiveGriffin, airflow: LiveAirflow, client: GriffinClient, versions: dict[str, int]
):
    """
    Airflow re-creates a watcher's trigger from its kwargs after a triggerer restart, or after a
    parse removed the watcher and a later one added it back. A trigger that starts at the newest
    change keeps that start, so the first move made while none ran still fires.
    """
    from griffin_provider.triggers import GriffinModelChangesTrigger

    client.set_model_alias(MODEL, "canary", versions["good"])
    kwargs = GriffinModelChangesTrigger(model_name=MODEL, alias="canary", poll_interval=0.2).serialize()[1]
    state = MemoryAssetState()
    first = GriffinModelChangesTrigger(**kwargs)
    first.asset_state_store = OneAsset(state)
    assert collect(first, 1, timeout=2, quiet_ok=True) == []  # started, nothing moved, stopped
    start = state.values[first.cursor_state_key]

    client.move_model_alias(MODEL, "canary", versions["bad"], expected_version=versions["good"], reason="while no watcher ran")
    # Another watch of the same Asset keeps its own cursor.
    assert GriffinModelChangesTrigger(model_name=MODEL, alias="production").cursor_state_key != first.cursor_state_key
    again = GriffinModelChangesTrigger(**kwargs)
    again.asset_state_store = OneAsset(state)
    [moved] = collect(again, 1)
    assert (moved["reason"], moved["previous_version"], moved["version"]) == ("while no watcher ran", versions["good"], versions["bad"])
    assert moved["cursor"] > start
    assert state.values[again.cursor_state_key] == moved["cursor"]


def test_a_watcher_that_cannot_read_its_stored_cursor_waits_for_it_instead_of_starting_over(
    griffin: LiveGriffin, airflow: LiveAirflow, client: GriffinClient, versions: dict[str, int]
):
    """
    Starting over from ``after`` when the state store fails for a moment would lose the moves made
    while no trigger ran (``after=None`` starts at the newest change) or fire every earlier one
    again (``after=0``). The trigger retries the read instead.
    """
    from griffin_provider.triggers import GriffinModelChangesTrigger

    client.set_model_alias(MODEL, "teal", versions["good"])
    kwargs = GriffinModelChangesTrigger(model_name=MODEL, alias="teal", poll_interval=0.2).serialize()[1]
    state = MemoryAssetState()
    first = GriffinModelChangesTrigger(**kwargs)
    first.asset_state_store = OneAsset(state)
    client.move_model_alias(MODEL, "teal", versions["bad"], expected_version=versions["good"], reason="seen before")
    assert collect(first, 1, timeout=2, quiet_ok=True) == []  # started after that move: it never fires

    client.move_model_alias(MODEL, "teal", versions["good"], expected_version=versions["bad"], reason="while no watcher ran")
    state.failing_reads = 2
    again = GriffinModelChangesTrigger(**kwargs)
    again.asset_state_store = OneAsset(state)
    [moved] = collect(again, 1)
    assert (moved["reason"], moved["version"]) == ("while no watcher ran", versions["good"])
    assert state.failing_reads == 0 and state.values[again.cursor_state_key] == moved["cursor"]


def test_a_409_that_answers_the_tries_own_retried_move_counts_as_promoted(
    griffin: LiveGriffin, airflow: LiveAirflow, client: GriffinClient, versions: dict[str, int]
):
    from griffin_provider.client import GriffinConflictError
    from griffin_provider.hooks import GriffinHook
    from griffin_provider.operators import GriffinPromoteModelVersionOperator

    client.set_model_alias(MODEL, "retried", versions["bad"])
    reason = "promoted from Airflow (d.promote, manual__1, try 1): test"
    client.move_model_alias(MODEL, "retried", versions["good"], expected_version=versions["bad"], reason=reason)
    # The same PUT again, as the client's retry after a lost answer sends it: a 409.
    with pytest.raises(GriffinConflictError):
        client.move_model_alias(MODEL, "retried", versions["good"], expected_version=versions["bad"], reason=reason)
    op = GriffinPromoteModelVersionOperator(task_id="promote", model_name=MODEL, version=versions["good"], metric="val_loss", alias="retried")
    hook = GriffinHook()
    assert op._own_earlier_move(hook, versions["bad"], versions["good"], reason)["version"] == versions["good"]
    # Someone else's move (another reason) is a lost race.
    assert op._own_earlier_move(hook, versions["bad"], versions["good"], reason.replace("try 1", "try 2")) is None
