"""
Model events in a real Airflow 3 deployment (api-server, scheduler, dag-processor, triggerer,
LocalExecutor, PostgreSQL) against the real Griffin service: a DAG scheduled on a model's Asset
starts by itself when another DAG registers a version, and when ``production`` is moved through
Griffin's API (the watcher's trigger, in the triggerer), also after a re-parse of its file and
when the move was made while the triggerer was down; a backfilled DAG run trains on its own data
interval. DAGs: dags/griffin_asset_dags.py.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from conftest import Stack
from harness import wait_until

MODEL = "asset-model"
SCORE = "griffin_assets_score"


def dag_runs(stack: Stack, dag_id: str) -> list[dict[str, Any]]:
    return stack.airflow.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]


def xcom(stack: Stack, dag_id: str, run_id: str, task_id: str) -> Any:
    quoted = urllib.parse.quote(run_id, safe="")
    entry = stack.airflow.api("GET", f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/xcomEntries/return_value")
    return entry["value"]


def next_score_run(stack: Stack, seen: set[str], timeout: float = 240) -> dict[str, Any]:
    """The first run of the scoring DAG not in ``seen``, once it finished."""

    def finished() -> dict[str, Any] | None:
        stack.airflow.assert_alive()
        new = [r for r in dag_runs(stack, SCORE) if r["dag_run_id"] not in seen]
        done = [r for r in new if r["state"] in ("success", "failed")]
        return done[0] if done else None

    return wait_until(finished, timeout, f"{SCORE} to start by itself and finish", interval=1)


def test_a_registration_in_one_dag_starts_the_dag_scheduled_on_the_models_asset(stack: Stack):
    seen = {r["dag_run_id"] for r in dag_runs(stack, SCORE)}
    run_id = stack.airflow.trigger("griffin_assets_retrain")
    assert stack.airflow.wait_for_dag_run("griffin_assets_retrain", run_id, 300)["state"] == "success"
    registered = xcom(stack, "griffin_assets_retrain", run_id, "register")
    trained = xcom(stack, "griffin_assets_retrain", run_id, "train")

    score = next_score_run(stack, seen)
    assert score["state"] == "success" and score["run_type"] == "asset_triggered"
    [change] = xcom(stack, SCORE, score["dag_run_id"], "score")
    version = stack.griffin.get(f"/registry/models/{MODEL}/versions/{registered['version']}")
    assert change == {
        "change": "version_registered", "model": MODEL, "version": registered["version"], "alias": "staging",
        "previous_version": None, "aliases": ["staging"], "run_id": trained["run_id"],
        "metrics": version["metrics"], "url": version["url"],
    }


def model_watchers(stack: Stack) -> list[dict[str, Any]]:
    """The watchers Airflow has on the model's Asset (each with the id of the trigger that runs it)."""
    assets = stack.airflow.api("GET", "/assets", params={"uri_pattern": f"griffin://models/{MODEL}"})["assets"]
    return [w for a in assets if a["uri"] == f"griffin://models/{MODEL}" for w in a["watchers"]]


def watcher_running(stack: Stack) -> int:
    """The id of the watcher's trigger, once the triggerer runs it."""
    triggerer_log = stack.airflow.processes["triggerer"].log_path

    def running() -> int | None:
        stack.airflow.assert_alive()
        watchers = model_watchers(stack)
        if len(watchers) != 1 or f"Watching {MODEL}" not in triggerer_log.read_text(errors="replace"):
            return None
        return watchers[0]["trigger_id"]

    return wait_until(running, 180, "the triggerer to run the model's watcher", interval=1)


def reparse(stack: Stack, dag_id: str) -> None:
    """What "Reparse" in the UI does, waiting until the dag-processor has parsed the file again."""
    details = stack.airflow.api("GET", f"/dags/{dag_id}/details")
    stack.airflow.api("PUT", f"/parseDagFile/{details['file_token']}", expect=(201, 200))
    wait_until(
        lambda: stack.airflow.api("GET", f"/dags/{dag_id}/details")["last_parsed_time"] != details["last_parsed_time"],
        180, f"the dag-processor to parse {dag_id}'s file again", interval=1,
    )


def move_production(stack: Stack, version: int, expected: int | None, reason: str) -> None:
    """As the UI's promote button does: a compare-and-set move with a reason, through Griffin's API."""
    response = stack.griffin.http.put(
        f"{stack.griffin.base_url}/api/v1/registry/models/{MODEL}/aliases/production",
        json={"version": version, "expectedVersion": expected, "reason": reason}, timeout=30,
    )
    assert response.status_code == 200, response.text


def test_moving_production_through_griffins_api_starts_the_dag_through_the_watcher(stack: Stack):
    trigger_id = watcher_running(stack)
    # The file holds the watched DAG and the DAG whose register task emits on the same Asset; a
    # parse, in whatever order it reads them, keeps the watcher and its running trigger.
    reparse(stack, SCORE)
    assert [w["trigger_id"] for w in model_watchers(stack)] == [trigger_id]
    target = stack.griffin.post(f"/registry/models/{MODEL}/versions", {"artifactUri": "s3://models/asset-model/hand-built"})
    seen = {r["dag_run_id"] for r in dag_runs(stack, SCORE)}
    move_production(stack, target["version"], None, "promoted in the web UI")

    score = next_score_run(stack, seen)
    assert score["state"] == "success" and score["run_type"] == "asset_triggered"
    [change] = xcom(stack, SCORE, score["dag_run_id"], "score")
    assert (change["change"], change["alias"], change["version"], change["previous_version"]) == (
        "alias_moved", "production", target["version"], None,
    )
    assert (change["reason"], change["run_id"], change["url"]) == ("promoted in the web UI", None, target["url"])
    # One move, one DAG run: the watcher does not fire again for it.
    assert len([r for r in dag_runs(stack, SCORE) if r["dag_run_id"] not in seen]) == 1


def watcher_settled(stack: Stack) -> None:
    """
    Until the watcher has stored its cursor at the newest move of ``production`` (it does once the
    poll after an event begins, by then the triggerer has handed the event to Airflow). A triggerer
    stopped before that fires the last event again when it is back: at least once, by design.
    """
    from griffin_provider.triggers import GriffinModelChangesTrigger

    key = GriffinModelChangesTrigger(model_name=MODEL, alias="production").cursor_state_key
    moves = [c for c in stack.griffin.get("/registry/changes", after=0, model=MODEL, alias="production", limit=100)["items"] if c["kind"] == "alias_moved"]
    newest = moves[-1]["id"] if moves else 0
    [asset] = [a for a in stack.airflow.api("GET", "/assets", params={"uri_pattern": f"griffin://models/{MODEL}"})["assets"] if a["uri"] == f"griffin://models/{MODEL}"]

    def stored() -> bool:
        entries = stack.airflow.api("GET", f"/assets/{asset['id']}/state-store", params={"limit": 100})["asset_state_store"]
        return any(e["key"] == key and int(e["value"]) >= newest for e in entries)

    wait_until(stored, 60, f"the watcher to store its cursor at change {newest}", interval=0.5)


def test_a_move_made_while_the_triggerer_is_down_starts_the_dag_once_it_is_back(stack: Stack):
    watcher_running(stack)
    watcher_settled(stack)
    answer = stack.griffin.http.get(f"{stack.griffin.base_url}/api/v1/registry/models/{MODEL}/aliases/production", timeout=30)
    held = answer.json()["version"] if answer.status_code == 200 else None
    other = stack.griffin.post(f"/registry/models/{MODEL}/versions", {"artifactUri": "s3://models/asset-model/hand-built-2"})
    seen = {r["dag_run_id"] for r in dag_runs(stack, SCORE)}
    triggerer = stack.airflow.processes["triggerer"]
    triggerer.stop(timeout=15)
    try:
        move_production(stack, other["version"], held, "promoted while the triggerer was down")
    finally:
        triggerer.start()

    score = next_score_run(stack, seen)
    assert score["state"] == "success" and score["run_type"] == "asset_triggered"
    [change] = xcom(stack, SCORE, score["dag_run_id"], "score")
    assert (change["change"], change["version"], change["previous_version"], change["reason"]) == (
        "alias_moved", other["version"], held, "promoted while the triggerer was down",
    )
    # Resumed from the stored cursor: the move seen before the restart does not fire again.
    assert len([r for r in dag_runs(stack, SCORE) if r["dag_run_id"] not in seen]) == 1


def test_a_backfilled_dag_run_trains_on_its_own_data_interval(stack: Stack):
    backfill = stack.airflow.api(
        "POST", "/backfills",
        json={"dag_id": "griffin_assets_daily", "from_date": "2026-11-03T00:00:00Z", "to_date": "2026-11-03T00:00:00Z", "max_active_runs": 1},
    )
    assert backfill["dag_id"] == "griffin_assets_daily"

    def backfilled() -> dict[str, Any] | None:
        runs = [r for r in dag_runs(stack, "griffin_assets_daily") if r["run_type"] == "backfill"]
        return runs[0] if runs and runs[0]["state"] in ("success", "failed") else None

    dag_run = wait_until(backfilled, 300, "the backfilled DAG run to finish", interval=1)
    assert dag_run["state"] == "success"
    assert dag_run["data_interval_start"].startswith("2026-11-03T00:00:00")
    assert dag_run["data_interval_end"].startswith("2026-11-04T00:00:00")
    [run] = [r for r in stack.griffin.runs(dagId="griffin_assets_daily") if r["airflow"]["dagRunId"] == dag_run["dag_run_id"]]
    assert run["timeContext"] == {
        "logicalDate": "2026-11-03T00:00:00.000Z",
        "dataIntervalStart": "2026-11-03T00:00:00.000Z",
        "dataIntervalEnd": "2026-11-04T00:00:00.000Z",
    }
    log = stack.griffin.get(f"/runs/{run['id']}/logs")["text"]
    assert "data interval 2026-11-03T00:00:00.000Z .. 2026-11-04T00:00:00.000Z" in log
